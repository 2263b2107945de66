//! Reloads: the engine swaps whole snapshots, and every decision comes from
//! exactly one of them.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};

use common::*;
use tutela_lists::Index;
use tutela_policy::config::{GroupConfig, Role};
use tutela_policy::{Action, Engine, Identity, Rule, Snapshot, Target, Verdict};

/// A blocks x.example and allows y.example; B does the reverse.
fn snapshot(index: &Arc<Index>, a: bool) -> Snapshot {
    let (block, allow) = if a {
        ("x.example", "y.example")
    } else {
        ("y.example", "x.example")
    };
    let pupils = GroupConfig {
        block_sites: strings(&[block]),
        allow_sites: strings(&[allow]),
        ..group(Role::Pupil)
    };
    build(&policy("pupils", vec![("pupils", pupils)]), index, &empty())
}

const ALICE: Identity<'static> = Identity {
    group: Some("pupils"),
    user: Some("alice"),
};

/// Checks one verdict for `host` against the snapshot its generation names:
/// odd generations are A, even ones B.
fn check(host: &str, v: &Verdict) -> Result<(), String> {
    let a = v.generation % 2 == 1;
    let blocked = (host == "x.example") == a;
    let want = if blocked {
        (Action::Block, Rule::GroupBlockSite)
    } else {
        (Action::Allow, Rule::GroupAllowSite)
    };
    if (v.action, v.rule) != want || v.entry.as_deref() != Some(host) {
        return Err(format!(
            "{host} at generation {} ({}): {v:?}",
            v.generation,
            if a { "A" } else { "B" }
        ));
    }
    Ok(())
}

#[test]
fn generations_count_installs() {
    let index = empty();
    let first = snapshot(&index, true);
    assert_eq!(first.generation(), 0);
    let engine = Engine::new(first);
    assert_eq!(engine.snapshot().generation(), 1);
    let x = target("http://x.example/");
    let v = engine.decide(&ALICE, &x, now());
    assert_eq!(v.generation, 1);
    check("x.example", &v).unwrap();

    let held = engine.snapshot();
    assert_eq!(engine.install(snapshot(&index, false)), 2);
    // The new snapshot decides from now on...
    let v = engine.decide(&ALICE, &x, now());
    assert_eq!((v.generation, v.action), (2, Action::Allow));
    check("x.example", &v).unwrap();
    // ...while a holder of the old one keeps a working copy of it.
    assert_eq!(held.generation(), 1);
    let v = held.decide(&ALICE, &x, now());
    assert_eq!((v.generation, v.action), (1, Action::Block));
    drop(held);

    assert_eq!(engine.install(snapshot(&index, true)), 3);
    assert_eq!(engine.install(snapshot(&index, false)), 4);
    assert_eq!(engine.snapshot().generation(), 4);
}

#[test]
fn a_reload_brings_new_lists_and_names() {
    let old = index(&[("games", &["x.example"])]);
    let new = index(&[("chat", &["z.example"]), ("games", &["w.example"])]);
    let config = |ix: &Arc<Index>| {
        let pupils = GroupConfig {
            block_categories: strings(&["games", "chat"]),
            ..group(Role::Pupil)
        };
        build(&policy("pupils", vec![("pupils", pupils)]), ix, &empty())
    };
    let engine = Engine::new(config(&old));
    let s = engine.snapshot();
    let v = s.decide(&ALICE, &target("x.example"), now());
    assert_eq!(deciding(&s, &v), ["games"]);
    engine.install(config(&new));
    let s = engine.snapshot();
    let v = s.decide(&ALICE, &target("x.example"), now());
    assert_eq!((v.action, v.rule), (Action::Allow, Rule::Default));
    let v = s.decide(&ALICE, &target("z.example"), now());
    assert_eq!(deciding(&s, &v), ["chat"]);
    let v = s.decide(&ALICE, &target("w.example"), now());
    assert_eq!(deciding(&s, &v), ["games"]);
}

#[test]
fn concurrent_decisions_see_whole_snapshots() {
    const READERS: usize = 3;
    const DECISIONS: usize = 200_000;
    const INSTALLS: u64 = 1000;

    let index = empty();
    let engine = Arc::new(Engine::new(snapshot(&index, true)));
    let start = Arc::new(Barrier::new(READERS + 1));
    let targets: Arc<[(String, Target); 2]> = Arc::new([
        (
            "x.example".to_string(),
            target("https://www.x.example/page"),
        ),
        ("y.example".to_string(), target("y.example")),
    ]);

    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let engine = engine.clone();
            let start = start.clone();
            let targets = targets.clone();
            std::thread::spawn(move || {
                let at = now();
                let mut last = 0u64;
                let mut seen = BTreeSet::new();
                start.wait();
                for i in 0..DECISIONS {
                    if i % 8 == 7 {
                        // A pair of decisions from one snapshot agree with
                        // each other and with its generation.
                        let s = engine.snapshot();
                        let g = s.generation();
                        let vx = s.decide(&ALICE, &targets[0].1, at);
                        let vy = s.decide(&ALICE, &targets[1].1, at);
                        assert_eq!((vx.generation, vy.generation), (g, g));
                        assert_ne!(vx.action, vy.action, "{vx:?} {vy:?}");
                        check("x.example", &vx).unwrap();
                        check("y.example", &vy).unwrap();
                        assert!(g >= last, "reader {r}: generation {g} after {last}");
                        last = g;
                        seen.insert(g);
                        continue;
                    }
                    let (name, t) = &targets[(i + r) % 2];
                    let v = engine.decide(&ALICE, t, at);
                    if let Err(e) = check(name, &v) {
                        panic!("reader {r}, decision {i}: {e}");
                    }
                    assert!(
                        v.generation >= last,
                        "reader {r}: generation {} after {last}",
                        v.generation
                    );
                    assert!(v.generation >= 1 && v.generation <= INSTALLS + 1);
                    last = v.generation;
                    seen.insert(v.generation);
                }
                seen
            })
        })
        .collect();

    // Build every snapshot before the race starts, so installs come fast.
    let mut pending: Vec<Snapshot> = (0..INSTALLS)
        .map(|i| snapshot(&index, i % 2 == 1))
        .collect();
    pending.reverse();
    start.wait();
    for i in 0..INSTALLS {
        let next = pending.pop().unwrap();
        let generation = engine.install(next);
        assert_eq!(generation, i + 2);
        if i % 4 == 0 {
            std::thread::yield_now();
        }
    }

    let mut all = BTreeSet::new();
    for r in readers {
        let seen = r.join().expect("reader panicked");
        assert!(!seen.is_empty());
        all.extend(seen);
    }
    eprintln!("readers saw {} of {} generations", all.len(), INSTALLS + 1);
    assert!(all.len() > 1, "the readers never saw a swap: {all:?}");
    assert!(all.iter().any(|g| g % 2 == 0) && all.iter().any(|g| g % 2 == 1));

    let last = engine.snapshot();
    assert_eq!(last.generation(), INSTALLS + 1);
    for (name, t) in targets.iter() {
        check(name, &engine.decide(&ALICE, t, now())).unwrap();
    }
}
