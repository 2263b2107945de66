//! Scanning page text with every built-in lexicon loaded, in MB/s (issue
//! target: 500 MB/s per core). The text is ordinary English prose with a
//! few hits in it, as most pages are (see `common/mod.rs`).

mod common;

use common::{html_text, mixed_text, page_text};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tutela_monitor::{built_in_lexicons, normalise_into, HtmlBuffers, Scanner};

fn scan(c: &mut Criterion) {
    let scanner = Scanner::new(&built_in_lexicons().expect("built-in lexicons")).expect("compile");
    let mut group = c.benchmark_group("scan");
    for size in [4 << 10, 1 << 20] {
        let text = page_text(size);
        group.throughput(Throughput::Bytes(text.len() as u64));
        let mut buffer = String::new();
        group.bench_with_input(BenchmarkId::new("page_text", size), &text, |b, t| {
            b.iter(|| scanner.scan_with(t, &mut buffer))
        });
        group.bench_with_input(BenchmarkId::new("normalise_only", size), &text, |b, t| {
            b.iter(|| normalise_into(t, &mut buffer))
        });
    }
    // The same prose with a real page's typography (curly quotes, a
    // non-breaking space, an em dash, café), which takes the slower path
    // for text outside ASCII; and as raw HTML.
    for (name, text) in [
        ("mixed_text", mixed_text(1 << 20)),
        ("html_text", html_text(1 << 20)),
    ] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        let mut buffer = String::new();
        group.bench_with_input(BenchmarkId::new(name, 1 << 20), &text, |b, t| {
            b.iter(|| scanner.scan_with(t, &mut buffer))
        });
    }
    // The same HTML read as a page: markup, scripts and styles left out.
    let html = html_text(1 << 20);
    group.throughput(Throughput::Bytes(html.len() as u64));
    let mut buffers = HtmlBuffers::default();
    group.bench_with_input(BenchmarkId::new("scan_html", 1 << 20), &html, |b, t| {
        b.iter(|| scanner.scan_html_with(t, &mut buffers))
    });
    // The 4 KiB page the proxy benchmark's origin serves (see
    // ../shared/bench/peers/proxy/peer-nginx.sh), as the proxy scans it:
    // the cost each proxied page pays.
    let para = "<p>The school library opens at eight. Pupils can borrow two books per week and use the \
                computers for homework, research and reading the news about science, history and sport.</p>\n";
    let mut page = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Test page</title></head><body>\n<h1>Welcome</h1>\n",
    );
    let tail = "</body></html>\n";
    while page.len() + para.len() + tail.len() <= 4096 {
        page.push_str(para);
    }
    page.push_str(&" ".repeat(4096 - page.len() - tail.len()));
    page.push_str(tail);
    group.throughput(Throughput::Bytes(page.len() as u64));
    group.bench_with_input(BenchmarkId::new("proxy_page", 4096), &page, |b, t| {
        b.iter(|| {
            let title = tutela_monitor::html_title(t).map(|t| scanner.scan(&t));
            (scanner.scan_html_with(t, &mut buffers), title)
        })
    });
    group.finish();
}

criterion_group!(benches, scan);
criterion_main!(benches);
