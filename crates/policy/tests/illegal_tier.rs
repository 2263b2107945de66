//! The illegal-content tier: nothing allows it, and no spelling of a URL
//! gets round it.

mod common;

use std::sync::Arc;

use common::*;
use jiff::ToSpan;
use tutela_lists::Index;
use tutela_policy::config::{
    GroupConfig, OverrideAction, OverrideConfig, PolicyConfig, Role, SafeSearchConfig,
    SafeSearchMode, ScheduleConfig,
};
use tutela_policy::{Action, Identity, PolicyError, Rule, Snapshot, Target};

/// Illegal-tier entries, and the spellings of requests that must hit each.
const CASES: &[(&str, &[&str])] = &[
    (
        "abuse.example",
        &[
            "abuse.example",
            "www.abuse.example",
            "abuse.example.",
            "ABUSE.Example",
            "http://abuse.example/",
            "https://www.abuse.example/index.html",
            "http://deep.sub.abuse.example/",
            "HTTP://ABUSE.EXAMPLE./",
            "http://Abuse.Example:8443/x",
            "abuse.example:443",
            "http://u:p@abuse.example/",
            "http://good.example@abuse.example/",
            "https://good.example:443@www.abuse.example:443/",
            "http://ab%75se.example/",
            "http://%61%62%75%73%65.example/",
            "http://abuse%2eexample/",
            "http://ａｂｕｓｅ.example/",
            "http://abuse\u{3002}example/",
            "http://ab\u{AD}use.example/",
            "https://abuse.example./?q=1",
            "abuse.example/x",
            "ws://abuse.example/chat",
            "wss://www.abuse.example/chat",
            "ftp://abuse.example/pub",
        ],
    ),
    (
        "host.example/bad/path",
        &[
            "http://host.example/bad/path",
            "https://www.host.example/bad/path/more?x=1",
            "http://HOST.EXAMPLE/BAD/Path",
            "http://host.example/%62ad/%70ath",
            "http://host.example/%62%61%64/path",
            "http://host.example/%62%41%64/p%61th",
            "http://host.example:8080/bad/path",
            "http://user@host.example/bad/path",
            "http://user:pw@host.example./bad/path",
            "host.example/bad/path",
            "HOST.example:80/bad/path",
            "http://host.example/x/../bad/path",
            "http://host.example/./bad/./path",
            "http://host.example/x/%2e%2e/bad/path",
            "http://host.example/bad/path?x",
            "http://host.example/bad/path#frag",
            // Web servers read runs of slashes as one.
            "http://host.example//bad/path",
            "http://host.example/bad//path",
            "https://host.example///bad///path/x",
            "host.example//bad/path",
            "http://host.example\\bad\\path",
            "http://h%6fst.example/bad/path",
            "http://ｈｏｓｔ.example/bad/path",
            "http://sub.www.host.example/bad/path/",
        ],
    ),
    (
        "192.0.2.7",
        &[
            "192.0.2.7",
            "http://192.0.2.7/",
            "http://3221225991/",
            "http://0xc0000207/x",
            "0xc0.0.2.7",
            "http://0300.0000.0002.0007/",
            "http://192.0.519/",
            "http://192.519/",
            "http://u:p@192.0.2.7:8080/",
        ],
    ),
    (
        "192.0.2.8/abuse",
        &[
            "http://192.0.2.8/abuse",
            "http://3221225992/abuse",
            "http://0xc0000208/abuse",
            "http://0300.0.2.8/abuse",
            "http://0xc0.0.2.8/ABUSE",
            "http://192.0.520/abuse",
            "http://u@192.0.2.8:81/abuse/x",
            "192.0.2.8/%61buse",
        ],
    ),
    (
        "2001:db8::7/abuse",
        &[
            "http://[2001:db8::7]/abuse",
            "http://[2001:DB8:0:0:0:0:0:7]/abuse",
            "https://[2001:0db8::0007]:8443/abuse/x",
            "http://user@[2001:db8:0::7]/%61buse",
        ],
    ),
    (
        "2001:db8::9",
        &[
            "[2001:db8::9]",
            "http://[2001:DB8::9]/",
            "http://[2001:db8:0:0::9]:80/x",
        ],
    ),
    (
        "regex:^terror\\.example/",
        &[
            "http://terror.example/",
            "http://TERROR.example:81/x",
            "https://u@terror.example./x",
        ],
    ),
];

/// Every site an administrator might try to allow them with.
const ALLOWED_SITES: &[&str] = &[
    "abuse.example",
    "www.abuse.example",
    "host.example",
    "host.example/bad",
    "www.host.example/bad/path",
    "192.0.2.7",
    "192.0.2.8/abuse",
    "[2001:db8::7]/abuse",
    "[2001:db8::9]",
    "terror.example",
];

