//! Overrides: reach (user > group > everyone), block beats allow at the
//! same reach, and time windows (`from` inclusive, `until` exclusive).

mod common;

use std::sync::Arc;

use common::*;
use tutela_lists::Index;
use tutela_policy::config::{OverrideAction, OverrideConfig, PolicyConfig, Role};
use tutela_policy::{Action, PolicyError, Rule, Snapshot};

fn lists() -> Arc<Index> {
    index(&[
        ("adult", &["adult.example"]),
        ("video", &["video.example"]),
        ("search", &["google.com"]),
    ])
}

fn ov(site: &str, action: OverrideAction) -> OverrideConfig {
    OverrideConfig {
        site: site.into(),
        action,
        group: None,
        user: None,
        from: None,
        until: None,
        reason: String::new(),
        requested_by: None,
    }
}

fn for_group(mut o: OverrideConfig, g: &str) -> OverrideConfig {
    o.group = Some(g.into());
    o
}

fn for_user(mut o: OverrideConfig, u: &str) -> OverrideConfig {
    o.user = Some(u.into());
    o
}

fn between(mut o: OverrideConfig, from: Option<&str>, until: Option<&str>) -> OverrideConfig {
    o.from = from.map(str::to_string);
    o.until = until.map(str::to_string);
    o
}

use OverrideAction::{Allow, Block};

fn config(overrides: Vec<OverrideConfig>) -> PolicyConfig {
    let mut pupils = group(Role::Pupil);
    pupils.block_categories = strings(&["adult", "video"]);
    let mut staff = group(Role::Staff);
    staff.block_categories = strings(&["adult"]);
    let mut c = policy("pupils", vec![("pupils", pupils), ("staff", staff)]);
    c.overrides = overrides;
    c
}

fn snap(overrides: Vec<OverrideConfig>) -> Snapshot {
    build(&config(overrides), &lists(), &empty())
}

#[test]
fn from_is_inclusive_and_until_exclusive() {
    let s = snap(vec![between(
        ov("video.example", Allow),
        Some("2025-03-10T09:00:00Z"),
        Some("2025-03-10T10:00:00Z"),
    )]);
    let at = |t: &str| decide_at(&s, "pupils", None, "https://video.example/", utc(t));
    for t in [
        "2025-03-10T08:59:59.999Z",
        "2025-03-10T10:00:00Z",
        "2025-03-10T10:00:00.000000001Z",
        "2025-03-11T09:30:00Z",
        "2025-03-09T09:30:00Z",
    ] {
        let v = at(t);
        expect(
            &v,
            Action::Block,
            Rule::GroupBlockCategory,
            Some("video.example"),
        );
    }
    for t in [
        "2025-03-10T09:00:00Z",
        "2025-03-10T09:30:00Z",
        "2025-03-10T09:59:59.999999999Z",
    ] {
        let v = at(t);
        expect(&v, Action::Allow, Rule::Override(0), Some("video.example"));
        assert_eq!(deciding(&s, &v), Vec::<String>::new());
        assert_eq!(categories(&s, &v), ["video"]);
    }
}

#[test]
fn offsets_in_timestamps_are_honoured() {
    // 10:00+01:00 is 09:00Z.
    let s = snap(vec![between(
        ov("video.example", Allow),
        Some("2025-06-04T10:00:00+01:00"),
        Some("2025-06-04T11:00:00+01:00"),
    )]);
    let v = decide_at(
        &s,
        "pupils",
        None,
        "video.example",
        utc("2025-06-04T09:00:00Z"),
    );
    assert_eq!(v.rule, Rule::Override(0));
    let v = decide_at(
        &s,
        "pupils",
        None,
        "video.example",
        utc("2025-06-04T10:00:00Z"),
    );
    assert_eq!(v.rule, Rule::GroupBlockCategory);
}

