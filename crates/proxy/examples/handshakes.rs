//! Intercepted TLS handshakes a second through the proxy, with a cold
//! certificate cache (a new site name every time, so a leaf is minted) and
//! a warm one (the same name). Each handshake is a fresh TCP connection,
//! `CONNECT name:443`, and a full TLS 1.3 handshake against the minted
//! certificate, verified against the proxy's CA; nothing reaches an origin.
//!
//!   cargo run --release -p tutela-proxy --example handshakes [-- N CONCURRENCY]

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tutela_lists::Index;
use tutela_policy::config::GroupConfig;
use tutela_policy::{Engine, PolicyConfig, Snapshot};
use tutela_proxy::ca::LocalCa;
use tutela_proxy::{Destinations, ListenLimits, Proxy, ProxyOptions, ProxyServer};

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("{what}: {e}");
    std::process::exit(1)
}

async fn handshake(
    proxy: std::net::SocketAddr,
    connector: &tokio_rustls::TlsConnector,
    name: String,
) {
    let mut s = TcpStream::connect(proxy)
        .await
        .unwrap_or_else(|e| fail("connect", e));
    s.write_all(format!("CONNECT {name}:443 HTTP/1.1\r\nHost: {name}:443\r\n\r\n").as_bytes())
        .await
        .unwrap_or_else(|e| fail("write", e));
    let mut head = [0u8; 256];
    let n = s.read(&mut head).await.unwrap_or_else(|e| fail("read", e));
    if !head[..n].starts_with(b"HTTP/1.1 200") {
        fail("CONNECT", String::from_utf8_lossy(&head[..n]));
    }
    let server = rustls::pki_types::ServerName::try_from(name).unwrap_or_else(|e| fail("name", e));
    connector
        .connect(server, s)
        .await
        .unwrap_or_else(|e| fail("handshake", e));
}

async fn run(
    proxy: std::net::SocketAddr,
    connector: &tokio_rustls::TlsConnector,
    n: usize,
    concurrency: usize,
    cold: bool,
    round: usize,
) -> f64 {
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (next, connector) = (next.clone(), connector.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return;
                }
                let name = if cold {
                    format!("site{round}x{i}.example.com")
                } else {
                    "www.example.com".to_string()
                };
                handshake(proxy, &connector, name).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap_or_else(|e| fail("task", e));
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(5_000);
    let concurrency = args.get(1).copied().unwrap_or(32);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail("runtime", e));
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap_or_else(|e| fail("tempdir", e));
        let ca = Arc::new(LocalCa::load_or_create(dir.path()).unwrap_or_else(|e| fail("CA", e)));
        let mut policy = PolicyConfig::default();
        policy.groups.insert(
            "pupils".into(),
            GroupConfig {
                tls_inspection: true,
                ..GroupConfig::default_pupils()
            },
        );
        let snapshot = Snapshot::build(&policy, Arc::new(Index::empty()), Arc::new(Index::empty()))
            .unwrap_or_else(|e| fail("policy", e));
        let proxy = Proxy::new(
            Arc::new(Engine::new(snapshot)),
            Destinations::default(),
            ProxyOptions {
                allowed_clients: vec!["127.0.0.0/8".parse().unwrap_or_else(|e| fail("net", e))],
                ..ProxyOptions::default()
            },
            None,
            None,
        )
        .with_inspection(ca.clone())
        .unwrap_or_else(|e| fail("inspection", e));
        let server = ProxyServer::start(
            "127.0.0.1:0".parse().unwrap_or_else(|e| fail("addr", e)),
            ListenLimits {
                max_connections_per_client: 100_000,
                ..ListenLimits::default()
            },
            Arc::new(proxy),
        )
        .await
        .unwrap_or_else(|e| fail("listen", e));
        let mut roots = rustls::RootCertStore::empty();
        {
            use rustls::pki_types::pem::PemObject;
            let cert = rustls::pki_types::CertificateDer::from_pem_slice(ca.certificate_pem().as_bytes())
                .unwrap_or_else(|e| fail("CA pem", e));
            roots.add(cert).unwrap_or_else(|e| fail("root", e));
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| fail("tls", e))
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        // Warm up both paths once.
        run(server.addr, &connector, 200, concurrency, true, 0).await;
        for round in 1..=3 {
            let cold = run(server.addr, &connector, n, concurrency, true, round).await;
            let warm = run(server.addr, &connector, n, concurrency, false, round).await;
            println!(
                "round {round}: {n} handshakes, {concurrency} at a time: cold cache {cold:.0}/s, warm cache {warm:.0}/s"
            );
        }
        server.shutdown();
        tokio::time::sleep(Duration::from_millis(100)).await;
    });
}
