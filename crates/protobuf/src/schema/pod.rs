//! `core/v1` pod template messages: PodTemplateSpec, PodSpec, containers and what they hold.
//!
//! Covered: everything `kubectl create deployment|job|cronjob` fills in, plus the commonly used
//! container and pod settings (env, probes, lifecycle, security contexts, a few volume sources,
//! tolerations, DNS config). Affinity, topology spread constraints, ephemeral containers and the
//! rarer volume sources are not in the table and are skipped when present.

use super::core::LOCAL_OBJECT_REFERENCE;
use super::meta::OBJECT_META;
use super::Kind::*;
use super::Shape::*;
use super::{f, Message};

/// `PodTemplateSpec`.
pub(crate) static POD_TEMPLATE_SPEC: Message = Message {
    name: "PodTemplateSpec",
    fields: &[
        f(1, "metadata", Msg(&OBJECT_META), ValOmit),
        f(2, "spec", Msg(&POD_SPEC), ValOmit),
    ],
};

static POD_SPEC: Message = Message {
    name: "PodSpec",
    fields: &[
        f(1, "volumes", Msg(&VOLUME), ListOmit),
        f(20, "initContainers", Msg(&CONTAINER), ListOmit),
        f(2, "containers", Msg(&CONTAINER), List),
        f(3, "restartPolicy", Str, ValOmit),
        f(4, "terminationGracePeriodSeconds", I64, PtrOmit),
        f(5, "activeDeadlineSeconds", I64, PtrOmit),
        f(6, "dnsPolicy", Str, ValOmit),
        f(7, "nodeSelector", Str, MapOmit),
        f(8, "serviceAccountName", Str, ValOmit),
        f(9, "serviceAccount", Str, ValOmit),
        f(21, "automountServiceAccountToken", Bool, PtrOmit),
        f(10, "nodeName", Str, ValOmit),
        f(11, "hostNetwork", Bool, ValOmit),
        f(12, "hostPID", Bool, ValOmit),
        f(13, "hostIPC", Bool, ValOmit),
        f(27, "shareProcessNamespace", Bool, PtrOmit),
        f(14, "securityContext", Msg(&POD_SECURITY_CONTEXT), PtrOmit),
        f(
            15,
            "imagePullSecrets",
            Msg(&LOCAL_OBJECT_REFERENCE),
            ListOmit,
        ),
        f(16, "hostname", Str, ValOmit),
        f(17, "subdomain", Str, ValOmit),
        f(19, "schedulerName", Str, ValOmit),
        f(22, "tolerations", Msg(&TOLERATION), ListOmit),
        f(23, "hostAliases", Msg(&HOST_ALIAS), ListOmit),
        f(24, "priorityClassName", Str, ValOmit),
        f(25, "priority", I32, PtrOmit),
        f(26, "dnsConfig", Msg(&POD_DNS_CONFIG), PtrOmit),
        f(28, "readinessGates", Msg(&POD_READINESS_GATE), ListOmit),
        f(29, "runtimeClassName", Str, PtrOmit),
        f(30, "enableServiceLinks", Bool, PtrOmit),
        f(31, "preemptionPolicy", Str, PtrOmit),
        f(32, "overhead", Quantity, MapOmit),
        f(35, "setHostnameAsFQDN", Bool, PtrOmit),
        f(37, "hostUsers", Bool, PtrOmit),
        f(40, "resources", Msg(&RESOURCE_REQUIREMENTS), PtrOmit),
    ],
};

