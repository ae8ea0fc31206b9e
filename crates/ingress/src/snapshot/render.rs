//! A plain-text rendering of a [`RouteTable`], one server per block, paths in the order they
//! are tried: for logs (`RUST_LOG=portico_ingress=debug`) and for tests.
//!
//! ```text
//! foo.example.com (tls)
//!   Exact /api -> default/api:80 [10.244.1.5:8080] (default/web)
//!   Prefix / -> default/web:http [] (default/web)
//!   default -> default/fallback:80 (no such service) (default/web)
//! ```

use std::fmt;

use super::hosts::HostPattern;
use super::paths::PathMatcher;
use super::{Backend, PortRef, Route, RouteTable, Server};

impl fmt::Display for RouteTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let named = self
            .exact
            .iter()
            .map(|(host, server)| (HostPattern::Exact(host.clone()), server))
            .chain(
                self.wildcard
                    .iter()
                    .map(|(suffix, server)| (HostPattern::Wildcard(suffix.clone()), server)),
            );
        for (host, server) in named {
            let tls = match &host {
                HostPattern::Exact(name) => self.tls.contains(name),
                HostPattern::Wildcard(_) => self.tls.patterns().any(|p| p == host),
            };
            write!(f, "{host}")?;
            write_server(f, server, tls)?;
        }
        write!(f, "_ (any other host)")?;
        write_server(f, &self.default_server, false)?;
        let tls: Vec<String> = self.tls.patterns().map(|p| p.to_string()).collect();
        if !tls.is_empty() {
            writeln!(f, "tls hosts: {}", tls.join(", "))?;
        }
        Ok(())
    }
}

fn write_server(f: &mut fmt::Formatter<'_>, server: &Server, tls: bool) -> fmt::Result {
    match (server.regex, tls) {
        (true, true) => writeln!(f, " (regex, tls)")?,
        (true, false) => writeln!(f, " (regex)")?,
        (false, true) => writeln!(f, " (tls)")?,
        (false, false) => writeln!(f)?,
    }
    for path in &server.paths {
        match &path.matcher {
            PathMatcher::Regex { .. } => {
                write!(f, "  {} ^{} -> ", path.matcher.label(), path.route.path)?
            }
            _ => write!(f, "  {} {} -> ", path.matcher.label(), path.route.path)?,
        }
        write_route(f, &path.route)?;
    }
    if let Some(fallback) = &server.fallback {
        write!(f, "  default -> ")?;
        write_route(f, fallback)?;
    }
    Ok(())
}

fn write_route(f: &mut fmt::Formatter<'_>, route: &Route) -> fmt::Result {
    write_backend(f, &route.backend)?;
    writeln!(f, " ({})", route.ingress)
}

fn write_backend(f: &mut fmt::Formatter<'_>, backend: &Backend) -> fmt::Result {
    let service = &backend.service;
    write!(f, "{}/{}:", service.namespace, service.name)?;
    match &service.port {
        PortRef::Number(number) => write!(f, "{number}")?,
        PortRef::Name(name) => write!(f, "{name}")?,
    }
    if !backend.service_found {
        return write!(f, " (no such service)");
    }
    let endpoints: Vec<String> = backend.endpoints.iter().map(ToString::to_string).collect();
    write!(f, " [{}]", endpoints.join(", "))
}
