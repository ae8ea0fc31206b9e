//! Incremental applies against a table of 1,000 services: what each transaction carries.

use super::*;

#[test]
fn incremental_applies_touch_only_what_changed() {
    sandboxed(
        "incremental::incremental_applies_touch_only_what_changed",
        || async {
            let net = network().await;
            tcp_backend(&net.b1, "b1", "10.244.0.3", 8080);
            tcp_backend(&net.b2, "b2", "10.244.0.4", 8080);

            // 1000 services with 2 endpoints each.
            let mut big = state();
            for i in 0..1000u32 {
                let ip = format!("10.97.{}.{}", i / 250, i % 250 + 1);
                big.services.insert(
                    key(&format!("svc-{i}"), Protocol::Tcp),
                    port(
                        &ip,
                        80,
                        vec![ep("10.244.0.3", 8080, true), ep("10.244.0.4", 8080, false)],
                    ),
                );
            }
            let mut dp = Nftables::new(config()).unwrap();
            let started = Instant::now();
            dp.apply(&big).await.unwrap();
            let full = started.elapsed();
            let full_lines = dp.last_transaction().lines().count();
            assert_eq!(
                tcp_get(&net.client, "10.97.3.250:80").map(|a| a.len() > 2),
                Ok(true)
            );

            // Nothing changed: nothing is sent.
            dp.apply(&big).await.unwrap();
            assert_eq!(dp.last_transaction(), "");

            // One more service (a plain ClusterIP: the direct layout): its cluster IP, its
            // `direct-services` element and one `direct-1` element (its endpoint's hairpin
            // element is there already). No chain, rule, set or map.
            let mut more = big.clone();
            more.services.insert(
                key("new", Protocol::Tcp),
                port("10.98.0.1", 80, vec![ep("10.244.0.4", 8080, false)]),
            );
            let started = Instant::now();
            dp.apply(&more).await.unwrap();
            let add_one = started.elapsed();
            let tx = dp.last_transaction().to_string();
            assert_eq!(
                tx,
                "add element ip portico cluster-ips { 10.98.0.1 }\n\
                 add element ip portico direct-services { 10.98.0.1 . tcp . 80 comment \"default/new\" }\n\
                 add element ip portico direct-1 { 10.98.0.1 . tcp . 80 . 0 : 10.244.0.4 . 8080 }\n"
            );
            assert_eq!(
                tcp_get(&net.client, "10.98.0.1:80").unwrap(),
                "b2 10.244.0.2"
            );

            // One endpoint leaves one service: its choice moves from `direct-2` to `direct-1`
            // (the hairpin element stays, other services use the endpoint).
            let mut fewer = more.clone();
            fewer
                .services
                .get_mut(&key("svc-7", Protocol::Tcp))
                .unwrap()
                .endpoints
                .retain(|e| e.ip != "10.244.0.4".parse::<IpAddr>().unwrap());
            dp.apply(&fewer).await.unwrap();
            let tx = dp.last_transaction().to_string();
            assert_eq!(
                tx,
                "delete element ip portico direct-2 { 10.97.0.8 . tcp . 80 . 0 }\n\
                 delete element ip portico direct-2 { 10.97.0.8 . tcp . 80 . 1 }\n\
                 add element ip portico direct-1 { 10.97.0.8 . tcp . 80 . 0 : 10.244.0.3 . 8080 }\n"
            );
            assert!(dp.last_timing().messages == 3, "{:?}", dp.last_timing());
            let seen = tally(&net.client, "10.97.0.8:80", 10);
            assert_eq!(backends(&seen), ["b1"], "{seen:?}");

            // Cost of small transactions (one netlink batch each).
            let rounds = 20;
            let started = Instant::now();
            for i in 0..rounds {
                dp.apply(if i % 2 == 0 { &more } else { &fewer })
                    .await
                    .unwrap();
            }
            let small = started.elapsed() / rounds;
            eprintln!(
                "nftables cost: full apply of 1000 services ({full_lines} lines) {full:?}; \
             add one service {add_one:?}; one-endpoint change {small:?} on average"
            );
            assert!(small < Duration::from_millis(500));
        },
    );
}
