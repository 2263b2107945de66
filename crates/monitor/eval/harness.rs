//! The evaluation of the built-in lexicons on `eval/items.tsv`, shared by
//! `tests/evaluation.rs` (which asserts the targets) and
//! `examples/evaluate.rs` (which prints the table as Markdown). Kept out of
//! `src/` on purpose: it is a measuring stick, not part of the monitor.
//!
//! A positive counts as found when the scan has a hit of its expected theme
//! at severity 3 or more (the alert threshold). A hard negative is a false
//! positive when the scan has any hit at severity 3 or more.

#![allow(dead_code)] // each includer uses a different part

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use tutela_monitor::lexicon::THEMES;
use tutela_monitor::Scanner;

/// The alert threshold.
pub const ALERT: u8 = 3;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Split {
    Dev,
    HeldOut,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Dev => "dev",
            Split::HeldOut => "held-out",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Item {
    pub line: usize,
    pub split: Split,
    pub language: String,
    /// `None` for a hard negative.
    pub expected: Option<String>,
    pub text: String,
}

/// The set that ships with the crate.
pub fn default_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("eval/items.tsv")
}

pub fn load(path: &Path) -> Result<Vec<Item>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text)
}

/// Tab-separated: split, language, expected theme or `none`, text. Lines
/// starting with `#` and the header line are skipped.
pub fn parse(text: &str) -> Result<Vec<Item>, EvalError> {
    let mut items = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() || raw.starts_with('#') || raw.starts_with("split\t") {
            continue;
        }
        let bad = |message: String| EvalError::Line { line, message };
        let cols: Vec<&str> = raw.splitn(4, '\t').collect();
        let [split, language, expected, text] = cols[..] else {
            return Err(bad(format!(
                "expected 4 tab-separated columns, got {}",
                cols.len()
            )));
        };
        let split = match split {
            "dev" => Split::Dev,
            "held-out" => Split::HeldOut,
            other => return Err(bad(format!("unknown split {other:?}"))),
        };
        let expected = match expected {
            "none" => None,
            t if THEMES.contains(&t) => Some(t.to_string()),
            other => return Err(bad(format!("unknown theme {other:?}"))),
        };
        if text.trim().is_empty() {
            return Err(bad("empty text".into()));
        }
        items.push(Item {
            line,
            split,
            language: language.to_string(),
            expected,
            text: text.to_string(),
        });
    }
    Ok(items)
}

/// Found out of a total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    pub hit: usize,
    pub of: usize,
}

impl Count {
    fn add(&mut self, hit: bool) {
        self.of += 1;
        self.hit += usize::from(hit);
    }

    pub fn rate(self) -> Option<f64> {
        (self.of > 0).then(|| self.hit as f64 / self.of as f64)
    }

    fn cell(self) -> String {
        match self.rate() {
            Some(r) => format!("{:.2} ({}/{})", r, self.hit, self.of),
            None => "–".into(),
        }
    }
}

/// The figures for one slice of the set (dev, held-out or all).
#[derive(Debug, Clone, Default)]
pub struct Slice {
    /// Theme → positives found at severity ≥ 3.
    pub recall: BTreeMap<String, Count>,
    /// Theme → hard negatives with a hit of that theme at severity ≥ 3.
    pub false_alarm: BTreeMap<String, Count>,
    /// Language → positives found.
    pub language_recall: BTreeMap<String, Count>,
    /// Language → hard negatives with any alert.
    pub language_false: BTreeMap<String, Count>,
    /// All positives found.
    pub overall_recall: Count,
    /// All hard negatives with any alert.
    pub overall_false: Count,
    /// Positives missed, and negatives that alerted, for reading.
    pub misses: Vec<String>,
    pub false_alarms: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub dev: Slice,
    pub held_out: Slice,
    pub all: Slice,
}

