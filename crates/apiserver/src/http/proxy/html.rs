//! Link rewriting in proxied HTML pages and redirects, as Kubernetes' proxy transport does:
//! absolute paths (and URLs naming the backend or the API server itself) in URL-valued
//! attributes gain the proxy prefix (`/api/v1/namespaces/NS/pods/NAME/proxy`), so a page
//! served through the API server links back through it.
//!
//! The tokenizer is a small one of its own: text, comments, doctypes and end tags are copied
//! byte for byte; every start tag is written again in the normal form Go's `html.Token`
//! prints (lower-case names, every value double-quoted and escaped); the contents of raw-text
//! elements (`script`, `style`, ...) are not parsed.

/// The URL-valued attributes of each tag (the table of Kubernetes' `atomsToAttrs`).
fn url_attributes(tag: &str) -> &'static [&'static str] {
    match tag {
        "a" | "area" | "base" | "link" => &["href"],
        "applet" => &["codebase"],
        "audio" | "embed" | "script" | "source" => &["src"],
        "blockquote" | "del" | "ins" | "q" => &["cite"],
        "body" => &["background"],
        "button" => &["formaction"],
        "command" => &["icon"],
        "form" => &["action"],
        "frame" | "iframe" => &["longdesc", "src"],
        "head" => &["profile"],
        "html" => &["manifest"],
        "img" => &["longdesc", "src", "usemap"],
        "input" => &["src", "usemap", "formaction"],
        "object" => &["classid", "codebase", "data", "usemap"],
        "video" => &["poster", "src"],
        _ => &[],
    }
}

/// Elements whose content is raw text up to their end tag.
const RAW_TEXT: &[&str] = &[
    "script",
    "style",
    "textarea",
    "title",
    "xmp",
    "iframe",
    "noembed",
    "noframes",
    "noscript",
    "plaintext",
];

/// How links are rewritten: what Kubernetes' `Transport.rewriteURL` knows.
#[derive(Debug, Clone)]
pub(crate) struct Rewriter {
    /// The proxy prefix, e.g. `/api/v1/namespaces/ns/pods/web/proxy`.
    pub prefix: String,
    /// The backend's `host:port` (links naming it are the backend's own).
    pub backend_host: String,
    /// The `Host` the client asked the API server for.
    pub request_host: String,
}

/// A URL split the way Go's `url.Parse` splits one (enough for rewriting).
struct Url<'a> {
    scheme: &'a str,
    host: Option<&'a str>,
    path: &'a str,
    rest: &'a str,
}

fn split_url(s: &str) -> Option<Url<'_>> {
    let (scheme, after) = match s.find(':') {
        Some(i)
            if i > 0
                && s[..i].starts_with(|c: char| c.is_ascii_alphabetic())
                && s[..i]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            (&s[..i], &s[i + 1..])
        }
        Some(0) => return None,
        _ => ("", s),
    };
    let (host, after) = match after.strip_prefix("//") {
        Some(a) => {
            let end = a.find(['/', '?', '#']).unwrap_or(a.len());
            (Some(&a[..end]), &a[end..])
        }
        None => (None, after),
    };
    let end = after.find(['?', '#']).unwrap_or(after.len());
    Some(Url {
        scheme,
        host,
        path: &after[..end],
        rest: &after[end..],
    })
}

impl Rewriter {
    /// Rewrites one URL to go through the proxy if it is an absolute path on the backend (or
    /// names the backend or the API server); anything else comes back unchanged.
    pub fn url(&self, target: &str) -> String {
        let Some(url) = split_url(target) else {
            return target.to_string();
        };
        let host = url.host.unwrap_or("");
        let different_host =
            !host.is_empty() && host != self.backend_host && host != self.request_host;
        if different_host || !url.path.starts_with('/') {
            return target.to_string();
        }
        // Kubernetes keeps the scheme and host only for links that name the API server.
        let (scheme, host) = if host == self.request_host && url.host.is_some() {
            (url.scheme, url.host)
        } else {
            ("", None)
        };
        let path = if url.path.starts_with(&self.prefix) {
            url.path.to_string()
        } else {
            let mut joined = super::clean_path(&format!("{}/{}", self.prefix, url.path));
            if url.path.ends_with('/') && !joined.ends_with('/') {
                joined.push('/');
            }
            joined
        };
        let mut out = String::new();
        if !scheme.is_empty() {
            out.push_str(scheme);
            out.push(':');
        }
        if let Some(h) = host {
            out.push_str("//");
            out.push_str(h);
        }
        out.push_str(&path);
        out.push_str(url.rest);
        out
    }

    /// Rewrites the links of an HTML document.
    pub fn html(&self, input: &str) -> String {
        let mut out = String::with_capacity(input.len() + 64);
        let mut rest = input;
        while let Some(lt) = rest.find('<') {
            out.push_str(&rest[..lt]);
            rest = &rest[lt..];
            let consumed = if let Some(comment) = rest.strip_prefix("<!--") {
                comment.find("-->").map_or(rest.len(), |e| 4 + e + 3)
            } else if rest.starts_with("<!") || rest.starts_with("<?") || rest.starts_with("</") {
                rest.find('>').map_or(rest.len(), |e| e + 1)
            } else if rest[1..].starts_with(|c: char| c.is_ascii_alphabetic()) {
                match start_tag(rest) {
                    Some(tag) => {
                        out.push_str(&self.render(&tag));
                        rest = &rest[tag.len..];
                        if RAW_TEXT.contains(&tag.name.as_str()) {
                            let end = find_end_tag(rest, &tag.name);
                            out.push_str(&rest[..end]);
                            rest = &rest[end..];
                        }
                        continue;
                    }
                    None => rest.len(),
                }
            } else {
                1
            };
            out.push_str(&rest[..consumed]);
            rest = &rest[consumed..];
        }
        out.push_str(rest);
        out
    }

