//! Keys with and without the store's namespace, and etcd's key-values as the store's.

use portico_store::{KeyValue, Revision, StoreError};

/// The namespace every key of a store is put under (may be empty).
#[derive(Debug, Clone)]
pub(crate) struct Namespace {
    prefix: Vec<u8>,
}

impl Namespace {
    pub(crate) fn new(prefix: &str) -> Namespace {
        Namespace {
            prefix: prefix.as_bytes().to_vec(),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.prefix).unwrap_or_default()
    }

    /// The etcd key for `key`.
    pub(crate) fn key(&self, key: &str) -> Vec<u8> {
        let mut full = self.prefix.clone();
        full.extend_from_slice(key.as_bytes());
        full
    }

    /// The etcd key range `[start, end)` holding the keys that start with `prefix`; an
    /// end of `[0]` means "to the end of the key space", as etcd has it (and an empty start,
    /// which etcd refuses, is written `[0]`, the smallest key).
    pub(crate) fn range(&self, prefix: &str) -> (Vec<u8>, Vec<u8>) {
        let start = self.key(prefix);
        let end = prefix_end(&start).unwrap_or_else(|| vec![0]);
        if start.is_empty() {
            return (vec![0], end);
        }
        (start, end)
    }

    /// The store's key for an etcd key.
    pub(crate) fn strip(&self, key: &[u8]) -> Result<String, StoreError> {
        let rest = key.strip_prefix(self.prefix.as_slice()).ok_or_else(|| {
            StoreError::Backend(format!(
                "etcd returned key {:?} outside namespace {:?}",
                String::from_utf8_lossy(key),
                self.as_str()
            ))
        })?;
        String::from_utf8(rest.to_vec()).map_err(|_| {
            StoreError::Backend(format!(
                "etcd key {:?} is not UTF-8",
                String::from_utf8_lossy(key)
            ))
        })
    }

    /// An etcd key-value as the store's.
    pub(crate) fn kv(&self, kv: &etcd_client::KeyValue) -> Result<KeyValue, StoreError> {
        Ok(KeyValue {
            key: self.strip(kv.key())?,
            value: kv.value().to_vec(),
            create_revision: kv.create_revision(),
            mod_revision: kv.mod_revision(),
        })
    }

    /// The value a deleted key had, at the deletion revision.
    pub(crate) fn deleted(
        &self,
        last: &etcd_client::KeyValue,
        deleted_at: Revision,
    ) -> Result<KeyValue, StoreError> {
        let mut kv = self.kv(last)?;
        kv.mod_revision = deleted_at;
        Ok(kv)
    }
}

/// The first key after every key that starts with `prefix` (`None`: unbounded).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The revision in a response header (0 if etcd sent none).
pub(crate) fn revision(header: Option<&etcd_client::ResponseHeader>) -> Revision {
    header.map_or(0, |h| h.revision())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_live_under_the_namespace() {
        let ns = Namespace::new("/t1");
        assert_eq!(ns.key("/registry/a"), b"/t1/registry/a");
        assert_eq!(ns.strip(b"/t1/registry/a").unwrap(), "/registry/a");
        assert!(ns.strip(b"/t2/registry/a").is_err());
        assert_eq!(
            ns.range("/registry/"),
            (b"/t1/registry/".to_vec(), b"/t1/registry0".to_vec())
        );
    }

    #[test]
    fn an_empty_prefix_ranges_over_everything() {
        let ns = Namespace::new("");
        assert_eq!(ns.range(""), (vec![0], vec![0]));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
    }
}