static CONTAINER: Message = Message {
    name: "Container",
    fields: &[
        f(1, "name", Str, Val),
        f(2, "image", Str, ValOmit),
        f(3, "command", Str, ListOmit),
        f(4, "args", Str, ListOmit),
        f(5, "workingDir", Str, ValOmit),
        f(6, "ports", Msg(&CONTAINER_PORT), ListOmit),
        f(19, "envFrom", Msg(&ENV_FROM_SOURCE), ListOmit),
        f(7, "env", Msg(&ENV_VAR), ListOmit),
        f(8, "resources", Msg(&RESOURCE_REQUIREMENTS), ValOmit),
        f(23, "resizePolicy", Msg(&CONTAINER_RESIZE_POLICY), ListOmit),
        f(24, "restartPolicy", Str, PtrOmit),
        f(9, "volumeMounts", Msg(&VOLUME_MOUNT), ListOmit),
        f(10, "livenessProbe", Msg(&PROBE), PtrOmit),
        f(11, "readinessProbe", Msg(&PROBE), PtrOmit),
        f(22, "startupProbe", Msg(&PROBE), PtrOmit),
        f(12, "lifecycle", Msg(&LIFECYCLE), PtrOmit),
        f(13, "terminationMessagePath", Str, ValOmit),
        f(20, "terminationMessagePolicy", Str, ValOmit),
        f(14, "imagePullPolicy", Str, ValOmit),
        f(15, "securityContext", Msg(&SECURITY_CONTEXT), PtrOmit),
        f(16, "stdin", Bool, ValOmit),
        f(17, "stdinOnce", Bool, ValOmit),
        f(18, "tty", Bool, ValOmit),
    ],
};

static CONTAINER_PORT: Message = Message {
    name: "ContainerPort",
    fields: &[
        f(1, "name", Str, ValOmit),
        f(2, "hostPort", I32, ValOmit),
        f(3, "containerPort", I32, Val),
        f(4, "protocol", Str, ValOmit),
        f(5, "hostIP", Str, ValOmit),
    ],
};

static ENV_VAR: Message = Message {
    name: "EnvVar",
    fields: &[
        f(1, "name", Str, Val),
        f(2, "value", Str, ValOmit),
        f(3, "valueFrom", Msg(&ENV_VAR_SOURCE), PtrOmit),
    ],
};

static ENV_VAR_SOURCE: Message = Message {
    name: "EnvVarSource",
    fields: &[
        f(1, "fieldRef", Msg(&OBJECT_FIELD_SELECTOR), PtrOmit),
        f(
            2,
            "resourceFieldRef",
            Msg(&RESOURCE_FIELD_SELECTOR),
            PtrOmit,
        ),
        f(3, "configMapKeyRef", Msg(&KEY_SELECTOR), PtrOmit),
        f(4, "secretKeyRef", Msg(&KEY_SELECTOR), PtrOmit),
    ],
};

static OBJECT_FIELD_SELECTOR: Message = Message {
    name: "ObjectFieldSelector",
    fields: &[
        f(1, "apiVersion", Str, ValOmit),
        f(2, "fieldPath", Str, Val),
    ],
};

static RESOURCE_FIELD_SELECTOR: Message = Message {
    name: "ResourceFieldSelector",
    fields: &[
        f(1, "containerName", Str, ValOmit),
        f(2, "resource", Str, Val),
        // A value Quantity: Go writes "0" when it is unset.
        f(3, "divisor", Quantity, ValOmit),
    ],
};

/// `ConfigMapKeySelector` and `SecretKeySelector` share one layout.
static KEY_SELECTOR: Message = Message {
    name: "KeySelector",
    fields: &[
        f(
            1,
            "localObjectReference",
            Msg(&LOCAL_OBJECT_REFERENCE),
            Inline,
        ),
        f(2, "key", Str, Val),
        f(3, "optional", Bool, PtrOmit),
    ],
};

static ENV_FROM_SOURCE: Message = Message {
    name: "EnvFromSource",
    fields: &[
        f(1, "prefix", Str, ValOmit),
        f(2, "configMapRef", Msg(&ENV_SOURCE), PtrOmit),
        f(3, "secretRef", Msg(&ENV_SOURCE), PtrOmit),
    ],
};

