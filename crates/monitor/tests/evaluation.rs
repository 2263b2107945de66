//! The built-in lexicons, every language, on the labelled set in
//! `eval/items.tsv` (see `eval/harness.rs`). Prints the table (run with
//! `--nocapture` to see it) and asserts the targets the monitor issue sets.
//!
//! The lexicons were tuned on the `dev` half only; the `held-out` half is
//! the honest figure. The targets are asserted on the dev half and on the
//! whole set; the held-out half gets a looser floor, so a lexicon change
//! that makes it fall apart fails here too.

#[path = "../eval/harness.rs"]
mod harness;

use harness::{Count, Slice};
use tutela_monitor::{built_in_lexicons, Scanner};

fn report() -> harness::Report {
    let items = harness::load(&harness::default_path()).expect("eval/items.tsv loads");
    let scanner =
        Scanner::new(&built_in_lexicons().expect("the built-in lexicons parse")).expect("compile");
    harness::evaluate(&scanner, &items)
}

fn rate(c: Option<&Count>) -> f64 {
    c.and_then(|c| c.rate()).unwrap_or(0.0)
}

/// The targets, checked on one slice; returns what falls short.
fn shortfalls(name: &str, s: &Slice, recall_floor: f64, fp_ceiling: f64) -> Vec<String> {
    let mut short = Vec::new();
    for theme in ["self-harm", "suicide", "grooming"] {
        let r = rate(s.recall.get(theme));
        if r < recall_floor {
            short.push(format!("{name}: {theme} recall {r:.2} < {recall_floor}"));
        }
    }
    let fp = s.overall_false.rate().unwrap_or(1.0);
    if fp > fp_ceiling {
        short.push(format!("{name}: false positives {fp:.3} > {fp_ceiling}"));
    }
    // Overall sanity: every theme is found at least half the time, and the
    // whole set at least four times in five.
    for (theme, c) in &s.recall {
        if c.rate().unwrap_or(0.0) < 0.5 {
            short.push(format!("{name}: {theme} recall {:?} < 0.5", c.rate()));
        }
    }
    let overall = s.overall_recall.rate().unwrap_or(0.0);
    if overall < 0.8 {
        short.push(format!("{name}: overall recall {overall:.2} < 0.8"));
    }
    short
}

#[test]
fn the_evaluation_set_meets_the_targets() {
    let report = report();
    println!("{}", harness::markdown(&report));
    println!("{}", harness::details("dev", &report.dev));
    println!("{}", harness::details("held-out", &report.held_out));
    let mut short = shortfalls("dev", &report.dev, 0.9, 0.02);
    short.extend(shortfalls("all", &report.all, 0.9, 0.02));
    short.extend(shortfalls("held-out", &report.held_out, 0.75, 0.05));
    assert!(short.is_empty(), "targets missed:\n{}", short.join("\n"));
}

#[test]
fn the_set_is_big_and_broad_enough() {
    let items = harness::load(&harness::default_path()).expect("eval/items.tsv loads");
    assert!(items.len() >= 400, "{} items", items.len());
    let negatives: Vec<_> = items.iter().filter(|i| i.expected.is_none()).collect();
    assert!(negatives.len() >= 150, "{} hard negatives", negatives.len());
    let mut languages: Vec<&str> = items.iter().map(|i| i.language.as_str()).collect();
    languages.sort_unstable();
    languages.dedup();
    assert!(languages.len() >= 8, "{languages:?}");
    for language in &languages {
        for theme in tutela_monitor::lexicon::THEMES {
            assert!(
                items
                    .iter()
                    .any(|i| i.language == *language && i.expected.as_deref() == Some(*theme)),
                "no {theme} positive in {language}"
            );
        }
        assert!(
            negatives.iter().any(|i| i.language == *language),
            "no hard negative in {language}"
        );
    }
}

#[test]
fn a_malformed_line_says_where() {
    let e = harness::parse("dev\ten\tastrology\tsomething\n").expect_err("bad theme");
    assert!(e.to_string().starts_with("line 1"), "{e}");
    let e = harness::parse("# comment\ndev\ten\n").expect_err("short line");
    assert!(e.to_string().starts_with("line 2"), "{e}");
}
