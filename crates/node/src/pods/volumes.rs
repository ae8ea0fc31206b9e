//! A pod's files: volumes (emptyDir, configMap, secret, downwardAPI, projected, hostPath),
//! the service-account directory, and `/etc/resolv.conf`, `/etc/hosts`, `/etc/hostname`
//! as the kubelet writes them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{ConfigMap, KeyToPath, Pod, Secret, Volume};
use kube::Api;

use crate::{Config, Error};

/// Where the service-account files appear inside a pod.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Files and mounts the pod sandbox lays out.
#[derive(Debug, Default)]
pub struct Layout {
    /// Files written into the pod's tree.
    pub files: Vec<(PathBuf, String)>,
    /// Bind mounts: node directory, path in the pod, read-only.
    pub binds: Vec<(PathBuf, PathBuf, bool)>,
}

fn write(path: &Path, data: &[u8]) -> Result<(), Error> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    }
    std::fs::write(path, data).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

fn keys_to_files(
    dir: &Path,
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&Vec<KeyToPath>>,
    what: &str,
    optional: bool,
) -> Result<(), Error> {
    match items {
        Some(items) => {
            for item in items {
                match data.get(&item.key) {
                    Some(v) => write(&dir.join(&item.path), v)?,
                    None if optional => {}
                    None => {
                        return Err(Error::Other(format!(
                            "configmap references non-existent config key: {} ({what})",
                            item.key
                        )))
                    }
                }
            }
        }
        None => {
            for (k, v) in data {
                write(&dir.join(k), v)?;
            }
        }
    }
    Ok(())
}

/// The keys of a ConfigMap or Secret as bytes: text values, then binary ones over them.
fn merged(
    text: BTreeMap<String, String>,
    binary: impl IntoIterator<Item = (String, Vec<u8>)>,
) -> BTreeMap<String, Vec<u8>> {
    let mut out: BTreeMap<String, Vec<u8>> =
        text.into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
    out.extend(binary);
    out
}

async fn config_map_data(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, Error> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    Ok(api.get_opt(name).await?.map(|cm| {
        let binary = cm.binary_data.unwrap_or_default();
        merged(
            cm.data.unwrap_or_default(),
            binary.into_iter().map(|(k, v)| (k, v.0)),
        )
    }))
}

async fn secret_data(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    // `stringData` is write-only in the API; where present it wins over `data`, as on write.
    Ok(api.get_opt(name).await?.map(|s| {
        let data = s.data.unwrap_or_default();
        let mut out = merged(s.string_data.unwrap_or_default(), Vec::new());
        for (k, v) in data {
            out.entry(k).or_insert(v.0);
        }
        out
    }))
}

