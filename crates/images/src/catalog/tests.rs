//! Tests of catalog resolution and of the user file.

use super::*;
use std::io::Write;

fn s(items: &[&str]) -> Vec<String> {
    items.iter().map(|x| x.to_string()).collect()
}

const EXE: &str = "/usr/local/bin/portico";

fn argv(catalog: &Catalog, image: &str, command: &[&str], args: &[&str]) -> Vec<String> {
    catalog
        .resolve(image, &s(command), &s(args), Path::new(EXE))
        .unwrap()
        .argv
}

fn user_catalog(yaml: &str) -> Result<Catalog, Error> {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(yaml.as_bytes()).unwrap();
    Catalog::load(Some(file.path()))
}

#[test]
fn builtin_image_without_command_or_args_runs_entrypoint_and_cmd() {
    let c = Catalog::builtin();
    assert_eq!(
        argv(&c, "luksa/kubia", &[], &[]),
        s(&[EXE, "__image", "kubia"])
    );
    assert_eq!(
        argv(&c, "registry.k8s.io/e2e-test-images/agnhost:2.53", &[], &[]),
        s(&[EXE, "__image", "agnhost", "pause"])
    );
    assert_eq!(argv(&c, "busybox", &[], &[]), s(&["sh"]));
    // The conformance suite's nginx runs the same server as Docker Hub's.
    assert_eq!(
        argv(&c, "registry.k8s.io/e2e-test-images/nginx:1.14-4", &[], &[]),
        argv(&c, "nginx", &[], &[])
    );
}

#[test]
fn args_replace_cmd_and_keep_entrypoint() {
    let c = Catalog::builtin();
    assert_eq!(
        argv(
            &c,
            "registry.k8s.io/e2e-test-images/agnhost:2.39",
            &[],
            &["netexec", "--http-port=8080"]
        ),
        s(&[EXE, "__image", "agnhost", "netexec", "--http-port=8080"])
    );
    assert_eq!(
        argv(&c, "busybox", &[], &["sleep", "3600"]),
        s(&["sleep", "3600"])
    );
}

#[test]
fn command_replaces_entrypoint_and_drops_cmd() {
    let c = Catalog::builtin();
    assert_eq!(
        argv(&c, "tutum/dnsutils", &["sleep", "infinity"], &[]),
        s(&["sleep", "infinity"])
    );
    assert_eq!(
        argv(&c, "nginx", &["sh", "-c"], &["echo hi"]),
        s(&["sh", "-c", "echo hi"])
    );
    // The real image's own program paths still run the built-in program.
    assert_eq!(
        argv(
            &c,
            "k8s.gcr.io/e2e-test-images/agnhost:2.20",
            &["/agnhost", "serve-hostname"],
            &["--port=9376"]
        ),
        s(&[EXE, "__image", "agnhost", "serve-hostname", "--port=9376"])
    );
    assert_eq!(
        argv(&c, "registry.k8s.io/pause:3.10", &["/pause"], &[]),
        s(&[EXE, "__image", "pause"])
    );
}

#[test]
fn references_are_normalised() {
    let c = Catalog::builtin();
    let kubia = s(&[EXE, "__image", "kubia"]);
    for image in [
        "luksa/kubia",
        "luksa/kubia:latest",
        "docker.io/luksa/kubia",
        "index.docker.io/luksa/kubia:v9",
        "luksa/kubia@sha256:0123abcd",
        "luks/kubia",
    ] {
        assert_eq!(argv(&c, image, &[], &[]), kubia, "{image}");
    }
    assert_eq!(
        argv(&c, "docker.io/library/busybox:1.36", &[], &[]),
        s(&["sh"])
    );
    assert_eq!(
        argv(&c, "luksa/kubia:v2", &[], &[]),
        s(&[EXE, "__image", "kubia-v2"]),
        "a tag with its own entry answers differently"
    );
}

#[test]
fn unknown_image_with_command_runs_the_host_program() {
    let c = Catalog::builtin();
    let r = c
        .resolve(
            "example/unknown:1",
            &s(&["/bin/echo", "a"]),
            &s(&["b"]),
            Path::new(EXE),
        )
        .unwrap();
    assert_eq!(r.argv, s(&["/bin/echo", "a", "b"]));
    assert!(r.env.is_empty());
    assert_eq!(r.working_dir, None);
}

