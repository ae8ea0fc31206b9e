//! Strict decoding (being written).
use crate::registry::ResourceInfo;
/// Problems.
pub fn strict_problems(_res: &ResourceInfo, _body: &[u8]) -> Vec<String> { Vec::new() }
