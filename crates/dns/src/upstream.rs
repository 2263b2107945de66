//! Forwarding to upstream resolvers over UDP, TCP, DNS over TLS and DNS
//! over HTTPS, with failover, passive and active health checks, and a
//! bound on queries in flight.
//!
//! This is our own forwarder rather than hickory's: hickory's resolver
//! loses queries under dnsperf load (see the issue), and forwarding here is
//! one exchange of bytes that we already parse ourselves.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{oneshot, Semaphore};

use crate::wire;

/// Why an upstream spec or exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("bad upstream `{spec}`: {reason}")]
    Spec { spec: String, reason: String },
    #[error("{0}: timed out")]
    Timeout(String),
    #[error("{server}: {source}")]
    Io {
        server: String,
        source: std::io::Error,
    },
    #[error("{server}: {reason}")]
    Protocol { server: String, reason: String },
    #[error("too many upstream queries in flight")]
    Busy,
    #[error("no upstream answered")]
    AllFailed,
    #[error("TLS set-up: {0}")]
    Tls(String),
}

/// How to reach one upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// UDP, retried over TCP when an answer is truncated.
    Udp(SocketAddr),
    Tcp(SocketAddr),
    Tls {
        addr: SocketAddr,
        name: String,
    },
    Https {
        addr: SocketAddr,
        host: String,
        path: String,
    },
}

impl Spec {
    /// `9.9.9.9`, `udp://9.9.9.9:53`, `tcp://9.9.9.9`,
    /// `tls://9.9.9.9:853#dns.quad9.net`,
    /// `https://dns.quad9.net/dns-query#9.9.9.9` (the address after `#`,
    /// since the resolver cannot look up its own upstream).
    pub fn parse(spec: &str) -> Result<Spec, UpstreamError> {
        let bad = |reason: &str| UpstreamError::Spec {
            spec: spec.to_string(),
            reason: reason.to_string(),
        };
        let addr = |text: &str, port: u16| -> Result<SocketAddr, UpstreamError> {
            if let Ok(a) = text.parse::<SocketAddr>() {
                return Ok(a);
            }
            let ip: std::net::IpAddr =
                text.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse()
                    .map_err(|_| bad("want an IP address, optionally with :port"))?;
            Ok(SocketAddr::new(ip, port))
        };
        let (scheme, rest) = spec.split_once("://").unwrap_or(("udp", spec));
        match scheme {
            "udp" => Ok(Spec::Udp(addr(rest, 53)?)),
            "tcp" => Ok(Spec::Tcp(addr(rest, 53)?)),
            "tls" => {
                let (a, name) = rest
                    .split_once('#')
                    .ok_or_else(|| bad("DoT needs the server's name after #"))?;
                ServerName::try_from(name.to_string()).map_err(|_| bad("bad server name"))?;
                Ok(Spec::Tls {
                    addr: addr(a, 853)?,
                    name: name.to_string(),
                })
            }
            "https" => {
                let (url, ip) = rest
                    .split_once('#')
                    .ok_or_else(|| bad("DoH needs the server's address after #"))?;
                let (authority, path) = match url.find('/') {
                    Some(i) => (&url[..i], &url[i..]),
                    None => (url, "/dns-query"),
                };
                let (host, port) = match authority.rsplit_once(':') {
                    Some((h, p)) if !h.contains(']') || h.ends_with(']') => {
                        (h, p.parse::<u16>().map_err(|_| bad("bad port"))?)
                    }
                    _ => (authority, 443),
                };
                ServerName::try_from(host.to_string()).map_err(|_| bad("bad host name"))?;
                Ok(Spec::Https {
                    addr: addr(ip, port)?,
                    host: host.to_string(),
                    path: path.to_string(),
                })
            }
            _ => Err(bad("scheme must be udp, tcp, tls or https")),
        }
    }
}

impl std::fmt::Display for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Spec::Udp(a) => write!(f, "udp://{a}"),
            Spec::Tcp(a) => write!(f, "tcp://{a}"),
            Spec::Tls { addr, name } => write!(f, "tls://{addr}#{name}"),
            Spec::Https { addr, host, path } => write!(f, "https://{host}{path}#{addr}"),
        }
    }
}

/// Settings shared by every upstream.
#[derive(Debug, Clone)]
pub struct UpstreamOptions {
    /// One try at one upstream.
    pub attempt_timeout: Duration,
    /// Upstream queries in flight at most; past it, queries fail at once
    /// (and are served stale where possible) instead of piling up.
    pub max_in_flight: usize,
    /// Extra trust anchors for DoT and DoH upstreams (PEM), beside the web
    /// PKI roots.
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
}

