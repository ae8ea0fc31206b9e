//! The arithmetic of rollouts, free of I/O: maxSurge/maxUnavailable, how far the new
//! ReplicaSet may grow, how far old ones may shrink, and proportional scaling (Kubernetes'
//! `deploymentutil` and `rolling.go`).

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// An int-or-percent against `total`: percentages round up or down as asked.
pub fn scaled_value(v: Option<&IntOrString>, total: i32, round_up: bool) -> i32 {
    match v {
        None => 0,
        Some(IntOrString::Int(i)) => *i,
        Some(IntOrString::String(s)) => match s.strip_suffix('%') {
            Some(p) => {
                let pct: i64 = p.trim().parse().unwrap_or(0);
                let num = pct * i64::from(total);
                let v = if round_up {
                    (num + 99).div_euclid(100)
                } else {
                    num.div_euclid(100)
                };
                v as i32
            }
            None => s.parse().unwrap_or(0),
        },
    }
}

/// (maxSurge, maxUnavailable) as numbers of pods for `desired` replicas; both zero would
/// block a rollout, so maxUnavailable becomes 1 then.
pub fn resolve_fenceposts(
    surge: Option<&IntOrString>,
    unavailable: Option<&IntOrString>,
    desired: i32,
) -> (i32, i32) {
    let s = scaled_value(surge, desired, true);
    let mut u = scaled_value(unavailable, desired, false);
    if s == 0 && u == 0 {
        u = 1;
    }
    (s, u)
}

/// How many replicas the new ReplicaSet of a rolling update may have now.
pub fn new_rs_replicas_rolling(
    desired: i32,
    max_surge: i32,
    current_total: i32,
    new_replicas: i32,
) -> i32 {
    let max_total = desired + max_surge;
    if current_total >= max_total {
        return new_replicas;
    }
    let up = (max_total - current_total)
        .min(desired - new_replicas)
        .max(0);
    new_replicas + up
}

/// The sizes of one ReplicaSet that matter to a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// `spec.replicas`.
    pub replicas: i32,
    /// `status.availableReplicas`.
    pub available: i32,
}

/// How many pods old ReplicaSets may lose at most, given the availability budget.
pub fn max_scaled_down(all_replicas: i32, desired: i32, max_unavailable: i32, new: Size) -> i32 {
    let min_available = desired - max_unavailable;
    let new_unavailable = new.replicas - new.available;
    all_replicas - min_available - new_unavailable
}

/// Scales down the unavailable pods of old ReplicaSets (oldest first) up to `max`;
/// returns how many went.
pub fn cleanup_unhealthy(olds: &mut [Size], max: i32) -> i32 {
    let mut total = 0;
    for rs in olds.iter_mut() {
        if total >= max {
            break;
        }
        if rs.replicas == 0 || rs.replicas == rs.available {
            continue;
        }
        let down = (max - total).min(rs.replicas - rs.available);
        rs.replicas -= down;
        total += down;
    }
    total
}

/// Scales down old ReplicaSets (oldest first) as far as availability allows; returns how
/// many pods went.
pub fn scale_down_old(
    olds: &mut [Size],
    all_available: i32,
    desired: i32,
    max_unavailable: i32,
) -> i32 {
    let min_available = desired - max_unavailable;
    if all_available <= min_available {
        return 0;
    }
    let budget = all_available - min_available;
    let mut total = 0;
    for rs in olds.iter_mut() {
        if total >= budget {
            break;
        }
        if rs.replicas == 0 {
            continue;
        }
        let down = rs.replicas.min(budget - total);
        rs.replicas -= down;
        total += down;
    }
    total
}