/// `ConfigMapEnvSource` and `SecretEnvSource` share one layout.
static ENV_SOURCE: Message = Message {
    name: "EnvSource",
    fields: &[
        f(
            1,
            "localObjectReference",
            Msg(&LOCAL_OBJECT_REFERENCE),
            Inline,
        ),
        f(2, "optional", Bool, PtrOmit),
    ],
};

/// `ResourceRequirements`: limits and requests map resource names to quantities.
pub(crate) static RESOURCE_REQUIREMENTS: Message = Message {
    name: "ResourceRequirements",
    fields: &[
        f(1, "limits", Quantity, MapOmit),
        f(2, "requests", Quantity, MapOmit),
        f(3, "claims", Msg(&RESOURCE_CLAIM), ListOmit),
    ],
};

static RESOURCE_CLAIM: Message = Message {
    name: "ResourceClaim",
    fields: &[f(1, "name", Str, Val), f(2, "request", Str, ValOmit)],
};

static CONTAINER_RESIZE_POLICY: Message = Message {
    name: "ContainerResizePolicy",
    fields: &[
        f(1, "resourceName", Str, Val),
        f(2, "restartPolicy", Str, Val),
    ],
};

static VOLUME_MOUNT: Message = Message {
    name: "VolumeMount",
    fields: &[
        f(1, "name", Str, Val),
        f(2, "readOnly", Bool, ValOmit),
        f(7, "recursiveReadOnly", Str, PtrOmit),
        f(3, "mountPath", Str, Val),
        f(4, "subPath", Str, ValOmit),
        f(5, "mountPropagation", Str, PtrOmit),
        f(6, "subPathExpr", Str, ValOmit),
    ],
};

/// `Probe`: the handler (exec, httpGet, tcpSocket, grpc) is inlined.
static PROBE: Message = Message {
    name: "Probe",
    fields: &[
        f(1, "handler", Msg(&PROBE_HANDLER), Inline),
        f(2, "initialDelaySeconds", I32, ValOmit),
        f(3, "timeoutSeconds", I32, ValOmit),
        f(4, "periodSeconds", I32, ValOmit),
        f(5, "successThreshold", I32, ValOmit),
        f(6, "failureThreshold", I32, ValOmit),
        f(7, "terminationGracePeriodSeconds", I64, PtrOmit),
    ],
};

static PROBE_HANDLER: Message = Message {
    name: "ProbeHandler",
    fields: &[
        f(1, "exec", Msg(&EXEC_ACTION), PtrOmit),
        f(2, "httpGet", Msg(&HTTP_GET_ACTION), PtrOmit),
        f(3, "tcpSocket", Msg(&TCP_SOCKET_ACTION), PtrOmit),
        f(4, "grpc", Msg(&GRPC_ACTION), PtrOmit),
    ],
};

static EXEC_ACTION: Message = Message {
    name: "ExecAction",
    fields: &[f(1, "command", Str, ListOmit)],
};

static HTTP_GET_ACTION: Message = Message {
    name: "HTTPGetAction",
    fields: &[
        f(1, "path", Str, ValOmit),
        f(2, "port", IntOrString, Val),
        f(3, "host", Str, ValOmit),
        f(4, "scheme", Str, ValOmit),
        f(5, "httpHeaders", Msg(&HTTP_HEADER), ListOmit),
    ],
};

static HTTP_HEADER: Message = Message {
    name: "HTTPHeader",
    fields: &[f(1, "name", Str, Val), f(2, "value", Str, Val)],
};

static TCP_SOCKET_ACTION: Message = Message {
    name: "TCPSocketAction",
    fields: &[f(1, "port", IntOrString, Val), f(2, "host", Str, ValOmit)],
};

static GRPC_ACTION: Message = Message {
    name: "GRPCAction",
    fields: &[f(1, "port", I32, Val), f(2, "service", Str, Ptr)],
};