impl Default for UpstreamOptions {
    fn default() -> Self {
        UpstreamOptions {
            attempt_timeout: Duration::from_millis(1500),
            max_in_flight: 4096,
            extra_roots: Vec::new(),
        }
    }
}

/// Consecutive failures after which an upstream is skipped.
const FAILURES_TO_DOWN: u32 = 3;
/// How long a failing upstream is skipped before it is tried again.
const DOWN_FOR: Duration = Duration::from_secs(15);

struct Health {
    failures: AtomicU32,
    /// Milliseconds since `epoch` until which the server is skipped.
    down_until_ms: AtomicU64,
}

struct Server {
    spec: Spec,
    transport: Transport,
    health: Health,
}

enum Transport {
    Udp(UdpClient, StreamClient),
    Stream(StreamClient),
    Https(DohClient),
}

/// The configured upstreams, in order of preference.
pub struct Upstreams {
    servers: Vec<Server>,
    permits: Arc<Semaphore>,
    options: UpstreamOptions,
    epoch: Instant,
}

/// A snapshot of one upstream's state, for logs and the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamStatus {
    pub server: String,
    pub up: bool,
    pub failures: u32,
}

impl Upstreams {
    /// Must run inside a Tokio runtime: UDP upstreams start their readers.
    pub async fn new(specs: &[Spec], options: UpstreamOptions) -> Result<Upstreams, UpstreamError> {
        let tls = Arc::new(tls_client_config(&options.extra_roots)?);
        let mut servers = Vec::new();
        for spec in specs {
            let transport = match spec {
                Spec::Udp(a) => Transport::Udp(
                    UdpClient::new(*a).await?,
                    StreamClient::new(*a, None, tls.clone()),
                ),
                Spec::Tcp(a) => Transport::Stream(StreamClient::new(*a, None, tls.clone())),
                Spec::Tls { addr, name } => {
                    Transport::Stream(StreamClient::new(*addr, Some(name.clone()), tls.clone()))
                }
                Spec::Https { addr, host, path } => Transport::Https(DohClient {
                    addr: *addr,
                    host: host.clone(),
                    path: path.clone(),
                    tls: tls.clone(),
                    sender: tokio::sync::Mutex::new(None),
                }),
            };
            servers.push(Server {
                spec: spec.clone(),
                transport,
                health: Health {
                    failures: AtomicU32::new(0),
                    down_until_ms: AtomicU64::new(0),
                },
            });
        }
        Ok(Upstreams {
            servers,
            permits: Arc::new(Semaphore::new(options.max_in_flight.max(1))),
            options,
            epoch: Instant::now(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    pub fn status(&self) -> Vec<UpstreamStatus> {
        let now = self.now_ms();
        self.servers
            .iter()
            .map(|s| UpstreamStatus {
                server: s.spec.to_string(),
                up: s.health.down_until_ms.load(Ordering::Relaxed) <= now,
                failures: s.health.failures.load(Ordering::Relaxed),
            })
            .collect()
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Asks the upstreams for `name`/`qtype`, healthy ones first in order,
    /// each once. The answer is checked to be a well-formed answer to this
    /// question.
    pub async fn resolve(
        &self,
        name: &str,
        qtype: u16,
        qclass: u16,
        dnssec_ok: bool,
    ) -> Result<Vec<u8>, UpstreamError> {
        let _permit = self
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| UpstreamError::Busy)?;
        let now = self.now_ms();
        let (up, down): (Vec<&Server>, Vec<&Server>) = self
            .servers
            .iter()
            .partition(|s| s.health.down_until_ms.load(Ordering::Relaxed) <= now);
        let mut last = UpstreamError::AllFailed;
        for server in up.into_iter().chain(down) {
            let id: u16 = rand::random();
            let query = wire::upstream_query(id, name, qtype, qclass, dnssec_ok);
            match tokio::time::timeout(self.options.attempt_timeout, server.exchange(&query)).await
            {
                Ok(Ok(answer)) => {
                    server.health.failures.store(0, Ordering::Relaxed);
                    server.health.down_until_ms.store(0, Ordering::Relaxed);
                    return Ok(answer);
                }
                Ok(Err(e)) => last = e,
                Err(_) => last = UpstreamError::Timeout(server.spec.to_string()),
            }
            let failures = server.health.failures.fetch_add(1, Ordering::Relaxed) + 1;
            if failures >= FAILURES_TO_DOWN {
                let until = self.now_ms() + DOWN_FOR.as_millis() as u64;
                if server.health.down_until_ms.swap(until, Ordering::Relaxed) <= now {
                    tracing::warn!(upstream = %server.spec, error = %last, "upstream marked down");
                }
            }
            tracing::debug!(upstream = %server.spec, error = %last, "upstream attempt failed");
        }
        Err(last)
    }

    /// Probes every upstream that is down with a query for the root's NS,
    /// so that one that has come back is used again before a client needs
    /// it. Runs until the returned task is aborted.
    pub fn spawn_health_checks(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let this = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(this) = this.upgrade() else { return };
                let now = this.now_ms();
                for server in &this.servers {
                    if server.health.down_until_ms.load(Ordering::Relaxed) <= now {
                        continue;
                    }
                    let query = wire::upstream_query(rand::random(), "", wire::TYPE_NS, 1, false);
                    let ok = matches!(
                        tokio::time::timeout(this.options.attempt_timeout, server.exchange(&query))
                            .await,
                        Ok(Ok(_))
                    );
                    if ok {
                        server.health.failures.store(0, Ordering::Relaxed);
                        server.health.down_until_ms.store(0, Ordering::Relaxed);
                        tracing::info!(upstream = %server.spec, "upstream is back");
                    }
                }
            }
        })
    }
}

impl Server {
    async fn exchange(&self, query: &[u8]) -> Result<Vec<u8>, UpstreamError> {
        let answer = match &self.transport {
            Transport::Udp(udp, tcp) => {
                let answer = udp.exchange(query, &self.spec).await?;
                // A truncated UDP answer: ask again over TCP (RFC 7766).
                if answer.len() >= 3 && answer[2] & 0x02 != 0 {
                    tcp.exchange(query, &self.spec).await?
                } else {
                    answer
                }
            }
            Transport::Stream(s) => s.exchange(query, &self.spec).await?,
            Transport::Https(h) => h.exchange(query, &self.spec).await?,
        };
        let protocol = |reason: &str| UpstreamError::Protocol {
            server: self.spec.to_string(),
            reason: reason.to_string(),
        };
        if answer.get(..2) != query.get(..2) {
            return Err(protocol("answer with the wrong ID"));
        }
        if !wire::same_question(&answer, query) {
            return Err(protocol("answer to another question"));
        }
        wire::answer_shape(&answer).map_err(|e| protocol(&format!("malformed answer: {e}")))?;
        Ok(answer)
    }
}

type Waiters = Arc<Mutex<HashMap<u16, oneshot::Sender<Vec<u8>>>>>;

/// UDP to one server: a few sockets on random ports, each with a reader
/// task that hands answers to the waiting query by ID.
struct UdpClient {
    sockets: Vec<(Arc<UdpSocket>, Waiters)>,
    next: AtomicU32,
}

const UDP_SOCKETS: usize = 4;

impl UdpClient {
    async fn new(server: SocketAddr) -> Result<UdpClient, UpstreamError> {
        let io = |source| UpstreamError::Io {
            server: server.to_string(),
            source,
        };
        let mut sockets = Vec::new();
        for _ in 0..UDP_SOCKETS {
            let bind: SocketAddr = if server.is_ipv4() {
                "0.0.0.0:0".parse().map_err(|_| UpstreamError::AllFailed)?
            } else {
                "[::]:0".parse().map_err(|_| UpstreamError::AllFailed)?
            };
            let socket = UdpSocket::bind(bind).await.map_err(io)?;
            socket.connect(server).await.map_err(io)?;
            let socket = Arc::new(socket);
            let waiters: Waiters = Arc::default();
            let (reader, w) = (Arc::downgrade(&socket), Arc::downgrade(&waiters));
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_535];
                loop {
                    let Some(socket) = reader.upgrade() else {
                        return;
                    };
                    let received = socket.recv(&mut buf).await;
                    drop(socket);
                    let n = match received {
                        Ok(n) => n,
                        // ICMP port unreachable and the like: the waiting
                        // query times out and fails over.
                        Err(_) => continue,
                    };
                    let Some(waiters) = w.upgrade() else { return };
                    let Some(id) = wire::id_of(&buf[..n]) else {
                        continue;
                    };
                    let waiter = waiters.lock().ok().and_then(|mut m| m.remove(&id));
                    if let Some(tx) = waiter {
                        let _ = tx.send(buf[..n].to_vec());
                    }
                }
            });
            sockets.push((socket, waiters));
        }
        Ok(UdpClient {
            sockets,
            next: AtomicU32::new(0),
        })
    }

    async fn exchange(&self, query: &[u8], spec: &Spec) -> Result<Vec<u8>, UpstreamError> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) as usize % self.sockets.len();
        let (socket, waiters) = &self.sockets[i];
        let id = wire::id_of(query).unwrap_or(0);
        let (tx, rx) = oneshot::channel();
        {
            let mut w = waiters.lock().map_err(|_| UpstreamError::AllFailed)?;
            if w.contains_key(&id) {
                // A clash of random IDs: let this attempt fail over.
                return Err(UpstreamError::Protocol {
                    server: spec.to_string(),
                    reason: "query ID in use".into(),
                });
            }
            w.insert(id, tx);
        }
        // Whatever happens next, the waiter must not outlive the attempt.
        let _guard = RemoveOnDrop(waiters, id);
        socket
            .send(query)
            .await
            .map_err(|source| UpstreamError::Io {
                server: spec.to_string(),
                source,
            })?;
        rx.await.map_err(|_| UpstreamError::AllFailed)
    }
}

