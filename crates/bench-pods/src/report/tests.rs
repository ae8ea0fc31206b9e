//! Tests of the report's tables.

use super::*;
use crate::deploy::{Image, Latencies};
use crate::procs::{Kind, Totals};
use crate::startup::Timings;
use std::collections::BTreeMap;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

#[test]
fn spread_gives_min_true_median_and_max() {
    assert_eq!(spread(&[ms(3), ms(1), ms(2)]), Some((ms(1), ms(2), ms(3))));
    assert_eq!(
        spread(&[ms(40), ms(10), ms(20), ms(30)]),
        Some((ms(10), ms(25), ms(40)))
    );
    assert_eq!(spread(&[]), None);
    assert_eq!(ratio(3.0, 2.0), "1.50×");
    assert_eq!(ratio(1.0, 0.0), "–");
}

#[test]
fn the_startup_table_compares_up_with_server_and_cites_peers() {
    let s = Startup {
        nodes: 1,
        up: Timings {
            ready: vec![ms(200), ms(300), ms(250)],
            stop: vec![ms(1700); 3],
        },
        server: Timings {
            ready: vec![ms(50), ms(60), ms(40)],
            stop: vec![ms(1900); 3],
        },
    };
    let text = startup(&s);
    let up = text
        .lines()
        .find(|l| l.contains("`portico up --nodes 1`"))
        .unwrap();
    assert!(up.contains("| 0.200 | 0.250 | 0.300 | 1.700 |"), "{up}");
    let ratio_line = text
        .lines()
        .find(|l| l.starts_with("| ratio up / server"))
        .unwrap();
    assert!(
        ratio_line.contains("| 5.00× | 5.00× | 5.00× |"),
        "{ratio_line}"
    );
    assert!(text.contains("cited, not measured"));
}

fn run(image: Image, ready: usize, portico_pss: u64, containers_pss: u64) -> DeployRun {
    let mut memory = Memory::default();
    memory.portico = Totals {
        count: 6 + ready,
        rss_kib: portico_pss * 2,
        pss_kib: portico_pss,
    };
    memory.containers = Totals {
        count: ready,
        rss_kib: containers_pss * 3,
        pss_kib: containers_pss,
    };
    memory
        .by_kind
        .insert(Kind::Container("pause".into()), memory.containers);
    DeployRun {
        image,
        replicas: 100,
        all_created: Some(ms(500)),
        all_ready: (ready == 100).then(|| ms(2000)),
        ready,
        latencies: Latencies {
            client: Summary::of(vec![ms(100), ms(6000)]),
            ..Latencies::default()
        },
        per_node: BTreeMap::from([("portico-node".into(), 60), ("portico-node2".into(), 40)]),
        cpu_seconds: 1.5,
        memory,
        teardown: Some(ms(3000)),
    }
}

#[test]
fn deployment_and_latency_tables_show_each_run() {
    let clusters = vec![ClusterResult {
        nodes: 2,
        ready_after: ms(300),
        idle: Memory::default(),
        runs: vec![run(Image::Pause, 100, 0, 0), run(Image::Kubia, 97, 0, 0)],
    }];
    let text = deployments(&clusters);
    let pause = text
        .lines()
        .find(|l| l.contains("registry.k8s.io/pause"))
        .unwrap();
    assert!(
        pause.contains("| 100/100 | 0.500 | 2.000 | 50 | 1.50 | 60 + 40 | 3.000 |"),
        "{pause}"
    );
    let kubia = text.lines().find(|l| l.contains("luksa/kubia")).unwrap();
    assert!(
        kubia.contains("97/100") && kubia.contains("not all Ready"),
        "{kubia}"
    );
    let lat = latencies(&clusters);
    let client = lat
        .lines()
        .find(|l| l.contains("| pause | watch ADDED"))
        .unwrap();
    // p99 of [100 ms, 6 s] is 6 s: 1.2 times the 5 s SLO.
    assert!(
        client.ends_with("| 2 | 100 | 6000 | 6000 | 6000 | 1.20× |"),
        "{client}"
    );
}

#[test]
fn memory_per_pod_is_the_growth_divided_by_the_pods() {
    let mut idle = Memory::default();
    idle.portico = Totals {
        count: 6,
        rss_kib: 100_000,
        pss_kib: 60_000,
    };
    let clusters = vec![ClusterResult {
        nodes: 1,
        ready_after: ms(300),
        idle,
        // 100 pods: Portico PSS 60 000 → 110 000 KiB, containers 30 000 KiB.
        runs: vec![run(Image::Pause, 100, 110_000, 30_000)],
    }];
    let text = memory(&clusters);
    let row = text.lines().find(|l| l.contains("100 pause pods")).unwrap();
    // Δ PSS 500 KiB per pod, Δ RSS (220 000 - 100 000) / 100 = 1200, containers 300.
    assert!(row.ends_with("| 500 | 1200 | 300 |"), "{row}");
    assert!(row.contains("| 106 / 107.4 / 214.8 |"), "{row}");
    let kinds = text
        .lines()
        .find(|l| l.starts_with("| container pause"))
        .unwrap();
    assert!(kinds.ends_with("| 0 | 0.0 | 100 | 29.3 | 300 |"), "{kinds}");
}