static LIFECYCLE: Message = Message {
    name: "Lifecycle",
    fields: &[
        f(1, "postStart", Msg(&LIFECYCLE_HANDLER), PtrOmit),
        f(2, "preStop", Msg(&LIFECYCLE_HANDLER), PtrOmit),
        f(3, "stopSignal", Str, PtrOmit),
    ],
};

static LIFECYCLE_HANDLER: Message = Message {
    name: "LifecycleHandler",
    fields: &[
        f(1, "exec", Msg(&EXEC_ACTION), PtrOmit),
        f(2, "httpGet", Msg(&HTTP_GET_ACTION), PtrOmit),
        f(3, "tcpSocket", Msg(&TCP_SOCKET_ACTION), PtrOmit),
        f(4, "sleep", Msg(&SLEEP_ACTION), PtrOmit),
    ],
};

static SLEEP_ACTION: Message = Message {
    name: "SleepAction",
    fields: &[f(1, "seconds", I64, Val)],
};

static SECURITY_CONTEXT: Message = Message {
    name: "SecurityContext",
    fields: &[
        f(1, "capabilities", Msg(&CAPABILITIES), PtrOmit),
        f(2, "privileged", Bool, PtrOmit),
        f(3, "seLinuxOptions", Msg(&SE_LINUX_OPTIONS), PtrOmit),
        f(4, "runAsUser", I64, PtrOmit),
        f(8, "runAsGroup", I64, PtrOmit),
        f(5, "runAsNonRoot", Bool, PtrOmit),
        f(6, "readOnlyRootFilesystem", Bool, PtrOmit),
        f(7, "allowPrivilegeEscalation", Bool, PtrOmit),
        f(9, "procMount", Str, PtrOmit),
        f(11, "seccompProfile", Msg(&PROFILE), PtrOmit),
        f(12, "appArmorProfile", Msg(&PROFILE), PtrOmit),
    ],
};

static POD_SECURITY_CONTEXT: Message = Message {
    name: "PodSecurityContext",
    fields: &[
        f(1, "seLinuxOptions", Msg(&SE_LINUX_OPTIONS), PtrOmit),
        f(2, "runAsUser", I64, PtrOmit),
        f(6, "runAsGroup", I64, PtrOmit),
        f(3, "runAsNonRoot", Bool, PtrOmit),
        f(4, "supplementalGroups", I64, ListOmit),
        f(12, "supplementalGroupsPolicy", Str, PtrOmit),
        f(5, "fsGroup", I64, PtrOmit),
        f(7, "sysctls", Msg(&NAME_VALUE), ListOmit),
        f(9, "fsGroupChangePolicy", Str, PtrOmit),
        f(10, "seccompProfile", Msg(&PROFILE), PtrOmit),
        f(11, "appArmorProfile", Msg(&PROFILE), PtrOmit),
        f(13, "seLinuxChangePolicy", Str, PtrOmit),
    ],
};

static CAPABILITIES: Message = Message {
    name: "Capabilities",
    fields: &[f(1, "add", Str, ListOmit), f(2, "drop", Str, ListOmit)],
};

static SE_LINUX_OPTIONS: Message = Message {
    name: "SELinuxOptions",
    fields: &[
        f(1, "user", Str, ValOmit),
        f(2, "role", Str, ValOmit),
        f(3, "type", Str, ValOmit),
        f(4, "level", Str, ValOmit),
    ],
};

/// `SeccompProfile` and `AppArmorProfile` share one layout.
static PROFILE: Message = Message {
    name: "Profile",
    fields: &[
        f(1, "type", Str, Val),
        f(2, "localhostProfile", Str, PtrOmit),
    ],
};

/// `Sysctl`.
static NAME_VALUE: Message = Message {
    name: "Sysctl",
    fields: &[f(1, "name", Str, Val), f(2, "value", Str, Val)],
};