struct RemoveOnDrop<'a>(&'a Waiters, u16);

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        if let Ok(mut w) = self.0.lock() {
            w.remove(&self.1);
        }
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// TCP or TLS to one server: a few idle connections kept for reuse, one
/// query at a time on each.
struct StreamClient {
    addr: SocketAddr,
    tls_name: Option<String>,
    tls: Arc<rustls::ClientConfig>,
    idle: Mutex<Vec<Box<dyn Stream>>>,
}

const MAX_IDLE: usize = 8;

impl StreamClient {
    fn new(addr: SocketAddr, tls_name: Option<String>, tls: Arc<rustls::ClientConfig>) -> Self {
        StreamClient {
            addr,
            tls_name,
            tls,
            idle: Mutex::new(Vec::new()),
        }
    }

    async fn connect(&self, spec: &Spec) -> Result<Box<dyn Stream>, UpstreamError> {
        let io = |source| UpstreamError::Io {
            server: spec.to_string(),
            source,
        };
        let tcp = TcpStream::connect(self.addr).await.map_err(io)?;
        let _ = tcp.set_nodelay(true);
        match &self.tls_name {
            None => Ok(Box::new(tcp)),
            Some(name) => {
                let name = ServerName::try_from(name.clone())
                    .map_err(|e| UpstreamError::Tls(e.to_string()))?;
                let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(io)?;
                Ok(Box::new(tls))
            }
        }
    }

