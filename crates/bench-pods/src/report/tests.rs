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
    let mut memory = Memory {
        portico: Totals {
            count: 6 + ready,
            rss_kib: portico_pss * 2,
            pss_kib: portico_pss,
            uss_kib: portico_pss / 2,
        },
        ..Memory::default()
    };
    memory.containers = Totals {
        count: ready,
        rss_kib: containers_pss * 3,
        pss_kib: containers_pss,
        uss_kib: containers_pss / 4,
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
        other_cpu_seconds: 0.25,
        memory,
        teardown: Some(ms(3000)),
        problem: (ready < 100).then(|| "bench-kubia-n2-x: FailedCreatePodSandBox: boom".into()),
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
        pause.contains("| 100/100 | 0.500 | 2.000 | 1.00× | 50 | 1.50 | 0.25 | 60 + 40 | 3.000 |"),
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
    let idle = Memory {
        portico: Totals {
            count: 6,
            rss_kib: 100_000,
            pss_kib: 60_000,
            uss_kib: 20_000,
        },
        ..Memory::default()
    };
    let clusters = vec![ClusterResult {
        nodes: 1,
        ready_after: ms(300),
        idle,
        // 100 pods: Portico PSS 60 000 → 110 000 KiB, containers 30 000 KiB.
        runs: vec![run(Image::Pause, 100, 110_000, 30_000)],
    }];
    let text = memory(&clusters);
    let totals = text
        .lines()
        .find(|l| l.starts_with("| 1 | 100 pause pods | 106 |"))
        .unwrap();
    assert!(
        totals.ends_with("| 106 | 107.4 | 53.7 | 214.8 | 100 | 29.3 | 7.3 | 87.9 |"),
        "{totals}"
    );
    // Δ PSS (110 000 - 60 000) / 100 = 500, Δ USS (55 000 - 20 000) / 100 = 350,
    // Δ RSS (220 000 - 100 000) / 100 = 1200; containers 300 PSS, 75 USS; all 800.
    let per_pod = text
        .lines()
        .find(|l| l.starts_with("| 1 | 100 pause pods | 500 |"))
        .unwrap();
    assert!(
        per_pod.ends_with("| 500 | 350 | 1200 | 300 | 75 | 800 |"),
        "{per_pod}"
    );
    let kinds = text
        .lines()
        .find(|l| l.starts_with("| container pause"))
        .unwrap();
    assert!(
        kinds.ends_with("| 0 | 0.0 | 100 | 29.3 | 7.3 | 300 | 75 |"),
        "{kinds}"
    );
}

#[test]
fn the_second_cluster_is_compared_with_the_first() {
    let mut slow = run(Image::Pause, 100, 0, 0);
    slow.all_ready = Some(ms(4000));
    let clusters = vec![
        ClusterResult {
            nodes: 1,
            ready_after: ms(200),
            idle: Memory::default(),
            runs: vec![slow],
        },
        ClusterResult {
            nodes: 2,
            ready_after: ms(300),
            idle: Memory::default(),
            runs: vec![run(Image::Pause, 100, 0, 0)],
        },
    ];
    let text = deployments(&clusters);
    assert!(text.contains("| vs 1 node(s) |"), "{text}");
    let second = text.lines().find(|l| l.starts_with("| 2 |")).unwrap();
    assert!(second.contains("| 2.000 | 0.50× |"), "{second}");
    assert!(
        text.contains("1 node(s) 0.200 s, 2 node(s) 0.300 s"),
        "{text}"
    );
}