fn field_value(pod: &Pod, path: &str) -> String {
    let v = serde_json::to_value(pod).unwrap_or_default();
    let meta = &v["metadata"];
    if let Some(key) = path
        .strip_prefix("metadata.labels['")
        .and_then(|k| k.strip_suffix("']"))
    {
        return meta["labels"][key].as_str().unwrap_or("").to_string();
    }
    if let Some(key) = path
        .strip_prefix("metadata.annotations['")
        .and_then(|k| k.strip_suffix("']"))
    {
        return meta["annotations"][key].as_str().unwrap_or("").to_string();
    }
    let map_text = |m: &serde_json::Value| {
        m.as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", v.as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    };
    match path {
        "metadata.labels" => map_text(&meta["labels"]),
        "metadata.annotations" => map_text(&meta["annotations"]),
        "metadata.name" => meta["name"].as_str().unwrap_or("").into(),
        "metadata.namespace" => meta["namespace"].as_str().unwrap_or("").into(),
        "metadata.uid" => meta["uid"].as_str().unwrap_or("").into(),
        "spec.nodeName" => v["spec"]["nodeName"].as_str().unwrap_or("").into(),
        "spec.serviceAccountName" => v["spec"]["serviceAccountName"]
            .as_str()
            .unwrap_or("")
            .into(),
        _ => String::new(),
    }
}

/// Materialises the pod's volumes under `pod_dir/volumes` and returns the mounts its
/// containers ask for, the service-account directory and the pod's `/etc` files.
pub async fn prepare(
    client: &kube::Client,
    config: &Config,
    pod: &Pod,
    pod_dir: &Path,
    pod_ip: &str,
) -> Result<Layout, Error> {
    let ns = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let name = pod.metadata.name.clone().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let mut dirs: BTreeMap<String, PathBuf> = BTreeMap::new();
    for vol in spec.volumes.iter().flatten() {
        let dir = volume_dir(client, config, pod, pod_dir, &ns, vol).await?;
        dirs.insert(vol.name.clone(), dir);
    }
    let mut layout = Layout::default();
    let mut seen = std::collections::BTreeSet::new();
    for c in spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
    {
        for m in c.volume_mounts.iter().flatten() {
            let Some(dir) = dirs.get(&m.name) else {
                return Err(Error::Other(format!(
                    "volume mount {:?} of container {:?} names no volume of the pod",
                    m.name, c.name
                )));
            };
            let src = match m.sub_path.as_deref().filter(|s| !s.is_empty()) {
                Some(sub) => {
                    let p = dir.join(sub);
                    if !p.exists() {
                        std::fs::create_dir_all(&p)
                            .map_err(|e| Error::io(format!("creating {}", p.display()), e))?;
                    }
                    p
                }
                None => dir.clone(),
            };
            if seen.insert(m.mount_path.clone()) {
                layout.binds.push((
                    src,
                    PathBuf::from(&m.mount_path),
                    m.read_only.unwrap_or(false),
                ));
            }
        }
    }
    if spec.automount_service_account_token != Some(false) && !seen.contains(SERVICE_ACCOUNT_DIR) {
        let sa = pod_dir.join("serviceaccount");
        write(&sa.join("token"), config.token.as_bytes())?;
        write(&sa.join("ca.crt"), &config.ca_pem)?;
        write(&sa.join("namespace"), ns.as_bytes())?;
        layout
            .binds
            .push((sa, PathBuf::from(SERVICE_ACCOUNT_DIR), true));
    }
    let hostname = spec.hostname.clone().unwrap_or_else(|| name.clone());
    layout
        .files
        .push(("/etc/hostname".into(), format!("{hostname}\n")));
    layout.files.push((
        "/etc/hosts".into(),
        hosts_file(pod, &hostname, pod_ip, &config.cluster_domain),
    ));
    layout
        .files
        .push(("/etc/resolv.conf".into(), resolv_conf(pod, config)));
    Ok(layout)
}

async fn volume_dir(
    client: &kube::Client,
    config: &Config,
    pod: &Pod,
    pod_dir: &Path,
    ns: &str,
    vol: &Volume,
) -> Result<PathBuf, Error> {
    let dir = pod_dir.join("volumes").join(&vol.name);
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    if let Some(host) = &vol.host_path {
        let p = PathBuf::from(&host.path);
        if matches!(host.type_.as_deref(), Some("DirectoryOrCreate")) {
            let _ = std::fs::create_dir_all(&p);
        }
        return Ok(p);
    }
    if let Some(ed) = &vol.empty_dir {
        if ed.medium.as_deref() == Some("Memory") {
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            let mem = config.run_dir.join("volumes").join(uid).join(&vol.name);
            std::fs::create_dir_all(&mem)
                .map_err(|e| Error::io(format!("creating {}", mem.display()), e))?;
            return Ok(mem);
        }
        return Ok(dir);
    }
    if let Some(cm) = &vol.config_map {
        let optional = cm.optional.unwrap_or(false);
        match config_map_data(client, ns, &cm.name).await? {
            Some(data) => keys_to_files(&dir, &data, cm.items.as_ref(), &cm.name, optional)?,
            None if optional => {}
            None => return Err(Error::Other(format!("configmap \"{}\" not found", cm.name))),
        }
        return Ok(dir);
    }
    if let Some(sec) = &vol.secret {
        let sname = sec.secret_name.clone().unwrap_or_default();
        let optional = sec.optional.unwrap_or(false);
        match secret_data(client, ns, &sname).await? {
            Some(data) => keys_to_files(&dir, &data, sec.items.as_ref(), &sname, optional)?,
            None if optional => {}
            None => return Err(Error::Other(format!("secret \"{sname}\" not found"))),
        }
        return Ok(dir);
    }
    if let Some(dapi) = &vol.downward_api {
        for item in dapi.items.iter().flatten() {
            if let Some(f) = &item.field_ref {
                write(
                    &dir.join(&item.path),
                    field_value(pod, &f.field_path).as_bytes(),
                )?;
            }
        }
        return Ok(dir);
    }
    if let Some(proj) = &vol.projected {
        for src in proj.sources.iter().flatten() {
            if src.service_account_token.is_some() {
                let path = src
                    .service_account_token
                    .as_ref()
                    .map_or("token".into(), |t| t.path.clone());
                write(&dir.join(path), config.token.as_bytes())?;
            }
            if let Some(cm) = &src.config_map {
                let data = if cm.name == "kube-root-ca.crt" {
                    Some(BTreeMap::from([(
                        "ca.crt".to_string(),
                        config.ca_pem.clone(),
                    )]))
                } else {
                    config_map_data(client, ns, &cm.name).await?
                };
                if let Some(data) = data {
                    keys_to_files(
                        &dir,
                        &data,
                        cm.items.as_ref(),
                        &cm.name,
                        cm.optional.unwrap_or(false),
                    )?;
                }
            }
            if let Some(sec) = &src.secret {
                if let Some(data) = secret_data(client, ns, &sec.name).await? {
                    keys_to_files(
                        &dir,
                        &data,
                        sec.items.as_ref(),
                        &sec.name,
                        sec.optional.unwrap_or(false),
                    )?;
                }
            }
            if let Some(d) = &src.downward_api {
                for item in d.items.iter().flatten() {
                    if let Some(f) = &item.field_ref {
                        write(
                            &dir.join(&item.path),
                            field_value(pod, &f.field_path).as_bytes(),
                        )?;
                    }
                }
            }
        }
        return Ok(dir);
    }
    Err(Error::Other(format!(
        "volume {:?}: this kind of volume is not supported by Portico (supported: emptyDir, configMap, secret, downwardAPI, projected, hostPath)",
        vol.name
    )))
}

/// `/etc/hosts` as the kubelet writes it for a pod on the pod network.
pub fn hosts_file(pod: &Pod, hostname: &str, pod_ip: &str, domain: &str) -> String {
    let mut s = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    let spec = pod.spec.clone().unwrap_or_default();
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    match spec.subdomain.as_deref().filter(|s| !s.is_empty()) {
        Some(sub) => s.push_str(&format!(
            "{pod_ip}\t{hostname}.{sub}.{ns}.svc.{domain}\t{hostname}\n"
        )),
        None => s.push_str(&format!("{pod_ip}\t{hostname}\n")),
    }
    for alias in spec.host_aliases.iter().flatten() {
        s.push_str(&format!(
            "\n# Entries added by HostAliases.\n{}\t{}\n",
            alias.ip,
            alias.hostnames.clone().unwrap_or_default().join("\t")
        ));
    }
    s
}

/// `/etc/resolv.conf` for the pod's `dnsPolicy` and `dnsConfig`.
pub fn resolv_conf(pod: &Pod, config: &Config) -> String {
    let spec = pod.spec.clone().unwrap_or_default();
    let ns = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let d = &config.cluster_domain;
    // A host network pod with the default policy resolves as the node does; it must ask for
    // ClusterFirstWithHostNet to use the cluster DNS (the kubelet's rule).
    let policy = match spec.dns_policy.as_deref().unwrap_or("ClusterFirst") {
        "ClusterFirst" if spec.host_network == Some(true) => "Default",
        other => other,
    };
    let (mut servers, mut search, mut options): (Vec<String>, Vec<String>, Vec<String>) =
        match policy {
            "None" => (vec![], vec![], vec![]),
            "Default" => (vec![config.node_ip.to_string()], vec![], vec![]),
            _ => (
                config.cluster_dns.clone(),
                vec![format!("{ns}.svc.{d}"), format!("svc.{d}"), d.clone()],
                vec!["ndots:5".into()],
            ),
        };
    if let Some(dc) = &spec.dns_config {
        servers.extend(dc.nameservers.clone().unwrap_or_default());
        search.extend(dc.searches.clone().unwrap_or_default());
        for o in dc.options.iter().flatten() {
            let name = o.name.clone().unwrap_or_default();
            options.retain(|x| x.split(':').next() != Some(name.as_str()));
            options.push(match &o.value {
                Some(v) => format!("{name}:{v}"),
                None => name,
            });
        }
    }
    let mut s = String::new();
    if !search.is_empty() {
        s.push_str(&format!("search {}\n", search.join(" ")));
    }
    for srv in servers {
        s.push_str(&format!("nameserver {srv}\n"));
    }
    if !options.is_empty() {
        s.push_str(&format!("options {}\n", options.join(" ")));
    }
    s
}
