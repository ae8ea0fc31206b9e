//! The ingress controller for real, against `portico up`: the notes' Ingresses (section 5.4
//! and the 002 note) reached from the host with curl on `LISTEN:8080` / `LISTEN:8443` and on
//! the controller's EXTERNAL-IP, TLS from a Secret made with openssl and
//! `kubectl create secret tls`, certificate rotation, Exact vs Prefix, wildcard hosts, 404,
//! 503, HTTP/2 and cookie affinity.

mod client;

use std::collections::BTreeSet;
use std::process::Command;

use client::{address, curl, curl_host, until, websocket_round_trip};

use crate::legacy_ingress::{nested, NOTES_5_4_3_HOSTS, NOTES_5_4_4};
use crate::sandbox::Up;
use crate::support::{kubia_deployment, seed};

/// The notes' 002 ReplicaSet and the NodePort Service its Ingress names (`myapp-svc-np` is
/// not shown in the note; this is the obvious one).
const MYAPP: &str = "apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: myapp-rs}
spec:
  replicas: 3
  selector: {matchLabels: {app: myapp-rs}}
  template:
    metadata: {labels: {app: myapp-rs}}
    spec:
      containers:
      - name: myapp
        image: ghcr.io/c1t1d0s7/go-myweb
        ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: myapp-svc-np}
spec:
  type: NodePort
  selector: {app: myapp-rs}
  ports: [{port: 80, targetPort: 8080}]
";

