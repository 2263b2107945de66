//! Name matching through the policy: domain suffixes on label boundaries,
//! IP literals in all their spellings, and IDN.
//!
//! Every case is checked three ways: as a category list entry, as a group
//! `block_sites` entry, and as an illegal-tier entry.

mod common;

use common::*;
use tutela_lists::{HostName, IndexBuilder, Usage};
use tutela_policy::config::Role;
use tutela_policy::{Action, Rule, Snapshot};

struct Case {
    /// As written in a list or config.
    entry: &'static str,
    /// As the verdict reports it.
    canonical: &'static str,
    hits: &'static [&'static str],
    misses: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        entry: "bad.example",
        canonical: "bad.example",
        hits: &[
            "bad.example",
            "BAD.EXAMPLE.",
            "http://bad.example/",
            "http://a.b.c.d.e.bad.example/x",
            "www.bad.example",
            "http://ｂａｄ.ｅｘａｍｐｌｅ/",
            "http://ｂａｄ．ｅｘａｍｐｌｅ/",
            "http://Ｂａｄ.example/",
            "http://b%41d.example/",
        ],
        misses: &[
            "notbad.example",
            "http://notbad.example/",
            "bad.example.evil.org",
            "http://bad.example.evil.org/",
            "bad-example.org",
            "badexample",
            "example",
            "bad.examples",
            "ad.example",
            "b.ad.example",
            "bad.example.com",
            "http://bad.example@good.example/",
            "http://good.example/bad.example",
            "http://good.example/?u=http://bad.example/",
            // Cyrillic а (U+0430) is a different name, not a spelling.
            "b\u{430}d.example",
            "http://b\u{430}d.example/",
        ],
    },
    Case {
        entry: "127.0.0.1",
        canonical: "127.0.0.1",
        hits: &[
            "127.0.0.1",
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0X7F000001/",
            "http://0x7f.0.0.1/",
            "http://0x7F.1/",
            "http://0177.0.0.1/",
            "http://0177.1/",
            "http://127.000.000.001/",
            "127.1",
            "http://127.0.1/",
            "http://127.0.0.1./",
            "http://１２７.０.０.１/",
            "http://u:p@127.0.0.1:8080/",
        ],
        misses: &[
            "127.0.0.2",
            "http://127.0.0.1.nip.io/",
            "1.0.0.127",
            "http://0x7f.0.0.2/",
        ],
    },
    Case {
        entry: "2001:db8::1",
        canonical: "2001:db8::1",
        hits: &[
            "http://[2001:db8::1]/",
            "http://[2001:DB8::1]/",
            "http://[2001:db8:0:0:0:0:0:1]/",
            "http://[2001:0db8:0000::0001]:8080/",
            "[2001:db8::1]",
        ],
        misses: &[
            "http://[2001:db8::2]/",
            "http://[2001:db8::1:0]/",
            "http://[::1]/",
        ],
    },
    Case {
        entry: "::ffff:198.51.100.1",
        canonical: "198.51.100.1",
        hits: &[
            "http://[::ffff:198.51.100.1]/",
            "http://[::FFFF:198.51.100.1]/",
            "http://[::ffff:c633:6401]/",
            "http://[0:0:0:0:0:FFFF:C633:6401]:81/",
            "[::ffff:198.51.100.1]",
            // The same address, written as IPv4.
            "http://198.51.100.1/",
            "http://3325256705/",
        ],
        misses: &["http://[::ffff:198.51.100.2]/", "http://[64:ff9b::1]/"],
    },
    Case {
        entry: "bücher.example",
        canonical: "xn--bcher-kva.example",
        hits: &[
            "bücher.example",
            "BÜCHER.EXAMPLE",
            "xn--bcher-kva.example",
            "XN--BCHER-KVA.EXAMPLE",
            "http://xn--bcher-kva.example/",
            "http://www.bücher.example/",
            "http://b%C3%BCcher.example/",
            "http://bu\u{308}cher.example/",
        ],
        misses: &[
            "bucher.example",
            "buecher.example",
            "xn--bcher-kva.example.org",
        ],
    },
    Case {
        entry: "xn--mnchen-3ya.example",
        canonical: "xn--mnchen-3ya.example",
        hits: &[
            "münchen.example",
            "MÜNCHEN.EXAMPLE",
            "https://www.münchen.example/",
            "http://XN--MNCHEN-3YA.example/",
        ],
        misses: &["munchen.example", "muenchen.example"],
    },
    Case {
        entry: "paypal.example",
        canonical: "paypal.example",
        hits: &["http://ｐａｙｐａｌ.example/", "PayPal.Example"],
        misses: &[
            "p\u{430}ypal.example",
            "\u{440}\u{430}\u{443}\u{440}\u{430}l.example",
            "paypa1.example",
        ],
    },
];

