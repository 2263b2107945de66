//! Arbitrary bytes as a client connection to the proxy, served by the
//! listener's own connection code over an in-memory pipe: hyper's parser,
//! sign-in, the decision, block pages, CONNECT and TLS inspection. No
//! origin is ever contacted. See `tutela_proxy::fuzzing::request`.
//!
//! Run: `cd crates/proxy/fuzz && cargo +nightly fuzz run request corpus/request`
//! (see crates/proxy/fuzz/README.md).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tutela_proxy::fuzzing::request(data));
