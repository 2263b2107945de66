//! The kept cargo-fuzz corpora (crates/proxy/fuzz/corpus/<target>), replayed
//! on stable Rust through the very functions the fuzz targets run
//! (`tutela_proxy::fuzzing`), so CI runs them without nightly and an input
//! that once broke an invariant stays fixed. No network: the request
//! target's proxies never connect anywhere.

use std::path::Path;

use tutela_proxy::fuzzing;

/// Runs every file of `corpus/<target>` through `run`.
fn replay(target: &str, run: fn(&[u8]), at_least: usize) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("the kept fuzz corpus") {
        let path = entry.expect("a corpus entry").path();
        let bytes = std::fs::read(&path).expect("a corpus file");
        run(&bytes);
        n += 1;
    }
    assert!(n >= at_least, "only {n} corpus files in {}", dir.display());
}

#[test]
fn request_corpus_replays() {
    replay("request", fuzzing::request, 50);
}

#[test]
fn client_hello_corpus_replays() {
    replay("client_hello", fuzzing::client_hello, 50);
}

#[test]
fn url_corpus_replays() {
    replay("url", fuzzing::url, 50);
}