pub fn evaluate(scanner: &Scanner, items: &[Item]) -> Report {
    let mut report = Report::default();
    let mut buffer = String::new();
    for item in items {
        // A URL is read as the watcher reads one: decoded.
        let text = if item.text.starts_with("http://") || item.text.starts_with("https://") {
            tutela_monitor::decode_url(&item.text)
        } else {
            item.text.clone()
        };
        let alerts: Vec<_> = scanner
            .scan_with(&text, &mut buffer)
            .into_iter()
            .filter(|h| h.severity >= ALERT)
            .collect();
        let slice = match item.split {
            Split::Dev => &mut report.dev,
            Split::HeldOut => &mut report.held_out,
        };
        for s in [slice, &mut report.all] {
            match &item.expected {
                Some(theme) => {
                    let found = alerts.iter().any(|h| &h.theme == theme);
                    s.recall.entry(theme.clone()).or_default().add(found);
                    s.language_recall
                        .entry(item.language.clone())
                        .or_default()
                        .add(found);
                    s.overall_recall.add(found);
                    if !found {
                        let got: Vec<String> = alerts
                            .iter()
                            .map(|h| format!("{}:{}", h.theme, h.rule))
                            .collect();
                        s.misses.push(format!(
                            "line {} [{}] {} {:?} got {:?}",
                            item.line, item.language, theme, item.text, got
                        ));
                    }
                }
                None => {
                    for theme in THEMES {
                        let hit = alerts.iter().any(|h| h.theme == *theme);
                        s.false_alarm.entry(theme.to_string()).or_default().add(hit);
                    }
                    let any = !alerts.is_empty();
                    s.language_false
                        .entry(item.language.clone())
                        .or_default()
                        .add(any);
                    s.overall_false.add(any);
                    if any {
                        let got: Vec<String> = alerts
                            .iter()
                            .map(|h| {
                                format!("{}/{}:{} ({})", h.language, h.theme, h.rule, h.severity)
                            })
                            .collect();
                        s.false_alarms.push(format!(
                            "line {} [{}] {:?} got {:?}",
                            item.line, item.language, item.text, got
                        ));
                    }
                }
            }
        }
    }
    report
}

/// The report as Markdown tables: per theme and per language, for dev,
/// held-out and all.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let slices = [
        ("dev", &report.dev),
        ("held-out", &report.held_out),
        ("all", &report.all),
    ];
    let _ = writeln!(
        out,
        "Recall: positives with an alert (severity ≥ {ALERT}) of the expected theme. \
         FP: hard negatives with an alert of that theme (per theme) or of any theme (per language).\n"
    );
    let _ = writeln!(out, "### Per theme\n");
    let _ = writeln!(
        out,
        "| theme | recall dev | recall held-out | recall all | FP dev | FP held-out | FP all |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for theme in THEMES {
        let mut row = format!("| {theme} |");
        for (_, s) in slices {
            let _ = write!(
                row,
                " {} |",
                s.recall.get(*theme).copied().unwrap_or_default().cell()
            );
        }
        for (_, s) in slices {
            let _ = write!(
                row,
                " {} |",
                s.false_alarm
                    .get(*theme)
                    .copied()
                    .unwrap_or_default()
                    .cell()
            );
        }
        let _ = writeln!(out, "{row}");
    }
    let mut row = "| **all** |".to_string();
    for (_, s) in slices {
        let _ = write!(row, " {} |", s.overall_recall.cell());
    }
    for (_, s) in slices {
        let _ = write!(row, " {} |", s.overall_false.cell());
    }
    let _ = writeln!(out, "{row}\n");

    let _ = writeln!(out, "### Per language\n");
    let _ = writeln!(
        out,
        "| language | recall dev | recall held-out | recall all | FP dev | FP held-out | FP all |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    let mut languages: Vec<&String> = report.all.language_recall.keys().collect();
    for l in report.all.language_false.keys() {
        if !languages.contains(&l) {
            languages.push(l);
        }
    }
    languages.sort();
    for language in languages {
        let mut row = format!("| {language} |");
        for (_, s) in slices {
            let _ = write!(
                row,
                " {} |",
                s.language_recall
                    .get(language)
                    .copied()
                    .unwrap_or_default()
                    .cell()
            );
        }
        for (_, s) in slices {
            let _ = write!(
                row,
                " {} |",
                s.language_false
                    .get(language)
                    .copied()
                    .unwrap_or_default()
                    .cell()
            );
        }
        let _ = writeln!(out, "{row}");
    }
    out
}

/// The misses and false alarms of one slice, one a line.
pub fn details(name: &str, slice: &Slice) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{name}: {} missed positives", slice.misses.len());
    for m in &slice.misses {
        let _ = writeln!(out, "  {m}");
    }
    let _ = writeln!(out, "{name}: {} false alarms", slice.false_alarms.len());
    for m in &slice.false_alarms {
        let _ = writeln!(out, "  {m}");
    }
    out
}
