//! One request through the proxy: who is asking, the verdict, then a block
//! page, a rewritten request to the origin, or a tunnel.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use jiff::Timestamp;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tutela_lists::CategoryMask;
use tutela_policy::{Action, Engine, Identity, Rule, Snapshot, Target, Verdict};
use tutela_store::{event_for, AccessEvent, EventSink, Protocol, RefGenerator};

use crate::blockpage::{BlockPage, ENGLISH};
use crate::destination::{
    connect_any, CheckedConnector, ConnectError, DestinationError, Destinations,
};
use crate::hello::{read_client_hello, HelloError};
use crate::observe::{ContentObserver, ObservedBody, PageContext, TextKind};
use crate::safesearch;

/// The proxy's settings with durations read.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    pub allowed_clients: Vec<ipnet::IpNet>,
    pub connect_ports: Vec<u16>,
    pub console_url: String,
    pub connect_timeout: Duration,
    pub hello_timeout: Duration,
    /// An origin must start its response within this.
    pub response_timeout: Duration,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        ProxyOptions {
            allowed_clients: Vec::new(),
            connect_ports: vec![443],
            console_url: "http://127.0.0.1:8080".into(),
            connect_timeout: Duration::from_secs(10),
            hello_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(60),
        }
    }
}

/// Counters an administrator can read.
#[derive(Debug, Default)]
pub struct ProxyStats {
    pub requests: AtomicU64,
    pub blocked: AtomicU64,
    pub tunnels: AtomicU64,
    pub fronting: AtomicU64,
    pub refused_clients: AtomicU64,
    pub refused_destinations: AtomicU64,
    pub bad_requests: AtomicU64,
    pub origin_errors: AtomicU64,
}

/// A plain snapshot of [`ProxyStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProxyCounts {
    pub requests: u64,
    pub blocked: u64,
    pub tunnels: u64,
    pub fronting: u64,
    pub refused_clients: u64,
    pub refused_destinations: u64,
    pub bad_requests: u64,
    pub origin_errors: u64,
}

impl ProxyStats {
    pub fn counts(&self) -> ProxyCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ProxyCounts {
            requests: get(&self.requests),
            blocked: get(&self.blocked),
            tunnels: get(&self.tunnels),
            fronting: get(&self.fronting),
            refused_clients: get(&self.refused_clients),
            refused_destinations: get(&self.refused_destinations),
            bad_requests: get(&self.bad_requests),
            origin_errors: get(&self.origin_errors),
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// A response body: the origin's, streamed (and perhaps read by the
/// monitor on the way), or one the proxy wrote.
pub enum ProxyBody {
    Origin(Incoming),
    Observed(ObservedBody<Incoming>),
    Page(Full<Bytes>),
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            ProxyBody::Origin(b) => Pin::new(b).poll_frame(cx),
            ProxyBody::Observed(b) => Pin::new(b).poll_frame(cx),
            ProxyBody::Page(b) => Pin::new(b).poll_frame(cx).map_err(|never| match never {}),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Origin(b) => b.is_end_stream(),
            ProxyBody::Observed(b) => b.is_end_stream(),
            ProxyBody::Page(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Origin(b) => b.size_hint(),
            ProxyBody::Observed(b) => b.size_hint(),
            ProxyBody::Page(b) => b.size_hint(),
        }
    }
}

/// Who is asking, as the listener and the policy know it.
struct Who<'a> {
    ip: IpAddr,
    group: usize,
    group_name: &'a str,
    site: Option<&'a str>,
    user: Option<&'a str>,
}

/// The filtering proxy: shared by every connection.
pub struct Proxy {
    engine: Arc<Engine>,
    destinations: Arc<Destinations>,
    origins: Client<CheckedConnector, Incoming>,
    log: Option<EventSink>,
    refs: Arc<RefGenerator>,
    observer: Option<Arc<dyn ContentObserver>>,
    options: ProxyOptions,
    /// Set when the listener stops; open tunnels end.
    closing: tokio::sync::watch::Sender<bool>,
    pub stats: ProxyStats,
}

