//! `/version`, discovery (`/api`, `/apis` in the aggregated and legacy shapes, group and
//! group-version documents) and the OpenAPI v3 documents kubectl needs.
//!
//! `legacy` says whether the older served versions ([`registry::LEGACY`]) are on: they are
//! listed after the stored version of their group (which stays the preferred one), and the
//! `extensions` group, which holds nothing else, comes last.

use portico_api::registry::{self, ResourceInfo, RESOURCES};

fn gv_string(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}
use serde_json::{json, Value};

/// The Kubernetes minor version Portico speaks. kubectl's dispatcher picks its client by it.
pub const MINOR: &str = "32";

/// The `/version` document.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": MINOR,
        "gitVersion": format!("v1.{MINOR}.0+portico-{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "rust",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, if cfg!(target_arch = "x86_64") { "amd64" } else { std::env::consts::ARCH }),
    })
}

/// The Content-Type of aggregated discovery v2, which kubectl checks literally.
pub const AGGREGATED_V2: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
/// The same for v2beta1, for older clients.
pub const AGGREGATED_V2BETA1: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

/// Which aggregated discovery version the `Accept` header asks for, if any.
pub fn wants_aggregated(accept: &str) -> Option<&'static str> {
    // The client lists its preferences in order; take the first aggregated one.
    for part in accept.split(',') {
        let p = part.replace(' ', "");
        if p.contains("as=APIGroupDiscoveryList") && p.contains("g=apidiscovery.k8s.io") {
            if p.contains("v=v2beta1") {
                return Some(AGGREGATED_V2BETA1);
            }
            if p.contains("v=v2") {
                return Some(AGGREGATED_V2);
            }
        }
    }
    None
}

/// The resources of a group version, sorted by name as the Kubernetes API server lists them
/// (which is the order `kubectl get all` prints them in).
fn sorted(group: &str, version: &str, legacy: bool) -> Vec<&'static ResourceInfo> {
    let mut out: Vec<&'static ResourceInfo> = registry::served(legacy)
        .filter(|r| r.gvk.group == group && r.gvk.version == version)
        .collect();
    out.sort_by_key(|r| r.plural);
    out
}

/// The verbs Kubernetes lists for the `proxy` subresources (any HTTP method is passed on).
const PROXY_VERBS: &[&str] = &["create", "delete", "get", "patch", "update"];

fn resource_verbs(r: &ResourceInfo) -> Vec<&'static str> {
    r.verbs().to_vec()
}