    fn render(&self, tag: &Tag) -> String {
        let rewritten = url_attributes(&tag.name);
        let mut s = format!("<{}", tag.name);
        for (key, value) in &tag.attrs {
            let value = if rewritten.contains(&key.as_str()) {
                self.url(value)
            } else {
                value.clone()
            };
            s.push_str(&format!(" {key}=\"{}\"", escape(&value)));
        }
        s.push_str(if tag.self_closing { "/>" } else { ">" });
        s
    }
}

/// A parsed start tag.
struct Tag {
    name: String,
    attrs: Vec<(String, String)>,
    self_closing: bool,
    /// Bytes of input it spans.
    len: usize,
}

/// Parses the start tag at the beginning of `s` (which starts with `<` and a letter);
/// `None` when it never closes.
fn start_tag(s: &str) -> Option<Tag> {
    let b = s.as_bytes();
    let mut i = 1;
    let name_end = |i: usize| b[i].is_ascii_whitespace() || b[i] == b'/' || b[i] == b'>';
    let start = i;
    while i < b.len() && !name_end(i) {
        i += 1;
    }
    let name = s[start..i].to_ascii_lowercase();
    let mut attrs = Vec::new();
    loop {
        while i < b.len()
            && (b[i].is_ascii_whitespace() || (b[i] == b'/' && b.get(i + 1) != Some(&b'>')))
        {
            i += 1;
        }
        match b.get(i)? {
            b'>' => {
                return Some(Tag {
                    name,
                    attrs,
                    self_closing: false,
                    len: i + 1,
                })
            }
            b'/' => {
                return Some(Tag {
                    name,
                    attrs,
                    self_closing: true,
                    len: i + 2,
                })
            }
            _ => {}
        }
        let key_start = i;
        i += 1;
        while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        let key = s[key_start..i].to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if b.get(i) == Some(&b'=') {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            match b.get(i)? {
                q @ (b'"' | b'\'') => {
                    let close = s[i + 1..].find(*q as char)? + i + 1;
                    value = unescape(&s[i + 1..close]);
                    i = close + 1;
                }
                _ => {
                    let v_start = i;
                    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                        i += 1;
                    }
                    value = unescape(&s[v_start..i]);
                }
            }
        }
        attrs.push((key, value));
    }
}

/// Where the raw text of element `name` ends (at its end tag, or the end of input).
fn find_end_tag(s: &str, name: &str) -> usize {
    let lower = s.to_ascii_lowercase();
    let needle = format!("</{name}");
    lower.find(&needle).unwrap_or(s.len())
}

/// Go's `html.EscapeString` for attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// Decodes the character references an attribute value commonly holds.
fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.find(';').and_then(|semi| {
            let entity = &rest[1..semi];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16)
                    .ok()
                    .and_then(char::from_u32),
                e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            c.map(|c| (c, semi + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewriter() -> Rewriter {
        Rewriter {
            prefix: "/api/v1/namespaces/ns/pods/web/proxy".into(),
            backend_host: "10.244.1.5:80".into(),
            request_host: "127.0.0.1:6443".into(),
        }
    }

    #[test]
    fn absolute_paths_gain_the_prefix() {
        let r = rewriter();
        assert_eq!(
            r.html(r#"<a href="/rewriteme">test</a>"#),
            r#"<a href="/api/v1/namespaces/ns/pods/web/proxy/rewriteme">test</a>"#
        );
        assert_eq!(r.url("/dir/"), "/api/v1/namespaces/ns/pods/web/proxy/dir/");
        assert_eq!(
            r.url("/x?a=1#f"),
            "/api/v1/namespaces/ns/pods/web/proxy/x?a=1#f"
        );
        assert_eq!(
            r.url("http://10.244.1.5:80/x"),
            "/api/v1/namespaces/ns/pods/web/proxy/x"
        );
        assert_eq!(
            r.url("https://127.0.0.1:6443/y"),
            "https://127.0.0.1:6443/api/v1/namespaces/ns/pods/web/proxy/y"
        );
        // Already prefixed, relative, or elsewhere: unchanged.
        assert_eq!(
            r.url("/api/v1/namespaces/ns/pods/web/proxy/z"),
            "/api/v1/namespaces/ns/pods/web/proxy/z"
        );
        assert_eq!(r.url("rel/path"), "rel/path");
        assert_eq!(r.url("http://example.com/a"), "http://example.com/a");
        assert_eq!(r.url("mailto:someone"), "mailto:someone");
    }

    #[test]
    fn tags_are_normalised_like_go_prints_them() {
        let r = rewriter();
        let page = "<!DOCTYPE html><!-- <a href=\"/c\"> --><IMG SRC='/i.png' alt=x disabled>\
                    <script>var s = '<a href=\"/no\">';</script><p>a < b</p><br/>";
        assert_eq!(
            r.html(page),
            "<!DOCTYPE html><!-- <a href=\"/c\"> --><img src=\"/api/v1/namespaces/ns/pods/web/proxy/i.png\" alt=\"x\" disabled=\"\">\
             <script>var s = '<a href=\"/no\">';</script><p>a < b</p><br/>"
        );
        assert_eq!(
            r.html("<a title=\"a &amp; &quot;b&quot;\" href=/p>"),
            "<a title=\"a &amp; &#34;b&#34;\" href=\"/api/v1/namespaces/ns/pods/web/proxy/p\">"
        );
        // A tag that never closes is left as it was.
        assert_eq!(r.html("text <a href=\"/x"), "text <a href=\"/x");
    }
}