impl Proxy {
    /// Ends every open tunnel (the listener has stopped).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    pub fn new(
        engine: Arc<Engine>,
        destinations: Destinations,
        options: ProxyOptions,
        log: Option<EventSink>,
        observer: Option<Arc<dyn ContentObserver>>,
    ) -> Proxy {
        let destinations = Arc::new(destinations);
        let connector = CheckedConnector {
            destinations: destinations.clone(),
            timeout: options.connect_timeout,
        };
        let origins = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .build(connector);
        Proxy {
            engine,
            destinations,
            origins,
            log,
            refs: Arc::new(RefGenerator::default()),
            observer,
            options,
            closing: tokio::sync::watch::channel(false).0,
            stats: ProxyStats::default(),
        }
    }

    /// Answers one request from `client`.
    pub async fn handle(&self, req: Request<Incoming>, client: SocketAddr) -> Response<ProxyBody> {
        bump(&self.stats.requests);
        let snapshot = self.engine.snapshot();
        let ip = client.ip().to_canonical();
        let Some((group, site)) = snapshot.served_client(ip, &self.options.allowed_clients) else {
            bump(&self.stats.refused_clients);
            tracing::debug!(client = %ip, "proxy refused a client outside the served subnets");
            return text(
                StatusCode::FORBIDDEN,
                "This proxy does not serve your network.\n",
            );
        };
        let who = Who {
            ip,
            group,
            group_name: snapshot.group(group).map_or("", |g| g.name.as_str()),
            site,
            user: None,
        };
        if req.method() == Method::CONNECT {
            return self.connect(req, &snapshot, &who).await;
        }
        self.forward(req, &snapshot, &who).await
    }

    fn decide(
        &self,
        snapshot: &Snapshot,
        who: &Who<'_>,
        target: &Target,
        at: Timestamp,
    ) -> Verdict {
        let identity = Identity {
            group: Some(who.group_name),
            user: who.user,
        };
        snapshot.decide(&identity, target, at)
    }

    /// The access event for a verdict, logged; returned for the block page
    /// and the monitor.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        snapshot: &Snapshot,
        verdict: &Verdict,
        target: &Target,
        who: &Who<'_>,
        protocol: Protocol,
        raw_url: Option<&[u8]>,
        at: Timestamp,
    ) -> AccessEvent {
        let request = tutela_store::Request {
            client_ip: who.ip,
            user: who.user,
            device: None,
            site: who.site,
            protocol,
            raw_url,
            at,
        };
        let event = event_for(&self.refs, snapshot, verdict, &request, target);
        if let Some(sink) = &self.log {
            sink.record(event.clone());
        }
        event
    }

    fn block_page(
        &self,
        snapshot: &Snapshot,
        verdict: &Verdict,
        event: &AccessEvent,
        url: &str,
        who: &Who<'_>,
    ) -> Response<ProxyBody> {
        bump(&self.stats.blocked);
        let categories = snapshot.category_names(verdict, &verdict.deciding);
        let reason = snapshot.reason(verdict);
        let reference = event.reference.to_string();
        let host = String::from_utf8_lossy(&event.host);
        let page = BlockPage {
            url,
            host: &host,
            categories: &categories,
            group: who.group_name,
            rule: verdict.rule.as_str(),
            reason: &reason,
            reference: &reference,
            user: who.user,
            reviewable: verdict.rule != Rule::Illegal,
        };
        let html = page.render(&ENGLISH, &self.options.console_url);
        let mut response = Response::new(ProxyBody::Page(Full::new(Bytes::from(html))));
        *response.status_mut() = StatusCode::FORBIDDEN;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Ok(v) = HeaderValue::from_str(&reference) {
            headers.insert(HeaderName::from_static("x-tutela-reference"), v);
        }
        response
    }

    fn observe_request(
        &self,
        event: &AccessEvent,
        who: &Who<'_>,
        url: &str,
    ) -> Option<PageContext> {
        let observer = self.observer.as_ref()?;
        let page = PageContext {
            reference: event.reference,
            user: who.user.map(str::to_string),
            group: who.group_name.to_string(),
            client_ip: who.ip,
            url: url.to_string(),
            search: event.search.clone(),
            blocked: event.action == Action::Block.as_str(),
        };
        observer.request(&page);
        Some(page)
    }

    /// A request with a full URL (`GET http://host/path`), or one that
    /// reached the proxy as if it were the site (a DNS block answer).
    async fn forward(
        &self,
        mut req: Request<Incoming>,
        snapshot: &Snapshot,
        who: &Who<'_>,
    ) -> Response<ProxyBody> {
        let at = Timestamp::now();
        let absolute = req.uri().scheme().is_some() && req.uri().authority().is_some();
        let url = if absolute {
            req.uri().to_string()
        } else {
            // Origin-form: a browser sent here by a DNS block answer.
            match host_header(req.headers()) {
                Some(host) => format!("http://{host}{}", req.uri()),
                None => return self.bad_request("an absolute URL or a Host header is needed"),
            }
        };
        if absolute && req.uri().scheme_str() != Some("http") {
            return self.bad_request("only http:// URLs are proxied; use CONNECT for https");
        }
        let target = match Target::parse(&url) {
            Ok(t) => t,
            Err(e) => return self.bad_request(&e.to_string()),
        };
        let verdict = self.decide(snapshot, who, &target, at);
        let event = self.record(
            snapshot,
            &verdict,
            &target,
            who,
            Protocol::Http,
            Some(url.as_bytes()),
            at,
        );
        let page = self.observe_request(&event, who, &url);
        if verdict.is_blocked() {
            return self.block_page(snapshot, &verdict, &event, &url, who);
        }
        if !absolute {
            return text(
                StatusCode::BAD_REQUEST,
                "Tutela is a web proxy: set it as your browser's proxy.\n",
            );
        }
        let port = req.uri().port_u16().unwrap_or(80);
        if target.key().is_ip {
            if let Ok(ip) = target.host_str().parse::<IpAddr>() {
                if let Err(e) = self.destinations.check(SocketAddr::new(ip, port)) {
                    return self.refused_destination(&e);
                }
            }
        }
        let headers = req.headers_mut();
        strip_hop_by_hop(headers);
        headers.remove(header::PROXY_AUTHORIZATION);
        if page.is_some() {
            // The monitor reads text as sent: ask for it unencoded.
            headers.remove(header::ACCEPT_ENCODING);
        }
        if let (Action::SafeSearch, Some(safe)) = (verdict.action, verdict.safesearch) {
            let path = req
                .uri()
                .path_and_query()
                .map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
            let rewritten = safesearch::enforce(&safe, &path, req.headers_mut());
            let authority = req.uri().authority().map_or("", |a| a.as_str());
            match format!("http://{authority}{rewritten}").parse::<Uri>() {
                Ok(uri) => *req.uri_mut() = uri,
                Err(e) => return self.bad_request(&e.to_string()),
            }
        }
        *req.version_mut() = Version::HTTP_11;
        let response =
            match tokio::time::timeout(self.options.response_timeout, self.origins.request(req))
                .await
            {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => return self.origin_error(&e, target.host_str()),
                Err(_) => {
                    bump(&self.stats.origin_errors);
                    return text(
                        StatusCode::GATEWAY_TIMEOUT,
                        "The site did not answer in time.\n",
                    );
                }
            };
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        let body = match (&self.observer, &page) {
            (Some(observer), Some(page)) => {
                let kind = parts
                    .headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(TextKind::of_content_type);
                match kind.and_then(|k| observer.open(page, k)) {
                    Some(sink) => ProxyBody::Observed(ObservedBody::new(body, sink)),
                    None => ProxyBody::Origin(body),
                }
            }
            _ => ProxyBody::Origin(body),
        };
        Response::from_parts(parts, body)
    }

    /// `CONNECT host:port`: decide on the host, then on the TLS server name
    /// the client sends inside the tunnel, then splice.
    async fn connect(
        &self,
        req: Request<Incoming>,
        snapshot: &Snapshot,
        who: &Who<'_>,
    ) -> Response<ProxyBody> {
        let at = Timestamp::now();
        let Some(authority) = req.uri().authority().cloned() else {
            return self.bad_request("CONNECT needs host:port");
        };
        let port = authority.port_u16().unwrap_or(443);
        let target = match Target::host(authority.host()) {
            Ok(t) => t,
            Err(e) => return self.bad_request(&e.to_string()),
        };
        if !self.options.connect_ports.contains(&port) {
            bump(&self.stats.refused_destinations);
            return text(
                StatusCode::FORBIDDEN,
                &format!("Tunnels to port {port} are not allowed.\n"),
            );
        }
        let verdict = self.decide(snapshot, who, &target, at);
        if verdict.is_blocked() {
            let event = self.record(snapshot, &verdict, &target, who, Protocol::Https, None, at);
            let url = format!("https://{}/", target.host_str());
            return self.block_page(snapshot, &verdict, &event, &url, who);
        }
        let addrs = match self.destinations.resolve(target.host_str(), port).await {
            Ok(a) => a,
            Err(e) => return self.refused_destination(&e),
        };
        let origin = match connect_any(&addrs, self.options.connect_timeout).await {
            Ok(s) => s,
            Err(e) => {
                bump(&self.stats.origin_errors);
                tracing::debug!(host = target.host_str(), error = %e, "CONNECT: origin unreachable");
                return text(
                    StatusCode::BAD_GATEWAY,
                    &format!("Cannot reach {}: {e}\n", target.host_str()),
                );
            }
        };
        bump(&self.stats.tunnels);
        let tunnel = Tunnel {
            snapshot: self.engine.snapshot(),
            target,
            verdict,
            at,
            ip: who.ip,
            site: who.site.map(str::to_string),
            user: who.user.map(str::to_string),
            group_name: who.group_name.to_string(),
            group: who.group,
        };
        let upgrade = hyper::upgrade::on(req);
        let proxy = self.clone_handles();
        let mut closing = self.closing.subscribe();
        tokio::spawn(async move {
            let run = async {
                match upgrade.await {
                    Ok(upgraded) => proxy.tunnel(TokioIo::new(upgraded), origin, tunnel).await,
                    Err(e) => {
                        tracing::debug!(error = %e, "CONNECT: the client left before the tunnel")
                    }
                }
            };
            tokio::select! {
                _ = run => {}
                _ = closing.wait_for(|closed| *closed) => {}
            }
        });
        Response::new(ProxyBody::Page(Full::new(Bytes::new())))
    }

    fn bad_request(&self, why: &str) -> Response<ProxyBody> {
        bump(&self.stats.bad_requests);
        tracing::info!(reason = why, "proxy: bad request");
        text(StatusCode::BAD_REQUEST, &format!("Bad request: {why}\n"))
    }

    fn refused_destination(&self, e: &DestinationError) -> Response<ProxyBody> {
        bump(&self.stats.refused_destinations);
        tracing::info!(error = %e, "proxy: destination refused");
        let status = match e {
            DestinationError::Resolve { .. } | DestinationError::NoAddress(_) => {
                StatusCode::BAD_GATEWAY
            }
            _ => StatusCode::FORBIDDEN,
        };
        text(status, &format!("{e}\n"))
    }

    fn origin_error(
        &self,
        e: &hyper_util::client::legacy::Error,
        host: &str,
    ) -> Response<ProxyBody> {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(s) = source {
            if let Some(ConnectError::Refused(refusal)) = s.downcast_ref::<ConnectError>() {
                return self.refused_destination(refusal);
            }
            source = s.source();
        }
        bump(&self.stats.origin_errors);
        tracing::debug!(host, error = ?e, "proxy: origin failed");
        text(
            StatusCode::BAD_GATEWAY,
            &format!("Cannot reach {host}: {e}\n"),
        )
    }

    /// What a spawned tunnel needs of the proxy.
    fn clone_handles(&self) -> TunnelHandles {
        TunnelHandles {
            log: self.log.clone(),
            refs: self.refs.clone(),
            hello_timeout: self.options.hello_timeout,
        }
    }
}

