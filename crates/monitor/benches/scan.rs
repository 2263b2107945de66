//! Scanning page text with every built-in lexicon loaded, in MB/s (issue
//! target: 500 MB/s per core). The text is ordinary English prose with a
//! few hits in it, as most pages are.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tutela_monitor::{built_in_lexicons, normalise_into, Scanner};

fn page_text(bytes: usize) -> String {
    let prose = "The history department has set a project on the causes of the First World War. \
Pupils should read chapter four, make notes on the alliance system, and prepare a short \
presentation for Thursday. Remember to cite your sources and check the spelling of names. \
In science we will revise photosynthesis, respiration and the carbon cycle before the test. \
Football training is cancelled this week because the pitch is waterlogged after the storm. ";
    let mut text = String::with_capacity(bytes + prose.len());
    let mut n = 0;
    while text.len() < bytes {
        text.push_str(prose);
        n += 1;
        if n % 50 == 0 {
            text.push_str("someone said they want to die and asked how to purge. ");
        }
    }
    text
}

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
    group.finish();
}

criterion_group!(benches, scan);
criterion_main!(benches);