fn lists() -> (Arc<Index>, Arc<Index>) {
    // A normal category that lists the same sites, and that groups allow.
    let normal = index(&[(
        "educational",
        &[
            "abuse.example",
            "host.example",
            "192.0.2.7",
            "192.0.2.8",
            "2001:db8::7",
            "2001:db8::9",
            "terror.example",
        ],
    )]);
    let illegal = index(&[
        (
            "iwf",
            &[
                "abuse.example",
                "host.example/bad/path",
                "192.0.2.7",
                "192.0.2.8/abuse",
                "[2001:db8::7]/abuse",
                "2001:db8::9",
            ],
        ),
        ("ctiru", &["regex:^terror\\.example/"]),
    ]);
    (normal, illegal)
}

fn allowing(role: Role) -> GroupConfig {
    GroupConfig {
        allow_sites: strings(ALLOWED_SITES),
        allow_categories: strings(&["educational"]),
        block_circumvention: Some(false),
        safesearch: SafeSearchConfig::all(SafeSearchMode::Off),
        ..group(role)
    }
}

fn config() -> PolicyConfig {
    let mut garden = allowing(Role::Pupil);
    garden.walled_garden = true;
    let scheduled = GroupConfig {
        schedule: vec![ScheduleConfig {
            days: strings(&["all"]),
            from: "00:00".into(),
            to: "24:00".into(),
            allow_sites: strings(ALLOWED_SITES),
            allow_categories: strings(&["educational"]),
            ..Default::default()
        }],
        block_circumvention: Some(false),
        ..group(Role::Pupil)
    };
    let mut c = policy(
        "pupils",
        vec![
            ("pupils", allowing(Role::Pupil)),
            ("staff", allowing(Role::Staff)),
            ("guests", allowing(Role::Guest)),
            ("garden", garden),
            ("scheduled", scheduled),
            ("plain", group(Role::Pupil)),
        ],
    );
    let from = (now() - 1.hour()).to_string();
    let until = (now() + 1.hour()).to_string();
    for site in ALLOWED_SITES {
        let allow = |group: Option<&str>, user: Option<&str>, timed: bool| OverrideConfig {
            site: site.to_string(),
            action: OverrideAction::Allow,
            group: group.map(str::to_string),
            user: user.map(str::to_string),
            from: timed.then(|| from.clone()),
            until: timed.then(|| until.clone()),
            reason: "an attempt to allow the illegal tier".into(),
            requested_by: Some("someone".into()),
        };
        c.overrides.push(allow(None, None, false));
        c.overrides.push(allow(None, None, true));
        for g in ["pupils", "staff", "guests", "garden", "scheduled", "plain"] {
            c.overrides.push(allow(Some(g), None, false));
        }
        c.overrides.push(allow(None, Some("alice"), true));
        c.overrides.push(allow(Some("staff"), Some("alice"), false));
    }
    c
}

fn check_blocked(s: &Snapshot, group: &str, user: Option<&str>, url: &str, entry: &str) {
    let v = decide_at(s, group, user, url, now());
    assert_eq!(
        (v.action, v.rule, v.entry.as_deref()),
        (Action::Block, Rule::Illegal, Some(entry)),
        "{url} for {group}/{user:?}: {v:?}"
    );
    let expected = if entry.starts_with("regex:") {
        "ctiru"
    } else {
        "iwf"
    };
    assert_eq!(deciding(s, &v), [expected], "{url}");
    assert_eq!(categories(s, &v), [expected], "{url}");
    assert_eq!(v.safesearch, None);
}

#[test]
fn the_setup_really_allows_these_sites_off_the_tier() {
    // Without the illegal tier the same policy lets every case through, so
    // the blocks below come from the tier and nothing else.
    let (normal, _) = lists();
    let s = build(&config(), &normal, &empty());
    for (_, urls) in CASES {
        for url in *urls {
            for g in ["pupils", "staff", "guests", "garden", "scheduled", "plain"] {
                let v = decide_at(&s, g, Some("alice"), url, now());
                assert_eq!(v.action, Action::Allow, "{url} for {g}: {v:?}");
            }
        }
    }
}

#[test]
fn nothing_allows_the_illegal_tier() {
    let (normal, illegal) = lists();
    let s = build(&config(), &normal, &illegal);
    for (entry, urls) in CASES {
        for url in *urls {
            for g in ["pupils", "staff", "guests", "garden", "scheduled", "plain"] {
                for user in [None, Some("alice"), Some("bob")] {
                    check_blocked(&s, g, user, url, entry);
                }
            }
        }
    }
}

#[test]
fn nothing_allows_it_at_any_time() {
    let (normal, illegal) = lists();
    let s = build(&config(), &normal, &illegal);
    let t = target("https://www.abuse.example/");
    for at in [
        utc("2025-01-01T00:00:00Z"),
        utc("2025-06-04T09:00:00Z"),
        now(),
        utc("2025-06-07T23:59:59Z"),
        utc("2030-12-25T12:00:00Z"),
    ] {
        for g in ["pupils", "staff", "scheduled", "garden"] {
            let v = Snapshot::decide(
                &s,
                &Identity {
                    group: Some(g),
                    user: Some("alice"),
                },
                &t,
                at,
            );
            assert_eq!((v.action, v.rule), (Action::Block, Rule::Illegal), "{at}");
        }
    }
}

