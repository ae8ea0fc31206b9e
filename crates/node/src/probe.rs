//! Readiness, liveness and startup probes, run the way the kubelet runs them.
//!
//! [`check`] runs one probe once and says what happened ([`Outcome`]); it knows nothing of
//! periods or thresholds, so it can be tested on its own. A [`Worker`] runs one probe of one
//! container on the probe's schedule, counts consecutive results against the thresholds, and
//! reports to the pod runtime through a channel of [`ProbeEvent`]s. [`spawn_all`]
//! starts the workers of a container with the startup probe holding the others back.
//!
//! Failure texts in [`Outcome`] are the probe's own (`HTTP probe failed with statuscode:
//! 500`); the worker adds the kind in front (`Readiness probe failed: ...`) for the
//! `Unhealthy` event, exactly as the kubelet words it.

mod exec;
mod http;
mod tcp;
mod worker;

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

pub use worker::{spawn_all, ProbeEvent, Worker};

/// What one run of a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The container passed.
    Success,
    /// The container failed; the text is what the kubelet puts after `<Kind> probe failed: `.
    Failure(String),
    /// The probe could not be run (bad port, unsupported action, runner error). The kubelet
    /// does not count these against the thresholds; it only reports them.
    Unknown(String),
}

/// Which of a container's probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `readinessProbe`: whether the container gets traffic.
    Readiness,
    /// `livenessProbe`: whether the container must be restarted.
    Liveness,
    /// `startupProbe`: whether the container has started (holds the other two back).
    Startup,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Readiness => "Readiness",
            Kind::Liveness => "Liveness",
            Kind::Startup => "Startup",
        })
    }
}

/// Runs a command inside a container for `exec` probes. The node's runtime implements it by
/// entering the pod's namespaces.
pub trait Exec: Send + Sync {
    /// Runs `argv` and returns its exit code and combined stdout and stderr. The command
    /// should be stopped after `timeout`; the prober also stops waiting then.
    fn exec(
        &self,
        argv: Vec<String>,
        timeout: Duration,
    ) -> BoxFuture<'static, std::io::Result<(i32, Vec<u8>)>>;
}

/// Why a probe could not be run; these become [`Outcome::Unknown`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// A named port that the container does not declare and that is not a number.
    #[error("strconv.Atoi: parsing {0:?}: invalid syntax")]
    PortName(String),
    /// A port outside 1..=65535.
    #[error("invalid port number: {0}")]
    PortNumber(i64),
    /// The probe has no action.
    #[error("missing probe handler for container {0}")]
    MissingHandler(String),
    /// `grpc` probes need an HTTP/2 client this node does not have.
    #[error("grpc probes are not supported")]
    GrpcUnsupported,
    /// `httpGet` with `scheme: HTTPS` needs a TLS client this node does not have.
    #[error("HTTPS probes are not supported")]
    HttpsUnsupported,
    /// An `exec` probe without a command.
    #[error("exec probe has no command")]
    EmptyCommand,
}

/// A probe's schedule and thresholds with Kubernetes' defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    /// `initialDelaySeconds` (default 0).
    pub initial_delay: Duration,
    /// `periodSeconds` (default 10).
    pub period: Duration,
    /// `timeoutSeconds` (default 1).
    pub timeout: Duration,
    /// `successThreshold` (default 1).
    pub success_threshold: u32,
    /// `failureThreshold` (default 3).
    pub failure_threshold: u32,
}

impl Timing {
    /// The timing of `probe`, counting seconds in `unit` (one second outside of tests).
    pub(crate) fn of(probe: &Probe, unit: Duration) -> Timing {
        let positive = |value: Option<i32>, default: u32| {
            value
                .and_then(|v| u32::try_from(v).ok())
                .filter(|v| *v > 0)
                .unwrap_or(default)
        };
        let delay = probe
            .initial_delay_seconds
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0);
        Timing {
            initial_delay: unit * delay,
            period: unit * positive(probe.period_seconds, 10),
            timeout: unit * positive(probe.timeout_seconds, 1),
            success_threshold: positive(probe.success_threshold, 1),
            failure_threshold: positive(probe.failure_threshold, 3),
        }
    }
}

/// Runs `probe` once against a container whose pod has `pod_ip`, within the probe's
/// `timeoutSeconds`. `exec` runs `exec` probes.
pub async fn check(
    probe: &Probe,
    pod_ip: IpAddr,
    container: &Container,
    exec: &dyn Exec,
) -> Outcome {
    let timing = Timing::of(probe, Duration::from_secs(1));
    check_within(probe, pod_ip, container, exec, timing.timeout).await
}

