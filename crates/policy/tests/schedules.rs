//! Weekly schedule windows, read in Europe/London: boundaries, weekends,
//! BST and GMT, and windows past midnight.

mod common;

use std::sync::Arc;

use common::*;
use jiff::civil::Weekday::{self, *};
use jiff::Timestamp;
use tutela_lists::Index;
use tutela_policy::config::{GroupConfig, PolicyConfig, Role, ScheduleConfig};
use tutela_policy::{Action, Rule, Snapshot};

fn lists() -> Arc<Index> {
    index(&[
        ("social_networks", &["social.example"]),
        ("games", &["games.example"]),
    ])
}

fn window(days: &[&str], from: &str, to: &str) -> ScheduleConfig {
    ScheduleConfig {
        days: strings(days),
        from: from.into(),
        to: to.into(),
        ..Default::default()
    }
}

fn config() -> PolicyConfig {
    let sixth_form = GroupConfig {
        block_categories: strings(&["social_networks"]),
        schedule: vec![ScheduleConfig {
            allow_categories: strings(&["social_networks"]),
            ..window(&["weekdays"], "12:00", "13:30")
        }],
        ..group(Role::Pupil)
    };
    let boarders = GroupConfig {
        block_categories: strings(&["games"]),
        block_sites: strings(&["chess.example"]),
        schedule: vec![
            ScheduleConfig {
                allow_categories: strings(&["games"]),
                ..window(&["fri"], "22:00", "06:00")
            },
            ScheduleConfig {
                allow_sites: strings(&["chess.example"]),
                ..window(&["sun"], "23:00", "01:00")
            },
        ],
        ..group(Role::Pupil)
    };
    let juniors = GroupConfig {
        allow_categories: strings(&["games"]),
        schedule: vec![ScheduleConfig {
            block_categories: strings(&["games"]),
            block_sites: strings(&["video.example"]),
            ..window(&["weekdays"], "09:00", "15:00")
        }],
        ..group(Role::Pupil)
    };
    let weekend_nights = GroupConfig {
        block_categories: strings(&["games"]),
        schedule: vec![ScheduleConfig {
            allow_categories: strings(&["games"]),
            ..window(&["Saturday"], "22:00", "06:00")
        }],
        ..group(Role::Pupil)
    };
    let evenings = GroupConfig {
        block_categories: strings(&["social_networks"]),
        schedule: vec![ScheduleConfig {
            allow_categories: strings(&["social_networks"]),
            ..window(&[], "18:00", "24:00")
        }],
        ..group(Role::Pupil)
    };
    let weekends = GroupConfig {
        block_categories: strings(&["games"]),
        schedule: vec![ScheduleConfig {
            allow_categories: strings(&["games"]),
            ..window(&["SAT", "sunday"], "00:00", "24:00")
        }],
        ..group(Role::Pupil)
    };
    policy(
        "sixth-form",
        vec![
            ("sixth-form", sixth_form),
            ("boarders", boarders),
            ("juniors", juniors),
            ("weekend-nights", weekend_nights),
            ("evenings", evenings),
            ("weekends", weekends),
        ],
    )
}

fn snap() -> Snapshot {
    build(&config(), &lists(), &empty())
}

fn social(s: &Snapshot, at: Timestamp) -> Action {
    let v = decide_at(s, "sixth-form", None, "https://www.social.example/", at);
    match v.action {
        Action::Allow => {
            assert_eq!(v.rule, Rule::GroupAllowCategory);
            assert_eq!(deciding(s, &v), ["social_networks"]);
        }
        Action::Block => {
            assert_eq!(v.rule, Rule::GroupBlockCategory);
            assert_eq!(deciding(s, &v), ["social_networks"]);
        }
        Action::SafeSearch => panic!("{v:?}"),
    }
    v.action
}

fn check(s: &Snapshot, group: &str, url: &str, cases: &[(&str, Weekday, Action)]) {
    for (local, day, action) in cases {
        let v = decide_at(s, group, None, url, london(local, *day));
        assert_eq!(v.action, *action, "{group} {url} at {local} London: {v:?}");
    }
}

use Action::{Allow, Block};

#[test]
fn lunchtime_window_boundaries_in_summer() {
    let s = snap();
    for (local, day, expected) in [
        ("2025-06-02T11:59:59", Monday, Block),
        ("2025-06-02T12:00", Monday, Allow),
        ("2025-06-02T12:45", Monday, Allow),
        ("2025-06-02T13:29:59.999", Monday, Allow),
        ("2025-06-02T13:30", Monday, Block),
        ("2025-06-02T00:00", Monday, Block),
        ("2025-06-06T12:30", Friday, Allow),
        ("2025-06-07T12:30", Saturday, Block),
        ("2025-06-08T12:00", Sunday, Block),
        ("2025-06-08T13:00", Sunday, Block),
    ] {
        assert_eq!(social(&s, london(local, day)), expected, "{local}");
    }
}

