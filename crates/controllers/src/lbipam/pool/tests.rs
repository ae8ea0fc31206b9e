//! Tests of the pool syntax and the allocator.

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn cidr_skips_network_and_broadcast() {
    let p = Pool::parse("127.240.0.0/24").unwrap();
    assert_eq!(p.size(), 254);
    assert!(!p.contains(ip("127.240.0.0")));
    assert!(p.contains(ip("127.240.0.1")));
    assert!(p.contains(ip("127.240.0.254")));
    assert!(!p.contains(ip("127.240.0.255")));
    assert!(!p.contains(ip("127.240.1.1")));
    // /31 and /32 keep every address.
    assert_eq!(Pool::parse("10.0.0.0/31").unwrap().size(), 2);
    assert_eq!(Pool::parse("10.0.0.7/32").unwrap().size(), 1);
}

#[test]
fn ranges_single_addresses_and_lists() {
    let p = Pool::parse("127.240.0.5-127.240.0.6").unwrap();
    assert_eq!(p.size(), 2);
    assert!(p.contains(ip("127.240.0.5")) && p.contains(ip("127.240.0.6")));
    assert!(!p.contains(ip("127.240.0.7")));
    let p = Pool::parse("127.240.0.9, 127.241.0.0/30").unwrap();
    assert_eq!(p.size(), 3);
    assert!(p.contains(ip("127.241.0.2")));
}

#[test]
fn bad_pools_are_refused_with_the_reason() {
    for (text, why) in [
        ("", "no addresses"),
        ("127.240.0.1/24", "host bits set"),
        ("127.240.0.9-127.240.0.1", "ends before it starts"),
        ("fd00::/120", "only IPv4"),
        ("nonsense", "is not an IP address"),
        ("10.0.0.0/33", "is not a prefix length"),
    ] {
        let err = Pool::parse(text).unwrap_err().to_string();
        assert!(err.contains(why), "{text:?}: {err}");
    }
}

#[test]
fn lowest_free_first_and_reuse() {
    let mut a = Allocator::new(Pool::parse("127.240.0.5-127.240.0.6").unwrap());
    assert_eq!(
        a.allocate("default/a"),
        Some("127.240.0.5".parse().unwrap())
    );
    // Asking again gives the same address.
    assert_eq!(
        a.allocate("default/a"),
        Some("127.240.0.5".parse().unwrap())
    );
    assert_eq!(
        a.allocate("default/b"),
        Some("127.240.0.6".parse().unwrap())
    );
    assert_eq!(a.allocate("default/c"), None);
    assert_eq!(a.release("default/a"), Some("127.240.0.5".parse().unwrap()));
    assert_eq!(
        a.allocate("default/c"),
        Some("127.240.0.5".parse().unwrap())
    );
    assert_eq!(a.in_use(), 2);
}

#[test]
fn gaps_are_found_across_ranges() {
    let mut a = Allocator::new(Pool::parse("10.0.0.1-10.0.0.2,10.0.1.1-10.0.1.3").unwrap());
    a.assign("x", ip("10.0.0.1")).unwrap();
    a.assign("y", ip("10.0.0.2")).unwrap();
    a.assign("z", ip("10.0.1.1")).unwrap();
    a.assign("w", ip("10.0.1.3")).unwrap();
    assert_eq!(a.allocate("v"), Some("10.0.1.2".parse().unwrap()));
    assert_eq!(a.allocate("u"), None);
}

#[test]
fn assign_refuses_outside_and_taken() {
    let mut a = Allocator::new(Pool::parse("127.240.0.0/24").unwrap());
    assert_eq!(
        a.assign("default/a", ip("10.1.1.1"))
            .unwrap_err()
            .to_string(),
        "\"10.1.1.1\" is not allowed in config"
    );
    assert_eq!(
        a.assign("default/a", ip("127.240.0.0")),
        Err(Refusal::NotInPool(ip("127.240.0.0")))
    );
    a.assign("default/a", ip("127.240.0.50")).unwrap();
    assert_eq!(
        a.assign("default/b", ip("127.240.0.50"))
            .unwrap_err()
            .to_string(),
        "\"127.240.0.50\" is already in use by default/a"
    );
    // Moving a holder to another address frees the first.
    a.assign("default/a", ip("127.240.0.51")).unwrap();
    assert_eq!(a.holder("127.240.0.50".parse().unwrap()), None);
    assert_eq!(a.ip_of("default/a"), Some("127.240.0.51".parse().unwrap()));
    assert!(a.assign("default/b", ip("fd00::1")).is_err());
}
