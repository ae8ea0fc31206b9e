//! Feeds arbitrary bytes to the DNS query handler, over UDP and TCP sizes,
//! against a zone with ClusterIP, headless and ExternalName Services.
//! Run with `cargo +nightly fuzz run query` from `crates/dns`.

#![no_main]

use std::sync::OnceLock;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use libfuzzer_sys::fuzz_target;
use portico_dns::{respond_local, Transport, Zone, ZoneBuilder};
use serde_json::json;

fn zone() -> &'static Zone {
    static ZONE: OnceLock<Zone> = OnceLock::new();
    ZONE.get_or_init(|| {
        let mut b = ZoneBuilder::new("cluster.local", 30).expect("valid domain");
        let services = [
            json!({"metadata": {"name": "kubernetes", "namespace": "default"},
                   "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443}]}}),
            json!({"metadata": {"name": "web", "namespace": "default"},
                   "spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 80}]}}),
            json!({"metadata": {"name": "ext", "namespace": "default"},
                   "spec": {"type": "ExternalName", "externalName": "example.com"}}),
        ];
        for s in services {
            let s: Service = serde_json::from_value(s).expect("a Service");
            b.add_service(&s);
        }
        let endpoints: Vec<_> = (1..=50)
            .map(
                |i| json!({"addresses": [format!("10.244.0.{i}")], "hostname": format!("web-{i}")}),
            )
            .collect();
        let slice: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": "web-1", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
            "endpoints": endpoints,
        }))
        .expect("an EndpointSlice");
        b.add_endpoint_slice(&slice);
        b.build()
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = respond_local(zone(), data, Transport::Udp);
    let _ = respond_local(zone(), data, Transport::Tcp);
});
