//! Circumvention: the built-in canaries for everyone, and the DoH, VPN and
//! proxy categories by role.

mod common;

use std::sync::Arc;

use common::*;
use tutela_lists::Index;
use tutela_policy::config::{GroupConfig, OverrideAction, OverrideConfig, PolicyConfig, Role};
use tutela_policy::{Action, Rule, Snapshot, Target, CIRCUMVENTION_CANARIES};

fn lists() -> Arc<Index> {
    index(&[
        ("doh", &["dns.example", "mask.icloud.com"]),
        ("vpn", &["vpn.example"]),
        ("proxy", &["proxy.example"]),
        ("residential-proxies", &["resi.example"]),
        ("educational", &["edu.example"]),
    ])
}

const CIRCUMVENTION_SITES: &[(&str, &str)] = &[
    ("https://dns.example/dns-query", "doh"),
    ("vpn.example", "vpn"),
    ("http://www.proxy.example/browse?u=x", "proxy"),
    ("resi.example", "residential-proxies"),
];

#[test]
fn canaries_are_the_three_names() {
    assert_eq!(
        CIRCUMVENTION_CANARIES,
        [
            "use-application-dns.net",
            "mask.icloud.com",
            "mask-h2.icloud.com"
        ]
    );
}

#[test]
fn canaries_are_blocked_for_every_group() {
    let permissive = GroupConfig {
        allow_sites: strings(&[
            "use-application-dns.net",
            "icloud.com",
            "mask-h2.icloud.com",
        ]),
        allow_categories: strings(&["doh"]),
        block_circumvention: Some(false),
        ..group(Role::Staff)
    };
    let mut config = PolicyConfig::default();
    config.groups.insert("permissive".into(), permissive);
    let mut garden = group(Role::Guest);
    garden.walled_garden = true;
    config.groups.insert("garden".into(), garden);
    let s = build(&config, &lists(), &empty());
    for g in ["pupils", "staff", "guests", "permissive", "garden"] {
        for canary in CIRCUMVENTION_CANARIES {
            let upper = canary.to_uppercase();
            let spellings = [
                canary.to_string(),
                format!("{canary}."),
                upper.clone(),
                format!("https://{upper}/"),
                format!("{canary}:443"),
                format!("http://{canary}/dns-query?x=1"),
            ];
            for url in &spellings {
                let v = decide(&s, g, url);
                expect(&v, Action::Block, Rule::Circumvention, Some(*canary));
                assert!(v.deciding.is_empty());
                assert!(s.reason(&v).contains("bypass"), "{}", s.reason(&v));
            }
            let v = s.decide(
                &tutela_policy::Identity {
                    group: Some(g),
                    user: Some("anyone"),
                },
                &Target::host(canary).unwrap(),
                now(),
            );
            assert_eq!(v.rule, Rule::Circumvention);
        }
        // Only those exact names: their neighbours are ordinary sites.
        for url in ["icloud.com", "www.icloud.com", "application-dns.net"] {
            let v = decide(&s, g, url);
            assert_ne!(v.rule, Rule::Circumvention, "{g} {url}");
        }
    }
}

#[test]
fn pupils_and_guests_block_circumvention_categories_by_default() {
    let s = build(&PolicyConfig::default(), &lists(), &empty());
    for g in ["pupils", "guests"] {
        for (url, category) in CIRCUMVENTION_SITES {
            let v = decide(&s, g, url);
            assert_eq!(
                (v.action, v.rule),
                (Action::Block, Rule::GroupBlockCategory)
            );
            assert_eq!(deciding(&s, &v), [category.to_string()], "{url}");
        }
    }
    for (url, _) in CIRCUMVENTION_SITES {
        let v = decide(&s, "staff", url);
        expect(&v, Action::Allow, Rule::Default, None);
    }
}

#[test]
fn the_role_decides_the_default_not_the_name() {
    let c = policy(
        "a",
        vec![
            ("a", group(Role::Pupil)),
            ("b", group(Role::Guest)),
            ("c", group(Role::Staff)),
        ],
    );
    let s = build(&c, &lists(), &empty());
    for (url, _) in CIRCUMVENTION_SITES {
        assert_eq!(decide(&s, "a", url).action, Action::Block, "{url}");
        assert_eq!(decide(&s, "b", url).action, Action::Block, "{url}");
        assert_eq!(decide(&s, "c", url).action, Action::Allow, "{url}");
    }
}

#[test]
fn an_explicit_setting_beats_the_role() {
    let mut c = PolicyConfig::default();
    c.groups.get_mut("pupils").unwrap().block_circumvention = Some(false);
    c.groups.get_mut("staff").unwrap().block_circumvention = Some(true);
    let s = build(&c, &lists(), &empty());
    for (url, category) in CIRCUMVENTION_SITES {
        let v = decide(&s, "pupils", url);
        expect(&v, Action::Allow, Rule::Default, None);
        let v = decide(&s, "staff", url);
        assert_eq!(v.rule, Rule::GroupBlockCategory, "{url}");
        assert_eq!(deciding(&s, &v), [category.to_string()]);
        // Guests keep their default.
        assert_eq!(decide(&s, "guests", url).action, Action::Block);
    }
    // The canaries do not depend on the setting.
    let v = decide(&s, "pupils", "use-application-dns.net");
    assert_eq!(v.rule, Rule::Circumvention);
}

#[test]
fn an_allowed_category_or_site_lifts_the_circumvention_block() {
    let mut c = PolicyConfig::default();
    let pupils = c.groups.get_mut("pupils").unwrap();
    pupils.allow_categories = strings(&["vpn"]);
    pupils.allow_sites = strings(&["dns.example"]);
    let s = build(&c, &lists(), &empty());
    let v = decide(&s, "pupils", "vpn.example");
    expect(
        &v,
        Action::Allow,
        Rule::GroupAllowCategory,
        Some("vpn.example"),
    );
    let v = decide(&s, "pupils", "dns.example");
    expect(&v, Action::Allow, Rule::GroupAllowSite, Some("dns.example"));
    let v = decide(&s, "pupils", "proxy.example");
    assert_eq!(v.action, Action::Block);
}

#[test]
fn only_an_override_gets_past_a_canary() {
    let mut c = PolicyConfig::default();
    c.overrides.push(OverrideConfig {
        site: "mask.icloud.com".into(),
        action: OverrideAction::Allow,
        group: Some("staff".into()),
        user: None,
        from: None,
        until: None,
        reason: "Private Relay trial".into(),
        requested_by: None,
    });
    let s: Snapshot = build(&c, &lists(), &empty());
    let v = decide(&s, "staff", "mask.icloud.com");
    expect(
        &v,
        Action::Allow,
        Rule::Override(0),
        Some("mask.icloud.com"),
    );
    assert_eq!(categories(&s, &v), ["doh"]);
    for g in ["pupils", "guests"] {
        let v = decide(&s, g, "mask.icloud.com");
        assert_eq!(v.rule, Rule::Circumvention);
    }
    assert_eq!(
        decide(&s, "staff", "mask-h2.icloud.com").rule,
        Rule::Circumvention
    );
}
