//! Latency of one random, dependent memory load, by working-set size: what
//! a hash-table probe that misses the cache costs on this machine. Used to
//! read the `decide` figures in BENCHMARKS.md.
//!
//! `cargo run --release -p tutela-lists --example memlat`

use std::hint::black_box;
use std::time::Instant;

fn main() {
    println!("working set   ns per dependent random load");
    for mib in [1usize, 2, 4, 8, 16, 32, 64, 128, 256] {
        // One pointer per 64-byte line, chained in a random cycle.
        let lines = mib * 1024 * 1024 / 64;
        let mut order: Vec<usize> = (0..lines).collect();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for i in (1..lines).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            order.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let mut next = vec![0usize; lines * 8];
        for i in 0..lines {
            next[order[i] * 8] = order[(i + 1) % lines] * 8;
        }
        let mut p = 0;
        for _ in 0..lines {
            p = next[p];
        }
        let steps = 4_000_000;
        let start = Instant::now();
        for _ in 0..steps {
            p = next[p];
        }
        let ns = start.elapsed().as_nanos() as f64 / steps as f64;
        black_box(p);
        println!("{mib:6} MiB     {ns:6.1}");
    }
}
