//! Precedence of the rules in `Snapshot::decide`, and what a verdict says.
//!
//! Order: illegal tier > overrides > circumvention canaries > group allow
//! (sites, then categories) > group block (sites, then categories) > walled
//! garden / default.

mod common;

use std::sync::Arc;

use common::*;
use tutela_lists::Index;
use tutela_policy::config::{
    GroupConfig, IdentityMapping, OverrideAction, OverrideConfig, PolicyConfig, Role,
    ScheduleConfig, PUPIL_BLOCKED,
};
use tutela_policy::{Action, Identity, PolicyError, Rule, Snapshot};

fn lists() -> (Arc<Index>, Arc<Index>) {
    let normal = index(&[
        (
            "adult",
            &["adult.example", "mixed.example", "blocked-cat.example"],
        ),
        ("social_networks", &["social.example"]),
        ("games", &["games.example", "blocksite.example"]),
        (
            "educational",
            &["edu.example", "mixed.example", "illegal.example"],
        ),
        ("doh", &["dns.example", "use-application-dns.net"]),
        ("search", &["google.com"]),
    ]);
    let illegal = index(&[("iwf", &["illegal.example", "host.example/abuse"])]);
    (normal, illegal)
}

fn pupils() -> GroupConfig {
    GroupConfig {
        block_categories: strings(&["adult", "social_networks", "games"]),
        allow_categories: strings(&["educational"]),
        allow_sites: strings(&[
            "allowed.example",
            "blocked-cat.example/ok",
            "use-application-dns.net",
            "illegal.example",
            "host.example",
        ]),
        block_sites: strings(&["blocksite.example", "edu.example/private", "plain.example"]),
        ..group(Role::Pupil)
    }
}

fn config() -> PolicyConfig {
    let mut c = policy(
        "pupils",
        vec![("pupils", pupils()), ("staff", group(Role::Staff))],
    );
    c.overrides = vec![
        OverrideConfig {
            site: "illegal.example".into(),
            action: OverrideAction::Allow,
            group: None,
            user: None,
            from: None,
            until: None,
            reason: "mistake".into(),
            requested_by: None,
        },
        OverrideConfig {
            site: "use-application-dns.net".into(),
            action: OverrideAction::Allow,
            group: Some("staff".into()),
            user: None,
            from: None,
            until: None,
            reason: "testing DoH".into(),
            requested_by: None,
        },
        OverrideConfig {
            site: "allowed.example".into(),
            action: OverrideAction::Block,
            group: None,
            user: Some("mallory".into()),
            from: None,
            until: None,
            reason: "misuse".into(),
            requested_by: Some("head".into()),
        },
    ];
    c
}

fn snapshot() -> Snapshot {
    let (index, illegal) = lists();
    build(&config(), &index, &illegal)
}

#[test]
fn illegal_tier_beats_an_override() {
    let s = snapshot();
    for url in ["illegal.example", "http://www.illegal.example/any"] {
        let v = decide(&s, "pupils", url);
        expect(&v, Action::Block, Rule::Illegal, Some("illegal.example"));
        assert_eq!(deciding(&s, &v), ["iwf"]);
        assert_eq!(categories(&s, &v), ["iwf"]);
    }
    let v = decide(&s, "pupils", "http://host.example/abuse/1");
    expect(&v, Action::Block, Rule::Illegal, Some("host.example/abuse"));
    let reason = s.reason(&v);
    assert!(reason.contains("iwf"), "{reason}");
    // The same host off the listed path falls to the group allow list.
    let v = decide(&s, "pupils", "http://host.example/fine");
    expect(
        &v,
        Action::Allow,
        Rule::GroupAllowSite,
        Some("host.example"),
    );
}

#[test]
fn override_beats_circumvention_canary() {
    let s = snapshot();
    let v = decide(&s, "staff", "use-application-dns.net");
    expect(
        &v,
        Action::Allow,
        Rule::Override(1),
        Some("use-application-dns.net"),
    );
    assert!(v.deciding.is_empty());
    assert_eq!(categories(&s, &v), ["doh"]);
    assert!(s.reason(&v).contains("override"));
}