/// `bar`, which section 5.4.3 routes `/bar` to without showing it (beside the book's kubia).
const BAR: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: bar}
spec:
  replicas: 1
  selector: {matchLabels: {app: bar}}
  template:
    metadata: {labels: {app: bar}}
    spec:
      containers:
      - name: bar
        image: takytaky/hostname
        ports: [{containerPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: bar}
spec:
  selector: {app: bar}
  ports: [{port: 80, targetPort: 80}]
";

/// The notes' 002 Ingresses: no host (any address answers, the default backend), then
/// `host: www.example.com` tested with `curl --resolve`; `kubectl get ing` shows the class,
/// hosts and the controller's EXTERNAL-IP as ADDRESS.
#[test]
fn notes_ingress_default_backend_and_host() {
    let c = Up::start(1);
    c.apply(MYAPP);
    let pods: BTreeSet<String> = c
        .ready_pods("app=myapp-rs", 3)
        .into_iter()
        .map(|p| p.0)
        .collect();
    c.ok(&["apply", "-f", &seed("002-myapp-ing.yaml")]);
    let ip = address(&c, "myapp-ing");
    let lb = c.get_json(&["svc", "-n", "ingress-portico", "ingress-portico-controller"]);
    assert_eq!(
        lb["status"]["loadBalancer"]["ingress"][0]["ip"].as_str(),
        Some(ip.as_str()),
        "the Ingress reports the controller Service's EXTERNAL-IP"
    );
    let table = c.ok(&["get", "ing"]);
    let row: Vec<&str> = table
        .lines()
        .nth(1)
        .expect("a row")
        .split_whitespace()
        .collect();
    assert_eq!(
        row[..5],
        ["myapp-ing", "portico", "*", ip.as_str(), "80"],
        "{table}"
    );

    // Any address, any path: the go-myweb pods answer "Hello World!" and their name.
    let url = format!("http://{}:8080/", c.listen);
    let mut seen = BTreeSet::new();
    for _ in 0..30 {
        let r = until("myapp", || curl(&[&url]), |r| r.code == "200");
        let mut lines = r.body.lines();
        assert_eq!(lines.next(), Some("Hello World!"), "{}", r.body);
        seen.insert(lines.next().unwrap_or_default().to_string());
    }
    assert_eq!(seen, pods, "the ingress balances over every ready pod");
    // The EXTERNAL-IP answers on port 80 too (as root the host side can bind it).
    if nix::unistd::geteuid().is_root() {
        let r = curl(&[&format!("http://{ip}/")]);
        assert_eq!(r.code, "200", "{}", r.stderr);
        assert!(r.body.starts_with("Hello World!"), "{}", r.body);
    }

    c.ok(&["apply", "-f", &seed("002-myapp-ing-host.yaml")]);
    let r = until(
        "host rule",
        || curl_host(&c, "http", "www.example.com", "/", &[]),
        |r| r.code == "200",
    );
    assert!(r.body.starts_with("Hello World!"), "{}", r.body);
    let table = c.ok(&["get", "ing", "myapp-ing"]);
    assert!(table.contains("www.example.com"), "{table}");
    // Another host falls to the Ingress's defaultBackend.
    let r = curl_host(&c, "http", "other.example.org", "/x", &[]);
    assert_eq!(r.code, "200", "{}", r.stderr);
}

/// Section 5.4: one host to `kubia-nodeport`, `/kubia` and `/bar` to two services, two hosts
/// (in the book's extensions/v1beta1), then TLS with a Secret made by openssl and `kubectl create secret tls`: HTTPS with the
/// Secret's certificate, HTTP/2 through ALPN, 308 from HTTP, and rotation of the certificate
/// while the listener keeps running.
#[test]
fn book_ingress_paths_hosts_and_tls() {
    let c = Up::start(1);
    c.apply(&format!("{}---\n{BAR}", kubia_deployment(3)));
    c.ok(&["apply", "-f", &seed("000-kubia.yaml")]);
    c.ok(&["apply", "-f", &seed("003-kubia-nodeport.yaml")]);
    c.ready_pods("app=kubia", 3);
    let bar = c.ready_pods("app=bar", 1)[0].0.clone();

    c.ok(&["apply", "-f", &seed("003-kubia-ingress.yaml")]);
    // The 003 note's kubia-nodeport selects `app: kubi` (a typo): no endpoints, so 503.
    until(
        "5.4.1 without endpoints",
        || curl_host(&c, "http", "kubia.example.com", "/", &[]),
        |r| r.code == "503",
    );
    // The 000 note's kubia-nodeport (same name) selects the kubia pods.
    c.ok(&["apply", "-f", &seed("000-kubia-nodeport.yaml")]);
    let r = until(
        "5.4.1",
        || curl_host(&c, "http", "kubia.example.com", "/", &[]),
        |r| r.code == "200",
    );
    assert!(r.body.starts_with("You've hit kubia-"), "{}", r.body);
    // No rule for this host and no default backend: the controller's own 404.
    let r = curl_host(&c, "http", "nothing.example.com", "/", &[]);
    assert_eq!(r.code, "404", "{}", r.body);

    c.ok(&["apply", "-f", &seed("003-kubia-ingress-multipath.yaml")]);
    let r = until(
        "5.4.3 /bar",
        || curl_host(&c, "http", "kubia.example.com", "/bar", &[]),
        |r| r.code == "200" && r.body.contains(&bar),
    );
    assert!(
        r.body.contains(&bar),
        "/bar reaches the bar pod: {}",
        r.body
    );
    let r = curl_host(&c, "http", "kubia.example.com", "/kubia", &[]);
    assert!(r.body.starts_with("You've hit kubia-"), "{}", r.body);
    // Prefix is element-wise: /kubiax is not under /kubia, and / has no rule any more.
    let r = curl_host(&c, "http", "kubia.example.com", "/kubiax", &[]);
    assert_eq!(r.code, "404", "{}", r.body);

    // The two-host and TLS steps as the book writes them: extensions/v1beta1 (with the
    // notes' one indentation slip fixed), routed exactly as their v1 forms.
    c.apply(&nested(NOTES_5_4_3_HOSTS));
    let r = until(
        "5.4.3 two hosts",
        || curl_host(&c, "http", "bar.example.com", "/bar", &[]),
        |r| r.code == "200",
    );
    assert!(r.body.contains(&bar), "{}", r.body);
    until(
        "kubia.example.com has no /bar any more",
        || curl_host(&c, "http", "kubia.example.com", "/bar", &[]),
        |r| r.code == "404",
    );

    // 5.4.4: the notes' commands, in a scratch directory.
    let dir = tempfile::tempdir().expect("temp dir");
    let make_cert = |days: &str| {
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("openssl");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&["genrsa", "-out", "tls.key", "2048"]);
        run(&[
            "req",
            "-new",
            "-x509",
            "-key",
            "tls.key",
            "-out",
            "tls.cert",
            "-days",
            days,
            "-subj",
            "/CN=kubia.example.com",
        ]);
    };
    make_cert("360");
    let cert = dir.path().join("tls.cert");
    let key = dir.path().join("tls.key");
    let (cert, key) = (cert.to_str().expect("path"), key.to_str().expect("path"));
    let cert_arg = format!("--cert={cert}");
    let key_arg = format!("--key={key}");
    c.ok(&["create", "secret", "tls", "tls-secret", &cert_arg, &key_arg]);
    c.apply(&nested(NOTES_5_4_4));
    let cacert = ["--cacert", cert];
    let r = until(
        "5.4.4",
        || curl_host(&c, "https", "kubia.example.com", "/kubia", &cacert),
        |r| r.code == "200",
    );
    assert!(r.body.starts_with("You've hit kubia-"), "{}", r.body);
    // HTTP/2 through ALPN.
    let r = curl_host(
        &c,
        "https",
        "kubia.example.com",
        "/kubia",
        &[
            "--cacert",
            cert,
            "--http2",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version}",
        ],
    );
    // (this `-w` replaces curl()'s own, so the last line is the HTTP version alone)
    assert_eq!(r.code, "2", "HTTP/2 negotiated: {}", r.stderr);
    // Plain HTTP to a TLS host is redirected.
    let r = curl_host(&c, "http", "kubia.example.com", "/kubia?x=1", &["-D", "-"]);
    assert_eq!(r.code, "308", "{}", r.body);
    assert!(
        r.body
            .to_ascii_lowercase()
            .contains("location: https://kubia.example.com"),
        "{}",
        r.body
    );
    // Other names get the controller's default certificate: the Secret's CA does not verify it.
    let r = curl_host(&c, "https", "else.example.com", "/", &cacert);
    assert_eq!(
        r.code, "000",
        "not signed by the Secret's key: {}",
        r.stderr
    );

    // Rotation: a new key and certificate in the same Secret; the listener keeps running and
    // new handshakes get the new certificate.
    let controllers = |c: &Up| {
        let v = c.get_json(&["pods", "-n", "ingress-portico"]);
        v["items"]
            .as_array()
            .expect("pods")
            .iter()
            .map(|p| {
                let name = p["metadata"]["name"].as_str().unwrap_or("").to_string();
                (
                    name,
                    p["status"]["containerStatuses"][0]["restartCount"].clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    let before = controllers(&c);
    assert_eq!(before.len(), 1, "{before:?}");
    let _ = std::fs::copy(cert, dir.path().join("old.cert"));
    make_cert("30");
    let secret = c.ok(&[
        "create",
        "secret",
        "tls",
        "tls-secret",
        &cert_arg,
        &key_arg,
        "--dry-run=client",
        "-o",
        "yaml",
    ]);
    c.apply(&secret);
    let old = dir.path().join("old.cert");
    until(
        "rotation",
        || curl_host(&c, "https", "kubia.example.com", "/kubia", &cacert),
        |r| r.code == "200",
    );
    let r = curl_host(
        &c,
        "https",
        "kubia.example.com",
        "/kubia",
        &["--cacert", old.to_str().expect("path")],
    );
    assert_eq!(r.code, "000", "the old certificate is no longer served");
    assert_eq!(
        controllers(&c),
        before,
        "the same controller, never restarted"
    );
}

/// Exact before Prefix, wildcard hosts (one label), 503 without ready endpoints, backends by
/// port name, and cookie affinity pinning a client to one pod while others spread.
#[test]
fn ingress_matching_errors_and_affinity() {
    let c = Up::start(1);
    c.apply(&format!("{}---\n{BAR}", kubia_deployment(3)));
    c.ok(&["apply", "-f", &seed("000-kubia.yaml")]);
    c.apply(
        "apiVersion: v1
kind: Service
metadata: {name: nobody}
spec:
  selector: {app: nobody}
  ports: [{name: web, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: bar-named}
spec:
  selector: {app: bar}
  ports: [{name: web, port: 8000, targetPort: 80}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: matching}
spec:
  rules:
  - host: exact.example.com
    http:
      paths:
      - {path: /app, pathType: Exact, backend: {service: {name: bar-named, port: {name: web}}}}
      - {path: /app, pathType: Prefix, backend: {service: {name: kubia, port: {number: 80}}}}
      - {path: /empty, pathType: Prefix, backend: {service: {name: nobody, port: {number: 80}}}}
  - host: '*.wild.example.com'
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: bar, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: sticky
  annotations:
    nginx.ingress.kubernetes.io/affinity: cookie
    nginx.ingress.kubernetes.io/session-cookie-name: route
spec:
  rules:
  - host: sticky.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: kubia, port: {number: 80}}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo}
spec:
  replicas: 1
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      containers:
      - {name: echo, image: jmalloc/echo-server, ports: [{containerPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  selector: {app: echo}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: echo}
spec:
  rules:
  - host: echo.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}
",
    );
    let kubia: BTreeSet<String> = c
        .ready_pods("app=kubia", 3)
        .into_iter()
        .map(|p| p.0)
        .collect();
    let bar = c.ready_pods("app=bar", 1)[0].0.clone();

    let r = until(
        "exact",
        || curl_host(&c, "http", "exact.example.com", "/app", &[]),
        |r| r.code == "200",
    );
    assert!(
        r.body.contains(&bar),
        "Exact /app wins over Prefix /app: {}",
        r.body
    );
    let r = curl_host(&c, "http", "exact.example.com", "/app/x", &[]);
    assert!(r.body.starts_with("You've hit kubia-"), "{}", r.body);
    let r = curl_host(&c, "http", "exact.example.com", "/empty", &[]);
    assert_eq!(r.code, "503", "no ready endpoint: {}", r.body);

    let r = until(
        "wildcard",
        || curl_host(&c, "http", "a.wild.example.com", "/", &[]),
        |r| r.code == "200",
    );
    assert!(r.body.contains(&bar), "{}", r.body);
    let r = curl_host(&c, "http", "a.b.wild.example.com", "/", &[]);
    assert_eq!(r.code, "404", "a wildcard covers one label only");
    let r = curl_host(&c, "http", "wild.example.com", "/", &[]);
    assert_eq!(r.code, "404", "a wildcard needs a label");

    // Cookie affinity: the first answer sets `route`; with it, every request lands on the
    // same pod; without it, requests spread.
    let dir = tempfile::tempdir().expect("temp dir");
    let jar = dir.path().join("jar");
    let jar = jar.to_str().expect("path");
    let r = until(
        "sticky",
        || curl_host(&c, "http", "sticky.example.com", "/", &["-c", jar]),
        |r| r.code == "200",
    );
    let first = r
        .body
        .trim()
        .strip_prefix("You've hit ")
        .unwrap_or("")
        .to_string();
    assert!(kubia.contains(&first), "{}", r.body);
    assert!(
        std::fs::read_to_string(jar)
            .expect("cookie jar")
            .contains("route"),
        "the affinity cookie is set"
    );
    for _ in 0..15 {
        let r = curl_host(&c, "http", "sticky.example.com", "/", &["-b", jar]);
        assert_eq!(r.body.trim(), format!("You've hit {first}"), "pinned");
    }
    let mut spread = BTreeSet::new();
    for _ in 0..20 {
        let r = curl_host(&c, "http", "sticky.example.com", "/", &[]);
        spread.insert(r.body.trim().to_string());
    }
    assert!(
        spread.len() > 1,
        "clients without the cookie spread: {spread:?}"
    );

    // What the backend receives: the forwarding headers ingress-nginx adds.
    let echo = c.ready_pods("app=echo", 1)[0].0.clone();
    let r = until(
        "echo",
        || curl_host(&c, "http", "echo.example.com", "/hello?a=b", &[]),
        |r| r.code == "200",
    );
    assert!(
        r.body.starts_with(&format!("Request served by {echo}")),
        "{}",
        r.body
    );
    for header in [
        "X-Forwarded-For: ",
        "X-Forwarded-Host: echo.example.com",
        "X-Forwarded-Proto: http",
        "X-Request-Id: ",
        "X-Real-Ip: ",
    ] {
        assert!(r.body.contains(header), "{header} missing:\n{}", r.body);
    }
    // A WebSocket round trip through the ingress.
    let (hello, echoed) = websocket_round_trip(&c.listen, "echo.example.com", "hi there");
    assert_eq!(hello, format!("Request served by {echo}"));
    assert_eq!(echoed, "hi there");
}