#[test]
fn a_dns_query_has_no_path_so_url_entries_wait_for_the_proxy() {
    let (normal, illegal) = lists();
    let s = build(&config(), &normal, &illegal);
    // The host of a URL-prefix entry is not itself blocked...
    let v = decide(&s, "plain", "host.example");
    assert_ne!(v.rule, Rule::Illegal);
    let v = decide(&s, "plain", "http://host.example/good/path");
    assert_ne!(v.rule, Rule::Illegal);
    // ...but a domain entry is, by name alone.
    let v = s.decide(
        &Identity::default(),
        &Target::host("www.abuse.example").unwrap(),
        now(),
    );
    assert_eq!(v.rule, Rule::Illegal);
}

#[test]
fn illegal_entries_do_not_cover_look_alikes() {
    let (normal, illegal) = lists();
    let s = build(&config(), &normal, &illegal);
    for url in [
        "notabuse.example",
        "abuse.example.evil.org",
        "abuse-example.org",
        "http://abuse.examples/",
        "http://192.0.2.70/",
        "http://192.0.2.8/",
        "http://192.0.2.8/other",
        "http://[2001:db8::70]/abuse",
        "http://www.terror.example/",
        "http://terror.example.org/",
    ] {
        let v = decide(&s, "plain", url);
        assert_ne!(v.rule, Rule::Illegal, "{url}: {v:?}");
    }
}

#[test]
fn ipv4_mapped_ipv6_reaches_the_same_address() {
    // `[::ffff:192.0.2.7]` is the IPv4 address 192.0.2.7 to any dual-stack
    // socket: an illegal-tier IP entry must cover it.
    let (normal, illegal) = lists();
    let s = build(&config(), &normal, &illegal);
    for url in [
        "http://[::ffff:192.0.2.7]/",
        "http://[::FFFF:c000:207]/x",
        "http://[0:0:0:0:0:ffff:192.0.2.7]:8080/",
    ] {
        check_blocked(&s, "pupils", Some("alice"), url, "192.0.2.7");
    }
    check_blocked(
        &s,
        "pupils",
        None,
        "http://[::ffff:192.0.2.8]/abuse",
        "192.0.2.8/abuse",
    );
}

#[test]
fn allowing_an_illegal_category_is_an_error() {
    let (normal, illegal) = lists();
    let mut c = config();
    c.groups.get_mut("staff").unwrap().allow_categories = strings(&["educational", "iwf"]);
    assert_eq!(
        Snapshot::build(&c, normal.clone(), illegal.clone()).err(),
        Some(PolicyError::IllegalAllowed {
            place: "groups.staff".into(),
            category: "iwf".into()
        })
    );

    let mut c = config();
    c.groups
        .get_mut("scheduled")
        .unwrap()
        .schedule
        .push(ScheduleConfig {
            days: strings(&["sat"]),
            from: "10:00".into(),
            to: "11:00".into(),
            allow_categories: strings(&["ctiru"]),
            ..Default::default()
        });
    let err = Snapshot::build(&c, normal.clone(), illegal.clone()).err();
    assert_eq!(
        err,
        Some(PolicyError::IllegalAllowed {
            place: "groups.scheduled.schedule[1]".into(),
            category: "ctiru".into()
        })
    );
    let message = err.unwrap().to_string();
    assert!(message.contains("ctiru") && message.contains("nothing can allow it"));

    // Even when the normal lists have a category of the same name.
    let shadow = index(&[("iwf", &["harmless.example"])]);
    let mut c = config();
    c.groups.get_mut("plain").unwrap().allow_categories = strings(&["iwf"]);
    assert!(matches!(
        Snapshot::build(&c, shadow, illegal.clone()),
        Err(PolicyError::IllegalAllowed { .. })
    ));

    // Blocking an illegal-tier category by name is harmless.
    let mut c = config();
    c.groups.get_mut("plain").unwrap().block_categories = strings(&["iwf"]);
    c.groups.get_mut("plain").unwrap().schedule = vec![ScheduleConfig {
        block_categories: strings(&["ctiru"]),
        from: "00:00".into(),
        to: "24:00".into(),
        ..Default::default()
    }];
    assert!(Snapshot::build(&c, normal, illegal).is_ok());
}

#[test]
fn the_illegal_tier_uses_its_own_category_names() {
    // Category ids of the two registries overlap; names must come from the
    // tier's registry for an illegal verdict.
    let normal = index(&[("games", &["games.example"]), ("chat", &["chat.example"])]);
    let illegal = index(&[("iwf", &["abuse.example"]), ("ctiru", &["terror.example"])]);
    let s = build(
        &policy("plain", vec![("plain", group(Role::Pupil))]),
        &normal,
        &illegal,
    );
    let v = decide(&s, "plain", "terror.example");
    assert_eq!(v.rule, Rule::Illegal);
    assert_eq!(deciding(&s, &v), ["ctiru"]);
    let reason = s.reason(&v);
    assert!(
        reason.contains("ctiru") && !reason.contains("chat"),
        "{reason}"
    );
    let v = decide(&s, "plain", "chat.example");
    assert_eq!(categories(&s, &v), ["chat"]);
}
