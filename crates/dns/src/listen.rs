//! The listeners: UDP on plain threads (one socket each, by SO_REUSEPORT),
//! and TCP, DNS over TLS and DNS over HTTPS on Tokio.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::filter::{Client, DnsFilter, Step, Transport};

/// A stream client may wait this long between queries (RFC 7766 asks for
/// seconds, not minutes).
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// One query, or a TLS handshake, must arrive within this.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// A UDP thread looks at the stop flag at least this often.
const UDP_POLL: Duration = Duration::from_millis(200);
/// Kernel receive buffer per UDP socket, so bursts queue instead of being
/// dropped.
const UDP_RECV_BUFFER: usize = 4 << 20;

/// UDP sockets (one per thread, sharing a port) and TCP on the same port.
/// With port 0 the kernel picks the UDP port, which TCP may already use
/// elsewhere: then try another.
async fn bind_plain(addr: SocketAddr, threads: usize) -> io::Result<(Vec<UdpSocket>, TcpListener)> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let first = udp_socket(addr)?;
        let udp = first.local_addr()?;
        let mut sockets = vec![first];
        for _ in 1..threads {
            sockets.push(udp_socket(udp)?);
        }
        match TcpListener::bind(udp).await {
            Ok(tcp) => return Ok((sockets, tcp)),
            Err(e) if addr.port() == 0 && e.kind() == io::ErrorKind::AddrInUse && attempt < 20 => {
                continue
            }
            Err(e) => return Err(e),
        }
    }
}

/// What to listen on.
#[derive(Clone)]
pub struct Listen {
    /// UDP and TCP.
    pub plain: SocketAddr,
    pub tls: Option<SocketAddr>,
    pub https: Option<SocketAddr>,
    /// Certificate and key for DoT and DoH.
    pub tls_config: Option<Arc<rustls::ServerConfig>>,
    pub udp_threads: usize,
    pub max_connections: usize,
}

/// Running listeners. Dropping it does not stop them; call
/// [`DnsServer::shutdown`].
pub struct DnsServer {
    /// Where each listener is bound (useful with port 0).
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    pub tls: Option<SocketAddr>,
    pub https: Option<SocketAddr>,
    stop: Arc<AtomicBool>,
    udp_threads: Vec<std::thread::JoinHandle<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl DnsServer {
    /// Binds every listener, then serves. Must run inside a Tokio runtime.
    pub async fn start(listen: Listen, filter: Arc<DnsFilter>) -> io::Result<DnsServer> {
        let stop = Arc::new(AtomicBool::new(false));
        let runtime = tokio::runtime::Handle::current();
        let threads = match listen.udp_threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let (sockets, tcp_listener) = bind_plain(listen.plain, threads).await?;
        let udp = tcp_listener.local_addr()?;
        let mut udp_threads = Vec::new();
        for (i, socket) in sockets.into_iter().enumerate() {
            let (filter, stop, runtime) = (filter.clone(), stop.clone(), runtime.clone());
            udp_threads.push(
                std::thread::Builder::new()
                    .name(format!("dns-udp-{i}"))
                    .spawn(move || serve_udp(Arc::new(socket), filter, runtime, stop))?,
            );
        }
        let connections = Arc::new(Semaphore::new(listen.max_connections.max(1)));
        let tcp = tcp_listener.local_addr()?;
        let mut tasks = vec![tokio::spawn(accept_streams(
            tcp_listener,
            None,
            filter.clone(),
            connections.clone(),
        ))];
        let needs_tls = |what: &str| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{what} needs dns.certificate and dns.key"),
            )
        };
        let mut tls = None;
        if let Some(addr) = listen.tls {
            let config = listen.tls_config.clone().ok_or_else(|| needs_tls("DoT"))?;
            let mut config = (*config).clone();
            config.alpn_protocols = vec![b"dot".to_vec()];
            let l = TcpListener::bind(addr).await?;
            tls = Some(l.local_addr()?);
            tasks.push(tokio::spawn(accept_streams(
                l,
                Some(TlsAcceptor::from(Arc::new(config))),
                filter.clone(),
                connections.clone(),
            )));
        }
        let mut https = None;
        if let Some(addr) = listen.https {
            let config = listen.tls_config.clone().ok_or_else(|| needs_tls("DoH"))?;
            let mut config = (*config).clone();
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            let l = TcpListener::bind(addr).await?;
            https = Some(l.local_addr()?);
            tasks.push(tokio::spawn(accept_https(
                l,
                TlsAcceptor::from(Arc::new(config)),
                filter,
                connections,
            )));
        }
        Ok(DnsServer {
            udp,
            tcp,
            tls,
            https,
            stop,
            udp_threads,
            tasks,
        })
    }

    /// Stops every listener and waits for the UDP threads.
    pub fn shutdown(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.abort();
        }
        for t in self.udp_threads {
            let _ = t.join();
        }
    }
}

