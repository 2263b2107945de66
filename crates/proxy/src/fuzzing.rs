//! The bodies of the cargo-fuzz targets in `crates/proxy/fuzz`, here so
//! `tests/fuzz_corpus.rs` replays the kept corpus through exactly what the
//! fuzzer ran, on stable Rust. Not an API: every function panics when an
//! invariant breaks, which is what a fuzzer looks for.
//!
//! Nothing here reaches the network. The proxies' destinations are
//! [`Destinations::offline`]: IP literals and the names table are checked
//! as usual, no name is ever looked up, and no address is ever connected
//! to, whatever the input.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use http::{HeaderMap, Uri};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tutela_lists::{HostName, Index, IndexBuilder, Usage};
use tutela_policy::config::{AccountConfig, GroupConfig, IdentityMapping};
use tutela_policy::{Engine, Identity, PolicyConfig, SafeSearch, SearchEngine, Snapshot, Target};
use tutela_store::{event_for, Protocol, RefGenerator};

use crate::auth::{basic_credentials, Authentication};
use crate::blockpage::{escape_html, BlockPage, ENGLISH};
use crate::ca::LocalCa;
use crate::destination::{bare_host, Destinations};
use crate::hello::{extension_types, read_client_hello, Hello, HelloError, EXTENSION_ECH};
use crate::listen::{http_builder, serve_connection, ListenLimits};
use crate::proxy::{inner_authority, pac_script, ConnectionGuard, Proxy, ProxyOptions};
use crate::safesearch;

/// The clients a request input may come from (its first byte's low bits):
/// the default group (pupils), staff, an inspected group, and an address
/// the proxy does not serve.
const CLIENTS: [[u8; 4]; 4] = [
    [127, 0, 0, 1],
    [127, 0, 0, 2],
    [127, 0, 0, 3],
    [10, 1, 2, 3],
];

/// The one account: `alice` / `secret`, in the staff group, hashed with
/// tiny argon2 costs so a right guess is cheap to check.
pub const ACCOUNT: (&str, &str) = ("alice", "secret");

/// The engines safe search rewrites a URL for: a host of each, and the
/// parameter that must end up in every rewritten URL.
const SAFE_KEYS: [(SearchEngine, &str, &str, &str); 3] = [
    (SearchEngine::Google, "www.google.com", "safe", "active"),
    (SearchEngine::Bing, "www.bing.com", "adlt", "strict"),
    (SearchEngine::DuckDuckGo, "duckduckgo.com", "kp", "1"),
];

struct World {
    runtime: tokio::runtime::Runtime,
    /// Authentication off, optional, required; all with TLS inspection.
    proxies: [Arc<Proxy>; 3],
    snapshot: Arc<Snapshot>,
    /// A client that trusts the proxy's CA: HTTP/1.1, and h2.
    tls: [tokio_rustls::TlsConnector; 2],
}

/// Panics anywhere in the process (spawned tasks' too, which Tokio would
/// otherwise swallow), counted by a panic hook.
static PANICS: AtomicUsize = AtomicUsize::new(0);

