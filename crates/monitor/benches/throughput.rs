//! Throughput on a noisy shared machine: the best and the median of many
//! timed runs, for the fast scanner and the first implementation side by
//! side in one process, on English text, the same text with real-page
//! typography, and HTML; with the built-in lexicons and with a set eight
//! times the size in several languages and scripts.
//!
//! `cargo bench -p tutela-monitor --features reference --bench throughput`

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use tutela_monitor::{built_in_lexicons, reference, Scanner};

fn measure(name: &str, bytes: usize, mut f: impl FnMut()) {
    let mut times = Vec::new();
    let started = Instant::now();
    while times.len() < 30 || (started.elapsed() < Duration::from_secs(2) && times.len() < 2000) {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
    }
    times.sort();
    let mib = |d: Duration| bytes as f64 / d.as_secs_f64() / (1 << 20) as f64;
    println!(
        "{name:<44} best {:>7.1} MiB/s  median {:>7.1} MiB/s  ({} runs)",
        mib(times[0]),
        mib(times[times.len() / 2]),
        times.len()
    );
}

fn main() {
    let filter = std::env::args().nth(1).filter(|a| a != "--bench");
    let size = 1 << 20;
    let texts = [
        ("english", common::page_text(size)),
        ("mixed", common::mixed_text(size)),
        ("html", common::html_text(size)),
    ];
    let sets = [
        ("built-in", built_in_lexicons().expect("built-in lexicons")),
        ("8x", common::large_lexicons(8)),
    ];
    for (set, lexicons) in &sets {
        let rules: usize = lexicons.iter().map(|l| l.rules.len()).sum();
        println!("{set}: {} lexicons, {rules} rules", lexicons.len());
        let fast = Scanner::new(lexicons).expect("compile");
        let slow = reference::Scanner::new(lexicons).expect("compile");
        for (kind, text) in &texts {
            let mut buffer = String::new();
            let hits = fast.scan_with(text, &mut buffer).len();
            assert_eq!(fast.scan(text), slow.scan(text), "{set} {kind}");
            let run = |what: &str, f: &mut dyn FnMut()| {
                let name = format!("{set}/{kind}/{what}");
                if filter.as_ref().is_none_or(|p| name.contains(p.as_str())) {
                    measure(&name, text.len(), f);
                }
            };
            run("scan", &mut || {
                black_box(fast.scan_with(text, &mut buffer));
            });
            run("scan (reference)", &mut || {
                black_box(slow.scan_with(text, &mut buffer));
            });
            if *kind == "html" {
                let mut buffers = tutela_monitor::HtmlBuffers::default();
                run("scan_html", &mut || {
                    black_box(fast.scan_html_with(text, &mut buffers));
                });
            }
            if *set == "built-in" {
                run("normalise", &mut || {
                    tutela_monitor::normalise_into(text, &mut buffer);
                });
                run("normalise (reference)", &mut || {
                    reference::normalise_into(text, &mut buffer);
                });
            }
            println!("  ({hits} hits)");
        }
    }
}
