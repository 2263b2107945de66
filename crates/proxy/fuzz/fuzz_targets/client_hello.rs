//! Arbitrary bytes as the start of a CONNECT tunnel: the ClientHello read
//! (rustls) and the proxy's own ECH extension scan, which must agree. See
//! `tutela_proxy::fuzzing::client_hello`.
//!
//! Run: `cd crates/proxy/fuzz && cargo +nightly fuzz run client_hello corpus/client_hello`

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tutela_proxy::fuzzing::client_hello(data));