/// The share of a scaling of the Deployment that one ReplicaSet gets (Kubernetes'
/// `GetReplicaSetProportion`): `annotated_max` is its `max-replicas` annotation,
/// `fallback_total` the Deployment's `status.replicas` when it has none.
pub fn proportion(
    rs_replicas: i32,
    annotated_max: Option<i32>,
    fallback_total: i32,
    d_replicas: i32,
    d_max_surge: i32,
    to_add: i32,
    added: i32,
) -> i32 {
    if rs_replicas == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = if d_replicas == 0 {
        -rs_replicas
    } else {
        let deployment_replicas = d_replicas + d_max_surge;
        let annotated = annotated_max.unwrap_or(fallback_total);
        if annotated == 0 {
            0
        } else {
            let size =
                f64::from(rs_replicas) * f64::from(deployment_replicas) / f64::from(annotated);
            size.round() as i32 - rs_replicas
        }
    };
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pct(s: &str) -> IntOrString {
        IntOrString::String(s.into())
    }

    #[test]
    fn percentages_round_surge_up_and_unavailable_down() {
        assert_eq!(
            resolve_fenceposts(Some(&pct("25%")), Some(&pct("25%")), 3),
            (1, 0)
        );
        assert_eq!(
            resolve_fenceposts(Some(&pct("25%")), Some(&pct("25%")), 10),
            (3, 2)
        );
        assert_eq!(
            resolve_fenceposts(Some(&IntOrString::Int(0)), Some(&IntOrString::Int(0)), 3),
            (0, 1)
        );
        assert_eq!(
            resolve_fenceposts(Some(&IntOrString::Int(1)), Some(&IntOrString::Int(0)), 1),
            (1, 0)
        );
    }

    #[test]
    fn the_new_replica_set_grows_within_the_surge() {
        // 3 desired, surge 1: 3 old pods exist, the new one may take 1.
        assert_eq!(new_rs_replicas_rolling(3, 1, 3, 0), 1);
        // Already at 4 pods in total: no growth.
        assert_eq!(new_rs_replicas_rolling(3, 1, 4, 1), 1);
        // Never beyond desired.
        assert_eq!(new_rs_replicas_rolling(3, 10, 3, 2), 3);
    }

    #[test]
    fn old_replica_sets_shrink_only_as_availability_allows() {
        // desired 3, maxUnavailable 0, new RS has 1 replica not yet available: 4 pods, 3 old available.
        let new = Size {
            replicas: 1,
            available: 0,
        };
        assert_eq!(max_scaled_down(4, 3, 0, new), 0);
        // New pod turned available: one old pod may go.
        let new = Size {
            replicas: 1,
            available: 1,
        };
        assert_eq!(max_scaled_down(4, 3, 0, new), 1);
        let mut olds = [Size {
            replicas: 3,
            available: 3,
        }];
        assert_eq!(scale_down_old(&mut olds, 4, 3, 0), 1);
        assert_eq!(olds[0].replicas, 2);
        // Nothing available beyond the minimum: nothing goes.
        let mut olds = [Size {
            replicas: 2,
            available: 2,
        }];
        assert_eq!(scale_down_old(&mut olds, 3, 3, 0), 0);
    }

    #[test]
    fn unhealthy_old_pods_go_first() {
        let mut olds = [
            Size {
                replicas: 3,
                available: 1,
            },
            Size {
                replicas: 2,
                available: 2,
            },
        ];
        assert_eq!(cleanup_unhealthy(&mut olds, 5), 2);
        assert_eq!(olds[0].replicas, 1);
        assert_eq!(olds[1].replicas, 2);
    }

    #[test]
    fn proportional_scaling_splits_by_size() {
        // Deployment 10 (+3 surge) scaled to 20 (+5): an RS with 8 of 13 gets 8*25/13-8 = 7.
        assert_eq!(proportion(8, Some(13), 13, 20, 5, 12, 0), 7);
        // Capped by what remains to add.
        assert_eq!(proportion(8, Some(13), 13, 20, 5, 12, 10), 2);
        // Scaling to zero removes everything.
        assert_eq!(proportion(4, Some(5), 5, 0, 0, -5, 0), -4);
    }
}
