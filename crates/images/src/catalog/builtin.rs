//! The built-in catalog entries: which image names run which built-in program, and which
//! stand for the host's own tools.

use super::{Entry, SELF_EXE};
use std::collections::BTreeMap;

/// `[SELF_EXE, "__image", program]`: the argv prefix that runs a built-in program.
pub(crate) fn program_argv(program: &str) -> Vec<String> {
    vec![
        SELF_EXE.to_string(),
        "__image".to_string(),
        program.to_string(),
    ]
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// An entry whose entrypoint is the built-in `program`, with default `cmd`.
fn builtin(program: &str, cmd: &[&str]) -> Entry {
    Entry {
        entrypoint: program_argv(program),
        cmd: strings(cmd),
        env: Vec::new(),
        working_dir: None,
        programs: Vec::new(),
    }
}

/// An entry with no entrypoint whose default cmd runs a host program.
fn host(cmd: &[&str]) -> Entry {
    Entry {
        entrypoint: Vec::new(),
        cmd: strings(cmd),
        env: Vec::new(),
        working_dir: None,
        programs: Vec::new(),
    }
}

/// Declares that the real image holds `paths`, each running `program` (plus `extra` args).
fn with_programs(mut entry: Entry, paths: &[&str], program: &str, extra: &[&str]) -> Entry {
    for path in paths {
        let mut prefix = program_argv(program);
        prefix.extend(strings(extra));
        entry.programs.push((path.to_string(), prefix));
    }
    entry
}

/// Every built-in entry, keyed by normalised name (`name:tag` for tag-specific ones).
pub(crate) fn entries() -> BTreeMap<String, Entry> {
    let mut map = BTreeMap::new();
    let mut add = |names: &[&str], entry: Entry| {
        for name in names {
            map.insert(name.to_string(), entry.clone());
        }
    };

    // Kubernetes in Action (the notes also spell it `luks/kubia`).
    add(&["luksa/kubia", "luks/kubia"], builtin("kubia", &[]));
    for version in ["v1", "v2", "v3"] {
        let program = format!("kubia-{version}");
        add(
            &[
                &format!("luksa/kubia:{version}"),
                &format!("luks/kubia:{version}"),
            ],
            builtin(&program, &[]),
        );
    }
    add(&["luksa/kubia-unhealthy"], builtin("kubia-unhealthy", &[]));
    add(&["luksa/kubia-pet"], builtin("kubia-pet", &[]));

    // Course images of the notes.
    add(&["takytaky/hostname"], builtin("takytaky-hostname", &[]));
    add(&["ghcr.io/c1t1d0s7/go-myweb"], builtin("go-myweb", &[]));
    add(&["jmalloc/echo-server"], builtin("echo-server", &[]));
    add(
        &[
            "ghcr.io/c1t1d0s7/network-multitool",
            "praqma/network-multitool",
            "wbitt/network-multitool",
        ],
        builtin("network-multitool", &[]),
    );

    // Toolboxes: the host's dig, host, nslookup, curl, ip, ...
    add(
        &[
            "tutum/dnsutils",
            "nicolaka/netshoot",
            "registry.k8s.io/e2e-test-images/jessie-dnsutils",
            "k8s.gcr.io/e2e-test-images/jessie-dnsutils",
            "gcr.io/kubernetes-e2e-test-images/jessie-dnsutils",
        ],
        host(&["sleep", "infinity"]),
    );
    add(&["busybox", "alpine"], host(&["sh"]));
    add(&["ubuntu", "debian"], host(&["bash"]));
    add(&["curlimages/curl"], host(&["curl"]));

    // Kubernetes' test images.
    let agnhost = with_programs(
        builtin("agnhost", &["pause"]),
        &["/agnhost", "/agnhost-2", "agnhost"],
        "agnhost",
        &[],
    );
    add(
        &[
            "registry.k8s.io/e2e-test-images/agnhost",
            "k8s.gcr.io/e2e-test-images/agnhost",
            "gcr.io/kubernetes-e2e-test-images/agnhost",
        ],
        agnhost,
    );
    let pause = with_programs(builtin("pause", &[]), &["/pause"], "pause", &[]);
    add(
        &[
            "registry.k8s.io/pause",
            "k8s.gcr.io/pause",
            "gcr.io/google_containers/pause",
            "gcr.io/google-containers/pause",
        ],
        pause,
    );

    // Portico's own add-ons: subcommands of the portico binary.
    for (image, sub) in [
        ("portico/dns", "dns"),
        ("portico/ingress-controller", "ingress-controller"),
    ] {
        add(
            &[image],
            Entry {
                entrypoint: vec![SELF_EXE.to_string(), sub.to_string()],
                cmd: Vec::new(),
                env: Vec::new(),
                working_dir: None,
                programs: Vec::new(),
            },
        );
    }

    // Web servers' default pages.
    let nginx = with_programs(
        builtin("nginx", &["nginx", "-g", "daemon off;"]),
        &["nginx", "/usr/sbin/nginx"],
        "nginx",
        &["nginx"],
    );
    let nginx = with_programs(nginx, &["/docker-entrypoint.sh"], "nginx", &[]);
    // Kubernetes' e2e suite runs its own nginx build (`e2e-test-images/nginx:1.14-4`, ...).
    add(
        &[
            "nginx",
            "registry.k8s.io/e2e-test-images/nginx",
            "k8s.gcr.io/e2e-test-images/nginx",
            "gcr.io/kubernetes-e2e-test-images/nginx",
        ],
        nginx,
    );
    let httpd = with_programs(
        builtin("httpd", &["httpd-foreground"]),
        &["httpd-foreground", "/usr/local/bin/httpd-foreground"],
        "httpd",
        &["httpd-foreground"],
    );
    add(&["httpd"], httpd);
    map
}
