//! Bodies captured from the real kubectl v1.32 (`kubectl create ...` against a recording fake
//! API server), decoded and compared with the JSON the same command prints with
//! `--dry-run=client -o json`. See `tests/fixtures/README.md` for the commands.

use std::fs;
use std::path::{Path, PathBuf};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pb"))
        .collect();
    out.sort();
    out
}

fn expected(pb: &Path) -> serde_json::Value {
    let text = fs::read_to_string(pb.with_extension("json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_fixture_decodes_to_what_kubectl_would_send_as_json() {
    let all = fixtures();
    assert!(all.len() >= 19, "only {} fixtures", all.len());
    let mut failures = Vec::new();
    for pb in &all {
        let body = fs::read(pb).unwrap();
        let got =
            portico_protobuf::decode(&body).unwrap_or_else(|e| panic!("{}: {e}", pb.display()));
        let want = expected(pb);
        if got != want {
            failures.push(format!(
                "{}:\n got  {}\n want {}",
                pb.display(),
                serde_json::to_string(&got).unwrap(),
                serde_json::to_string(&want).unwrap()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn secret_data_is_base64_and_empty_type_is_left_out() {
    let body =
        fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/secret_generic.pb"))
            .unwrap();
    let got = portico_protobuf::decode(&body).unwrap();
    assert_eq!(got["data"]["a"], "Yg==");
    assert!(got.get("type").is_none());
    assert_eq!(
        got["metadata"]["creationTimestamp"],
        serde_json::Value::Null
    );
}

#[test]
fn service_target_port_is_a_number() {
    let body =
        fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/service_nodeport.pb"))
            .unwrap();
    let got = portico_protobuf::decode(&body).unwrap();
    let port = &got["spec"]["ports"][0];
    assert_eq!(port["targetPort"], 8080);
    assert_eq!(port["nodePort"], 30080);
    assert_eq!(port["protocol"], "TCP");
}

#[test]
fn ingress_named_port_and_numbered_port() {
    let body =
        fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ingress.pb")).unwrap();
    let got = portico_protobuf::decode(&body).unwrap();
    assert_eq!(
        got["spec"]["defaultBackend"]["service"]["port"],
        serde_json::json!({"name": "http"})
    );
    let path = &got["spec"]["rules"][0]["http"]["paths"][0];
    assert_eq!(
        path["backend"]["service"]["port"],
        serde_json::json!({"number": 8080})
    );
    assert_eq!(path["pathType"], "Prefix");
}

/// Truncating a body anywhere must give an error or a value, never a panic.
#[test]
fn truncated_fixtures_never_panic() {
    for pb in fixtures() {
        let body = fs::read(&pb).unwrap();
        for len in 0..body.len() {
            let _ = portico_protobuf::decode(&body[..len]);
        }
        assert!(portico_protobuf::decode(&body[..body.len() - 1]).is_err() || body.len() < 5);
    }
}

/// Flipping, zeroing or saturating any byte must not panic either.
#[test]
fn mutated_fixtures_never_panic() {
    for pb in fixtures() {
        let body = fs::read(&pb).unwrap();
        // Large fixtures: sample every byte of the first 400 and every 7th after that.
        let positions = (0..body.len()).filter(|i| *i < 400 || i % 7 == 0);
        for i in positions {
            for mutate in [
                |b: u8| !b,
                |_| 0,
                |_| 0xff,
                |b: u8| b ^ 0x80,
                |b: u8| b.wrapping_add(1),
            ] {
                let mut copy = body.clone();
                copy[i] = mutate(copy[i]);
                let _ = portico_protobuf::decode(&copy);
            }
        }
    }
}

/// A deterministic pseudo-random byte soup after a valid prefix.
#[test]
fn random_bodies_never_panic() {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let len = (next() % 64) as usize;
        let mut body = b"k8s\0".to_vec();
        body.extend((0..len).map(|_| next() as u8));
        let _ = portico_protobuf::decode(&body);
    }
}
