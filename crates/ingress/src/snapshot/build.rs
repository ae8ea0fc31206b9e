//! Building a [`Snapshot`]: which Ingresses are ours, their rules merged host by host (the
//! oldest Ingress first, so it wins conflicts, as ingress-nginx), default backends, and the
//! certificates of `spec.tls`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};

use super::backends::Cluster;
use super::hosts::{HostPattern, HostSet};
use super::paths::{self, PathKind, PathMatcher, PathRoute};
use super::{Inputs, Route, RouteTable, Server, Snapshot, TlsPair};
use crate::annotations::RouteOptions;

/// The annotation naming an Ingress's class before `spec.ingressClassName` existed.
pub(crate) const CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";
/// The IngressClass annotation making it the class of Ingresses that name none.
pub(crate) const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";

/// See [`Snapshot::build`].
pub(super) fn build(inputs: &Inputs, class: &str, controller: &str) -> Snapshot {
    let mut served: Vec<&Ingress> = inputs
        .ingresses
        .iter()
        .map(|ingress| &**ingress)
        .filter(|ingress| is_served(ingress, &inputs.classes, class, controller))
        .collect();
    served.sort_by(|a, b| age(a).cmp(&age(b)));
    let cluster = Cluster::new(inputs);
    let mut table = TableBuilder::default();
    for ingress in &served {
        table.add(ingress, &cluster);
    }
    let (tls, certs) = tls(&served, &inputs.secrets);
    let mut routes = table.finish();
    routes.tls = tls;
    let mut served: Vec<(String, String)> = served
        .iter()
        .map(|ingress| {
            let (namespace, name) = namespace_name(ingress);
            (namespace.to_string(), name.to_string())
        })
        .collect();
    served.sort();
    Snapshot {
        routes,
        certs,
        served,
    }
}

/// Whether this controller serves `ingress`: the class annotation if present (equal to
/// `class`), else `spec.ingressClassName` (whose IngressClass must exist and name our
/// `controller`), else whether an IngressClass of our controller is marked as the default.
pub(crate) fn is_served(
    ingress: &Ingress,
    classes: &[Arc<IngressClass>],
    class: &str,
    controller: &str,
) -> bool {
    let ours = |ingress_class: &IngressClass| {
        ingress_class
            .spec
            .as_ref()
            .and_then(|spec| spec.controller.as_deref())
            == Some(controller)
    };
    if let Some(annotated) = ingress
        .metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(CLASS_ANNOTATION))
    {
        return annotated == class;
    }
    match ingress
        .spec
        .as_ref()
        .and_then(|spec| spec.ingress_class_name.as_deref())
    {
        // The IngressClass named decides, by its controller (as ingress-nginx): ours under
        // our class name, or under another name an administrator gave it.
        Some(named) => classes
            .iter()
            .any(|candidate| candidate.metadata.name.as_deref() == Some(named) && ours(candidate)),
        None => classes.iter().any(|candidate| {
            ours(candidate)
                && candidate
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|annotations| annotations.get(DEFAULT_CLASS_ANNOTATION))
                    .is_some_and(|value| value == "true")
        }),
    }
}

/// Sort key: creationTimestamp, then name (then namespace, to be total).
fn age(ingress: &Ingress) -> (Option<&k8s_openapi::jiff::Timestamp>, &str, &str) {
    let (namespace, name) = namespace_name(ingress);
    let created = ingress
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|time| &time.0);
    (created, name, namespace)
}

fn namespace_name(ingress: &Ingress) -> (&str, &str) {
    (
        ingress.metadata.namespace.as_deref().unwrap_or("default"),
        ingress.metadata.name.as_deref().unwrap_or(""),
    )
}

/// A server being assembled: paths not yet compiled, since whether they are regexes depends
/// on every Ingress of the host.
#[derive(Default)]
struct PendingServer {
    regex: bool,
    paths: Vec<(PathKind, Route)>,
    fallback: Option<Route>,
}

impl PendingServer {
    fn finish(self, host: &str) -> Server {
        let mut compiled = Vec::with_capacity(self.paths.len());
        for (kind, route) in self.paths {
            match PathMatcher::new(kind, &route.path, self.regex) {
                Ok(matcher) => compiled.push(PathRoute { matcher, route }),
                Err(error) => tracing::warn!(
                    ingress = %route.ingress, host, path = %route.path, %error,
                    "path is not a valid regular expression; ignored"
                ),
            }
        }
        paths::sort(&mut compiled);
        Server {
            regex: self.regex,
            paths: compiled,
            fallback: self.fallback,
        }
    }
}

#[derive(Default)]
struct TableBuilder {
    exact: BTreeMap<String, PendingServer>,
    wildcard: BTreeMap<String, PendingServer>,
    /// Rules without host.
    default_server: PendingServer,
    /// The oldest Ingress with a default backend and no rules (ingress-nginx's catch-all).
    catch_all: Option<Route>,
    /// The oldest Ingress with a default backend at all (used when no Ingress has a default
    /// backend without rules).
    any_default: Option<Route>,
}