#[test]
fn lunchtime_window_boundaries_in_winter() {
    let s = snap();
    for (local, day, expected) in [
        ("2025-01-13T11:59:59", Monday, Block),
        ("2025-01-13T12:00", Monday, Allow),
        ("2025-01-13T13:29:59", Monday, Allow),
        ("2025-01-13T13:30", Monday, Block),
        ("2025-01-17T12:30", Friday, Allow),
        ("2025-01-18T12:30", Saturday, Block),
        ("2025-01-19T12:30", Sunday, Block),
    ] {
        assert_eq!(social(&s, london(local, day)), expected, "{local}");
    }
}

#[test]
fn bst_and_gmt_at_the_same_utc_instant() {
    let s = snap();
    // 11:30Z is 12:30 BST (in the window) in June but 11:30 GMT in January.
    assert_eq!(social(&s, utc("2025-06-02T11:30:00Z")), Allow);
    assert_eq!(social(&s, utc("2025-01-13T11:30:00Z")), Block);
    // 12:45Z is 13:45 BST (after it) in June but 12:45 GMT in January.
    assert_eq!(social(&s, utc("2025-06-02T12:45:00Z")), Block);
    assert_eq!(social(&s, utc("2025-01-13T12:45:00Z")), Allow);
    // The window's edges in UTC move by the hour with the clocks.
    assert_eq!(social(&s, utc("2025-06-02T10:59:59Z")), Block);
    assert_eq!(social(&s, utc("2025-06-02T11:00:00Z")), Allow);
    assert_eq!(social(&s, utc("2025-06-02T12:29:59Z")), Allow);
    assert_eq!(social(&s, utc("2025-06-02T12:30:00Z")), Block);
    assert_eq!(social(&s, utc("2025-01-13T11:59:59Z")), Block);
    assert_eq!(social(&s, utc("2025-01-13T12:00:00Z")), Allow);
    assert_eq!(social(&s, utc("2025-01-13T13:29:59Z")), Allow);
    assert_eq!(social(&s, utc("2025-01-13T13:30:00Z")), Block);
}

#[test]
fn the_configured_time_zone_is_the_one_used() {
    let mut c = config();
    c.timezone = "America/New_York".into();
    let ny = build(&c, &lists(), &empty());
    let london = snap();
    // 16:30Z on a Monday in June: 12:30 in New York, 17:30 in London.
    let at = utc("2025-06-02T16:30:00Z");
    assert_eq!(social(&ny, at), Allow);
    assert_eq!(social(&london, at), Block);
}

#[test]
fn a_window_past_midnight_belongs_to_the_day_it_starts() {
    let s = snap();
    check(
        &s,
        "boarders",
        "http://games.example/",
        &[
            ("2025-06-05T23:00", Thursday, Block),
            ("2025-06-06T05:00", Friday, Block), // Thursday night: not listed
            ("2025-06-06T21:59:59", Friday, Block),
            ("2025-06-06T22:00", Friday, Allow),
            ("2025-06-06T23:59:59", Friday, Allow),
            ("2025-06-07T00:00", Saturday, Allow), // still Friday night
            ("2025-06-07T03:00", Saturday, Allow),
            ("2025-06-07T05:59:59", Saturday, Allow),
            ("2025-06-07T06:00", Saturday, Block),
            ("2025-06-07T12:00", Saturday, Block),
            ("2025-06-07T22:30", Saturday, Block), // Saturday night: not listed
            ("2025-06-08T02:00", Sunday, Block),
            // And in winter.
            ("2025-01-10T22:00", Friday, Allow),
            ("2025-01-11T05:00", Saturday, Allow),
            ("2025-01-11T06:00", Saturday, Block),
            ("2025-01-10T21:00", Friday, Block),
        ],
    );
    // Same UTC instants, six months apart.
    let games = |t: &str| decide_at(&s, "boarders", None, "games.example", utc(t)).action;
    assert_eq!(games("2025-06-06T21:30:00Z"), Allow); // 22:30 BST Friday
    assert_eq!(games("2025-01-10T21:30:00Z"), Block); // 21:30 GMT Friday
    assert_eq!(games("2025-06-07T05:30:00Z"), Block); // 06:30 BST Saturday
    assert_eq!(games("2025-01-11T05:30:00Z"), Allow); // 05:30 GMT Saturday
}

#[test]
fn sunday_night_runs_into_monday() {
    let s = snap();
    let v = decide_at(
        &s,
        "boarders",
        None,
        "chess.example",
        london("2025-06-08T23:30", Sunday),
    );
    expect(&v, Allow, Rule::GroupAllowSite, Some("chess.example"));
    let v = decide_at(
        &s,
        "boarders",
        None,
        "chess.example",
        london("2025-06-09T00:30", Monday),
    );
    expect(&v, Allow, Rule::GroupAllowSite, Some("chess.example"));
    check(
        &s,
        "boarders",
        "https://www.chess.example/play",
        &[
            ("2025-06-08T22:59", Sunday, Block),
            ("2025-06-09T00:59:59", Monday, Allow),
            ("2025-06-09T01:00", Monday, Block),
            ("2025-06-07T23:30", Saturday, Block),
            ("2025-06-09T23:30", Monday, Block),
            ("2025-06-10T00:30", Tuesday, Block),
        ],
    );
    let v = decide_at(
        &s,
        "boarders",
        None,
        "chess.example",
        london("2025-06-09T01:00", Monday),
    );
    expect(&v, Block, Rule::GroupBlockSite, Some("chess.example"));
}

