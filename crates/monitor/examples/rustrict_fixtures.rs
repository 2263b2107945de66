//! Scores the built-in lexicons on another project's labelled fixtures:
//! the test files that ship inside the `rustrict` crate (a profanity and
//! abuse filter for chat). `scripts/eval-rustrict.sh` fetches a pinned
//! version and runs this; nothing of theirs is kept in this repository.
//!
//! ```sh
//! cargo run -p tutela-monitor --example rustrict_fixtures -- \
//!     --positive test_positive.txt --negative test_negative.txt --negative safe.txt
//! ```
//!
//! Their positives are "inappropriate" chat (mostly profanity and insults);
//! the monitor looks for safeguarding risk, not swearing, so the figure to
//! read is how much of it lands in the abuse themes (bullying, hate,
//! sexual content) and how rarely their negatives raise any alert.

use std::path::PathBuf;
use std::process::ExitCode;

use tutela_monitor::{built_in_lexicons, Hit, Scanner};

/// The themes that count as abuse for this comparison.
const ABUSE: &[&str] = &["bullying", "hate", "sexual-content"];
const ALERT: u8 = 3;

#[derive(Default, Clone, Copy)]
struct Tally {
    lines: usize,
    abuse: usize,
    any_alert: usize,
    any_hit: usize,
}

impl Tally {
    fn add(&mut self, hits: &[Hit]) {
        self.lines += 1;
        let alerts = || hits.iter().filter(|h| h.severity >= ALERT);
        self.abuse += usize::from(alerts().any(|h| ABUSE.contains(&h.theme.as_str())));
        self.any_alert += usize::from(alerts().next().is_some());
        self.any_hit += usize::from(!hits.is_empty());
    }

    fn row(&self, name: &str) -> String {
        let pct = |n: usize| {
            if self.lines == 0 {
                "–".to_string()
            } else {
                format!("{:.1}% ({n})", 100.0 * n as f64 / self.lines as f64)
            }
        };
        format!(
            "| {name} | {} | {} | {} | {} |",
            self.lines,
            pct(self.abuse),
            pct(self.any_alert),
            pct(self.any_hit)
        )
    }

    fn merge(&mut self, o: &Tally) {
        self.lines += o.lines;
        self.abuse += o.abuse;
        self.any_alert += o.any_alert;
        self.any_hit += o.any_hit;
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: rustrict_fixtures (--positive FILE | --negative FILE)... [--examples N]");
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let mut files: Vec<(bool, PathBuf)> = Vec::new();
    let mut examples = 15usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--positive", Some(p)) => files.push((true, PathBuf::from(p))),
            ("--negative", Some(p)) => files.push((false, PathBuf::from(p))),
            ("--examples", Some(n)) => match n.parse() {
                Ok(n) => examples = n,
                Err(_) => return usage(),
            },
            _ => return usage(),
        }
    }
    if files.is_empty() {
        return usage();
    }
    let scanner = match built_in_lexicons()
        .map_err(|e| e.to_string())
        .and_then(|l| Scanner::new(&l).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rustrict_fixtures: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut buffer = String::new();
    let (mut positives, mut negatives) = (Tally::default(), Tally::default());
    let mut rows = Vec::new();
    let mut found = Vec::new();
    let mut false_alarms = Vec::new();
    for (positive, path) in &files {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("rustrict_fixtures: {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        };
        let mut tally = Tally::default();
        for line in text.lines() {
            let line = line.trim();
            // safe.txt has comment lines.
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let hits = scanner.scan_with(line, &mut buffer);
            tally.add(&hits);
            let alerts: Vec<String> = hits
                .iter()
                .filter(|h| h.severity >= ALERT)
                .map(|h| format!("{}/{}:{} ({})", h.language, h.theme, h.rule, h.severity))
                .collect();
            if !alerts.is_empty() {
                let note = format!("{line:?} → {}", alerts.join(", "));
                if *positive {
                    found.push(note);
                } else {
                    false_alarms.push(note);
                }
            }
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let label = if *positive { "positive" } else { "negative" };
        rows.push(tally.row(&format!("{label}: {name}")));
        if *positive {
            positives.merge(&tally);
        } else {
            negatives.merge(&tally);
        }
    }
    println!("| file | lines | abuse alert (≥{ALERT}) | any alert (≥{ALERT}) | any hit (≥1) |");
    println!("|---|---|---|---|---|");
    for r in &rows {
        println!("{r}");
    }
    println!("{}", positives.row("**all positives** (detection)"));
    println!("{}", negatives.row("**all negatives** (false positives)"));
    println!("\nAbuse themes: {}.", ABUSE.join(", "));
    println!(
        "\nPositives that alerted ({}), first {examples}:",
        found.len()
    );
    for f in found.iter().take(examples) {
        println!("- {f}");
    }
    println!("\nNegatives that alerted ({}):", false_alarms.len());
    for f in false_alarms.iter().take(examples.max(50)) {
        println!("- {f}");
    }
    ExitCode::SUCCESS
}