impl TableBuilder {
    /// Adds the rules of `ingress`; Ingresses come oldest first.
    fn add(&mut self, ingress: &Ingress, cluster: &Cluster<'_>) {
        let (namespace, name) = namespace_name(ingress);
        let key = format!("{namespace}/{name}");
        let options = Arc::new(RouteOptions::from_annotations(
            ingress
                .metadata
                .annotations
                .as_ref()
                .unwrap_or(&BTreeMap::new()),
        ));
        let Some(spec) = ingress.spec.as_ref() else {
            return;
        };
        let default_backend = spec
            .default_backend
            .as_ref()
            .and_then(|backend| backend.service.as_ref())
            .and_then(|service| cluster.backend(namespace, service))
            .map(|backend| Route {
                ingress: key.clone(),
                backend,
                path: String::new(),
                options: options.clone(),
            });
        let rules = spec.rules.as_deref().unwrap_or_default();
        if let Some(route) = &default_backend {
            if rules.is_empty() && self.catch_all.is_none() {
                // ingress-nginx keeps rewrites and redirects off the catch-all server.
                let mut options = (*route.options).clone();
                let defaults = RouteOptions::default();
                options.rewrite_target = None;
                options.ssl_redirect = defaults.ssl_redirect;
                options.force_ssl_redirect = defaults.force_ssl_redirect;
                self.catch_all = Some(Route {
                    options: Arc::new(options),
                    ..route.clone()
                });
            }
            self.any_default.get_or_insert_with(|| route.clone());
        }
        for rule in rules {
            let server = match HostPattern::parse(rule.host.as_deref().unwrap_or("")) {
                None => &mut self.default_server,
                Some(HostPattern::Exact(host)) => self.exact.entry(host).or_default(),
                Some(HostPattern::Wildcard(suffix)) => self.wildcard.entry(suffix).or_default(),
            };
            server.regex |= options.wants_regex();
            if server.fallback.is_none() {
                server.fallback.clone_from(&default_backend);
            }
            let paths = rule.http.as_ref().map(|http| http.paths.as_slice());
            for path in paths.unwrap_or_default() {
                let Some(service) = path.backend.service.as_ref() else {
                    tracing::debug!(ingress = %key, "resource backends are not supported; path ignored");
                    continue;
                };
                let Some(backend) = cluster.backend(namespace, service) else {
                    tracing::debug!(ingress = %key, service = %service.name, "backend names no port; path ignored");
                    continue;
                };
                let written = path
                    .path
                    .as_deref()
                    .filter(|p| !p.is_empty())
                    .unwrap_or("/");
                server.paths.push((
                    PathKind::parse(&path.path_type),
                    Route {
                        ingress: key.clone(),
                        backend,
                        path: written.to_string(),
                        options: options.clone(),
                    },
                ));
            }
        }
    }

    fn finish(self) -> RouteTable {
        let mut default_server = self.default_server;
        default_server.fallback = self.catch_all.or(self.any_default);
        RouteTable {
            exact: self
                .exact
                .into_iter()
                .map(|(host, server)| {
                    let server = server.finish(&host);
                    (host, server)
                })
                .collect(),
            wildcard: self
                .wildcard
                .into_iter()
                .map(|(suffix, server)| {
                    let server = server.finish(&format!("*.{suffix}"));
                    (suffix, server)
                })
                .collect(),
            default_server: default_server.finish("_"),
            tls: HostSet::default(),
        }
    }
}

/// The hosts of `spec.tls` and their certificates. An entry without hosts covers the hosts
/// of the Ingress's rules; the oldest Ingress wins a host named twice; a missing or
/// incomplete Secret leaves its hosts to the default certificate.
fn tls(served: &[&Ingress], secrets: &[Arc<Secret>]) -> (HostSet, BTreeMap<String, TlsPair>) {
    let by_name: HashMap<(&str, &str), &Secret> = secrets
        .iter()
        .filter_map(|secret| {
            Some((
                (
                    secret.metadata.namespace.as_deref()?,
                    secret.metadata.name.as_deref()?,
                ),
                &**secret,
            ))
        })
        .collect();
    let mut hosts = HostSet::default();
    let mut certs = BTreeMap::new();
    for ingress in served {
        let (namespace, name) = namespace_name(ingress);
        let Some(spec) = ingress.spec.as_ref() else {
            continue;
        };
        for entry in spec.tls.iter().flatten() {
            let named: Vec<HostPattern> = match entry.hosts.as_deref() {
                Some(listed) if !listed.is_empty() => listed
                    .iter()
                    .filter_map(|h| HostPattern::parse(h))
                    .collect(),
                _ => spec
                    .rules
                    .iter()
                    .flatten()
                    .filter_map(|rule| HostPattern::parse(rule.host.as_deref()?))
                    .collect(),
            };
            let pair = entry.secret_name.as_deref().and_then(|secret| {
                let pair = by_name
                    .get(&(namespace, secret))
                    .and_then(|found| pair(namespace, secret, found));
                if pair.is_none() {
                    tracing::warn!(ingress = %format!("{namespace}/{name}"), secret, "TLS Secret missing or without tls.crt and tls.key; using the default certificate");
                }
                pair
            });
            for host in named {
                if let Some(pair) = &pair {
                    certs
                        .entry(host.to_string())
                        .or_insert_with(|| pair.clone());
                }
                hosts.insert(host);
            }
        }
    }
    (hosts, certs)
}

/// `tls.crt` and `tls.key` of a Secret, both non-empty.
fn pair(namespace: &str, name: &str, secret: &Secret) -> Option<TlsPair> {
    let data = secret.data.as_ref()?;
    let cert = data.get("tls.crt").filter(|value| !value.0.is_empty())?;
    let key = data.get("tls.key").filter(|value| !value.0.is_empty())?;
    Some(TlsPair {
        secret: format!("{namespace}/{name}"),
        cert_pem: cert.0.clone(),
        key_pem: key.0.clone(),
    })
}