/// [`check`] with an explicit timeout.
pub(crate) async fn check_within(
    probe: &Probe,
    pod_ip: IpAddr,
    container: &Container,
    exec: &dyn Exec,
    timeout: Duration,
) -> Outcome {
    if let Some(action) = &probe.exec {
        exec::check(action, container, exec, timeout).await
    } else if let Some(action) = &probe.http_get {
        http::check(action, pod_ip, container, timeout).await
    } else if let Some(action) = &probe.tcp_socket {
        tcp::check(action, pod_ip, container, timeout).await
    } else if probe.grpc.is_some() {
        Outcome::Unknown(ProbeError::GrpcUnsupported.to_string())
    } else {
        Outcome::Unknown(ProbeError::MissingHandler(container.name.clone()).to_string())
    }
}

/// The port number a probe means: a number, or the name of one of the container's ports
/// (or, failing that, a number written as text).
pub(crate) fn resolve_port(port: &IntOrString, container: &Container) -> Result<u16, ProbeError> {
    let number = match port {
        IntOrString::Int(n) => i64::from(*n),
        IntOrString::String(name) => {
            let declared = container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()));
            match declared {
                Some(p) => i64::from(p.container_port),
                None => name
                    .parse::<i64>()
                    .map_err(|_| ProbeError::PortName(name.clone()))?,
            }
        }
    };
    u16::try_from(number)
        .ok()
        .filter(|n| *n > 0)
        .ok_or(ProbeError::PortNumber(number))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ContainerPort, GRPCAction};

    fn container() -> Container {
        Container {
            name: "web".into(),
            ports: Some(vec![ContainerPort {
                name: Some("http".into()),
                container_port: 8080,
                ..Default::default()
            }]),
            ..Default::default()
        }
    }

    #[test]
    fn ports_by_number_and_name() {
        let c = container();
        assert_eq!(resolve_port(&IntOrString::Int(80), &c), Ok(80));
        assert_eq!(
            resolve_port(&IntOrString::String("http".into()), &c),
            Ok(8080)
        );
        assert_eq!(
            resolve_port(&IntOrString::String("9090".into()), &c),
            Ok(9090)
        );
        assert_eq!(
            resolve_port(&IntOrString::String("web".into()), &c)
                .unwrap_err()
                .to_string(),
            "strconv.Atoi: parsing \"web\": invalid syntax"
        );
        assert_eq!(
            resolve_port(&IntOrString::Int(0), &c)
                .unwrap_err()
                .to_string(),
            "invalid port number: 0"
        );
        assert_eq!(
            resolve_port(&IntOrString::Int(70000), &c)
                .unwrap_err()
                .to_string(),
            "invalid port number: 70000"
        );
    }

    #[test]
    fn defaults_are_kubernetes_defaults() {
        let t = Timing::of(&Probe::default(), Duration::from_secs(1));
        assert_eq!(t.initial_delay, Duration::ZERO);
        assert_eq!(t.period, Duration::from_secs(10));
        assert_eq!(t.timeout, Duration::from_secs(1));
        assert_eq!(t.success_threshold, 1);
        assert_eq!(t.failure_threshold, 3);
        let custom = Probe {
            initial_delay_seconds: Some(5),
            period_seconds: Some(2),
            timeout_seconds: Some(3),
            success_threshold: Some(2),
            failure_threshold: Some(1),
            ..Default::default()
        };
        let t = Timing::of(&custom, Duration::from_millis(10));
        assert_eq!(t.initial_delay, Duration::from_millis(50));
        assert_eq!(t.period, Duration::from_millis(20));
        assert_eq!(t.timeout, Duration::from_millis(30));
        assert_eq!((t.success_threshold, t.failure_threshold), (2, 1));
    }

    #[test]
    fn kinds_print_like_the_kubelet() {
        assert_eq!(Kind::Readiness.to_string(), "Readiness");
        assert_eq!(Kind::Liveness.to_string(), "Liveness");
        assert_eq!(Kind::Startup.to_string(), "Startup");
    }

    struct NoExec;
    impl Exec for NoExec {
        fn exec(
            &self,
            _: Vec<String>,
            _: Duration,
        ) -> BoxFuture<'static, std::io::Result<(i32, Vec<u8>)>> {
            Box::pin(async { Err(std::io::Error::other("not expected")) })
        }
    }

    #[tokio::test]
    async fn grpc_and_empty_probes_are_unknown() {
        let ip: IpAddr = [127, 0, 0, 1].into();
        let grpc = Probe {
            grpc: Some(GRPCAction {
                port: 9000,
                service: None,
            }),
            ..Default::default()
        };
        assert_eq!(
            check(&grpc, ip, &container(), &NoExec).await,
            Outcome::Unknown("grpc probes are not supported".into())
        );
        assert_eq!(
            check(&Probe::default(), ip, &container(), &NoExec).await,
            Outcome::Unknown("missing probe handler for container web".into())
        );
    }
}
