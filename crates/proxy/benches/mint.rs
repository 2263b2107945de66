//! TLS inspection's certificate cost: a server config for a name seen for
//! the first time (mint and sign: the cold cache) against one already cached
//! (the warm cache).
//!
//!   cargo bench -p tutela-proxy --bench mint

use criterion::{criterion_group, criterion_main, Criterion};
use std::sync::atomic::{AtomicU64, Ordering};

fn mint(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let ca =
        tutela_proxy::ca::LocalCa::load_or_create(dir.path()).unwrap_or_else(|e| panic!("CA: {e}"));
    let n = AtomicU64::new(0);
    c.bench_function("leaf config, cold (new name)", |b| {
        b.iter(|| {
            let i = n.fetch_add(1, Ordering::Relaxed);
            ca.server_config(&format!("site{i}.example.com"))
        })
    });
    let _ = ca.server_config("www.example.com");
    c.bench_function("leaf config, warm (cached)", |b| {
        b.iter(|| ca.server_config("www.example.com"))
    });
}

criterion_group!(benches, mint);
criterion_main!(benches);
