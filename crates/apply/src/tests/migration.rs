//! From client-side apply to server-side apply, as kubectl does it.

use serde_json::{json, Value};

use super::{fields, managers, T0, T1, T2};
use crate::{apply, record_update, ApplyError, LAST_APPLIED_ANNOTATION};

/// The file, as `kubectl apply -f` reads it.
fn manifest(target_port: i64) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubia", "namespace": "default"},
        "spec": {"selector": {"app": "kubia"}, "ports": [{"port": 80, "targetPort": target_port}]}})
}

/// What `kubectl apply -f` (client-side) creates: the manifest with the last-applied annotation,
/// after the server's defaulting. Recorded as `kubectl-client-side-apply`.
fn created_client_side() -> Value {
    let last = "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"annotations\":{},\"name\":\"kubia\",\"namespace\":\"default\"},\"spec\":{\"ports\":[{\"port\":80,\"targetPort\":8080}],\"selector\":{\"app\":\"kubia\"}}}\n";
    let mut svc = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubia", "namespace": "default",
            "annotations": {LAST_APPLIED_ANNOTATION: last}},
        "spec": {"selector": {"app": "kubia"}, "type": "ClusterIP", "sessionAffinity": "None",
            "internalTrafficPolicy": "Cluster",
            "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}]}});
    record_update(None, &mut svc, "kubectl-client-side-apply", T0);
    svc
}

#[test]
fn client_side_apply_records_an_update_entry() {
    let svc = created_client_side();
    assert_eq!(
        fields(&svc, "kubectl-client-side-apply", "Update"),
        json!({"f:metadata": {"f:annotations": {".": {},
                "f:kubectl.kubernetes.io/last-applied-configuration": {}}},
            "f:spec": {"f:internalTrafficPolicy": {},
                "f:ports": {".": {}, "k:{\"port\":80,\"protocol\":\"TCP\"}": {
                    ".": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}}},
                "f:selector": {}, "f:sessionAffinity": {}, "f:type": {}}})
    );
}

#[test]
fn kubectl_server_side_apply_takes_over_without_conflicts() {
    let live = created_client_side();
    let outcome = apply(Some(&live), &manifest(9090), "kubectl", false, T1).unwrap();
    let object = outcome.object;
    assert_eq!(
        object["spec"]["ports"],
        json!([{"port": 80, "protocol": "TCP", "targetPort": 9090}])
    );
    assert_eq!(
        object["metadata"]["annotations"][LAST_APPLIED_ANNOTATION],
        "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"kubia\",\"namespace\":\"default\"},\"spec\":{\"ports\":[{\"port\":80,\"targetPort\":9090}],\"selector\":{\"app\":\"kubia\"}}}\n",
        "the annotation follows the applied configuration"
    );
    assert_eq!(
        managers(&object),
        [
            ("kubectl".into(), "Apply".into()),
            ("kubectl-client-side-apply".into(), "Update".into())
        ]
    );
    let csa = fields(&object, "kubectl-client-side-apply", "Update");
    assert_eq!(
        csa["f:spec"]["f:ports"]["k:{\"port\":80,\"protocol\":\"TCP\"}"],
        json!({".": {}, "f:port": {}, "f:protocol": {}}),
        "the changed targetPort moved to the applier"
    );
}

#[test]
fn other_managers_conflict_with_client_side_apply() {
    let live = created_client_side();
    let Err(ApplyError::Conflicts(conflicts)) =
        apply(Some(&live), &manifest(9090), "ci", false, T1)
    else {
        panic!("expected a conflict");
    };
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].manager, "kubectl-client-side-apply");
    assert_eq!(
        conflicts[0].field,
        ".spec.ports[port=80,protocol=\"TCP\"].targetPort"
    );
    assert_eq!(
        conflicts[0].message,
        "conflict with \"kubectl-client-side-apply\" using v1"
    );
    assert_eq!(
        ApplyError::Conflicts(conflicts).to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using v1: .spec.ports[port=80,protocol=\"TCP\"].targetPort"
    );
}

#[test]
fn fields_changed_since_client_side_apply_still_conflict() {
    let live = created_client_side();
    // `kubectl edit` changed the target port after the client-side apply.
    let mut edited = live.clone();
    edited["spec"]["ports"][0]["targetPort"] = json!(7070);
    record_update(Some(&live), &mut edited, "kubectl-edit", T1);
    let err = apply(Some(&edited), &manifest(9090), "kubectl", false, T2).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using v1: .spec.ports[port=80,protocol=\"TCP\"].targetPort"
    );
}

#[test]
fn kubectl_can_move_managed_fields_itself_then_reapply_to_prune() {
    let live = created_client_side();
    let applied = apply(Some(&live), &manifest(8080), "kubectl", false, T1)
        .unwrap()
        .object;
    // kubectl then sends a JSON patch that folds the client-side entry into its Apply entry.
    let mut patched = applied.clone();
    let csa = fields(&applied, "kubectl-client-side-apply", "Update");
    let mut merged = fields(&applied, "kubectl", "Apply");
    merged["f:spec"]["f:type"] = json!({});
    merged["f:spec"]["f:sessionAffinity"] = json!({});
    merged["f:spec"]["f:internalTrafficPolicy"] = json!({});
    assert!(csa["f:spec"].get("f:type").is_some());
    patched["metadata"]["managedFields"] = json!([{"manager": "kubectl", "operation": "Apply",
        "apiVersion": "v1", "time": T1, "fieldsType": "FieldsV1", "fieldsV1": merged}]);
    record_update(Some(&applied), &mut patched, "kubectl", T2);
    assert_eq!(managers(&patched), [("kubectl".into(), "Apply".into())]);
    // Now a manifest without `type` and `sessionAffinity` prunes them: kubectl owned them alone.
    let pruned = apply(Some(&patched), &manifest(8080), "kubectl", false, T2)
        .unwrap()
        .object;
    assert_eq!(pruned["spec"].get("type"), None);
    assert_eq!(pruned["spec"].get("sessionAffinity"), None);
    assert_eq!(pruned["spec"]["selector"], json!({"app": "kubia"}));
}

#[test]
fn an_empty_managed_fields_list_clears_them() {
    let live = created_client_side();
    let mut cleared = live.clone();
    cleared["metadata"]["managedFields"] = json!([]);
    record_update(Some(&live), &mut cleared, "kubectl-patch", T1);
    assert_eq!(cleared["metadata"].get("managedFields"), None);
    // Leaving them out keeps the stored ones.
    let mut replaced = live.clone();
    replaced["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    record_update(Some(&live), &mut replaced, "kubectl-replace", T1);
    assert_eq!(
        replaced["metadata"]["managedFields"],
        live["metadata"]["managedFields"]
    );
}