#[test]
fn unknown_image_without_command_says_how_to_map_it() {
    let c = Catalog::load(Some(Path::new("/home/u/.portico/images.yaml"))).unwrap();
    let err = c
        .resolve("docker.io/foo/bar:1.0", &[], &s(&["x"]), Path::new(EXE))
        .unwrap_err();
    assert!(matches!(err, Error::UnknownImage { .. }));
    assert_eq!(
        err.to_string(),
        "image \"docker.io/foo/bar:1.0\" is not in Portico's image catalog; give the container a command, \
         or map the image to a host command in /home/u/.portico/images.yaml, e.g.:\n  foo/bar:\n    \
         command: [\"/usr/bin/python3\", \"-m\", \"http.server\", \"8080\"]"
    );
}

#[test]
fn user_file_adds_and_overrides_entries() {
    let c = user_catalog(
        "# my images\n\
         mycompany/web:\n  command: [\"/usr/bin/python3\", \"-m\", \"http.server\"]\n  args: [\"8080\"]\n  env:\n    PORT: 8080\n    MODE: prod\n  workingDir: /srv\n\
         docker.io/luksa/kubia:\n  command: [\"/opt/kubia\"]\n",
    )
    .unwrap();
    let r = c
        .resolve("docker.io/mycompany/web:1.2", &[], &[], Path::new(EXE))
        .unwrap();
    assert_eq!(
        r.argv,
        s(&["/usr/bin/python3", "-m", "http.server", "8080"])
    );
    assert_eq!(
        r.env,
        vec![
            ("MODE".to_string(), "prod".to_string()),
            ("PORT".to_string(), "8080".to_string())
        ]
    );
    assert_eq!(r.working_dir.as_deref(), Some("/srv"));
    assert_eq!(
        argv(&c, "mycompany/web", &[], &["9090"]),
        s(&["/usr/bin/python3", "-m", "http.server", "9090"])
    );
    // The user's kubia replaces the built-in one, tag-specific entries included.
    assert_eq!(argv(&c, "luksa/kubia", &[], &[]), s(&["/opt/kubia"]));
    assert_eq!(argv(&c, "luksa/kubia:v2", &[], &[]), s(&["/opt/kubia"]));
    assert!(c.names().contains(&"mycompany/web".to_string()));
    assert!(!c.names().contains(&"luksa/kubia:v2".to_string()));
}

#[test]
fn missing_user_file_is_not_an_error() {
    let c = Catalog::load(Some(Path::new("/nonexistent/images.yaml"))).unwrap();
    assert_eq!(c.names(), Catalog::builtin().names());
}

#[test]
fn malformed_user_file_names_file_and_line() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(
        b"good/image:\n  command: [\"/bin/true\"]\nbad/image:\n  comand: [\"/bin/true\"]\n",
    )
    .unwrap();
    let err = Catalog::load(Some(file.path())).unwrap_err();
    let text = err.to_string();
    let Error::BadFile { line, .. } = &err else {
        panic!("expected BadFile, got {err:?}");
    };
    assert_eq!(*line, 4, "{text}");
    assert!(
        text.starts_with(&format!("{}:4: ", file.path().display())),
        "{text}"
    );
    assert!(text.contains("comand"), "{text}");
}

#[test]
fn user_entry_without_command_or_args_is_rejected() {
    let err = user_catalog("a/b:\n  env:\n    X: \"1\"\n").unwrap_err();
    assert!(
        err.to_string()
            .contains(":2: image \"a/b\" needs a command"),
        "{err}"
    );
}

#[test]
fn empty_program_is_an_error() {
    let c = Catalog::builtin();
    let err = c
        .resolve("busybox", &s(&[""]), &[], Path::new(EXE))
        .unwrap_err();
    assert!(matches!(err, Error::EmptyCommand { .. }), "{err}");
}

#[test]
fn names_lists_the_notes_images() {
    let names = Catalog::builtin().names();
    for name in [
        "luksa/kubia",
        "luks/kubia",
        "takytaky/hostname",
        "tutum/dnsutils",
        "ghcr.io/c1t1d0s7/go-myweb",
        "registry.k8s.io/e2e-test-images/agnhost",
        "registry.k8s.io/pause",
        "nginx",
    ] {
        assert!(names.contains(&name.to_string()), "{name} missing");
    }
}

#[test]
fn the_suggested_mapping_works_when_pasted_into_the_file() {
    let err = Catalog::builtin()
        .resolve("docker.io/foo/bar:1.0", &[], &[], Path::new(EXE))
        .unwrap_err()
        .to_string();
    let (_, snippet) = err.split_once("e.g.:\n").unwrap();
    let c = user_catalog(snippet).unwrap();
    assert_eq!(
        argv(&c, "docker.io/foo/bar:1.0", &[], &[]),
        s(&["/usr/bin/python3", "-m", "http.server", "8080"])
    );
}
