//! Prints the evaluation of the built-in lexicons on `eval/items.tsv` as
//! Markdown tables (per theme and per language, dev and held-out).
//!
//! ```sh
//! cargo run -p tutela-monitor --example evaluate            # the tables
//! cargo run -p tutela-monitor --example evaluate -- --details  # and every miss and false alarm
//! cargo run -p tutela-monitor --example evaluate -- other.tsv
//! ```

#[path = "../eval/harness.rs"]
mod harness;

use std::path::PathBuf;
use std::process::ExitCode;

use tutela_monitor::{built_in_lexicons, Scanner};

fn main() -> ExitCode {
    let mut details = false;
    let mut path: Option<PathBuf> = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--details" => details = true,
            "-h" | "--help" => {
                println!("usage: evaluate [--details] [items.tsv]");
                return ExitCode::SUCCESS;
            }
            _ => path = Some(PathBuf::from(arg)),
        }
    }
    let path = path.unwrap_or_else(harness::default_path);
    let items = match harness::load(&path) {
        Ok(items) => items,
        Err(e) => {
            eprintln!("evaluate: {e}");
            return ExitCode::FAILURE;
        }
    };
    let scanner = match built_in_lexicons()
        .map_err(|e| e.to_string())
        .and_then(|l| Scanner::new(&l).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("evaluate: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = harness::evaluate(&scanner, &items);
    println!(
        "## Monitor evaluation: {} items from {}\n",
        items.len(),
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    print!("{}", harness::markdown(&report));
    if details {
        println!("\n```text");
        print!("{}", harness::details("dev", &report.dev));
        print!("{}", harness::details("held-out", &report.held_out));
        println!("```");
    }
    ExitCode::SUCCESS
}