#[derive(Clone, Copy, Debug)]
enum Via {
    Category,
    BlockSite,
    Illegal,
}

fn snapshot(via: Via, entries: &[&str]) -> Snapshot {
    let mut g = group(Role::Staff);
    let mut b = IndexBuilder::new(16);
    let id = b.categories_mut().intern("listed", Usage::Black).unwrap();
    match via {
        Via::Category | Via::Illegal => {
            for e in entries {
                b.add_domain(&HostName::parse(e).unwrap(), id).unwrap();
            }
        }
        Via::BlockSite => g.block_sites = strings(entries),
    }
    g.block_categories = strings(&["listed"]);
    let c = policy("g", vec![("g", g)]);
    let ix = std::sync::Arc::new(b.finish());
    match via {
        Via::Illegal => build(&c, &empty(), &ix),
        _ => build(&c, &ix, &empty()),
    }
}

fn rule(via: Via) -> Rule {
    match via {
        Via::Category => Rule::GroupBlockCategory,
        Via::BlockSite => Rule::GroupBlockSite,
        Via::Illegal => Rule::Illegal,
    }
}

#[test]
fn entries_match_every_spelling_and_nothing_else() {
    let mut failures = Vec::new();
    for via in [Via::Category, Via::BlockSite, Via::Illegal] {
        for case in CASES {
            let s = snapshot(via, &[case.entry]);
            for url in case.hits {
                let v = decide(&s, "g", url);
                if (v.action, v.rule, v.entry.as_deref())
                    != (Action::Block, rule(via), Some(case.canonical))
                {
                    failures.push(format!(
                        "{via:?} {}: {url:?} should match, got {:?} {:?} {:?}",
                        case.entry, v.action, v.rule, v.entry
                    ));
                }
            }
            for url in case.misses {
                let v = decide(&s, "g", url);
                if v.action != Action::Allow || v.rule != Rule::Default {
                    failures.push(format!(
                        "{via:?} {}: {url:?} should not match, got {:?} {:?} {:?}",
                        case.entry, v.action, v.rule, v.entry
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn all_entries_together_keep_their_own_targets() {
    // One list holding every entry: each hit still reports its own entry.
    let entries: Vec<&str> = CASES.iter().map(|c| c.entry).collect();
    for via in [Via::Category, Via::BlockSite, Via::Illegal] {
        let s = snapshot(via, &entries);
        for case in CASES {
            for url in case.hits {
                let v = decide(&s, "g", url);
                assert_eq!(v.entry.as_deref(), Some(case.canonical), "{via:?} {url}");
            }
        }
    }
}

#[test]
fn wildcard_and_leading_dot_entries_are_suffixes() {
    let mut g = group(Role::Staff);
    g.block_sites = strings(&[
        "*.wild.example",
        ".dot.example",
        "https://Scheme.Example:443/",
    ]);
    let s = build(&policy("g", vec![("g", g)]), &empty(), &empty());
    for (url, entry) in [
        ("wild.example", "wild.example"),
        ("a.wild.example", "wild.example"),
        ("dot.example", "dot.example"),
        ("http://x.y.dot.example/", "dot.example"),
        ("scheme.example", "scheme.example"),
        ("https://www.scheme.example/any", "scheme.example"),
    ] {
        let v = decide(&s, "g", url);
        expect(&v, Action::Block, Rule::GroupBlockSite, Some(entry));
    }
    for url in ["notwild.example", "wild.example.org", "xdot.example"] {
        let v = decide(&s, "g", url);
        expect(&v, Action::Allow, Rule::Default, None);
    }
}

#[test]
fn look_alikes_are_other_names() {
    let cyrillic = target("http://b\u{430}d.example/");
    assert!(
        cyrillic.host_str().starts_with("xn--"),
        "{}",
        cyrillic.host_str()
    );
    assert_ne!(cyrillic.host_str(), "bad.example");
    let full_width = target("http://ｂａｄ.ｅｘａｍｐｌｅ/");
    assert_eq!(full_width.host_str(), "bad.example");
}