#[test]
fn a_window_across_the_clock_changes() {
    let s = snap();
    let games = |t: &str| decide_at(&s, "weekend-nights", None, "games.example", utc(t)).action;
    // Clocks go forward at 01:00Z on Sunday 30 March 2025.
    assert_eq!(games("2025-03-29T21:59:59Z"), Block); // 21:59 GMT Sat
    assert_eq!(games("2025-03-29T22:00:00Z"), Allow); // 22:00 GMT Sat
    assert_eq!(games("2025-03-30T00:30:00Z"), Allow); // 00:30 GMT Sun
    assert_eq!(games("2025-03-30T01:30:00Z"), Allow); // 02:30 BST Sun
    assert_eq!(games("2025-03-30T04:59:59Z"), Allow); // 05:59 BST Sun
    assert_eq!(games("2025-03-30T05:00:00Z"), Block); // 06:00 BST Sun
                                                      // Clocks go back at 01:00Z on Sunday 26 October 2025.
    assert_eq!(games("2025-10-25T20:59:59Z"), Block); // 21:59 BST Sat
    assert_eq!(games("2025-10-25T21:00:00Z"), Allow); // 22:00 BST Sat
    assert_eq!(games("2025-10-26T00:30:00Z"), Allow); // 01:30 BST Sun
    assert_eq!(games("2025-10-26T01:30:00Z"), Allow); // 01:30 GMT Sun
    assert_eq!(games("2025-10-26T05:59:59Z"), Allow); // 05:59 GMT Sun
    assert_eq!(games("2025-10-26T06:00:00Z"), Block); // 06:00 GMT Sun
}

#[test]
fn a_window_block_overrides_a_base_allow_only_during_the_window() {
    let s = snap();
    for (local, day) in [
        ("2025-06-02T09:00", Monday),
        ("2025-06-04T14:59:59", Wednesday),
        ("2025-01-17T10:00", Friday),
    ] {
        let at = london(local, day);
        let v = decide_at(&s, "juniors", None, "http://games.example/", at);
        expect(&v, Block, Rule::GroupBlockCategory, Some("games.example"));
        assert_eq!(deciding(&s, &v), ["games"]);
        let v = decide_at(&s, "juniors", None, "http://video.example/", at);
        expect(&v, Block, Rule::GroupBlockSite, Some("video.example"));
    }
    for (local, day) in [
        ("2025-06-02T08:59:59", Monday),
        ("2025-06-04T15:00", Wednesday),
        ("2025-06-07T10:00", Saturday),
        ("2025-01-19T10:00", Sunday),
    ] {
        let at = london(local, day);
        let v = decide_at(&s, "juniors", None, "http://games.example/", at);
        expect(&v, Allow, Rule::GroupAllowCategory, Some("games.example"));
        assert_eq!(deciding(&s, &v), ["games"]);
        let v = decide_at(&s, "juniors", None, "http://video.example/", at);
        expect(&v, Allow, Rule::Default, None);
    }
}

#[test]
fn a_window_to_midnight_and_all_day_windows() {
    let s = snap();
    check(
        &s,
        "evenings",
        "social.example",
        &[
            ("2025-06-02T17:59:59", Monday, Block),
            ("2025-06-02T18:00", Monday, Allow),
            ("2025-06-02T23:59:59.999", Monday, Allow),
            ("2025-06-03T00:00", Tuesday, Block),
            ("2025-06-07T20:00", Saturday, Allow),
        ],
    );
    check(
        &s,
        "weekends",
        "games.example",
        &[
            ("2025-06-06T23:59:59", Friday, Block),
            ("2025-06-07T00:00", Saturday, Allow),
            ("2025-06-08T23:59:59", Sunday, Allow),
            ("2025-06-09T00:00", Monday, Block),
        ],
    );
}

#[test]
fn an_illegal_category_in_a_window_is_refused() {
    let mut c = config();
    c.groups
        .get_mut("juniors")
        .unwrap()
        .schedule
        .push(ScheduleConfig {
            allow_categories: strings(&["iwf"]),
            ..window(&["sat"], "10:00", "11:00")
        });
    let illegal = index(&[("iwf", &["abuse.example"])]);
    assert!(matches!(
        Snapshot::build(&c, lists(), illegal),
        Err(tutela_policy::PolicyError::IllegalAllowed { place, category })
            if place == "groups.juniors.schedule[1]" && category == "iwf"
    ));
}
