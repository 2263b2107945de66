//! Arbitrary text as a request target, CONNECT authority, Host header or
//! Proxy-Authorization value: URL and host parsing, the decided host
//! against the connected one, search terms, the safe-search rewrite, the
//! PAC script and the block page, with invariants. See
//! `tutela_proxy::fuzzing::url`.
//!
//! Run: `cd crates/proxy/fuzz && cargo +nightly fuzz run url corpus/url`

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tutela_proxy::fuzzing::url(data));