    async fn exchange(&self, query: &[u8], spec: &Spec) -> Result<Vec<u8>, UpstreamError> {
        let pooled = self.idle.lock().ok().and_then(|mut v| v.pop());
        if let Some(mut conn) = pooled {
            // An idle connection the server may have closed: on failure,
            // try once more on a new one.
            if let Ok(answer) = Self::on(&mut *conn, query, spec).await {
                self.put_back(conn);
                return Ok(answer);
            }
        }
        let mut conn = self.connect(spec).await?;
        let answer = Self::on(&mut *conn, query, spec).await?;
        self.put_back(conn);
        Ok(answer)
    }

    fn put_back(&self, conn: Box<dyn Stream>) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
    }

    async fn on(
        conn: &mut dyn Stream,
        query: &[u8],
        spec: &Spec,
    ) -> Result<Vec<u8>, UpstreamError> {
        let io = |source| UpstreamError::Io {
            server: spec.to_string(),
            source,
        };
        let mut framed = Vec::with_capacity(query.len() + 2);
        framed.extend_from_slice(&(query.len() as u16).to_be_bytes());
        framed.extend_from_slice(query);
        conn.write_all(&framed).await.map_err(io)?;
        conn.flush().await.map_err(io)?;
        let mut len = [0u8; 2];
        conn.read_exact(&mut len).await.map_err(io)?;
        let mut answer = vec![0u8; u16::from_be_bytes(len) as usize];
        conn.read_exact(&mut answer).await.map_err(io)?;
        Ok(answer)
    }
}

type DohSender = hyper::client::conn::http2::SendRequest<Full<Bytes>>;

/// DNS over HTTPS (RFC 8484) to one server, over one HTTP/2 connection
/// that is made again when it breaks.
struct DohClient {
    addr: SocketAddr,
    host: String,
    path: String,
    tls: Arc<rustls::ClientConfig>,
    sender: tokio::sync::Mutex<Option<DohSender>>,
}

