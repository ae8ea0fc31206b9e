//! Image references and their normal form (Docker's rules for the default registry).

use crate::Error;
use std::fmt;

/// Host names under which Docker Hub is known; references there are stored without them.
const DOCKER_HUB: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// A parsed image reference: `[registry/]path[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Normalised name: lower case, without Docker Hub's host and without `library/` for
    /// single-name Hub images (`docker.io/library/nginx` → `nginx`); other registries stay
    /// (`registry.k8s.io/pause`).
    pub name: String,
    /// The tag, if one was given (`v2` in `luksa/kubia:v2`).
    pub tag: Option<String>,
    /// The digest, if one was given (`sha256:...`).
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses and normalises a reference.
    pub fn parse(image: &str) -> Result<ImageRef, Error> {
        let invalid = |reason: &str| Error::InvalidReference {
            image: image.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = image.trim();
        if trimmed.is_empty() {
            return Err(invalid("the reference is empty"));
        }
        let (rest, digest) = match trimmed.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest.to_string())),
            None => (trimmed, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (path, tag) = match rest[last_slash..].rfind(':') {
            Some(colon) => {
                let at = last_slash + colon;
                (&rest[..at], Some(rest[at + 1..].to_string()))
            }
            None => (rest, None),
        };
        if tag.as_deref() == Some("") {
            return Err(invalid("the tag after ':' is empty"));
        }
        let path = path.to_ascii_lowercase();
        let mut parts: Vec<&str> = path.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(invalid("the name has an empty path component"));
        }
        let has_registry = parts.len() > 1
            && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost");
        if has_registry && DOCKER_HUB.contains(&parts[0]) {
            parts.remove(0);
            if parts.is_empty() {
                return Err(invalid("the name is missing after the registry"));
            }
        }
        let on_hub = !has_registry || DOCKER_HUB.contains(&path.split('/').next().unwrap_or(""));
        if on_hub && parts.len() == 2 && parts[0] == "library" {
            parts.remove(0);
        }
        Ok(ImageRef {
            name: parts.join("/"),
            tag,
            digest,
        })
    }

    /// The catalog key of this exact tag, when there is a tag: `name:tag`.
    pub fn tagged_key(&self) -> Option<String> {
        self.tag.as_ref().map(|t| format!("{}:{}", self.name, t))
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> (String, Option<String>) {
        let r = ImageRef::parse(s).unwrap();
        (r.name, r.tag)
    }

    #[test]
    fn docker_hub_forms_collapse() {
        for s in [
            "nginx",
            "library/nginx",
            "docker.io/nginx",
            "docker.io/library/nginx",
            "index.docker.io/library/nginx",
            "NGINX",
        ] {
            assert_eq!(norm(s), ("nginx".to_string(), None), "{s}");
        }
        assert_eq!(norm("docker.io/luksa/kubia:v2").0, "luksa/kubia");
        assert_eq!(norm("docker.io/luksa/kubia:v2").1.as_deref(), Some("v2"));
    }

    #[test]
    fn other_registries_are_kept() {
        assert_eq!(
            norm("registry.k8s.io/e2e-test-images/agnhost:2.53").0,
            "registry.k8s.io/e2e-test-images/agnhost"
        );
        assert_eq!(
            norm("localhost:5000/library/app:1").0,
            "localhost:5000/library/app"
        );
        assert_eq!(
            norm("localhost:5000/app").1,
            None,
            "a registry port is not a tag"
        );
    }

    #[test]
    fn digest_and_tag() {
        let r = ImageRef::parse("busybox:1.36@sha256:abcdef").unwrap();
        assert_eq!(r.name, "busybox");
        assert_eq!(r.tag.as_deref(), Some("1.36"));
        assert_eq!(r.digest.as_deref(), Some("sha256:abcdef"));
        assert_eq!(r.to_string(), "busybox:1.36@sha256:abcdef");
        assert_eq!(r.tagged_key().as_deref(), Some("busybox:1.36"));
    }

    #[test]
    fn invalid_references() {
        for s in ["", "  ", "nginx:", "a//b", "docker.io/"] {
            assert!(ImageRef::parse(s).is_err(), "{s:?} should be rejected");
        }
    }
}