#[test]
fn open_ended_windows() {
    let s = snap(vec![between(
        ov("video.example", Allow),
        Some("2025-06-01T00:00:00Z"),
        None,
    )]);
    let v = decide_at(
        &s,
        "pupils",
        None,
        "video.example",
        utc("2025-05-31T23:59:59Z"),
    );
    assert_eq!(v.rule, Rule::GroupBlockCategory);
    let v = decide_at(
        &s,
        "pupils",
        None,
        "video.example",
        utc("2099-01-01T00:00:00Z"),
    );
    assert_eq!(v.rule, Rule::Override(0));

    let s = snap(vec![between(
        ov("video.example", Block),
        None,
        Some("2025-06-01T00:00:00Z"),
    )]);
    let v = decide_at(
        &s,
        "staff",
        None,
        "video.example",
        utc("2000-01-01T00:00:00Z"),
    );
    expect(&v, Action::Block, Rule::Override(0), Some("video.example"));
    let v = decide_at(
        &s,
        "staff",
        None,
        "video.example",
        utc("2025-06-01T00:00:00Z"),
    );
    expect(&v, Action::Allow, Rule::Default, None);
}

#[test]
fn an_override_reverts_after_until() {
    let s = snap(vec![between(
        for_user(ov("adult.example", Allow), "researcher"),
        Some("2025-06-04T09:00:00Z"),
        Some("2025-06-04T12:00:00Z"),
    )]);
    let who = Some("researcher");
    let v = decide_at(
        &s,
        "staff",
        who,
        "http://adult.example/",
        utc("2025-06-04T11:59:59Z"),
    );
    expect(&v, Action::Allow, Rule::Override(0), Some("adult.example"));
    assert!(s.reason(&v).contains("override"));
    let v = decide_at(
        &s,
        "staff",
        who,
        "http://adult.example/",
        utc("2025-06-04T12:00:00Z"),
    );
    expect(
        &v,
        Action::Block,
        Rule::GroupBlockCategory,
        Some("adult.example"),
    );
}

#[test]
fn user_beats_group_beats_everyone() {
    // Each more specific override says the opposite of the one before it,
    // so neither "block wins" nor "first wins" would pass.
    let s = snap(vec![
        ov("video.example", Block),
        for_group(ov("video.example", Allow), "pupils"),
        for_user(ov("video.example", Block), "alice"),
    ]);
    let url = "https://www.video.example/watch";
    let v = decide_at(&s, "pupils", Some("alice"), url, now());
    expect(&v, Action::Block, Rule::Override(2), Some("video.example"));
    let v = decide_at(&s, "pupils", Some("bob"), url, now());
    expect(&v, Action::Allow, Rule::Override(1), Some("video.example"));
    let v = decide_at(&s, "pupils", None, url, now());
    expect(&v, Action::Allow, Rule::Override(1), Some("video.example"));
    let v = decide_at(&s, "staff", Some("carol"), url, now());
    expect(&v, Action::Block, Rule::Override(0), Some("video.example"));

    // The other way round, and in the other order.
    let s = snap(vec![
        for_user(ov("video.example", Allow), "alice"),
        for_group(ov("video.example", Block), "staff"),
        ov("video.example", Allow),
    ]);
    let v = decide_at(&s, "staff", Some("alice"), url, now());
    expect(&v, Action::Allow, Rule::Override(0), Some("video.example"));
    let v = decide_at(&s, "staff", Some("dave"), url, now());
    expect(&v, Action::Block, Rule::Override(1), Some("video.example"));
    let v = decide_at(&s, "pupils", Some("dave"), url, now());
    expect(&v, Action::Allow, Rule::Override(2), Some("video.example"));
}

#[test]
fn block_beats_allow_at_the_same_reach() {
    for (a, b) in [(Allow, Block), (Block, Allow)] {
        let block_ix = if a == Block { 0 } else { 1 };
        let s = snap(vec![ov("video.example", a), ov("video.example", b)]);
        let v = decide(&s, "staff", "video.example");
        expect(
            &v,
            Action::Block,
            Rule::Override(block_ix),
            Some("video.example"),
        );

        let s = snap(vec![
            for_group(ov("video.example", a), "staff"),
            for_group(ov("video.example", b), "staff"),
        ]);
        let v = decide(&s, "staff", "video.example");
        expect(
            &v,
            Action::Block,
            Rule::Override(block_ix),
            Some("video.example"),
        );

        let s = snap(vec![
            for_user(ov("video.example", a), "alice"),
            for_user(ov("video.example", b), "alice"),
        ]);
        let v = decide_at(&s, "staff", Some("alice"), "video.example", now());
        expect(
            &v,
            Action::Block,
            Rule::Override(block_ix),
            Some("video.example"),
        );
    }
}