#[test]
fn override_beats_group_allow_site() {
    let s = snapshot();
    let v = decide_at(
        &s,
        "pupils",
        Some("mallory"),
        "http://allowed.example/",
        now(),
    );
    expect(
        &v,
        Action::Block,
        Rule::Override(2),
        Some("allowed.example"),
    );
    let v = decide_at(
        &s,
        "pupils",
        Some("alice"),
        "http://allowed.example/",
        now(),
    );
    expect(
        &v,
        Action::Allow,
        Rule::GroupAllowSite,
        Some("allowed.example"),
    );
}

#[test]
fn canary_beats_group_allow_site_and_category_block() {
    let s = snapshot();
    // Pupils list the canary on their allow list, and doh is also blocked
    // for them by role; the canary rule comes first.
    let v = decide(&s, "pupils", "use-application-dns.net");
    expect(
        &v,
        Action::Block,
        Rule::Circumvention,
        Some("use-application-dns.net"),
    );
    assert!(v.deciding.is_empty());
    assert!(s.reason(&v).contains("bypass"));
}

#[test]
fn allow_site_beats_block_category() {
    let s = snapshot();
    let v = decide(&s, "pupils", "https://blocked-cat.example/ok/page");
    expect(
        &v,
        Action::Allow,
        Rule::GroupAllowSite,
        Some("blocked-cat.example/ok"),
    );
    assert_eq!(categories(&s, &v), ["adult"]);
    assert!(v.deciding.is_empty());
    let v = decide(&s, "pupils", "https://blocked-cat.example/other");
    expect(
        &v,
        Action::Block,
        Rule::GroupBlockCategory,
        Some("blocked-cat.example"),
    );
    assert_eq!(deciding(&s, &v), ["adult"]);
    // A DNS query has no path, so a host/path allow entry cannot apply.
    let v = decide(&s, "pupils", "blocked-cat.example");
    assert_eq!(v.rule, Rule::GroupBlockCategory);
}

#[test]
fn allow_category_beats_block_category_and_block_site() {
    let s = snapshot();
    let v = decide(&s, "pupils", "http://www.mixed.example/");
    expect(
        &v,
        Action::Allow,
        Rule::GroupAllowCategory,
        Some("mixed.example"),
    );
    assert_eq!(deciding(&s, &v), ["educational"]);
    assert_eq!(categories(&s, &v), ["adult", "educational"]);
    let reason = s.reason(&v);
    assert!(reason.contains("educational") && reason.contains("pupils"));

    // edu.example/private is on the block list, but educational is allowed.
    let v = decide(&s, "pupils", "http://edu.example/private/x");
    expect(
        &v,
        Action::Allow,
        Rule::GroupAllowCategory,
        Some("edu.example"),
    );
}

#[test]
fn block_site_beats_block_category() {
    let s = snapshot();
    let v = decide(&s, "pupils", "http://a.blocksite.example/");
    expect(
        &v,
        Action::Block,
        Rule::GroupBlockSite,
        Some("blocksite.example"),
    );
    assert!(v.deciding.is_empty());
    assert_eq!(categories(&s, &v), ["games"]);
    let v = decide(&s, "pupils", "plain.example");
    expect(
        &v,
        Action::Block,
        Rule::GroupBlockSite,
        Some("plain.example"),
    );
}

#[test]
fn block_category_with_entry_and_reason() {
    let s = snapshot();
    let v = decide(&s, "pupils", "https://deep.sub.social.example/feed");
    expect(
        &v,
        Action::Block,
        Rule::GroupBlockCategory,
        Some("social.example"),
    );
    assert_eq!(deciding(&s, &v), ["social_networks"]);
    let reason = s.reason(&v);
    assert!(reason.contains("social_networks"), "{reason}");
    assert!(reason.contains("pupils"), "{reason}");
    assert!(reason.contains("social.example"), "{reason}");
}

#[test]
fn default_allows_what_nothing_names() {
    let s = snapshot();
    let v = decide(&s, "pupils", "https://unknown.example/");
    expect(&v, Action::Allow, Rule::Default, None);
    assert!(v.categories.is_empty() && v.deciding.is_empty());
    assert_eq!(v.safesearch, None);
    // Staff block nothing but the canaries here.
    let v = decide(&s, "staff", "https://adult.example/");
    expect(&v, Action::Allow, Rule::Default, None);
    assert_eq!(categories(&s, &v), ["adult"]);
}