fn udp_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(false).ok();
    }
    // Best effort: the kernel caps it at net.core.rmem_max.
    let _ = socket.set_recv_buffer_size(UDP_RECV_BUFFER);
    socket.bind(&addr.into())?;
    socket.set_read_timeout(Some(UDP_POLL))?;
    Ok(socket.into())
}

fn serve_udp(
    socket: Arc<UdpSocket>,
    filter: Arc<DnsFilter>,
    runtime: tokio::runtime::Handle,
    stop: Arc<AtomicBool>,
) {
    // Larger than any query; a longer datagram arrives cut and is refused
    // as malformed.
    let mut buf = vec![0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let (n, peer) = match socket.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => {
                // ICMP errors from earlier sends surface here on Linux.
                tracing::debug!(error = %e, "UDP receive");
                continue;
            }
        };
        let client = Client {
            ip: peer.ip(),
            transport: Transport::Udp,
            token: None,
        };
        match filter.answer_now(&buf[..n], &client) {
            Step::Reply(answer) => {
                let _ = socket.send_to(&answer, peer);
            }
            Step::Drop => {}
            Step::Resolve(pending) => {
                let (filter, socket) = (filter.clone(), socket.clone());
                runtime.spawn(async move {
                    let answer = filter.resolve(*pending).await;
                    let _ = socket.send_to(&answer, peer);
                });
            }
        }
    }
}

async fn accept_streams(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    filter: Arc<DnsFilter>,
    connections: Arc<Semaphore>,
) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "DNS TCP accept");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Past the limit, new connections are closed at once: the old ones
        // keep being served.
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (filter, tls) = (filter.clone(), tls.clone());
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => serve_stream(tcp, peer, Transport::Tcp, &filter).await,
                Some(acceptor) => {
                    match tokio::time::timeout(READ_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => serve_stream(stream, peer, Transport::Tls, &filter).await,
                        _ => tracing::debug!(client = %peer, "DoT handshake failed"),
                    }
                }
            }
        });
    }
}