/// One CONNECT's decision, carried into its tunnel task.
struct Tunnel {
    snapshot: Arc<Snapshot>,
    target: Target,
    verdict: Verdict,
    at: Timestamp,
    ip: IpAddr,
    site: Option<String>,
    user: Option<String>,
    group_name: String,
    group: usize,
}

struct TunnelHandles {
    log: Option<EventSink>,
    refs: Arc<RefGenerator>,
    hello_timeout: Duration,
}

impl TunnelHandles {
    async fn tunnel<C>(&self, mut client: C, mut origin: TcpStream, t: Tunnel)
    where
        C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let hello = match read_client_hello(&mut client, self.hello_timeout).await {
            Ok(h) => h,
            Err(e) => {
                let entry = match &e {
                    HelloError::NotTls(_) => {
                        format!("a tunnel to {} that is not TLS", t.target.host_str())
                    }
                    _ => {
                        tracing::debug!(host = t.target.host_str(), error = %e, "CONNECT: no ClientHello");
                        return;
                    }
                };
                tracing::info!(host = t.target.host_str(), error = %e, "CONNECT: refused a tunnel that is not TLS");
                self.log(&t, &circumvention(&t, entry), &t.target);
                return;
            }
        };
        let mut verdict = t.verdict.clone();
        let mut logged_target = t.target.clone();
        if let Some(sni) = &hello.server_name {
            match Target::host(sni) {
                Ok(named) if t.target.key().is_ip => {
                    // A client that resolved the name itself: the name it
                    // sends is what it is visiting.
                    let identity = Identity {
                        group: Some(&t.group_name),
                        user: t.user.as_deref(),
                    };
                    verdict = t.snapshot.decide(&identity, &named, t.at);
                    logged_target = named;
                }
                Ok(named) if named.host_str() != t.target.host_str() => {
                    tracing::info!(
                        connect = t.target.host_str(),
                        sni = named.host_str(),
                        "CONNECT: domain fronting blocked"
                    );
                    let entry = format!(
                        "{} inside a tunnel to {} (domain fronting)",
                        named.host_str(),
                        t.target.host_str()
                    );
                    self.log(&t, &circumvention(&t, entry), &named);
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    let entry = format!("an unreadable TLS server name ({e})");
                    self.log(&t, &circumvention(&t, entry), &t.target);
                    return;
                }
            }
        }
        self.log(&t, &verdict, &logged_target);
        if verdict.is_blocked() {
            return;
        }
        if origin.write_all(&hello.bytes).await.is_err() {
            return;
        }
        drop(hello);
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut origin).await {
            tracing::trace!(error = %e, "tunnel closed");
        }
    }

    fn log(&self, t: &Tunnel, verdict: &Verdict, target: &Target) {
        let Some(sink) = &self.log else { return };
        let request = tutela_store::Request {
            client_ip: t.ip,
            user: t.user.as_deref(),
            device: None,
            site: t.site.as_deref(),
            protocol: Protocol::Https,
            raw_url: None,
            at: t.at,
        };
        sink.record(event_for(
            &self.refs,
            &t.snapshot,
            verdict,
            &request,
            target,
        ));
    }
}

/// A block by the proxy's own circumvention checks, not by a list.
fn circumvention(t: &Tunnel, entry: String) -> Verdict {
    Verdict {
        action: Action::Block,
        categories: CategoryMask::EMPTY,
        deciding: CategoryMask::EMPTY,
        rule: Rule::Circumvention,
        entry: Some(entry.into_boxed_str()),
        safesearch: None,
        group: t.group,
        generation: t.snapshot.generation(),
    }
}

fn host_header(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty())
}

/// Headers that belong to one hop, not to the message (RFC 9110 7.6.1).
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::PROXY_AUTHENTICATE,
    ] {
        headers.remove(name);
    }
    headers.remove("proxy-connection");
    headers.remove("keep-alive");
}

fn text(status: StatusCode, message: &str) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::Page(Full::new(Bytes::from(message.to_string()))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
