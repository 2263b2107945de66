//! Hostile input against the live proxy, by property test: request lines,
//! headers and ClientHellos made of dangerous pieces and random bytes. Every
//! one gets an HTTP answer or a closed connection, never a crash, and the
//! proxy still serves a good request after each batch.

mod support;

use std::time::Duration;

use proptest::prelude::*;
use support::{url, Running};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tutela_proxy::ListenLimits;

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("GET ".to_string()),
        Just("CONNECT ".to_string()),
        Just("POST ".to_string()),
        Just("http://".to_string()),
        Just("https://".to_string()),
        Just("allowed.example".to_string()),
        Just("blocked.example".to_string()),
        Just("[::1]".to_string()),
        Just("2130706433".to_string()),
        Just("169.254.169.254".to_string()),
        Just(":443".to_string()),
        Just(":0".to_string()),
        Just(":99999".to_string()),
        Just("/".to_string()),
        Just("%00".to_string()),
        Just("%2e%2e/".to_string()),
        Just("@".to_string()),
        Just("?q=".to_string()),
        Just(" HTTP/1.1\r\n".to_string()),
        Just(" HTTP/1.0\r\n".to_string()),
        Just(" HTTP/9.9\r\n".to_string()),
        Just("Host: blocked.example\r\n".to_string()),
        Just("Host: \r\n".to_string()),
        Just("Content-Length: 5\r\n".to_string()),
        Just("Content-Length: -1\r\n".to_string()),
        Just("Transfer-Encoding: chunked\r\n".to_string()),
        Just("Connection: close, host\r\n".to_string()),
        Just("Upgrade: websocket\r\n".to_string()),
        Just("\r\n".to_string()),
        Just("\r\n\r\n".to_string()),
        Just("\u{16}\u{3}\u{1}".to_string()),
        "[ -~]{0,40}",
        "\\PC{0,20}",
    ]
}

fn request() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::collection::vec(piece(), 1..12).prop_map(|p| p.concat().into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 0..600),
    ]
}

/// Sends `bytes`, returns what came back before the connection closed or
/// went quiet.
async fn exchange(addr: std::net::SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        panic!("the proxy stopped accepting connections");
    };
    let _ = s.write_all(bytes).await;
    let _ = s.shutdown().await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut out)).await;
    out
}

#[test]
fn hostile_requests_never_break_the_proxy() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let t = runtime.block_on(Running::start(ListenLimits {
        header_timeout: Duration::from_secs(1),
        ..ListenLimits::default()
    }));
    let addr = t.server.addr;
    let config = ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(bytes in request())| {
        let out = runtime.block_on(exchange(addr, &bytes));
        // An answer, if any, is HTTP; never a relay of the console, never a
        // blocked site's content.
        prop_assert!(out.is_empty() || out.starts_with(b"HTTP/1."), "{:?}", String::from_utf8_lossy(&out));
        prop_assert!(!out.windows(6).any(|w| w == b"admin!"));
    });
    let (code, _, err, _) =
        runtime.block_on(t.curl(&[&url("allowed.example", t.origin.port(), "/page.html")]));
    assert_eq!(code, 200, "still serving: {err}");
    runtime.block_on(t.events());
}
