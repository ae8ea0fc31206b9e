//! The objects every cluster starts with: the four system namespaces, and the `kubernetes`
//! Service in `default` with Endpoints and an EndpointSlice pointing at this API server.

use portico_api::registry;
use portico_store::StoreError;
use serde_json::{json, Value};

use crate::error::Error;
use crate::objects::{self, decode_stored, FieldValidation, WriteCtx};
use crate::request::ResourceRequest;
use crate::State;

fn ctx() -> WriteCtx {
    WriteCtx {
        dry_run: false,
        manager: "kube-apiserver".into(),
        validation: FieldValidation::Ignore,
        force: false,
        warnings: Vec::new(),
        apply: false,
    }
}

fn request(plural: &str, group: &str, namespace: Option<&str>) -> Result<ResourceRequest, Error> {
    let info = registry::by_plural(group, "v1", plural)
        .ok_or_else(|| Error::Internal(format!("unknown resource {plural}")))?;
    Ok(ResourceRequest {
        info,
        namespace: namespace.map(String::from),
        name: None,
        subresource: None,
        legacy_watch: false,
    })
}

/// Creates `obj` unless it exists; an existing Service whose ports differ from `obj`'s
/// (the API server's port behind the `kubernetes` Service) gets `obj`'s ports.
async fn ensure(state: &State, req: &ResourceRequest, obj: Value) -> Result<(), Error> {
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    let key = req.info.key(req.namespace.as_deref(), &name);
    if let Some(kv) = state.store.get(&key).await? {
        let old = decode_stored(&kv)?;
        if req.info.plural == "services" && old["spec"]["ports"] != obj["spec"]["ports"] {
            let mut new = old.clone();
            new["spec"]["ports"] = obj["spec"]["ports"].clone();
            let one = ResourceRequest {
                name: Some(name.clone()),
                ..req.clone()
            };
            objects::write_update(
                state,
                &mut ctx(),
                &one,
                &name,
                &old,
                kv.mod_revision,
                new,
                objects::Part::Main,
            )
            .await?;
        }
        return Ok(());
    }
    match objects::create(state, &mut ctx(), req, obj, None).await {
        Ok(_) | Err(Error::AlreadyExists { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates what is missing and rebuilds the allocator from the stored Services.
pub async fn run(state: &State) -> Result<(), Error> {
    let services = state.store.list("/registry/services/", 0, None, 0).await?;
    {
        let mut alloc = state.alloc.lock().await;
        for kv in &services.items {
            alloc.mark_service(&decode_stored(kv)?);
        }
    }
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        ensure(
            state,
            &request("namespaces", "", None)?,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}}),
        )
        .await?;
    }
    let port = state.address.port();
    let ip = {
        let alloc = state.alloc.lock().await;
        alloc.first_ip().to_string()
    };
    ensure(
        state,
        &request("services", "", Some("default"))?,
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": ip, "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]},
        }),
    )
    .await?;
    reconcile_endpoints(state).await
}

/// Keeps the `kubernetes` Endpoints and EndpointSlice pointing at this API server, as the
/// Kubernetes API server's endpoint reconciler does; runs at start and every 10 seconds, so
/// a deleted or edited one comes back.
pub fn spawn_reconciler(state: std::sync::Arc<State>) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = state.shutdown.cancelled() => return,
                _ = tokio::time::sleep(std::time::Duration::from_secs(10)) => {}
            }
            if let Err(e) = reconcile_endpoints(&state).await {
                tracing::warn!(error = %e, "reconciling the kubernetes endpoints failed");
            }
        }
    });
}

async fn reconcile_endpoints(state: &State) -> Result<(), Error> {
    let port = state.address.port();
    // The API server owns these two and writes them directly: its own address may be a
    // loopback one, which validation rightly refuses from clients.
    let address = state.address.ip().to_string();
    let endpoints = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"},
                     "uid": uuid::Uuid::new_v4().to_string(), "creationTimestamp": objects::now()},
        "subsets": [{"addresses": [{"ip": address}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    });
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"kubernetes.io/service-name": "kubernetes", "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
                     "uid": uuid::Uuid::new_v4().to_string(), "creationTimestamp": objects::now(), "generation": 1},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address], "conditions": {"ready": true, "serving": true, "terminating": false}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    });
    for (key, obj) in [
        ("/registry/endpoints/default/kubernetes", endpoints),
        (
            "/registry/discovery.k8s.io/endpointslices/default/kubernetes",
            slice,
        ),
    ] {
        let same = |old: &Value| {
            old["subsets"] == obj["subsets"]
                && old["endpoints"] == obj["endpoints"]
                && old["ports"] == obj["ports"]
        };
        match state.store.get(key).await? {
            Some(kv) => {
                let old = decode_stored(&kv)?;
                if !same(&old) {
                    let mut new = obj.clone();
                    new["metadata"]["uid"] = old["metadata"]["uid"].clone();
                    new["metadata"]["creationTimestamp"] =
                        old["metadata"]["creationTimestamp"].clone();
                    let bytes =
                        serde_json::to_vec(&new).map_err(|e| Error::Internal(e.to_string()))?;
                    state.store.update(key, bytes, kv.mod_revision).await?;
                }
            }
            None => {
                let bytes = serde_json::to_vec(&obj).map_err(|e| Error::Internal(e.to_string()))?;
                match state.store.create(key, bytes).await {
                    Ok(_) | Err(StoreError::AlreadyExists { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok(())
}
