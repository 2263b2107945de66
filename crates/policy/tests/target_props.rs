//! Properties of target parsing and matching, over generated hosts and paths.

mod common;

use common::*;
use proptest::prelude::*;
use tutela_policy::config::Role;
use tutela_policy::{Action, Rule, Target};

/// A label of `[a-z0-9-]`, not an IDNA `xn--` label.
fn label() -> impl Strategy<Value = String> {
    "[a-z0-9-]{1,12}".prop_filter("punycode label", |l| !l.starts_with("xn--"))
}

/// A host of 1-4 labels under an alphabetic top-level label (a numeric
/// last label would make it an IPv4 spelling).
fn host() -> impl Strategy<Value = String> {
    (prop::collection::vec(label(), 1..4), "[a-z]{2,6}")
        .prop_map(|(labels, tld)| format!("{}.{tld}", labels.join(".")))
}

/// A path of unreserved characters (dot segments included) and an
/// optional query.
fn path() -> impl Strategy<Value = String> {
    (
        prop::collection::vec("[a-z0-9._~-]{0,8}", 0..5),
        prop::option::of("[a-z0-9=&_-]{0,10}"),
    )
        .prop_map(|(segments, query)| {
            let mut p = format!("/{}", segments.join("/"));
            if let Some(q) = query {
                p.push('?');
                p.push_str(&q);
            }
            p
        })
}

