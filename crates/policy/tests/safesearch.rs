//! Safe search: allowed search engines are held to their safe mode.

mod common;

use common::*;
use tutela_policy::config::{GroupConfig, PolicyConfig, Role, SafeSearchConfig, SafeSearchMode};
use tutela_policy::{Action, Rule, SafeSearch, SearchEngine, Snapshot};

use SafeSearchMode::{Moderate, Off, Strict};

fn snap() -> Snapshot {
    let index = index(&[
        ("search", &["google.fr", "bing.com"]),
        ("webmail", &["mail.google.com"]),
    ]);
    let strict = GroupConfig {
        safesearch: SafeSearchConfig::all(Strict),
        ..group(Role::Pupil)
    };
    let moderate = GroupConfig {
        safesearch: SafeSearchConfig::all(Moderate),
        ..group(Role::Staff)
    };
    let off = GroupConfig {
        safesearch: SafeSearchConfig::all(Off),
        ..group(Role::Staff)
    };
    let mixed = GroupConfig {
        safesearch: SafeSearchConfig {
            google: Strict,
            bing: Off,
            duckduckgo: Moderate,
            youtube: Off,
        },
        ..group(Role::Staff)
    };
    let blocking = GroupConfig {
        safesearch: SafeSearchConfig::all(Strict),
        block_sites: strings(&["www.google.com", "duckduckgo.com"]),
        block_categories: strings(&["search"]),
        ..group(Role::Pupil)
    };
    let config = policy(
        "strict",
        vec![
            ("strict", strict),
            ("moderate", moderate),
            ("off", off),
            ("mixed", mixed),
            ("blocking", blocking),
        ],
    );
    build(&config, &index, &empty())
}

fn safe(s: &Snapshot, group: &str, url: &str) -> Option<SafeSearch> {
    let v = decide(s, group, url);
    assert_ne!(v.action, Action::Block, "{group} {url}: {v:?}");
    v.safesearch
}

fn google() -> Option<SafeSearch> {
    Some(SafeSearch {
        engine: SearchEngine::Google,
        safe_host: "forcesafesearch.google.com",
    })
}

#[test]
fn google_in_every_country_for_strict_groups() {
    let s = snap();
    for url in [
        "google.com",
        "www.google.com",
        "https://www.google.com/search?q=x",
        "http://www.google.co.uk/",
        "www.google.co.uk",
        "google.fr",
        "https://GOOGLE.FR./search",
        "https://www.google.com.au/",
        "google.de:443",
    ] {
        let v = decide(&s, "strict", url);
        assert_eq!(v.action, Action::SafeSearch, "{url}: {v:?}");
        assert_eq!(v.safesearch, google(), "{url}");
        assert!(s.reason(&v).contains("forcesafesearch.google.com"));
        // Google has one enforced mode, so moderate means strict.
        assert_eq!(safe(&s, "moderate", url), google(), "{url}");
    }
}

#[test]
fn the_rule_that_allowed_it_is_kept() {
    let s = snap();
    let v = decide(&s, "strict", "https://google.com/");
    assert_eq!((v.rule, v.entry.as_deref()), (Rule::Default, None));
    let v = decide(&s, "strict", "https://google.fr/");
    assert_eq!(v.rule, Rule::Default);
    assert_eq!(categories(&s, &v), ["search"]);
}

#[test]
fn youtube_modes() {
    let s = snap();
    for url in [
        "youtube.com",
        "www.youtube.com",
        "https://m.youtube.com/watch?v=1",
        "youtubei.googleapis.com",
        "www.youtube-nocookie.com",
    ] {
        assert_eq!(
            safe(&s, "moderate", url),
            Some(SafeSearch {
                engine: SearchEngine::YouTube,
                safe_host: "restrictmoderate.youtube.com"
            }),
            "{url}"
        );
        assert_eq!(
            safe(&s, "strict", url).map(|s| s.safe_host),
            Some("restrict.youtube.com"),
            "{url}"
        );
        assert_eq!(safe(&s, "off", url), None, "{url}");
        assert_eq!(safe(&s, "mixed", url), None, "{url}");
    }
    assert_eq!(safe(&s, "strict", "notyoutube.com"), None);
    assert_eq!(safe(&s, "strict", "music.youtube.com.evil.org"), None);
}

