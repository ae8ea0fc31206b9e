//! The pod-template hash: the `pod-template-hash` label of a Deployment's ReplicaSets (and
//! the revision names of a StatefulSet).
//!
//! As Kubernetes does: FNV-32a over the pod template, then over the collision count (eight
//! bytes, the count little-endian in the first four) when there is one; the 32-bit sum
//! written in decimal and each digit mapped onto "bcdfghjklmnpqrstvwxz2456789" (client-go's
//! `SafeEncodeString`), giving names such as `7c85cc96dc`. The template is serialized as
//! canonical JSON rather than with Go's `spew`, so the values differ from a real cluster's
//! for the same template, but they have the same form and stability.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

/// The label Deployments add to their ReplicaSets, selectors and pods.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// Characters of generated names (client-go's `rand.String`), without vowels.
pub const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// FNV-1a, 32 bits.
#[derive(Debug, Clone, Copy)]
pub struct Fnv32a(u32);

impl Default for Fnv32a {
    fn default() -> Self {
        Fnv32a(0x811c_9dc5)
    }
}

impl Fnv32a {
    /// Feeds bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u32::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0193);
        }
    }

    /// The sum so far.
    pub fn sum32(&self) -> u32 {
        self.0
    }
}

/// Maps each character of `s` onto [`ALPHANUMS`] (client-go's `SafeEncodeString`).
pub fn safe_encode(s: &str) -> String {
    s.chars()
        .map(|c| char::from(ALPHANUMS[(c as usize) % ALPHANUMS.len()]))
        .collect()
}

/// The hash of `template` with an optional collision count.
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let value = serde_json::to_value(template).unwrap_or(Value::Null);
    let mut h = Fnv32a::default();
    h.write(canonical(&value).as_bytes());
    if let Some(count) = collision_count {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&(count as u32).to_le_bytes());
        h.write(&bytes);
    }
    safe_encode(&h.sum32().to_string())
}

/// JSON with sorted keys and without empty or null members, so that semantically equal
/// templates hash alike.
fn canonical(v: &Value) -> String {
    serde_json::to_string(&normalize(v)).unwrap_or_default()
}

/// Drops nulls, empty objects and empty arrays (Kubernetes' semantic equality treats a
/// missing map or list like an empty one). serde_json's maps are sorted.
pub fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), normalize(v)))
                .filter(|(_, v)| !is_empty(v))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Whether two templates are equal once the `pod-template-hash` label is ignored
/// (Kubernetes' `EqualIgnoreHash`).
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    let strip = |t: &PodTemplateSpec| {
        let mut t = t.clone();
        if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            labels.remove(POD_TEMPLATE_HASH);
        }
        normalize(&serde_json::to_value(&t).unwrap_or(Value::Null))
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn template(image: &str) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some([("app".to_string(), "web".to_string())].into()),
                ..Default::default()
            }),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "c".into(),
                    image: Some(image.into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        }
    }

    #[test]
    fn fnv32a_matches_the_reference_vectors() {
        let mut h = Fnv32a::default();
        assert_eq!(h.sum32(), 0x811c9dc5);
        h.write(b"a");
        assert_eq!(h.sum32(), 0xe40c292c);
        let mut h = Fnv32a::default();
        h.write(b"foobar");
        assert_eq!(h.sum32(), 0xbf9cf968);
    }

    #[test]
    fn safe_encode_maps_digits_like_client_go() {
        // '0' is 48: 48 % 27 = 21 → '4'; '9' is 57: 57 % 27 = 3 → 'f'.
        assert_eq!(safe_encode("0"), "4");
        assert_eq!(safe_encode("9"), "f");
        assert_eq!(safe_encode("1234567890"), "56789bcdf4");
    }

    #[test]
    fn hash_is_stable_short_and_sensitive_to_template_and_collisions() {
        let a = compute_hash(&template("nginx:1.25"), None);
        assert_eq!(a, compute_hash(&template("nginx:1.25"), None));
        assert!(a.len() <= 10 && !a.is_empty());
        assert!(a.bytes().all(|b| ALPHANUMS.contains(&b)));
        assert_ne!(a, compute_hash(&template("nginx:1.26"), None));
        assert_ne!(a, compute_hash(&template("nginx:1.25"), Some(1)));
        assert_ne!(
            compute_hash(&template("nginx:1.25"), Some(1)),
            compute_hash(&template("nginx:1.25"), Some(2))
        );
    }

    #[test]
    fn equality_ignores_the_hash_label_and_empty_members() {
        let a = template("x");
        let mut b = template("x");
        b.metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap()
            .insert(POD_TEMPLATE_HASH.into(), "abc".into());
        b.metadata.as_mut().unwrap().annotations = Some(Default::default());
        assert!(equal_ignore_hash(&a, &b));
        assert!(!equal_ignore_hash(&a, &template("y")));
    }
}