/// One input at a time, so the panic count is this input's (the replay
/// test runs the targets on parallel threads).
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a Tokio runtime");
        let snapshot = Arc::new(policy_snapshot());
        let dir = std::env::temp_dir().join(format!("tutela-proxy-fuzz-{}", std::process::id()));
        let ca = Arc::new(LocalCa::load_or_create(&dir).expect("a CA for the fuzz targets"));
        let _ = std::fs::remove_dir_all(&dir);
        let proxies = {
            let _in_runtime = runtime.enter();
            [
                Authentication::Off,
                Authentication::Optional,
                Authentication::Required,
            ]
            .map(|authentication| {
                let options = ProxyOptions {
                    allowed_clients: vec!["127.0.0.1/32".parse().expect("a subnet")],
                    never_inspect_sites: vec!["nhs.uk".into()],
                    authentication,
                    // Nothing is ever waited for long: no origin answers.
                    connect_timeout: Duration::from_secs(1),
                    hello_timeout: Duration::from_secs(2),
                    header_timeout: Duration::from_secs(2),
                    ..ProxyOptions::default()
                };
                let proxy = Proxy::new(
                    Arc::new(Engine::new(policy_snapshot())),
                    destinations(),
                    options,
                    None,
                    None,
                )
                .with_inspection(ca.clone())
                .expect("inspection");
                Arc::new(proxy)
            })
        };
        let tls = [vec![b"http/1.1".to_vec()], vec![b"h2".to_vec()]].map(|alpn| {
            use rustls::pki_types::pem::PemObject;
            let mut roots = rustls::RootCertStore::empty();
            let cert =
                rustls::pki_types::CertificateDer::from_pem_slice(ca.certificate_pem().as_bytes())
                    .expect("the CA's certificate");
            roots.add(cert).expect("a root");
            let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
            config.alpn_protocols = alpn;
            tokio_rustls::TlsConnector::from(Arc::new(config))
        });
        World {
            runtime,
            proxies,
            snapshot,
            tls,
        }
    })
}

/// The policy every target decides with: a blocked site, a URL expression,
/// staff who may read it, an inspected group, and one account.
fn policy_snapshot() -> Snapshot {
    let mut b = IndexBuilder::new(4);
    let adult = b
        .categories_mut()
        .intern("adult", Usage::Black)
        .expect("a category");
    let name = HostName::parse("blocked.example").expect("a name");
    b.add_domain(&name, adult).expect("an entry");
    b.add_expression(r"/casino-[0-9]+/", adult)
        .expect("an expression");
    let mut p = PolicyConfig::default();
    p.groups.insert(
        "staff".into(),
        GroupConfig {
            allow_sites: vec!["blocked.example".into()],
            ..GroupConfig::default_staff()
        },
    );
    p.groups.insert(
        "inspected".into(),
        GroupConfig {
            block_categories: vec!["adult".into()],
            block_sites: vec!["allowed.example/private".into()],
            tls_inspection: true,
            ..GroupConfig::default_pupils()
        },
    );
    p.identities = vec![
        IdentityMapping {
            subnet: "127.0.0.2/32".parse().expect("a subnet"),
            group: "staff".into(),
            site: Some("main".into()),
        },
        IdentityMapping {
            subnet: "127.0.0.3/32".parse().expect("a subnet"),
            group: "inspected".into(),
            site: None,
        },
    ];
    p.accounts = vec![AccountConfig {
        username: ACCOUNT.0.into(),
        password_hash: cheap_hash(ACCOUNT.1),
        group: Some("staff".into()),
        expires: None,
    }];
    Snapshot::build(&p, Arc::new(b.finish()), Arc::new(Index::empty())).expect("the policy")
}

fn cheap_hash(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(8, 1, 1, None).expect("argon2 parameters");
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::from_b64("dHV0ZWxhZnV6enNhbHQ").expect("a salt");
    argon
        .hash_password(password.as_bytes(), &salt)
        .expect("a hash")
        .to_string()
}

/// Offline destinations: `allowed.example` names a public address (so a
/// request gets as far as the connector), `inside.example` names loopback
/// and `meta.example` the cloud metadata address (both refused).
fn destinations() -> Destinations {
    Destinations::new(
        Vec::new(),
        vec!["127.0.0.1:8080".parse().expect("an address")],
        [
            ("allowed.example", IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
            ("www.google.com", IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2))),
            ("inside.example", IpAddr::V4(Ipv4Addr::LOCALHOST)),
            (
                "meta.example",
                IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
            ),
        ]
        .map(|(name, ip)| (name.to_string(), ip)),
    )
    .offline()
}