static TOLERATION: Message = Message {
    name: "Toleration",
    fields: &[
        f(1, "key", Str, ValOmit),
        f(2, "operator", Str, ValOmit),
        f(3, "value", Str, ValOmit),
        f(4, "effect", Str, ValOmit),
        f(5, "tolerationSeconds", I64, PtrOmit),
    ],
};

static HOST_ALIAS: Message = Message {
    name: "HostAlias",
    fields: &[f(1, "ip", Str, Val), f(2, "hostnames", Str, ListOmit)],
};

static POD_DNS_CONFIG: Message = Message {
    name: "PodDNSConfig",
    fields: &[
        f(1, "nameservers", Str, ListOmit),
        f(2, "searches", Str, ListOmit),
        f(3, "options", Msg(&POD_DNS_CONFIG_OPTION), ListOmit),
    ],
};

static POD_DNS_CONFIG_OPTION: Message = Message {
    name: "PodDNSConfigOption",
    fields: &[f(1, "name", Str, ValOmit), f(2, "value", Str, PtrOmit)],
};

static POD_READINESS_GATE: Message = Message {
    name: "PodReadinessGate",
    fields: &[f(1, "conditionType", Str, Val)],
};

/// `Volume`: the source (hostPath, emptyDir, ...) is inlined.
static VOLUME: Message = Message {
    name: "Volume",
    fields: &[
        f(1, "name", Str, Val),
        f(2, "volumeSource", Msg(&VOLUME_SOURCE), Inline),
    ],
};

static VOLUME_SOURCE: Message = Message {
    name: "VolumeSource",
    fields: &[
        f(1, "hostPath", Msg(&HOST_PATH_VOLUME_SOURCE), PtrOmit),
        f(2, "emptyDir", Msg(&EMPTY_DIR_VOLUME_SOURCE), PtrOmit),
        f(6, "secret", Msg(&SECRET_VOLUME_SOURCE), PtrOmit),
        f(
            10,
            "persistentVolumeClaim",
            Msg(&PVC_VOLUME_SOURCE),
            PtrOmit,
        ),
        f(19, "configMap", Msg(&CONFIG_MAP_VOLUME_SOURCE), PtrOmit),
    ],
};

static HOST_PATH_VOLUME_SOURCE: Message = Message {
    name: "HostPathVolumeSource",
    fields: &[f(1, "path", Str, Val), f(2, "type", Str, PtrOmit)],
};

static EMPTY_DIR_VOLUME_SOURCE: Message = Message {
    name: "EmptyDirVolumeSource",
    fields: &[
        f(1, "medium", Str, ValOmit),
        f(2, "sizeLimit", Quantity, PtrOmit),
    ],
};

static SECRET_VOLUME_SOURCE: Message = Message {
    name: "SecretVolumeSource",
    fields: &[
        f(1, "secretName", Str, ValOmit),
        f(2, "items", Msg(&KEY_TO_PATH), ListOmit),
        f(3, "defaultMode", I32, PtrOmit),
        f(4, "optional", Bool, PtrOmit),
    ],
};

static CONFIG_MAP_VOLUME_SOURCE: Message = Message {
    name: "ConfigMapVolumeSource",
    fields: &[
        f(
            1,
            "localObjectReference",
            Msg(&LOCAL_OBJECT_REFERENCE),
            Inline,
        ),
        f(2, "items", Msg(&KEY_TO_PATH), ListOmit),
        f(3, "defaultMode", I32, PtrOmit),
        f(4, "optional", Bool, PtrOmit),
    ],
};

static PVC_VOLUME_SOURCE: Message = Message {
    name: "PersistentVolumeClaimVolumeSource",
    fields: &[f(1, "claimName", Str, Val), f(2, "readOnly", Bool, ValOmit)],
};

static KEY_TO_PATH: Message = Message {
    name: "KeyToPath",
    fields: &[
        f(1, "key", Str, Val),
        f(2, "path", Str, Val),
        f(3, "mode", I32, PtrOmit),
    ],
};