/// Percent-encodes the characters whose bit in `bits` is set, and
/// upper-cases those whose bit in `case` is set. Only unreserved ASCII is
/// touched, so the meaning is unchanged.
fn disguise(text: &str, bits: u64, case: u64, encode: bool) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        let bit = 1u64 << (i % 64);
        let unreserved = c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~');
        if encode && unreserved && bits & bit != 0 {
            let c = if case & bit != 0 {
                c.to_ascii_uppercase()
            } else {
                c
            };
            out.push_str(&format!("%{:02X}", c as u32));
        } else if case & bit != 0 {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[derive(Debug, Clone)]
struct Tricks {
    scheme: &'static str,
    userinfo: &'static str,
    port: &'static str,
    trailing_dot: bool,
    encode_host: bool,
    encode_path: bool,
    host_bits: u64,
    host_case: u64,
    path_bits: u64,
    path_case: u64,
}

fn tricks() -> impl Strategy<Value = Tricks> {
    (
        prop::sample::select(vec!["http://", "https://", "HTTP://", "Https://", ""]),
        prop::sample::select(vec!["", "user@", "user:pw@", "good.example@", "a%40b:c@"]),
        prop::sample::select(vec!["", ":80", ":443", ":8080", ":1"]),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<[u64; 4]>(),
    )
        .prop_map(
            |(scheme, userinfo, port, trailing_dot, encode_host, encode_path, bits)| Tricks {
                scheme,
                userinfo,
                port,
                trailing_dot,
                encode_host,
                encode_path,
                host_bits: bits[0],
                host_case: bits[1],
                path_bits: bits[2],
                path_case: bits[3],
            },
        )
}

fn spell(host: &str, path: &str, t: &Tricks) -> String {
    let mut h = disguise(host, t.host_bits, t.host_case, t.encode_host);
    if t.trailing_dot {
        h.push('.');
    }
    let p = disguise(path, t.path_bits, t.path_case, t.encode_path);
    format!("{}{}{h}{}{p}", t.scheme, t.userinfo, t.port)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_spelling_is_the_same_target(host in host(), path in path(), t in tricks()) {
        let plain = Target::parse(&format!("http://{host}{path}")).unwrap();
        prop_assert_eq!(plain.host_str(), host.as_str());
        let spelled = spell(&host, &path, &t);
        let tricked = Target::parse(&spelled);
        prop_assert!(tricked.is_ok(), "{spelled:?}: {tricked:?}");
        let tricked = tricked.unwrap();
        prop_assert_eq!(tricked.host_str(), plain.host_str(), "{}", spelled);
        prop_assert_eq!(tricked.path(), plain.path(), "{}", spelled);
    }

    #[test]
    fn bare_hosts_are_the_same_name(host in host(), t in tricks()) {
        let mut spelled = disguise(&host, 0, t.host_case, false);
        if t.trailing_dot {
            spelled.push('.');
        }
        let a = Target::host(&spelled).unwrap();
        let b = Target::parse(&spelled).unwrap();
        let c = Target::parse(&format!("{spelled}{}", t.port)).unwrap();
        for x in [&a, &b, &c] {
            prop_assert_eq!(x.host_str(), host.as_str());
            prop_assert_eq!(x.path(), None);
        }
    }

    #[test]
    fn suffixes_match_on_label_boundaries_only(l in label(), d in host()) {
        let listed = index(&[("listed", &[d.as_str()])]);
        let mut g = group(Role::Staff);
        g.block_categories = strings(&["listed"]);
        let mut sites = group(Role::Staff);
        sites.block_sites = vec![d.clone()];
        let c = policy("g", vec![("g", g), ("sites", sites)]);
        let by_list = build(&c, &listed, &empty());
        let by_illegal = build(&c, &empty(), &listed);

        let glued = format!("{l}{d}");
        let dotted = format!("{l}.{d}");
        for url in [glued.clone(), format!("https://{glued}/x")] {
            for (s, g) in [(&by_list, "g"), (&by_list, "sites"), (&by_illegal, "g")] {
                let v = decide(s, g, &url);
                prop_assert_eq!((v.action, v.rule), (Action::Allow, Rule::Default), "{} for {}", url, d);
            }
        }
        for url in [dotted.clone(), format!("https://{dotted}/x"), d.clone()] {
            let v = decide(&by_list, "g", &url);
            prop_assert_eq!(v.rule, Rule::GroupBlockCategory, "{}", url);
            prop_assert_eq!(v.entry.as_deref(), Some(d.as_str()));
            let v = decide(&by_list, "sites", &url);
            prop_assert_eq!(v.rule, Rule::GroupBlockSite, "{}", url);
            prop_assert_eq!(v.entry.as_deref(), Some(d.as_str()));
            let v = decide(&by_illegal, "g", &url);
            prop_assert_eq!(v.rule, Rule::Illegal, "{}", url);
            prop_assert_eq!(v.entry.as_deref(), Some(d.as_str()));
        }
    }

    #[test]
    fn parse_never_panics(s in any::<String>()) {
        let _ = Target::parse(&s);
        let _ = Target::host(&s);
    }

    #[test]
    fn parse_never_panics_on_url_like_input(
        scheme in prop::sample::select(vec!["http://", "https://", "ftp://", "ws://", "", "//", "mailto:"]),
        body in "[\\x00-\\x7f\u{80}-\u{10ffff}]{0,64}",
        nuls in "\\x00{0,4}",
        tail in "[a-z0-9.%:@/\\[\\]\\x00-\\x20]{0,32}",
    ) {
        let s = format!("{scheme}{body}{nuls}{tail}");
        let _ = Target::parse(&s);
        let _ = Target::host(&s);
    }

    #[test]
    fn parse_never_panics_on_long_input(
        unit in "[a-z0-9.%\\[\\]:/@\u{e9}\u{ff41}\u{430}\\x00-]{1,8}",
        repeat in 1usize..2000,
        scheme in prop::sample::select(vec!["http://", ""]),
    ) {
        let s = format!("{scheme}{}", unit.repeat(repeat));
        let _ = Target::parse(&s);
        let _ = Target::host(&s);
    }
}

#[test]
fn parse_survives_known_nasties() {
    let long_label = "a".repeat(64);
    let many_labels = "a.".repeat(200) + "example";
    let huge = "x".repeat(1 << 20);
    let inputs = [
        "\0",
        "http://\0/",
        "http://bad.example\0.evil/",
        "http://[::1",
        "http://[::1]]/",
        "http://[]/",
        "http://%/",
        "http://%zz/",
        "http://%00/",
        "http://a@@b/",
        "http://:80/",
        "http://.../",
        "http://./",
        "http://xn--/",
        "http://xn--a/",
        "xn--zz-",
        "http://999999999999999999999/",
        "http://0x/",
        "http://1.2.3.4.5/",
        "http://256.256.256.256/",
        "http://\u{feff}bad.example/",
        "http://bad.example\u{2028}/",
        "\u{10ffff}",
        "http://\u{10ffff}/",
        &long_label,
        &format!("http://{long_label}.example/"),
        &many_labels,
        &format!("http://{many_labels}/"),
        &huge,
        &format!("http://{huge}/"),
        &format!("http://example.com/{huge}"),
    ];
    for s in inputs {
        let _ = Target::parse(s);
        let _ = Target::host(s);
    }
}

#[test]
fn a_scheme_less_target_may_carry_a_url_in_its_query() {
    // A `host/path` whose query names another URL is still that host.
    let t = Target::parse("bad.example/go?to=http://elsewhere.example/").unwrap();
    assert_eq!(t.host_str(), "bad.example");
    assert_eq!(t.path(), Some("/go?to=http://elsewhere.example/"));
    let t = Target::parse("bad.example:8080/r?u=https://x.example").unwrap();
    assert_eq!(t.host_str(), "bad.example");
}