/// Whatever a client connection sends, through the listener's own
/// connection code (hyper's HTTP/1.1 parser, sign-in, the decision, the
/// block page, the rewrite, the CONNECT and TLS inspection), over an
/// in-memory pipe.
///
/// `data[0]` picks the client (bits 0-1), the proxy's authentication (bits
/// 2-3: off, optional, required) and, with bit 4, an inspected tunnel:
/// then the rest is `host\n` and the bytes to send inside TLS to that host
/// (after an HTTP/2 preface when bit 5 asks for h2). Otherwise the rest is
/// sent as is. Every response must be well formed and say something the
/// proxy may say.
pub fn request(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let _turn = one_at_a_time();
    let w = world();
    let client = SocketAddr::new(IpAddr::from(CLIENTS[usize::from(mode & 3)]), 40_000);
    let proxy = w.proxies[usize::from((mode >> 2) & 3) % 3].clone();
    let before = PANICS.load(Ordering::SeqCst);
    w.runtime.block_on(async {
        let exchange = async {
            if mode & 0x10 != 0 {
                tunnel_exchange(w, proxy, client, rest, mode & 0x20 != 0).await
            } else {
                let out = exchange(proxy, client, |mut io| async move {
                    let (mut r, mut wr) = tokio::io::split(&mut io);
                    let mut out = Vec::new();
                    let send = async {
                        let _ = wr.write_all(rest).await;
                        settle().await;
                        let _ = wr.shutdown().await;
                    };
                    let _ = tokio::join!(send, r.read_to_end(&mut out));
                    out
                })
                .await;
                check_responses(&out);
            }
        };
        if tokio::time::timeout(Duration::from_secs(30), exchange)
            .await
            .is_err()
        {
            panic!("no end to the exchange within 30 s for {data:?}");
        }
    });
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        before,
        "a task panicked on {data:?}"
    );
}

/// Serves one connection on an in-memory pipe while `client` talks on the
/// other end; returns what `client` returns once both are done.
async fn exchange<F, Fut, T>(proxy: Arc<Proxy>, peer: SocketAddr, client: F) -> T
where
    F: FnOnce(tokio::io::DuplexStream) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let (near, far) = tokio::io::duplex(64 << 10);
    let serve = serve_connection(
        proxy,
        http_builder(&ListenLimits::default()),
        TokioIo::new(far),
        peer,
        ConnectionGuard(Arc::new(())),
    );
    let ((), out) = tokio::join!(serve, client(near));
    out
}