fn aggregated_resource(r: &ResourceInfo) -> Value {
    let gvk = json!({"group": r.gvk.group, "version": r.gvk.version, "kind": r.gvk.kind});
    let subresources: Vec<Value> = r
        .subresources
        .iter()
        .map(|s| {
            let (kind, verbs): (Value, Vec<&str>) = match *s {
                "status" => (gvk.clone(), vec!["get", "patch", "update"]),
                "scale" => (
                    json!({"group": "autoscaling", "version": "v1", "kind": "Scale"}),
                    vec!["get", "patch", "update"],
                ),
                "log" => (json!({"group": "", "version": "v1", "kind": "Pod"}), vec!["get"]),
                "exec" | "attach" | "portforward" => (
                    json!({"group": "", "version": "v1", "kind": "PodExecOptions"}),
                    vec!["create", "get"],
                ),
                "proxy" => (
                    json!({"group": "", "version": "v1", "kind": format!("{}ProxyOptions", r.gvk.kind)}),
                    PROXY_VERBS.to_vec(),
                ),
                "token" => (
                    json!({"group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest"}),
                    vec!["create"],
                ),
                _ => (gvk.clone(), vec!["create"]),
            };
            json!({"subresource": s, "responseKind": kind, "verbs": verbs})
        })
        .collect();
    let mut v = json!({
        "resource": r.plural,
        "singularResource": r.singular,
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "responseKind": gvk,
        "verbs": resource_verbs(r),
    });
    if !r.short_names.is_empty() {
        v["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        v["categories"] = json!(r.categories);
    }
    if !subresources.is_empty() {
        v["subresources"] = json!(subresources);
    }
    v
}

/// Aggregated discovery for the core group (`core == true`, `/api`) or the named groups (`/apis`).
pub fn aggregated(core: bool, content_type: &str, legacy: bool) -> Value {
    let api_version = if content_type == AGGREGATED_V2BETA1 {
        "apidiscovery.k8s.io/v2beta1"
    } else {
        "apidiscovery.k8s.io/v2"
    };
    let items: Vec<Value> = registry::served_groups(legacy)
        .into_iter()
        .filter(|g| g.is_empty() == core)
        .map(|g| {
            let versions: Vec<Value> = registry::group_versions(g, legacy)
                .into_iter()
                .map(|v| {
                    let resources: Vec<Value> = sorted(g, v, legacy)
                        .into_iter()
                        .map(aggregated_resource)
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({
                "metadata": {"name": g, "creationTimestamp": null},
                "versions": versions,
            })
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": api_version, "metadata": {}, "items": items})
}

/// Legacy `/api`.
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn api_group(g: &str, legacy: bool) -> Value {
    let versions: Vec<Value> = registry::group_versions(g, legacy)
        .into_iter()
        .map(|v| json!({"groupVersion": gv_string(g, v), "version": v}))
        .collect();
    let preferred = versions.first().cloned().unwrap_or(Value::Null);
    json!({"name": g, "versions": versions, "preferredVersion": preferred})
}

/// Legacy `/apis`.
pub fn api_group_list(legacy: bool) -> Value {
    let groups: Vec<Value> = registry::served_groups(legacy)
        .into_iter()
        .filter(|g| !g.is_empty())
        .map(|g| api_group(g, legacy))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// Legacy `/apis/<group>`.
pub fn group(g: &str, legacy: bool) -> Value {
    let mut v = api_group(g, legacy);
    v["kind"] = json!("APIGroup");
    v["apiVersion"] = json!("v1");
    v
}

/// Legacy `/api/v1` or `/apis/<group>/<version>`: an `APIResourceList`.
pub fn resource_list(group: &str, version: &str, legacy: bool) -> Value {
    let mut resources = Vec::new();
    for r in sorted(group, version, legacy) {
        let mut v = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.gvk.kind,
            "verbs": resource_verbs(r),
        });
        if !r.short_names.is_empty() {
            v["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            v["categories"] = json!(r.categories);
        }
        resources.push(v);
        for s in r.subresources {
            let kind = match *s {
                "scale" => "Scale".to_string(),
                "proxy" => format!("{}ProxyOptions", r.gvk.kind),
                _ => r.gvk.kind.to_string(),
            };
            let verbs = match *s {
                "status" | "scale" => json!(["get", "patch", "update"]),
                "proxy" => json!(PROXY_VERBS),
                _ => json!(["create", "get"]),
            };
            resources.push(json!({
                "name": format!("{}/{}", r.plural, s),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": kind,
                "verbs": verbs,
            }));
        }
    }
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv_string(group, version), "resources": resources})
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// A stable hash of the OpenAPI documents (they only change with the binary).
fn openapi_hash(legacy: bool) -> String {
    format!(
        "portico-{}-{}-{}",
        env!("CARGO_PKG_VERSION"),
        RESOURCES.len(),
        if legacy { registry::LEGACY.len() } else { 0 }
    )
}

/// Every served group version, as `(group, version)`.
fn group_versions(legacy: bool) -> Vec<(&'static str, &'static str)> {
    registry::served_groups(legacy)
        .into_iter()
        .flat_map(|g| {
            registry::group_versions(g, legacy)
                .into_iter()
                .map(move |v| (g, v))
        })
        .collect()
}

/// `/openapi/v3`: one entry per group version.
pub fn openapi_root(legacy: bool) -> Value {
    let mut paths = serde_json::Map::new();
    for (g, v) in group_versions(legacy) {
        let p = gv_path(g, v);
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={}", openapi_hash(legacy))}),
        );
    }
    json!({"paths": paths})
}

/// `/openapi/v3/<gv path>`: one PATCH operation per kind, carrying the GVK extension and the
/// `fieldValidation` parameter, which is what makes kubectl leave validation to the server.
pub fn openapi_group_version(path: &str, legacy: bool) -> Option<Value> {
    let (group, version) = group_versions(legacy)
        .into_iter()
        .find(|(g, v)| gv_path(g, v) == path)?;
    let mut paths = serde_json::Map::new();
    for r in registry::served(legacy).filter(|r| r.gvk.group == group && r.gvk.version == version) {
        let prefix = format!("/{}", gv_path(group, version));
        let object_path = if r.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("{prefix}/{}/{{name}}", r.plural)
        };
        let gvk = json!({"group": r.gvk.group, "version": r.gvk.version, "kind": r.gvk.kind});
        let params = json!([
            {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}},
        ]);
        paths.insert(
            object_path,
            json!({
                "patch": {
                    "description": format!("partially update the specified {}", r.gvk.kind),
                    "operationId": format!("patch{}", r.gvk.kind),
                    "x-kubernetes-action": "patch",
                    "x-kubernetes-group-version-kind": gvk,
                    "parameters": params,
                    "responses": {"200": {"description": "OK"}},
                }
            }),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v1.{MINOR}.0")},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregated_is_chosen_by_accept() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(wants_aggregated(kubectl), Some(AGGREGATED_V2));
        assert_eq!(wants_aggregated("application/json"), None);
    }

    #[test]
    fn core_discovery_lists_services_with_short_names_and_categories() {
        let doc = aggregated(true, AGGREGATED_V2, true);
        let resources = &doc["items"][0]["versions"][0]["resources"];
        let svc = resources
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "services")
            .unwrap();
        assert_eq!(svc["shortNames"], json!(["svc"]));
        assert_eq!(svc["categories"], json!(["all"]));
        assert_eq!(svc["scope"], "Namespaced");
        let groups = aggregated(false, AGGREGATED_V2, true);
        assert!(groups["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["metadata"]["name"] == "apps"));
    }

    #[test]
    fn openapi_documents_carry_field_validation() {
        let root = openapi_root(true);
        let url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap();
        assert!(url.starts_with("/openapi/v3/apis/apps/v1?hash="));
        let doc = openapi_group_version("apis/apps/v1", true).unwrap();
        let op = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(op["x-kubernetes-group-version-kind"]["kind"], "Deployment");
        assert!(op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation"));
        assert!(openapi_group_version("apis/nope/v1", true).is_none());
    }

    #[test]
    fn old_ingress_versions_are_listed_after_v1() {
        let groups = aggregated(false, AGGREGATED_V2, true);
        let items = groups["items"].as_array().unwrap();
        let net = items
            .iter()
            .find(|g| g["metadata"]["name"] == "networking.k8s.io")
            .unwrap();
        assert_eq!(net["versions"][0]["version"], "v1");
        assert_eq!(net["versions"][1]["version"], "v1beta1");
        let beta: Vec<&Value> = net["versions"][1]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(beta.len(), 1);
        assert_eq!(beta[0]["resource"], "ingresses");
        assert_eq!(beta[0]["responseKind"]["version"], "v1beta1");
        assert_eq!(items.last().unwrap()["metadata"]["name"], "extensions");
        let without = aggregated(false, AGGREGATED_V2, false);
        assert!(!without["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["metadata"]["name"] == "extensions"));

        let g = group("networking.k8s.io", true);
        assert_eq!(g["preferredVersion"]["version"], "v1");
        assert_eq!(
            g["versions"][1]["groupVersion"],
            "networking.k8s.io/v1beta1"
        );
        let list = resource_list("extensions", "v1beta1", true);
        assert_eq!(list["resources"][0]["name"], "ingresses");
        assert_eq!(list["resources"][0]["kind"], "Ingress");
        assert_eq!(list["resources"][1]["name"], "ingresses/status");

        let root = openapi_root(true);
        assert!(root["paths"]["apis/extensions/v1beta1"].is_object());
        let doc = openapi_group_version("apis/extensions/v1beta1", true).unwrap();
        let op = &doc["paths"]["/apis/extensions/v1beta1/namespaces/{namespace}/ingresses/{name}"]
            ["patch"];
        assert_eq!(op["x-kubernetes-group-version-kind"]["version"], "v1beta1");
        assert!(openapi_group_version("apis/extensions/v1beta1", false).is_none());
    }
}