#[test]
fn most_specific_entry_is_reported() {
    let index = index(&[
        ("adult", &["example.net"]),
        ("games", &["play.example.net"]),
    ]);
    let mut g = group(Role::Pupil);
    g.block_categories = strings(&["adult", "games"]);
    let s = build(&policy("p", vec![("p", g)]), &index, &empty());
    let v = decide(&s, "p", "http://x.play.example.net/");
    assert_eq!(v.entry.as_deref(), Some("play.example.net"));
    assert_eq!(deciding(&s, &v), ["adult", "games"]);
    let v = decide(&s, "p", "http://other.example.net/");
    assert_eq!(v.entry.as_deref(), Some("example.net"));
    assert_eq!(deciding(&s, &v), ["adult"]);
}

#[test]
fn url_prefix_and_expression_entries_decide() {
    let index = index(&[
        ("adult", &["video.example/adult", "regex:^[^/]*/nsfw/"]),
        ("games", &["video.example/games"]),
    ]);
    let mut g = group(Role::Pupil);
    g.block_categories = strings(&["adult", "games"]);
    let s = build(&policy("p", vec![("p", g)]), &index, &empty());
    let v = decide(&s, "p", "https://www.video.example/Adult/1");
    expect(
        &v,
        Action::Block,
        Rule::GroupBlockCategory,
        Some("video.example/adult"),
    );
    let v = decide(&s, "p", "https://video.example/games");
    expect(
        &v,
        Action::Block,
        Rule::GroupBlockCategory,
        Some("video.example/games"),
    );
    let v = decide(&s, "p", "https://cdn.example/nsfw/a.jpg");
    assert_eq!(v.action, Action::Block);
    assert_eq!(v.entry.as_deref(), Some("regex:^[^/]*/nsfw/"));
    for url in ["https://video.example/", "video.example", "cdn.example"] {
        let v = decide(&s, "p", url);
        expect(&v, Action::Allow, Rule::Default, None);
    }
}

#[test]
fn unknown_or_absent_group_means_default_group() {
    let s = snapshot();
    let pupils = s.group_named("pupils").unwrap();
    assert_eq!(s.default_group(), pupils);
    for group in [None, Some("nobody"), Some("")] {
        let v = s.decide(
            &Identity { group, user: None },
            &target("http://social.example/"),
            now(),
        );
        assert_eq!(v.group, pupils);
        assert_eq!(v.rule, Rule::GroupBlockCategory);
    }
    let v = decide(&s, "staff", "http://social.example/");
    assert_eq!(v.group, s.group_named("staff").unwrap());
    assert_eq!(v.action, Action::Allow);
}

#[test]
fn identify_by_most_specific_subnet() {
    let (index, illegal) = lists();
    let mut c = config();
    c.identities = vec![
        IdentityMapping {
            subnet: "10.0.0.0/8".parse().unwrap(),
            group: "pupils".into(),
            site: Some("north".into()),
        },
        IdentityMapping {
            subnet: "10.1.0.0/16".parse().unwrap(),
            group: "staff".into(),
            site: Some("north".into()),
        },
        IdentityMapping {
            subnet: "2001:db8::/32".parse().unwrap(),
            group: "staff".into(),
            site: None,
        },
    ];
    let s = build(&c, &index, &illegal);
    let staff = s.group_named("staff").unwrap();
    let pupils = s.group_named("pupils").unwrap();
    assert_eq!(
        s.identify("10.1.2.3".parse().unwrap()),
        (staff, Some("north"))
    );
    assert_eq!(
        s.identify("10.2.2.3".parse().unwrap()),
        (pupils, Some("north"))
    );
    assert_eq!(
        s.identify("::ffff:10.1.2.3".parse().unwrap()),
        (staff, Some("north"))
    );
    assert_eq!(s.identify("2001:db8::5".parse().unwrap()), (staff, None));
    assert_eq!(s.identify("192.168.0.1".parse().unwrap()), (pupils, None));
}