/// Lets the proxy finish what it was sent before the client closes: hyper
/// (without half-close, as the listener runs it) drops a request whose
/// client has gone. Nothing the proxy does here waits on a timer or the
/// network, so a bounded number of turns of the one-thread runtime is
/// enough for every request but a password check's.
async fn settle() {
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// `CONNECT host:443`, then (when the proxy says 200) TLS to `host`
/// trusting the proxy's CA, then `inner` inside.
async fn tunnel_exchange(
    w: &'static World,
    proxy: Arc<Proxy>,
    peer: SocketAddr,
    rest: &[u8],
    h2: bool,
) {
    let (host, inner) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(host) = std::str::from_utf8(host) else {
        return;
    };
    let head = format!("CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n");
    let tls = w.tls[usize::from(h2)].clone();
    let server_name = rustls::pki_types::ServerName::try_from(host.to_string()).ok();
    let (answer, inner_out) = exchange(proxy, peer, |mut io| async move {
        let _ = io.write_all(head.as_bytes()).await;
        let mut answer = Vec::new();
        let mut byte = [0u8; 1];
        while !answer.ends_with(b"\r\n\r\n") {
            match io.read(&mut byte).await {
                Ok(1) => answer.push(byte[0]),
                _ => break,
            }
        }
        let tunnel = answer.starts_with(b"HTTP/1.1 200 ");
        let Some(name) = server_name.filter(|_| tunnel) else {
            let _ = io.shutdown().await;
            let _ = io.read_to_end(&mut answer).await;
            return (answer, None);
        };
        let Ok(tls) = tls.connect(name, io).await else {
            return (answer, None);
        };
        let (mut r, mut wr) = tokio::io::split(tls);
        let mut out = Vec::new();
        let send = async {
            if h2 {
                let _ = wr.write_all(H2_PREFACE).await;
            }
            let _ = wr.write_all(inner).await;
            settle().await;
            let _ = wr.shutdown().await;
        };
        let _ = tokio::join!(send, r.read_to_end(&mut out));
        (answer, Some(out))
    })
    .await;
    check_responses(&answer);
    // hyper serves HTTP/2 to a client that opens with its preface,
    // whatever ALPN said.
    let h2 = h2 || inner.starts_with(H2_PREFACE);
    if let Some(out) = inner_out.filter(|_| !h2) {
        check_responses(&out);
    }
}

/// Whether `bytes` start a response (HTTP/1.0 to a 1.0 request).
fn is_response(bytes: &[u8]) -> bool {
    bytes.starts_with(b"HTTP/1.1 ") || bytes.starts_with(b"HTTP/1.0 ")
}

/// Checks every HTTP/1 response in `out`, in order, up to a tunnel.
fn check_responses(out: &[u8]) {
    let mut rest = out;
    while !rest.is_empty() {
        assert!(
            is_response(rest),
            "not an HTTP/1 response: {:?}",
            String::from_utf8_lossy(rest)
        );
        let Some(head_end) = rest.windows(4).position(|w| w == b"\r\n\r\n") else {
            panic!(
                "a response head with no end: {:?}",
                String::from_utf8_lossy(rest)
            );
        };
        let head = String::from_utf8_lossy(&rest[..head_end]).to_string();
        let after = &rest[head_end + 4..];
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("a bad status line: {status_line:?}"));
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert!(
            matches!(
                status,
                100 | 200 | 400 | 403 | 404 | 407 | 413 | 414 | 431 | 501 | 502 | 505
            ),
            "a response the proxy never means to give: {head:?}"
        );
        let length: usize = match header("content-length") {
            Some(v) => v.parse().unwrap_or_else(|_| panic!("content-length {v:?}")),
            None if status == 200 => {
                // The CONNECT's answer: the tunnel's bytes follow.
                assert!(
                    header("content-type").is_none(),
                    "a 200 with no length: {head:?}"
                );
                return;
            }
            None if status == 100 => 0,
            None => panic!("a response with no length: {head:?}"),
        };
        // A HEAD's answer says the length but has no body.
        let body = if is_response(after) || after.is_empty() {
            &[][..]
        } else {
            after
                .get(..length)
                .unwrap_or_else(|| panic!("a body cut short: {head:?}"))
        };
        check_response(status, &head, header("content-type"), body, &header);
        rest = &after[body.len()..];
    }
}

fn check_response<'a>(
    status: u16,
    head: &str,
    content_type: Option<&str>,
    body: &[u8],
    header: &dyn Fn(&str) -> Option<&'a str>,
) {
    let text = String::from_utf8_lossy(body);
    match status {
        // The proxy makes nothing else itself, and reaches no origin.
        200 => match content_type {
            Some("application/x-ns-proxy-autoconfig") => {
                assert!(body.is_empty() || text.matches('"').count() == 6, "{text}");
            }
            Some("application/x-pem-file") => {}
            _ => panic!("a 200 the proxy did not make: {head:?}"),
        },
        407 => assert!(header("proxy-authenticate").is_some(), "{head:?}"),
        403 if content_type == Some("text/html; charset=utf-8") => {
            assert!(header("x-tutela-reference").is_some(), "{head:?}");
            check_page_markup(&text);
        }
        _ => {}
    }
}

