//! Helpers shared by the integration tests: small indexes, policies, times
//! and decisions.

#![allow(dead_code)]

use std::sync::Arc;

use jiff::civil::{DateTime, Weekday};
use jiff::Timestamp;
use tutela_lists::{normalize_path, HostName, Index, IndexBuilder, Usage};
use tutela_policy::config::{GroupConfig, PolicyConfig, Role, SafeSearchConfig, SafeSearchMode};
use tutela_policy::{Action, Identity, Rule, Snapshot, Target, Verdict};

pub const LONDON: &str = "Europe/London";

pub fn host(s: &str) -> HostName {
    HostName::parse(s).unwrap_or_else(|e| panic!("host {s:?}: {e}"))
}

pub fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// An index from `(category, entries)`. An entry is a domain or IP, a
/// `host/path` prefix, or `regex:PATTERN`.
pub fn index(spec: &[(&str, &[&str])]) -> Arc<Index> {
    let mut b = IndexBuilder::new(16);
    for (category, entries) in spec {
        let id = b
            .categories_mut()
            .intern(category, Usage::Black)
            .expect("intern");
        for entry in entries.iter() {
            if let Some(pattern) = entry.strip_prefix("regex:") {
                b.add_expression(pattern, id).expect("expression");
            } else if let Some(slash) = entry.find('/') {
                let (h, p) = entry.split_at(slash);
                b.add_url_prefix(&host(h), &normalize_path(p), id);
            } else {
                b.add_domain(&host(entry), id).expect("add_domain");
            }
        }
    }
    Arc::new(b.finish())
}

pub fn empty() -> Arc<Index> {
    Arc::new(Index::empty())
}

/// A group with nothing listed and safe search off, whatever the defaults
/// are; tests that want safe search turn it on.
pub fn group(role: Role) -> GroupConfig {
    GroupConfig {
        description: String::new(),
        role,
        safesearch: SafeSearchConfig::all(SafeSearchMode::Off),
        ..Default::default()
    }
}

/// A policy with exactly `groups`, read in Europe/London.
pub fn policy(default_group: &str, groups: Vec<(&str, GroupConfig)>) -> PolicyConfig {
    PolicyConfig {
        timezone: LONDON.into(),
        default_group: default_group.into(),
        groups: groups
            .into_iter()
            .map(|(n, g)| (n.to_string(), g))
            .collect(),
        overrides: Vec::new(),
        identities: Vec::new(),
        devices: Vec::new(),
        accounts: Vec::new(),
    }
}

pub fn build(config: &PolicyConfig, index: &Arc<Index>, illegal: &Arc<Index>) -> Snapshot {
    Snapshot::build(config, index.clone(), illegal.clone())
        .unwrap_or_else(|e| panic!("policy does not build: {e}"))
}

pub fn utc(s: &str) -> Timestamp {
    s.parse().unwrap_or_else(|e| panic!("timestamp {s:?}: {e}"))
}

/// A local time in Europe/London (`2025-06-02T12:00`), checked to fall on
/// `weekday` so that a wrong calendar in a test cannot pass silently.
pub fn london(local: &str, weekday: Weekday) -> Timestamp {
    let dt: DateTime = local
        .parse()
        .unwrap_or_else(|e| panic!("civil time {local:?}: {e}"));
    assert_eq!(dt.weekday(), weekday, "{local} is not a {weekday:?}");
    let zoned = dt.in_tz(LONDON).expect("Europe/London");
    // No test uses a local time that a clock change skips or repeats.
    assert_eq!(zoned.datetime(), dt, "{local} does not exist in London");
    zoned.timestamp()
}

/// A Wednesday morning in term time.
pub fn now() -> Timestamp {
    utc("2025-06-04T10:00:00Z")
}

pub fn target(url: &str) -> Target {
    Target::parse(url).unwrap_or_else(|e| panic!("target {url:?}: {e}"))
}

pub fn decide_at(
    snap: &Snapshot,
    group: &str,
    user: Option<&str>,
    url: &str,
    at: Timestamp,
) -> Verdict {
    let v = snap.decide(
        &Identity {
            group: Some(group),
            user,
        },
        &target(url),
        at,
    );
    check_reason(snap, &v);
    v
}

pub fn decide(snap: &Snapshot, group: &str, url: &str) -> Verdict {
    decide_at(snap, group, None, url, now())
}

/// The names of the categories that decided.
pub fn deciding(snap: &Snapshot, v: &Verdict) -> Vec<String> {
    snap.category_names(v, &v.deciding)
}

/// The names of every category the target is in.
pub fn categories(snap: &Snapshot, v: &Verdict) -> Vec<String> {
    snap.category_names(v, &v.categories)
}

/// A reason is one non-empty sentence that agrees with the verdict.
pub fn check_reason(snap: &Snapshot, v: &Verdict) {
    let reason = snap.reason(v);
    assert!(!reason.trim().is_empty(), "empty reason for {v:?}");
    assert!(!reason.contains('\n'), "reason is not one line: {reason:?}");
    let word = if v.action == Action::Block {
        "blocked"
    } else {
        "allowed"
    };
    assert!(
        reason.starts_with(word),
        "reason {reason:?} does not start with {word:?} for {v:?}"
    );
    if let Some(entry) = v.entry.as_deref() {
        assert!(
            reason.contains(entry),
            "reason {reason:?} does not name entry {entry:?}"
        );
    }
    for name in snap.category_names(v, &v.deciding) {
        assert!(
            reason.contains(&name),
            "reason {reason:?} does not name deciding category {name:?}"
        );
    }
    if let Some(group) = snap.group(v.group) {
        if matches!(
            v.rule,
            Rule::GroupAllowSite
                | Rule::GroupAllowCategory
                | Rule::GroupBlockSite
                | Rule::GroupBlockCategory
                | Rule::WalledGarden
                | Rule::Default
        ) {
            assert!(
                reason.contains(&group.name),
                "reason {reason:?} does not name group {}",
                group.name
            );
        }
    }
    if v.rule == Rule::Illegal {
        assert!(reason.contains("illegal"), "{reason:?}");
        assert!(reason.contains("cannot be overridden"), "{reason:?}");
    }
    match v.safesearch {
        Some(s) => {
            assert_eq!(v.action, Action::SafeSearch, "{v:?}");
            assert!(reason.contains(s.safe_host), "{reason:?}");
        }
        None => assert_ne!(v.action, Action::SafeSearch, "{v:?}"),
    }
}

/// Asserts action, rule and entry in one go, with the verdict in the message.
#[track_caller]
pub fn expect(v: &Verdict, action: Action, rule: Rule, entry: Option<&str>) {
    assert_eq!(
        (v.action, v.rule, v.entry.as_deref()),
        (action, rule, entry),
        "{v:?}"
    );
}
