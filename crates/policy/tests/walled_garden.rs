//! Walled gardens: only `allow_sites` and `allow_categories` pass.

mod common;

use common::*;
use tutela_policy::config::{GroupConfig, Role, SafeSearchConfig, SafeSearchMode, ScheduleConfig};
use tutela_policy::{Action, Rule, Snapshot};

fn snap() -> Snapshot {
    let index = index(&[
        ("educational", &["edu.example", "regex:^[^/]*/learn/"]),
        ("adult", &["adult.example"]),
        ("games", &["games.example"]),
        ("doh", &["dns.example"]),
        ("search", &["google.com"]),
    ]);
    let infants = GroupConfig {
        walled_garden: true,
        allow_sites: strings(&["school.example", "cbeebies.example/games", "192.0.2.10"]),
        allow_categories: strings(&["educational"]),
        block_circumvention: Some(false),
        safesearch: SafeSearchConfig::all(SafeSearchMode::Strict),
        ..group(Role::Pupil)
    };
    let exams = GroupConfig {
        walled_garden: true,
        allow_sites: strings(&["exam.example"]),
        schedule: vec![ScheduleConfig {
            days: strings(&["weekdays"]),
            from: "12:00".into(),
            to: "13:00".into(),
            allow_sites: strings(&["lunch.example"]),
            allow_categories: strings(&["games"]),
            ..Default::default()
        }],
        ..group(Role::Pupil)
    };
    let search = GroupConfig {
        walled_garden: true,
        allow_sites: strings(&["google.com"]),
        safesearch: SafeSearchConfig::all(SafeSearchMode::Strict),
        ..group(Role::Pupil)
    };
    let config = policy(
        "infants",
        vec![("infants", infants), ("exams", exams), ("search", search)],
    );
    build(&config, &index, &empty())
}

#[test]
fn listed_sites_and_categories_pass() {
    let s = snap();
    for (url, rule, entry) in [
        ("school.example", Rule::GroupAllowSite, "school.example"),
        (
            "https://www.school.example/timetable",
            Rule::GroupAllowSite,
            "school.example",
        ),
        (
            "http://cbeebies.example/games/puzzle",
            Rule::GroupAllowSite,
            "cbeebies.example/games",
        ),
        ("http://192.0.2.10/", Rule::GroupAllowSite, "192.0.2.10"),
        ("http://3221225994/", Rule::GroupAllowSite, "192.0.2.10"),
        ("edu.example", Rule::GroupAllowCategory, "edu.example"),
        (
            "https://a.b.edu.example/x",
            Rule::GroupAllowCategory,
            "edu.example",
        ),
        (
            "https://anything.example/learn/maths",
            Rule::GroupAllowCategory,
            "regex:^[^/]*/learn/",
        ),
    ] {
        let v = decide(&s, "infants", url);
        expect(&v, Action::Allow, rule, Some(entry));
    }
}

#[test]
fn everything_else_is_walled_off() {
    let s = snap();
    for url in [
        "unknown.example",
        "https://unknown.example/",
        "http://cbeebies.example/",
        "cbeebies.example",
        "http://cbeebies.example/game",
        "https://notschool.example/",
        "https://school.example.evil.org/",
        "adult.example",
        "games.example",
        "dns.example",
        "http://192.0.2.11/",
        "http://[2001:db8::1]/",
        "https://google.com/search?q=x",
        "https://anything.example/learning",
    ] {
        let v = decide(&s, "infants", url);
        expect(&v, Action::Block, Rule::WalledGarden, None);
        assert!(v.deciding.is_empty(), "{url}");
        assert_eq!(v.safesearch, None, "{url}");
        let reason = s.reason(&v);
        assert!(reason.contains("infants") && reason.contains("only listed sites"));
    }
}

#[test]
fn canaries_still_win_in_a_walled_garden() {
    let s = snap();
    let v = decide(&s, "infants", "mask.icloud.com");
    expect(
        &v,
        Action::Block,
        Rule::Circumvention,
        Some("mask.icloud.com"),
    );
}

#[test]
fn a_window_opens_the_garden_for_its_time_only() {
    let s = snap();
    use jiff::civil::Weekday::*;
    let lunch = london("2025-06-04T12:30", Wednesday);
    let before = london("2025-06-04T11:59", Wednesday);
    let saturday = london("2025-06-07T12:30", Saturday);
    let v = decide_at(&s, "exams", None, "lunch.example", lunch);
    expect(
        &v,
        Action::Allow,
        Rule::GroupAllowSite,
        Some("lunch.example"),
    );
    let v = decide_at(&s, "exams", None, "games.example", lunch);
    expect(
        &v,
        Action::Allow,
        Rule::GroupAllowCategory,
        Some("games.example"),
    );
    for at in [before, saturday] {
        for url in ["lunch.example", "games.example"] {
            let v = decide_at(&s, "exams", None, url, at);
            expect(&v, Action::Block, Rule::WalledGarden, None);
        }
        let v = decide_at(&s, "exams", None, "exam.example", at);
        expect(
            &v,
            Action::Allow,
            Rule::GroupAllowSite,
            Some("exam.example"),
        );
    }
}

#[test]
fn an_allowed_engine_in_a_garden_is_still_safe() {
    let s = snap();
    let v = decide(&s, "search", "https://www.google.com/search?q=x");
    assert_eq!(
        (v.action, v.rule, v.entry.as_deref()),
        (Action::SafeSearch, Rule::GroupAllowSite, Some("google.com"))
    );
    assert_eq!(
        v.safesearch.map(|s| s.safe_host),
        Some("forcesafesearch.google.com")
    );
    let v = decide(&s, "search", "https://www.google.co.uk/");
    expect(&v, Action::Block, Rule::WalledGarden, None);
}