/// The tags of the block page's template.
const PAGE_TAGS: &[&str] = &[
    "!DOCTYPE", "html", "head", "meta", "title", "style", "body", "main", "h1", "p", "dl", "dt",
    "dd", "code", "a",
];

/// Every `<` on a block page opens one of the template's own tags: no value
/// from a request or a list adds markup.
fn check_page_markup(html: &str) {
    for (i, _) in html.match_indices('<') {
        let tag = html[i + 1..]
            .split([' ', '>', '\n'])
            .next()
            .unwrap_or_default();
        let name = tag.strip_prefix('/').unwrap_or(tag);
        assert!(
            PAGE_TAGS.contains(&name),
            "markup <{tag} on a block page: {html}"
        );
    }
}

/// Bytes as a client sends them in a tunnel: the first byte of `data` is
/// the size of each read (1 to 256), the rest the bytes.
///
/// `read_client_hello` (rustls) and the proxy's own extension scan
/// (`extension_types`, which finds an Encrypted ClientHello) must agree:
/// a hello rustls accepts must be one the scan reads, or an ECH could
/// pass unseen; the bytes kept for replay must be exactly those sent.
/// The scan must give the same answer however the handshake is split into
/// records.
pub fn client_hello(data: &[u8]) {
    let Some((&size, bytes)) = data.split_first() else {
        return;
    };
    let _turn = one_at_a_time();
    let w = world();
    let mut reader = Trickle {
        bytes,
        each: usize::from(size) + 1,
    };
    let result = w
        .runtime
        .block_on(read_client_hello(&mut reader, Duration::from_secs(5)));
    match result {
        Ok(hello) => {
            assert!(
                bytes.starts_with(&hello.bytes),
                "the kept hello is not what was sent"
            );
            let types = extension_types(&hello.bytes);
            assert!(
                types.is_some(),
                "rustls read a ClientHello the ECH scan cannot: {:?}",
                hello.bytes
            );
            assert_eq!(
                hello.has_encrypted_hello(),
                types.is_some_and(|t| t.contains(&EXTENSION_ECH))
            );
            if let Some(name) = &hello.server_name {
                // What the tunnel decides on; an error is a block.
                let _ = Target::host(name);
            }
        }
        Err(HelloError::NotTls(_) | HelloError::Closed | HelloError::TooLarge) => {}
        Err(e) => panic!("{e} reading from memory"),
    }
    // The scan, on the bytes as sent and re-split into records of `size`.
    let types = extension_types(bytes);
    let hello = Hello {
        server_name: None,
        bytes: bytes.to_vec(),
    };
    assert_eq!(
        hello.has_encrypted_hello(),
        types.as_ref().is_some_and(|t| t.contains(&EXTENSION_ECH))
    );
    if let Some(payload) = handshake_payload(bytes) {
        let resplit = records(&payload, usize::from(size) + 1);
        assert_eq!(
            extension_types(&resplit),
            types,
            "the same handshake in other records reads differently"
        );
    }
}

/// The payloads of `bytes` if it is nothing but whole handshake records.
fn handshake_payload(mut bytes: &[u8]) -> Option<Vec<u8>> {
    let mut payload = Vec::new();
    while !bytes.is_empty() {
        let (head, rest) = (bytes.get(..5)?, &bytes[5..]);
        if head[0] != 0x16 {
            return None;
        }
        let length = usize::from(u16::from_be_bytes([head[3], head[4]]));
        payload.extend_from_slice(rest.get(..length)?);
        bytes = &rest[length..];
    }
    Some(payload)
}

/// `payload` as handshake records of at most `size` bytes each.
fn records(payload: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in payload.chunks(size) {
        out.extend_from_slice(&[0x16, 3, 1]);
        out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

/// A reader that hands out `each` bytes at a time.
struct Trickle<'a> {
    bytes: &'a [u8],
    each: usize,
}

impl AsyncRead for Trickle<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = self.each.min(buf.remaining()).min(self.bytes.len());
        let (now, later) = self.bytes.split_at(n);
        buf.put_slice(now);
        self.bytes = later;
        Poll::Ready(Ok(()))
    }
}

