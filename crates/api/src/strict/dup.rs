//! A scan of a JSON document for keys repeated within one object, with the path of every key
//! in document order (so other problems can be ordered the same way).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// What [`scan`] found.
#[derive(Debug, Default)]
pub struct Scan {
    /// `(position, path)` of every repeated key.
    pub duplicates: Vec<(usize, String)>,
    /// The position of the first occurrence of every key path.
    first: HashMap<String, usize>,
}

impl Scan {
    /// The position (in document order) at which `path` first appeared.
    pub fn first_seen(&self, path: &str) -> Option<usize> {
        self.first.get(path).copied()
    }
}

struct State {
    counter: usize,
    scan: Scan,
}

struct Node<'a> {
    path: String,
    state: &'a RefCell<State>,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            let child = Node {
                path: format!("{}[{i}]", self.path),
                state: self.state,
            };
            if seq.next_element_seed(child)?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen: Vec<String> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = join(&self.path, &key);
            {
                let mut st = self.state.borrow_mut();
                st.counter += 1;
                let pos = st.counter;
                if seen.contains(&key) {
                    st.scan.duplicates.push((pos, path.clone()));
                } else {
                    seen.push(key);
                    st.scan.first.entry(path.clone()).or_insert(pos);
                }
            }
            map.next_value_seed(Node {
                path,
                state: self.state,
            })?;
        }
        Ok(())
    }
}

/// Scans a JSON document. A document that is not valid JSON yields what was seen before the
/// error (decoding errors are reported elsewhere).
pub fn scan(body: &[u8]) -> Scan {
    let state = RefCell::new(State {
        counter: 0,
        scan: Scan::default(),
    });
    let mut de = serde_json::Deserializer::from_slice(body);
    let root = Node {
        path: String::new(),
        state: &state,
    };
    if let Err(e) = root.deserialize(&mut de) {
        tracing::debug!(error = %e, "body is not valid JSON; duplicate scan stopped early");
    }
    state.into_inner().scan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_repeated_keys_with_paths() {
        let s = scan(br#"{"a":{"b":1,"b":2},"l":[{"x":1,"x":1}],"a":3}"#);
        let dups: Vec<&str> = s.duplicates.iter().map(|(_, p)| p.as_str()).collect();
        assert_eq!(dups, vec!["a.b", "l[0].x", "a"]);
        assert!(s.first_seen("a.b").unwrap_or(0) < s.first_seen("l[0].x").unwrap_or(0));
    }
}