impl DohClient {
    async fn sender(&self, spec: &Spec) -> Result<DohSender, UpstreamError> {
        let mut slot = self.sender.lock().await;
        if let Some(s) = slot.as_ref() {
            if !s.is_closed() {
                return Ok(s.clone());
            }
        }
        let io = |source| UpstreamError::Io {
            server: spec.to_string(),
            source,
        };
        let tcp = TcpStream::connect(self.addr).await.map_err(io)?;
        let _ = tcp.set_nodelay(true);
        let mut config = (*self.tls).clone();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let name = ServerName::try_from(self.host.clone())
            .map_err(|e| UpstreamError::Tls(e.to_string()))?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(io)?;
        let (sender, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(tls),
        )
        .await
        .map_err(|e| UpstreamError::Protocol {
            server: spec.to_string(),
            reason: format!("HTTP/2: {e}"),
        })?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        *slot = Some(sender.clone());
        Ok(sender)
    }

    async fn exchange(&self, query: &[u8], spec: &Spec) -> Result<Vec<u8>, UpstreamError> {
        let protocol = |reason: String| UpstreamError::Protocol {
            server: spec.to_string(),
            reason,
        };
        let mut sender = self.sender(spec).await?;
        // The ID is zero on the wire for HTTP caches (RFC 8484 §4.1) and
        // restored afterwards.
        let mut body = query.to_vec();
        body[0..2].copy_from_slice(&[0, 0]);
        let request = http::Request::post(format!("https://{}{}", self.host, self.path))
            .header("content-type", "application/dns-message")
            .header("accept", "application/dns-message")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| protocol(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| protocol(e.to_string()))?;
        if !response.status().is_success() {
            return Err(protocol(format!("HTTP {}", response.status())));
        }
        let body = http_body_util::Limited::new(response.into_body(), 65_535)
            .collect()
            .await
            .map_err(|e| protocol(e.to_string()))?
            .to_bytes();
        let mut answer = body.to_vec();
        if answer.len() < wire::HEADER_LEN {
            return Err(protocol("short answer".into()));
        }
        answer[0..2].copy_from_slice(&query[0..2]);
        Ok(answer)
    }
}

/// The certificates in a PEM file, as extra trust anchors.
pub fn read_pem_certificates(
    path: &std::path::Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, UpstreamError> {
    let pem =
        std::fs::read(path).map_err(|e| UpstreamError::Tls(format!("{}: {e}", path.display())))?;
    let certs = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| UpstreamError::Tls(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(UpstreamError::Tls(format!(
            "{}: no certificate in it",
            path.display()
        )));
    }
    Ok(certs)
}

/// A TLS client configuration trusting the web PKI and `extra`.
pub fn tls_client_config(
    extra: &[rustls::pki_types::CertificateDer<'static>],
) -> Result<rustls::ClientConfig, UpstreamError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in extra {
        roots
            .add(cert.clone())
            .map_err(|e| UpstreamError::Tls(format!("extra root: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| UpstreamError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        assert_eq!(
            Spec::parse("9.9.9.9").unwrap(),
            Spec::Udp("9.9.9.9:53".parse().unwrap())
        );
        assert_eq!(
            Spec::parse("tcp://[::1]:5300").unwrap(),
            Spec::Tcp("[::1]:5300".parse().unwrap())
        );
        assert_eq!(
            Spec::parse("tls://9.9.9.9#dns.quad9.net").unwrap(),
            Spec::Tls {
                addr: "9.9.9.9:853".parse().unwrap(),
                name: "dns.quad9.net".into()
            }
        );
        assert_eq!(
            Spec::parse("https://dns.quad9.net/dns-query#9.9.9.9").unwrap(),
            Spec::Https {
                addr: "9.9.9.9:443".parse().unwrap(),
                host: "dns.quad9.net".into(),
                path: "/dns-query".into()
            }
        );
        assert_eq!(
            Spec::parse("https://localhost:8443/q#127.0.0.1").unwrap(),
            Spec::Https {
                addr: "127.0.0.1:8443".parse().unwrap(),
                host: "localhost".into(),
                path: "/q".into()
            }
        );
        for bad in [
            "tls://9.9.9.9",
            "https://x/dns-query",
            "ftp://1.2.3.4",
            "dns.google",
        ] {
            assert!(Spec::parse(bad).is_err(), "{bad}");
        }
    }
}
