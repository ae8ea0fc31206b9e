//! Decodes the protobuf request bodies that kubectl's typed `create` subcommands send
//! (`Content-Type: application/vnd.kubernetes.protobuf`) into the JSON object the same command
//! would have sent as JSON.
//!
//! A body is the prefix `k8s\0` followed by a `runtime.Unknown` envelope naming the apiVersion
//! and kind, whose `raw` field holds the object in the encoding of Kubernetes'
//! `generated.proto` files. A small hand-written wire reader (module `wire`) feeds a schema
//! table (module `schema`) that knows, for each supported message, the JSON name, type and Go
//! JSON emission rule of every field; module `render` applies those rules. Unknown fields are skipped;
//! malformed input yields a [`ProtobufError`], never a panic.
//!
//! Supported kinds are listed by [`supported_kinds`]: v1 Secret, ConfigMap, Service, Namespace,
//! ServiceAccount; apps/v1 Deployment; batch/v1 Job and CronJob; networking.k8s.io/v1 Ingress;
//! authentication.k8s.io/v1 TokenRequest.

mod envelope;
mod error;
mod render;
mod schema;
mod wire;

pub use error::ProtobufError;
pub use schema::supported_kinds;

/// The media type kubectl uses for protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Decodes a `k8s\0`-prefixed protobuf body into the JSON object Kubernetes would have received as
/// JSON (apiVersion and kind set from the envelope).
///
/// ```
/// // What `kubectl create configmap c1 --from-literal=k=v -n default` sends.
/// let body = include_bytes!("../tests/fixtures/configmap.pb");
/// let object = portico_protobuf::decode(body).unwrap();
/// assert_eq!(object["kind"], "ConfigMap");
/// assert_eq!(object["metadata"]["name"], "c1");
/// assert_eq!(object["data"]["k"], "v");
/// ```
pub fn decode(body: &[u8]) -> Result<serde_json::Value, ProtobufError> {
    let envelope = envelope::parse(body)?;
    let Some(schema) = schema::top_level(&envelope.api_version, &envelope.kind) else {
        return Err(ProtobufError::UnsupportedKind {
            api_version: envelope.api_version,
            kind: envelope.kind,
        });
    };
    let mut object = serde_json::Map::new();
    object.insert("kind".to_owned(), envelope.kind.into());
    object.insert("apiVersion".to_owned(), envelope.api_version.into());
    if let serde_json::Value::Object(fields) =
        render::message(schema, envelope.raw, envelope.raw_offset, 0)?
    {
        object.extend(fields);
    }
    Ok(serde_json::Value::Object(object))
}