#[test]
fn bing_and_duckduckgo() {
    let s = snap();
    for url in ["bing.com", "https://www.bing.com/search?q=x"] {
        assert_eq!(
            safe(&s, "strict", url).map(|s| (s.engine, s.safe_host)),
            Some((SearchEngine::Bing, "strict.bing.com"))
        );
        assert_eq!(safe(&s, "mixed", url), None);
    }
    for url in [
        "duckduckgo.com",
        "html.duckduckgo.com",
        "start.duckduckgo.com",
    ] {
        assert_eq!(
            safe(&s, "mixed", url).map(|s| (s.engine, s.safe_host)),
            Some((SearchEngine::DuckDuckGo, "safe.duckduckgo.com"))
        );
    }
    assert_eq!(
        safe(&s, "mixed", "google.com").map(|s| s.safe_host),
        Some("forcesafesearch.google.com")
    );
}

#[test]
fn off_means_plain_allow() {
    let s = snap();
    for url in [
        "google.com",
        "www.google.co.uk",
        "bing.com",
        "duckduckgo.com",
    ] {
        let v = decide(&s, "off", url);
        expect(&v, Action::Allow, Rule::Default, None);
        assert_eq!(v.safesearch, None);
        assert!(!s.reason(&v).contains("safe search"));
    }
}

#[test]
fn a_blocked_engine_stays_blocked() {
    let s = snap();
    for (url, rule, entry) in [
        (
            "https://www.google.com/",
            Rule::GroupBlockSite,
            "www.google.com",
        ),
        ("duckduckgo.com", Rule::GroupBlockSite, "duckduckgo.com"),
        ("google.fr", Rule::GroupBlockCategory, "google.fr"),
        (
            "https://www.bing.com/",
            Rule::GroupBlockCategory,
            "bing.com",
        ),
    ] {
        let v = decide(&s, "blocking", url);
        expect(&v, Action::Block, rule, Some(entry));
        assert_eq!(v.safesearch, None, "{url}");
    }
    // google.com itself is not blocked for them, and is made safe.
    let v = decide(&s, "blocking", "google.com");
    assert_eq!(v.action, Action::SafeSearch);
}

#[test]
fn other_google_hosts_and_look_alikes_are_not_engines() {
    let s = snap();
    for url in [
        "mail.google.com",
        "https://mail.google.com/mail/u/0",
        "docs.google.com",
        "google.evil.com",
        "google.blogspot.com",
        "www.google.example",
        "googlecom.example",
        "notgoogle.com",
        "http://google/",
    ] {
        let v = decide(&s, "strict", url);
        assert_eq!(v.action, Action::Allow, "{url}: {v:?}");
        assert_eq!(v.safesearch, None, "{url}");
    }
}

#[test]
fn ip_targets_never_get_safe_search() {
    let s = snap();
    for url in [
        "http://142.250.180.14/search?q=x",
        "142.250.180.14",
        "http://[2a00:1450:4009:81f::200e]/",
        "http://2398794766/",
    ] {
        let v = decide(&s, "strict", url);
        expect(&v, Action::Allow, Rule::Default, None);
        assert_eq!(v.safesearch, None);
    }
}

#[test]
fn default_policy_engines() {
    let index = empty();
    let s = build(&PolicyConfig::default(), &index, &empty());
    let host = |g: &str, url: &str| decide(&s, g, url).safesearch.map(|s| s.safe_host);
    for g in ["pupils", "guests"] {
        assert_eq!(
            host(g, "www.google.co.uk"),
            Some("forcesafesearch.google.com")
        );
        assert_eq!(host(g, "www.youtube.com"), Some("restrict.youtube.com"));
        assert_eq!(host(g, "www.bing.com"), Some("strict.bing.com"));
    }
    assert_eq!(
        host("staff", "www.google.co.uk"),
        Some("forcesafesearch.google.com")
    );
    assert_eq!(
        host("staff", "www.youtube.com"),
        Some("restrictmoderate.youtube.com")
    );
}