/// Text as it reaches the proxy's own parsing: a request target, a
/// CONNECT authority, a Host header, a Proxy-Authorization value, a
/// ClientHello's server name. Each is read the way the request path reads
/// it, with invariants:
///
/// - the host decided (`Target::parse` of the URL) is the host connected
///   to (`bare_host` of the same URI), and an address target is one the
///   destination check can read;
/// - safe search: the rewritten URL still parses, keeps its path and its
///   search terms, carries the engine's switch exactly once and last (no
///   spelling of the parameter survives), and rewriting twice changes
///   nothing more;
/// - search terms are non-empty, trimmed, NUL-free text decoded from the
///   query;
/// - Basic credentials round-trip; a PAC script or a block page adds no
///   markup or quotes from its input.
pub fn url(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();
    let _turn = one_at_a_time();
    let w = world();
    if let Ok(uri) = text.parse::<Uri>() {
        absolute_url(w, &uri);
    }
    if let Ok(authority) = text.parse::<http::uri::Authority>() {
        connect_authority(&authority);
    }
    if let Ok(target) = Target::parse(text) {
        match Target::host(target.host_str()) {
            Ok(again) => assert_eq!(again.host_str(), target.host_str()),
            Err(e) => panic!("{} does not read back: {e}", target.host_str()),
        }
    }
    credentials(data);
    if let Some(script) = pac_script(text) {
        assert_eq!(script.matches('"').count(), 6, "{script}");
        assert!(script.contains(&format!("\"PROXY {text}\"")));
    }
    let escaped = escape_html(text);
    assert!(!escaped.contains(['<', '>', '"', '\'']) && !escaped.chars().any(char::is_control));
    let categories = [text.to_string()];
    let page = BlockPage {
        url: text,
        host: text,
        categories: &categories,
        group: text,
        rule: "group-block-category",
        reason: text,
        reference: text,
        user: Some(text),
        reviewable: true,
    };
    check_page_markup(&page.render(&ENGLISH, "http://console.example"));
    let link = page.review_link("http://console.example");
    assert!(
        link.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%/:?&=".contains(&b)),
        "{link}"
    );
}