/// Length-prefixed queries (RFC 1035 §4.2.2, RFC 7858), answered in turn.
async fn serve_stream<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    transport: Transport,
    filter: &DnsFilter,
) {
    let client = Client {
        ip: peer.ip(),
        transport,
        token: None,
    };
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(IDLE_TIMEOUT, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let mut packet = vec![0u8; u16::from_be_bytes(len) as usize];
        match tokio::time::timeout(READ_TIMEOUT, stream.read_exact(&mut packet)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let Some(answer) = filter.answer(&packet, &client).await else {
            return;
        };
        let mut framed = Vec::with_capacity(answer.len() + 2);
        framed.extend_from_slice(&(answer.len().min(65_535) as u16).to_be_bytes());
        framed.extend_from_slice(&answer[..answer.len().min(65_535)]);
        if stream.write_all(&framed).await.is_err() || stream.flush().await.is_err() {
            return;
        }
    }
}

async fn accept_https(
    listener: TcpListener,
    tls: TlsAcceptor,
    filter: Arc<DnsFilter>,
    connections: Arc<Semaphore>,
) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "DoH accept");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (filter, tls) = (filter.clone(), tls.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let Ok(Ok(stream)) = tokio::time::timeout(READ_TIMEOUT, tls.accept(tcp)).await else {
                tracing::debug!(client = %peer, "DoH handshake failed");
                return;
            };
            let service = hyper::service::service_fn(move |request| {
                let filter = filter.clone();
                async move { Ok::<_, std::convert::Infallible>(doh(request, peer, &filter).await) }
            });
            let mut builder =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            builder
                .http1()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(READ_TIMEOUT);
            builder
                .http2()
                .timer(hyper_util::rt::TokioTimer::new())
                .max_concurrent_streams(100);
            let _ = builder
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// RFC 8484: `GET /dns-query?dns=<base64url>` or `POST /dns-query` with an
/// `application/dns-message` body; `/dns-query/<token>` names the device.
async fn doh(
    request: Request<Incoming>,
    peer: SocketAddr,
    filter: &DnsFilter,
) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_string();
    let token = match path.strip_prefix("/dns-query") {
        Some("") | Some("/") => None,
        Some(rest) => match rest.strip_prefix('/') {
            Some(t) if !t.contains('/') => Some(t.to_string()),
            _ => return plain(StatusCode::NOT_FOUND, "not found\n"),
        },
        None => return plain(StatusCode::NOT_FOUND, "not found\n"),
    };
    if let Some(t) = &token {
        if filter.engine_snapshot().device_by_token(t).is_none() {
            return plain(StatusCode::FORBIDDEN, "unknown device token\n");
        }
    }
    let packet = match *request.method() {
        Method::GET => {
            let param = request.uri().query().and_then(|q| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix("dns=").map(str::to_string))
            });
            let Some(param) = param else {
                return plain(StatusCode::BAD_REQUEST, "missing dns parameter\n");
            };
            match base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(param.trim_end_matches('='))
            {
                Ok(p) => p,
                Err(_) => {
                    return plain(StatusCode::BAD_REQUEST, "dns parameter is not base64url\n")
                }
            }
        }
        Method::POST => {
            let is_dns = request
                .headers()
                .get(hyper::header::CONTENT_TYPE)
                .is_some_and(|v| {
                    v.as_bytes()
                        .eq_ignore_ascii_case(b"application/dns-message")
                });
            if !is_dns {
                return plain(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "want application/dns-message\n",
                );
            }
            match Limited::new(request.into_body(), 65_535).collect().await {
                Ok(b) => b.to_bytes().to_vec(),
                Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "query too large\n"),
            }
        }
        _ => return plain(StatusCode::METHOD_NOT_ALLOWED, "GET or POST\n"),
    };
    let client = Client {
        ip: peer.ip(),
        transport: Transport::Https,
        token: token.as_deref(),
    };
    match filter.answer(&packet, &client).await {
        Some(answer) => {
            let mut r = Response::new(Full::new(Bytes::from(answer)));
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/dns-message"),
            );
            r
        }
        None => plain(StatusCode::TOO_MANY_REQUESTS, "slow down\n"),
    }
}

/// A server TLS configuration from PEM files.
pub fn tls_server_config(
    certificate: &std::path::Path,
    key: &std::path::Path,
) -> Result<rustls::ServerConfig, crate::DnsError> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|e| crate::DnsError::Tls(format!("{}: {e}", path.display())))
    };
    let pem = read(certificate)?;
    let chain = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| crate::DnsError::Tls(format!("{}: {e}", certificate.display())))?;
    if chain.is_empty() {
        return Err(crate::DnsError::Tls(format!(
            "{}: no certificate in it",
            certificate.display()
        )));
    }
    let pem = read(key)?;
    let key_der = rustls_pemfile::private_key(&mut &pem[..])
        .map_err(|e| crate::DnsError::Tls(format!("{}: {e}", key.display())))?
        .ok_or_else(|| crate::DnsError::Tls(format!("{}: no private key in it", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| crate::DnsError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| crate::DnsError::Tls(e.to_string()))
}