#[test]
fn default_policy_blocks_pupil_categories() {
    let all: Vec<&str> = PUPIL_BLOCKED.to_vec();
    let spec: Vec<(&str, Vec<String>)> = all
        .iter()
        .map(|c| (*c, vec![format!("{}.example", c.replace('_', "-"))]))
        .collect();
    let mut b = tutela_lists::IndexBuilder::new(32);
    for (c, entries) in &spec {
        let id = b
            .categories_mut()
            .intern(c, tutela_lists::Usage::Black)
            .unwrap();
        for e in entries {
            b.add_domain(&host(e), id).unwrap();
        }
    }
    let index = Arc::new(b.finish());
    let s = build(&PolicyConfig::default(), &index, &empty());
    for (c, entries) in &spec {
        let url = format!("http://www.{}/", entries[0]);
        for g in ["pupils", "guests"] {
            let v = decide(&s, g, &url);
            expect(
                &v,
                Action::Block,
                Rule::GroupBlockCategory,
                Some(entries[0].as_str()),
            );
            assert_eq!(deciding(&s, &v), [c.to_string()]);
        }
        let v = decide(&s, "staff", &url);
        let staff_blocks = [
            "adult",
            "cryptojacking",
            "ddos",
            "malware",
            "phishing",
            "stalkerware",
        ];
        if staff_blocks.contains(c) {
            assert_eq!(v.rule, Rule::GroupBlockCategory, "{c}");
        } else {
            expect(&v, Action::Allow, Rule::Default, None);
        }
    }
    // An empty illegal tier is worth a warning.
    assert!(
        s.warnings().iter().any(|w| w.contains("illegal")),
        "{:?}",
        s.warnings()
    );
}

#[test]
fn missing_categories_are_warnings() {
    let mut g = group(Role::Staff);
    g.block_categories = strings(&["no_such_list"]);
    let illegal = index(&[("iwf", &["x.example"])]);
    let s = build(&policy("g", vec![("g", g)]), &empty(), &illegal);
    assert_eq!(s.warnings().len(), 1, "{:?}", s.warnings());
    assert!(s.warnings()[0].contains("no_such_list"));
    assert!(s.warnings()[0].contains("groups.g"));
}

fn build_err(c: &PolicyConfig) -> PolicyError {
    let (index, illegal) = lists();
    match Snapshot::build(c, index, illegal) {
        Ok(_) => panic!("policy built, but should not have"),
        Err(e) => e,
    }
}

#[test]
fn build_errors_name_the_place() {
    let mut c = config();
    c.timezone = "Mars/Olympus".into();
    assert_eq!(build_err(&c), PolicyError::TimeZone("Mars/Olympus".into()));

    let mut c = config();
    c.default_group = "teachers".into();
    assert_eq!(build_err(&c), PolicyError::DefaultGroup("teachers".into()));

    let mut c = config();
    c.overrides[1].group = Some("teachers".into());
    assert_eq!(
        build_err(&c),
        PolicyError::UnknownGroup {
            place: "overrides[1]".into(),
            group: "teachers".into()
        }
    );

    let mut c = config();
    c.identities.push(IdentityMapping {
        subnet: "10.0.0.0/8".parse().unwrap(),
        group: "teachers".into(),
        site: None,
    });
    assert!(matches!(
        build_err(&c),
        PolicyError::UnknownGroup { place, .. } if place == "identities[0]"
    ));

    let mut c = config();
    c.overrides[0].until = Some("next tuesday".into());
    assert!(matches!(
        build_err(&c),
        PolicyError::Timestamp { place, value, .. } if place == "overrides[0]" && value == "next tuesday"
    ));

    let mut c = config();
    c.groups.get_mut("pupils").unwrap().block_sites = strings(&["bad name.example"]);
    assert!(matches!(
        build_err(&c),
        PolicyError::Site { place, .. } if place == "groups.pupils.block_sites"
    ));

    for (from, to, bad) in [
        ("25:00", "26:00", "25:00"),
        ("9", "10:00", "9"),
        ("09:00", "10:61", "10:61"),
    ] {
        let mut c = config();
        c.groups.get_mut("staff").unwrap().schedule = vec![ScheduleConfig {
            from: from.into(),
            to: to.into(),
            ..Default::default()
        }];
        assert_eq!(
            build_err(&c),
            PolicyError::Time {
                place: "groups.staff.schedule[0]".into(),
                value: bad.into()
            }
        );
    }

    let mut c = config();
    c.groups.get_mut("staff").unwrap().schedule = vec![ScheduleConfig {
        days: strings(&["mon", "funday"]),
        from: "09:00".into(),
        to: "10:00".into(),
        ..Default::default()
    }];
    assert_eq!(
        build_err(&c),
        PolicyError::Day {
            place: "groups.staff.schedule[0]".into(),
            value: "funday".into()
        }
    );
}

#[test]
fn a_fresh_snapshot_has_generation_zero() {
    assert_eq!(snapshot().generation(), 0);
    let v = decide(&snapshot(), "pupils", "x.example");
    assert_eq!(v.generation, 0);
}