fn absolute_url(w: &World, uri: &Uri) {
    // The proxy forwards `http://` URLs, and builds `https://` ones
    // inside inspected tunnels; any other scheme is a 400.
    let (Some(scheme @ ("http" | "https")), Some(authority)) = (uri.scheme_str(), uri.authority())
    else {
        return;
    };
    let url = uri.to_string();
    let Ok(target) = Target::parse(&url) else {
        return;
    };
    if target.key().is_ip {
        assert!(
            target.host_str().parse::<IpAddr>().is_ok(),
            "an address target the destination check cannot read: {url}"
        );
    }
    if let Ok(Ok(connected)) = bare_host(uri).map(Target::host) {
        assert_eq!(
            connected.host_str(),
            target.host_str(),
            "{url} decided as one host, connected as another"
        );
    }
    // What the proxy logs, with the search terms read from the URL.
    let identity = Identity {
        group: Some("pupils"),
        user: None,
    };
    let at = jiff::Timestamp::now();
    let verdict = w.snapshot.decide(&identity, &target, at);
    let request = tutela_store::Request {
        client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        user: None,
        device: None,
        site: None,
        protocol: Protocol::Http,
        raw_url: Some(url.as_bytes()),
        page_view: true,
        at,
    };
    let event = event_for(
        &RefGenerator::default(),
        &w.snapshot,
        &verdict,
        &request,
        &target,
    );
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    if let Some(terms) = &event.search {
        check_terms(terms, &url);
    }
    if let Some(terms) = tutela_store::search_terms(target.host_str(), path_and_query) {
        check_terms(&terms, path_and_query);
    }
    for (engine, host, key, value) in SAFE_KEYS {
        let safe = SafeSearch {
            engine,
            safe_host: "safe.example",
        };
        let mut headers = HeaderMap::new();
        let once = safesearch::enforce(&safe, path_and_query, &mut headers);
        assert!(headers.is_empty());
        let rewritten = format!("{scheme}://{authority}{once}")
            .parse::<Uri>()
            .unwrap_or_else(|e| panic!("{url} rewritten to {once}, which is no URL: {e}"));
        assert_eq!(rewritten.path(), uri.path(), "{url} -> {once}");
        let pairs: Vec<(Vec<u8>, &str)> = rewritten
            .query()
            .unwrap_or_default()
            .split('&')
            .map(|pair| {
                let (name, v) = pair.split_once('=').unwrap_or((pair, ""));
                (decoded(name), v)
            })
            .collect();
        let named: Vec<usize> = (0..pairs.len())
            .filter(|&i| pairs[i].0.eq_ignore_ascii_case(key.as_bytes()))
            .collect();
        assert_eq!(
            named,
            [pairs.len() - 1],
            "{url} -> {once}: `{key}` not once and last"
        );
        assert_eq!(pairs[pairs.len() - 1].1, value);
        assert_eq!(
            safesearch::enforce(&safe, &once, &mut headers),
            once,
            "rewriting twice changed {once}"
        );
        assert_eq!(
            tutela_store::search_terms(host, &once),
            tutela_store::search_terms(host, path_and_query),
            "the rewrite changed the search terms of {url}"
        );
    }
    let mut headers = HeaderMap::new();
    for (host, level) in [
        ("restrict.youtube.com", "Strict"),
        ("restrictmoderate.youtube.com", "Moderate"),
    ] {
        let safe = SafeSearch {
            engine: SearchEngine::YouTube,
            safe_host: host,
        };
        assert_eq!(
            safesearch::enforce(&safe, path_and_query, &mut headers),
            path_and_query
        );
        assert_eq!(headers[safesearch::YOUTUBE_RESTRICT], level);
    }
}

/// `name` percent-decoded with `+` as a space, as a server reads it.
fn decoded(name: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(&name.replace('+', " ")).collect()
}

/// Search terms are text decoded from `source`'s query.
fn check_terms(terms: &str, source: &str) {
    assert!(!terms.is_empty() && terms.trim() == terms && !terms.contains('\0'));
    let query = source.split_once('?').map_or("", |(_, q)| q);
    let whole: String = String::from_utf8_lossy(&decoded(query))
        .chars()
        .filter(|&c| c != '\0')
        .collect();
    assert!(
        whole.contains(terms),
        "search terms {terms:?} are not from {source:?}"
    );
}

fn connect_authority(authority: &http::uri::Authority) {
    let Ok(target) = Target::host(authority.host()) else {
        return;
    };
    if target.key().is_ip {
        assert!(target.host_str().parse::<IpAddr>().is_ok());
    }
    let port = authority.port_u16().unwrap_or(443);
    // As `intercept` builds the URL of each request inside the tunnel.
    let inner = inner_authority(target.host_str(), &format!("{}:{port}", authority.host()));
    let url = format!("https://{inner}/");
    let uri = url
        .parse::<Uri>()
        .unwrap_or_else(|e| panic!("inside a tunnel to {authority}, {url} is no URL: {e}"));
    assert_eq!(uri.port_u16().unwrap_or(443), port, "{authority} -> {url}");
    let again = Target::parse(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
    assert_eq!(again.host_str(), target.host_str(), "{authority} -> {url}");
}

fn credentials(data: &[u8]) {
    let Some((user, password)) = basic_credentials(data) else {
        return;
    };
    assert!(!user.is_empty() && !user.contains(':'));
    let header = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    assert_eq!(basic_credentials(header.as_bytes()), Some((user, password)));
}