#[test]
fn a_narrower_allow_beats_a_wider_block() {
    // A whole-domain block for everyone, and an allow of one path for a
    // user: reach is about who, not about how much of the site.
    let s = snap(vec![
        ov("video.example", Block),
        for_user(ov("video.example/lesson", Allow), "alice"),
    ]);
    let v = decide_at(
        &s,
        "staff",
        Some("alice"),
        "https://video.example/lesson/1",
        now(),
    );
    expect(
        &v,
        Action::Allow,
        Rule::Override(1),
        Some("video.example/lesson"),
    );
    let v = decide_at(
        &s,
        "staff",
        Some("alice"),
        "https://video.example/other",
        now(),
    );
    expect(&v, Action::Block, Rule::Override(0), Some("video.example"));
    // A DNS query has no path: only the domain override can apply.
    let v = decide_at(&s, "staff", Some("alice"), "video.example", now());
    expect(&v, Action::Block, Rule::Override(0), Some("video.example"));
}

#[test]
fn overrides_for_someone_else_do_not_apply() {
    let s = snap(vec![
        for_user(ov("video.example", Allow), "alice"),
        for_group(ov("video.example", Allow), "staff"),
        for_user(ov("adult.example", Allow), "Alice"),
    ]);
    for user in [None, Some("bob"), Some("alice2"), Some("")] {
        let v = decide_at(&s, "pupils", user, "https://video.example/", now());
        expect(
            &v,
            Action::Block,
            Rule::GroupBlockCategory,
            Some("video.example"),
        );
    }
    let v = decide_at(&s, "pupils", Some("alice"), "https://video.example/", now());
    assert_eq!(v.rule, Rule::Override(0));
    // User names are compared exactly.
    let v = decide_at(&s, "pupils", Some("alice"), "https://adult.example/", now());
    assert_eq!(v.rule, Rule::GroupBlockCategory);
    let v = decide_at(&s, "pupils", Some("Alice"), "https://adult.example/", now());
    assert_eq!(v.rule, Rule::Override(2));
}

#[test]
fn overrides_cover_subdomains_and_paths_only_as_written() {
    let s = snap(vec![
        ov("video.example/lesson", Allow),
        ov("adult.example", Allow),
    ]);
    let v = decide(&s, "pupils", "https://cdn.www.adult.example/x");
    expect(&v, Action::Allow, Rule::Override(1), Some("adult.example"));
    let v = decide(&s, "pupils", "https://m.video.example/LESSON/2?x=1");
    expect(
        &v,
        Action::Allow,
        Rule::Override(0),
        Some("video.example/lesson"),
    );
    for url in [
        "https://video.example/",
        "https://video.example/other/lesson",
        "video.example",
    ] {
        let v = decide(&s, "pupils", url);
        assert_eq!(v.rule, Rule::GroupBlockCategory, "{url}");
    }
    let v = decide(&s, "pupils", "https://notadult.example/");
    expect(&v, Action::Allow, Rule::Default, None);
    let v = decide(&s, "staff", "https://adult.example.evil.org/");
    expect(&v, Action::Allow, Rule::Default, None);
}

#[test]
fn an_allow_override_still_enforces_safe_search() {
    let mut c = config(vec![ov("google.com", Allow)]);
    c.groups.get_mut("pupils").unwrap().safesearch =
        tutela_policy::config::SafeSearchConfig::all(tutela_policy::config::SafeSearchMode::Strict);
    let s = build(&c, &lists(), &empty());
    let v = decide(&s, "pupils", "https://www.google.com/search?q=x");
    assert_eq!(v.rule, Rule::Override(0));
    assert_eq!(v.action, Action::SafeSearch);
    assert_eq!(
        v.safesearch.map(|s| s.safe_host),
        Some("forcesafesearch.google.com")
    );
}

#[test]
fn bad_override_sites_and_times_are_errors() {
    let mut o = ov("bad site", Allow);
    let err = Snapshot::build(&config(vec![o.clone()]), lists(), empty()).err();
    assert!(
        matches!(&err, Some(PolicyError::Site { place, site, .. }) if place == "overrides[0]" && site == "bad site"),
        "{err:?}"
    );
    o.site = "video.example".into();
    o.from = Some("2025-13-01T00:00:00Z".into());
    let err = Snapshot::build(&config(vec![ov("x.example", Block), o]), lists(), empty()).err();
    assert!(
        matches!(&err, Some(PolicyError::Timestamp { place, .. }) if place == "overrides[1]"),
        "{err:?}"
    );
}
