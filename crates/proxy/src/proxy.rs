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

use crate::auth::{Authentication, Authenticator, SignIn};
use crate::blockpage::{BlockPage, ENGLISH};
use crate::ca::LocalCa;
use crate::destination::{
    connect_any, covers, origin_tls_config, CheckedConnector, CheckedTlsConnector, ConnectError,
    DestinationError, Destinations,
};
use crate::hello::{read_client_hello, HelloError};
use crate::observe::{ContentObserver, ObservedBody, PageContext, TextKind};
use crate::safesearch;

/// The proxy's settings with durations read.
#[derive(Clone)]
pub struct ProxyOptions {
    pub allowed_clients: Vec<ipnet::IpNet>,
    pub connect_ports: Vec<u16>,
    pub console_url: String,
    pub connect_timeout: Duration,
    pub hello_timeout: Duration,
    /// An origin must start its response within this.
    pub response_timeout: Duration,
    /// A request head inside an inspected tunnel must arrive within this.
    pub header_timeout: Duration,
    /// A spliced tunnel with no byte either way for this long is closed,
    /// so dead peers do not hold connection places for ever.
    pub tunnel_idle_timeout: Duration,
    /// Sites (with their subdomains) never decrypted: banks, health and
    /// counselling services, apps that pin their certificates.
    pub never_inspect_sites: Vec<String>,
    /// Categories never decrypted (UT1's `bank`).
    pub never_inspect_categories: Vec<String>,
    /// Extra trust anchors for origins' certificates, beside the web PKI.
    pub origin_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// When clients must sign in.
    pub authentication: Authentication,
    /// Sites whose certificates are accepted when they do not verify.
    pub certificate_exceptions: Vec<String>,
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
            header_timeout: Duration::from_secs(20),
            tunnel_idle_timeout: Duration::from_secs(600),
            never_inspect_sites: Vec::new(),
            never_inspect_categories: Vec::new(),
            origin_roots: Vec::new(),
            authentication: Authentication::Off,
            certificate_exceptions: Vec::new(),
        }
    }
}

/// Counters an administrator can read.
#[derive(Debug, Default)]
pub struct ProxyStats {
    pub requests: AtomicU64,
    pub blocked: AtomicU64,
    pub tunnels: AtomicU64,
    pub inspected: AtomicU64,
    pub fronting: AtomicU64,
    pub refused_clients: AtomicU64,
    pub refused_destinations: AtomicU64,
    pub bad_requests: AtomicU64,
    pub origin_errors: AtomicU64,
    /// Spliced tunnels closed for want of traffic.
    pub tunnels_idle: AtomicU64,
}

/// A plain snapshot of [`ProxyStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProxyCounts {
    pub requests: u64,
    pub blocked: u64,
    pub tunnels: u64,
    pub inspected: u64,
    pub fronting: u64,
    pub refused_clients: u64,
    pub refused_destinations: u64,
    pub bad_requests: u64,
    pub origin_errors: u64,
    pub tunnels_idle: u64,
}

impl ProxyStats {
    pub fn counts(&self) -> ProxyCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ProxyCounts {
            requests: get(&self.requests),
            blocked: get(&self.blocked),
            tunnels: get(&self.tunnels),
            inspected: get(&self.inspected),
            fronting: get(&self.fronting),
            refused_clients: get(&self.refused_clients),
            refused_destinations: get(&self.refused_destinations),
            bad_requests: get(&self.bad_requests),
            origin_errors: get(&self.origin_errors),
            tunnels_idle: get(&self.tunnels_idle),
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
    /// Set when TLS inspection is possible: the CA and an HTTPS client.
    inspection: Option<Inspection>,
    log: Option<EventSink>,
    refs: Arc<RefGenerator>,
    observer: Option<Arc<dyn ContentObserver>>,
    options: ProxyOptions,
    /// Set when the listener stops; open tunnels end.
    closing: tokio::sync::watch::Sender<bool>,
    accounts: Authenticator,
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
            inspection: None,
            log,
            refs: Arc::new(RefGenerator::default()),
            observer,
            options,
            closing: tokio::sync::watch::channel(false).0,
            accounts: Authenticator::default(),
            stats: ProxyStats::default(),
        }
    }

    /// Makes TLS inspection possible with `ca`, for groups that turn it on.
    pub fn with_inspection(mut self, ca: Arc<LocalCa>) -> Result<Proxy, rustls::Error> {
        let tls = origin_tls_config(
            &self.options.origin_roots,
            &self.options.certificate_exceptions,
        )?;
        let connector = CheckedTlsConnector {
            tcp: CheckedConnector {
                destinations: self.destinations.clone(),
                timeout: self.options.connect_timeout,
            },
            tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
        };
        let origins = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .build(connector);
        self.inspection = Some(Inspection { ca, origins });
        Ok(self)
    }

    /// Answers one request from `client`.
    pub async fn handle(
        self: &Arc<Self>,
        req: Request<Incoming>,
        client: SocketAddr,
    ) -> Response<ProxyBody> {
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
        let mut who = Who {
            ip,
            group,
            group_name: snapshot.group(group).map_or("", |g| g.name.as_str()),
            site,
            user: None,
        };
        // Browsers fetch these before they know any credentials.
        if req.uri().authority().is_none() && req.method() == Method::GET {
            match req.uri().path() {
                "/proxy.pac" | "/wpad.dat" => {
                    if let Some(host) = host_header(req.headers()) {
                        return pac_file(host);
                    }
                }
                "/tutela-ca.pem" => return self.ca_certificate(),
                _ => {}
            }
        }
        let signed_in;
        if self.options.authentication != Authentication::Off {
            let header = req
                .headers()
                .get(header::PROXY_AUTHORIZATION)
                .map(|v| v.as_bytes());
            match self.accounts.sign_in(&snapshot, ip, header).await {
                SignIn::User { username, group } => {
                    signed_in = username;
                    who.user = Some(&signed_in);
                    who.group = group;
                    who.group_name = snapshot.group(group).map_or("", |g| g.name.as_str());
                }
                SignIn::Anonymous if self.options.authentication == Authentication::Optional => {}
                SignIn::Anonymous | SignIn::Refused => return sign_in_required(),
            }
        }
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
        page_view: bool,
    ) -> AccessEvent {
        let request = tutela_store::Request {
            client_ip: who.ip,
            user: who.user,
            device: None,
            site: who.site,
            protocol,
            raw_url,
            page_view,
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
        req: Request<Incoming>,
        snapshot: &Snapshot,
        who: &Who<'_>,
    ) -> Response<ProxyBody> {
        let absolute = req.uri().scheme().is_some() && req.uri().authority().is_some();
        if absolute {
            if req.uri().scheme_str() != Some("http") {
                return self.bad_request("only http:// URLs are proxied; use CONNECT for https");
            }
            let url = req.uri().to_string();
            return self
                .serve_url(req, url, Protocol::Http, snapshot, who)
                .await;
        }
        // Origin-form: a browser sent here by a DNS block answer. Show why
        // if it is blocked; the proxy is not a web server otherwise.
        let Some(host) = host_header(req.headers()) else {
            return self.bad_request("an absolute URL or a Host header is needed");
        };
        let url = format!("http://{host}{}", req.uri());
        let at = Timestamp::now();
        let target = match Target::parse(&url) {
            Ok(t) => t,
            Err(e) => return self.bad_request(&e.to_string()),
        };
        let verdict = self.decide(snapshot, who, &target, at);
        if verdict.is_blocked() {
            let event = self.record(
                snapshot,
                &verdict,
                &target,
                who,
                Protocol::Http,
                Some(url.as_bytes()),
                at,
                is_page_view(&req),
            );
            return self.block_page(snapshot, &verdict, &event, &url, who);
        }
        text(
            StatusCode::BAD_REQUEST,
            "Tutela is a web proxy: set it as your browser's proxy.\n",
        )
    }

    /// Decides `url` (the request's whole address), logs it, and answers
    /// with the block page or the origin's response. `req` carries an
    /// absolute `http://` or `https://` URI for the origin.
    async fn serve_url(
        &self,
        mut req: Request<Incoming>,
        url: String,
        protocol: Protocol,
        snapshot: &Snapshot,
        who: &Who<'_>,
    ) -> Response<ProxyBody> {
        let at = Timestamp::now();
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
            protocol,
            Some(url.as_bytes()),
            at,
            is_page_view(&req),
        );
        let page = self.observe_request(&event, who, &url);
        if verdict.is_blocked() {
            return self.block_page(snapshot, &verdict, &event, &url, who);
        }
        let tls = req.uri().scheme_str() == Some("https");
        let port = req.uri().port_u16().unwrap_or(if tls { 443 } else { 80 });
        if target.key().is_ip {
            if let Ok(ip) = target.host_str().parse::<IpAddr>() {
                if let Err(e) = self.destinations.check(SocketAddr::new(ip, port)) {
                    return self.refused_destination(&e);
                }
            }
        }
        // The origin must see the host that was decided, not a Host header
        // naming another site on the same server (shared hosting, CDNs).
        let host_value = req.uri().authority().map(|a| {
            let host = a.host();
            match a.port_u16() {
                Some(p) if p != if tls { 443 } else { 80 } => format!("{host}:{p}"),
                _ => host.to_string(),
            }
        });
        let headers = req.headers_mut();
        strip_hop_by_hop(headers);
        headers.remove(header::PROXY_AUTHORIZATION);
        match host_value.and_then(|h| HeaderValue::from_str(&h).ok()) {
            Some(h) => {
                headers.insert(header::HOST, h);
            }
            None => return self.bad_request("the URL has no usable host"),
        }
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
            let scheme = if tls { "https" } else { "http" };
            let authority = req.uri().authority().map_or("", |a| a.as_str());
            match format!("{scheme}://{authority}{rewritten}").parse::<Uri>() {
                Ok(uri) => *req.uri_mut() = uri,
                Err(e) => return self.bad_request(&e.to_string()),
            }
        }
        // The client picks HTTP/2 itself when the origin offers it.
        *req.version_mut() = Version::HTTP_11;
        let inspection = match (tls, &self.inspection) {
            (true, None) => {
                return text(StatusCode::BAD_GATEWAY, "TLS inspection is not set up.\n");
            }
            (true, Some(inspection)) => Some(inspection),
            (false, _) => None,
        };
        let sent = async {
            match inspection {
                Some(inspection) => inspection.origins.request(req).await,
                None => self.origins.request(req).await,
            }
        };
        let response = match tokio::time::timeout(self.options.response_timeout, sent).await {
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
    /// the client sends inside the tunnel; then splice, or (for groups with
    /// inspection) decrypt.
    async fn connect(
        self: &Arc<Self>,
        req: Request<Incoming>,
        snapshot: &Arc<Snapshot>,
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
        // A CONNECT to an address is judged by the name inside it, which
        // is only known once the tunnel opens: never decrypted.
        let inspect = !target.key().is_ip && self.may_inspect(snapshot, &verdict, &target);
        let tunnel = Tunnel {
            snapshot: snapshot.clone(),
            authority: format!("{}:{port}", authority.host()),
            target,
            verdict,
            at,
            ip: who.ip,
            site: who.site.map(str::to_string),
            user: who.user.map(str::to_string),
            group_name: who.group_name.to_string(),
            group: who.group,
        };
        if tunnel.verdict.is_blocked() {
            let event = self.record(
                snapshot,
                &tunnel.verdict,
                &tunnel.target,
                who,
                Protocol::Https,
                None,
                at,
                false,
            );
            let url = format!("https://{}/", tunnel.target.host_str());
            if !inspect {
                return self.block_page(snapshot, &tunnel.verdict, &event, &url, who);
            }
            // Decrypt only to say why: the browser shows our page instead
            // of a bare connection error.
            bump(&self.stats.blocked);
            return self.spawn_tunnel(req, move |proxy, client| async move {
                proxy.intercept(client, tunnel, Some(event)).await
            });
        }
        if inspect {
            bump(&self.stats.inspected);
            return self.spawn_tunnel(req, move |proxy, client| async move {
                proxy.intercept(client, tunnel, None).await
            });
        }
        let addrs = match self
            .destinations
            .resolve(tunnel.target.host_str(), port)
            .await
        {
            Ok(a) => a,
            Err(e) => return self.refused_destination(&e),
        };
        let origin = match connect_any(&addrs, self.options.connect_timeout).await {
            Ok(s) => s,
            Err(e) => {
                bump(&self.stats.origin_errors);
                let host = tunnel.target.host_str();
                tracing::debug!(host, error = %e, "CONNECT: origin unreachable");
                return text(
                    StatusCode::BAD_GATEWAY,
                    &format!("Cannot reach {host}: {e}\n"),
                );
            }
        };
        if let Err(e) = self.destinations.check_connected(&origin) {
            return self.refused_destination(&e);
        }
        bump(&self.stats.tunnels);
        self.spawn_tunnel(req, move |proxy, client| async move {
            proxy.splice(client, origin, tunnel).await
        })
    }

    /// Answers the CONNECT with 200 and runs `work` on the tunnel once the
    /// client has it; the listener's shutdown ends it.
    fn spawn_tunnel<F, Fut>(
        self: &Arc<Self>,
        req: Request<Incoming>,
        work: F,
    ) -> Response<ProxyBody>
    where
        F: FnOnce(Arc<Proxy>, TokioIo<hyper::upgrade::Upgraded>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        // The tunnel outlives the HTTP connection that asked for it: it keeps
        // that connection's place in the limits until it ends.
        let guard = req.extensions().get::<ConnectionGuard>().cloned();
        let upgrade = hyper::upgrade::on(req);
        let proxy = self.clone();
        let mut closing = self.closing.subscribe();
        tokio::spawn(async move {
            let run = async {
                match upgrade.await {
                    Ok(upgraded) => work(proxy, TokioIo::new(upgraded)).await,
                    Err(e) => {
                        tracing::debug!(error = %e, "CONNECT: the client left before the tunnel")
                    }
                }
            };
            tokio::select! {
                _ = run => {}
                _ = closing.wait_for(|closed| *closed) => {}
            }
            drop(guard);
        });
        Response::new(ProxyBody::Page(Full::new(Bytes::new())))
    }

    /// Whether this group's HTTPS to `target` may be decrypted.
    fn may_inspect(&self, snapshot: &Snapshot, verdict: &Verdict, target: &Target) -> bool {
        if self.inspection.is_none()
            || !snapshot
                .group(verdict.group)
                .is_some_and(|g| g.tls_inspection)
        {
            return false;
        }
        let host = target.host_str();
        let listed = self
            .options
            .never_inspect_sites
            .iter()
            .any(|site| covers(site, host));
        if listed {
            return false;
        }
        let categories = snapshot.category_names(verdict, &verdict.categories);
        !categories
            .iter()
            .any(|c| self.options.never_inspect_categories.contains(c))
    }

    /// The verdict on the server name a tunnel's ClientHello carries, and
    /// the target to log; `None` once a circumvention block is logged.
    fn check_server_name(&self, t: &Tunnel, sni: Option<&str>) -> Option<(Verdict, Target)> {
        let Some(sni) = sni else {
            return Some((t.verdict.clone(), t.target.clone()));
        };
        match Target::host(sni) {
            Ok(named) if t.target.key().is_ip => {
                // A client that resolved the name itself: the name it sends
                // is what it is visiting.
                let who = t.who();
                let verdict = self.decide(&t.snapshot, &who, &named, t.at);
                Some((verdict, named))
            }
            Ok(named) if named.host_str() != t.target.host_str() => {
                bump(&self.stats.fronting);
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
                self.log_tunnel(t, &circumvention(t, entry), &named);
                None
            }
            Ok(named) => Some((t.verdict.clone(), named)),
            Err(e) => {
                let entry = format!("an unreadable TLS server name ({e})");
                self.log_tunnel(t, &circumvention(t, entry), &t.target);
                None
            }
        }
    }

    /// For a CONNECT to an address: the ClientHello must name a site, and
    /// that site must live at the address, or the name decided is not the
    /// site reached. Logs a circumvention block when not.
    async fn name_lives_at(&self, t: &Tunnel, sni: Option<&str>) -> bool {
        let Some(name) = sni else {
            let entry = format!(
                "a tunnel to the address {} with no server name",
                t.target.host_str()
            );
            self.log_tunnel(t, &circumvention(t, entry), &t.target);
            return false;
        };
        let port = t
            .authority
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(443);
        let lookup = tokio::time::timeout(
            self.options.connect_timeout,
            self.destinations.resolve(name, port),
        )
        .await;
        let at = t.target.host_str().parse::<IpAddr>().ok();
        let lives_there = matches!(
            (lookup, at),
            (Ok(Ok(addrs)), Some(ip)) if addrs.iter().any(|a| a.ip().to_canonical() == ip.to_canonical())
        );
        if !lives_there {
            bump(&self.stats.fronting);
            let entry = format!(
                "{name} inside a tunnel to {}, which is not its address (domain fronting)",
                t.target.host_str()
            );
            self.log_tunnel(t, &circumvention(t, entry), &t.target);
        }
        lives_there
    }

    /// An uninspected tunnel: check the ClientHello, replay it to the
    /// origin, then copy both ways.
    async fn splice<C>(&self, mut client: C, mut origin: TcpStream, t: Tunnel)
    where
        C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let hello = match read_client_hello(&mut client, self.options.hello_timeout).await {
            Ok(h) => h,
            Err(e @ HelloError::NotTls(_)) => {
                tracing::info!(host = t.target.host_str(), error = %e, "CONNECT: refused a tunnel that is not TLS");
                let entry = format!("a tunnel to {} that is not TLS", t.target.host_str());
                self.log_tunnel(&t, &circumvention(&t, entry), &t.target);
                return;
            }
            Err(e) => {
                tracing::debug!(host = t.target.host_str(), error = %e, "CONNECT: no ClientHello");
                return;
            }
        };
        if hello.has_encrypted_hello() {
            // The real server name is encrypted: what would be decided is
            // only the outer, public one.
            bump(&self.stats.fronting);
            let entry = format!(
                "an encrypted ClientHello inside a tunnel to {}",
                t.target.host_str()
            );
            self.log_tunnel(&t, &circumvention(&t, entry), &t.target);
            return;
        }
        let Some((verdict, named)) = self.check_server_name(&t, hello.server_name.as_deref())
        else {
            return;
        };
        if t.target.key().is_ip && !self.name_lives_at(&t, hello.server_name.as_deref()).await {
            return;
        }
        self.log_tunnel(&t, &verdict, &named);
        if verdict.is_blocked() {
            return;
        }
        if origin.write_all(&hello.bytes).await.is_err() {
            return;
        }
        drop(hello);
        // 64 KiB buffers: the default 8 KiB costs a third of the throughput.
        let activity = crate::idle::Activity::new();
        let mut client = activity.watch(client);
        let mut origin = activity.watch(origin);
        let copy =
            tokio::io::copy_bidirectional_with_sizes(&mut client, &mut origin, 64 << 10, 64 << 10);
        match activity
            .until_idle(copy, self.options.tunnel_idle_timeout)
            .await
        {
            Some(Err(e)) => tracing::trace!(error = %e, "tunnel closed"),
            Some(Ok(_)) => {}
            None => {
                bump(&self.stats.tunnels_idle);
                tracing::debug!(host = t.target.host_str(), "tunnel closed: idle");
            }
        }
    }

    /// An inspected tunnel: TLS with a certificate minted for the server
    /// name, then HTTP/1.1 inside, each request decided by its full URL.
    /// With `blocked`, every request gets that block's page.
    async fn intercept<C>(self: Arc<Self>, client: C, t: Tunnel, blocked: Option<AccessEvent>)
    where
        C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Some(inspection) = &self.inspection else {
            return;
        };
        let acceptor =
            tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), client);
        let start = match tokio::time::timeout(self.options.hello_timeout, acceptor).await {
            Ok(Ok(start)) => start,
            Ok(Err(e)) => {
                tracing::info!(host = t.target.host_str(), error = %e, "CONNECT: refused a tunnel that is not TLS");
                let entry = format!("a tunnel to {} that is not TLS", t.target.host_str());
                self.log_tunnel(&t, &circumvention(&t, entry), &t.target);
                return;
            }
            Err(_) => return,
        };
        let sni = start.client_hello().server_name().map(str::to_string);
        let (verdict, named) = match &blocked {
            // Already logged; the page names that event.
            Some(_) => (t.verdict.clone(), t.target.clone()),
            None => match self.check_server_name(&t, sni.as_deref()) {
                Some(checked) => checked,
                None => return,
            },
        };
        let config = match inspection.ca.server_config(named.host_str()) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "TLS inspection: cannot mint a certificate");
                return;
            }
        };
        let tls = match tokio::time::timeout(self.options.hello_timeout, start.into_stream(config))
            .await
        {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                // Usually a device that does not trust the school's CA.
                tracing::debug!(host = named.host_str(), error = %e, "TLS inspection: handshake failed");
                return;
            }
            Err(_) => return,
        };
        let authority = inner_authority(named.host_str(), &t.authority);
        let inner = InnerRequest {
            tunnel: Arc::new(t),
            verdict: Arc::new(verdict),
            blocked: blocked.map(Arc::new),
            authority: Arc::from(authority),
        };
        let proxy = self.clone();
        let service = hyper::service::service_fn(move |req| {
            let (proxy, inner) = (proxy.clone(), inner.clone());
            async move { Ok::<_, std::convert::Infallible>(proxy.inspected(req, &inner).await) }
        });
        // HTTP/2 or HTTP/1.1, as the browser chose by ALPN.
        let mut http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        http.http1()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(self.options.header_timeout);
        http.http2()
            .timer(hyper_util::rt::TokioTimer::new())
            .keep_alive_interval(Some(self.options.header_timeout))
            .max_concurrent_streams(100);
        if let Err(e) = http.serve_connection(TokioIo::new(tls), service).await {
            tracing::debug!(error = %e, "inspected connection ended");
        }
    }

    /// One request inside an inspected tunnel.
    async fn inspected(
        &self,
        mut req: Request<Incoming>,
        inner: &InnerRequest,
    ) -> Response<ProxyBody> {
        bump(&self.stats.requests);
        let t = &inner.tunnel;
        let who = t.who();
        let path = req
            .uri()
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
        let url = format!("https://{}{path}", inner.authority);
        if let Some(event) = &inner.blocked {
            return self.block_page(&t.snapshot, &inner.verdict, event, &url, &who);
        }
        match url.parse::<Uri>() {
            Ok(uri) => *req.uri_mut() = uri,
            Err(e) => return self.bad_request(&e.to_string()),
        }
        self.serve_url(req, url, Protocol::Https, &t.snapshot, &who)
            .await
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

    fn log_tunnel(&self, t: &Tunnel, verdict: &Verdict, target: &Target) {
        self.record(
            &t.snapshot,
            verdict,
            target,
            &t.who(),
            Protocol::Https,
            None,
            t.at,
            false,
        );
    }
}

/// A client connection's place in the listener's limits (in all and per
/// address), held by the connection and by any tunnel it opens.
#[derive(Clone)]
pub struct ConnectionGuard(pub Arc<dyn std::any::Any + Send + Sync>);

/// What a CONNECT needs for the rest of its life in a spawned task.
struct Tunnel {
    snapshot: Arc<Snapshot>,
    /// `host:port` as the client asked.
    authority: String,
    target: Target,
    verdict: Verdict,
    at: Timestamp,
    ip: IpAddr,
    site: Option<String>,
    user: Option<String>,
    group_name: String,
    group: usize,
}

impl Tunnel {
    fn who(&self) -> Who<'_> {
        Who {
            ip: self.ip,
            group: self.group,
            group_name: &self.group_name,
            site: self.site.as_deref(),
            user: self.user.as_deref(),
        }
    }
}

/// What each request inside an inspected tunnel shares.
#[derive(Clone)]
struct InnerRequest {
    tunnel: Arc<Tunnel>,
    verdict: Arc<Verdict>,
    blocked: Option<Arc<AccessEvent>>,
    /// The site as requests inside address it (`host` or `host:port`).
    authority: Arc<str>,
}

/// TLS inspection's parts: the CA that mints certificates and the HTTPS
/// client that re-encrypts to origins.
struct Inspection {
    ca: Arc<LocalCa>,
    origins: Client<CheckedTlsConnector, Incoming>,
}

/// The authority requests inside an inspected tunnel are sent to: `host`
/// (the name decided; an IPv6 address is bracketed) with the port of the
/// CONNECT's `host:port` unless that is 443.
pub(crate) fn inner_authority(host: &str, connect_authority: &str) -> String {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    if connect_authority.ends_with(":443") {
        host
    } else {
        format!(
            "{host}:{}",
            connect_authority.rsplit(':').next().unwrap_or("443")
        )
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

/// Whether a browser asked for a document to show in its window: a
/// main-frame page view, not an asset, a frame or a script's fetch. Modern
/// browsers say so (`Sec-Fetch-Dest: document`); older ones are judged by
/// a GET that accepts HTML first.
fn is_page_view<B>(req: &Request<B>) -> bool {
    if req.method() != Method::GET {
        return false;
    }
    let headers = req.headers();
    match headers.get("sec-fetch-dest") {
        Some(dest) => dest.as_bytes().eq_ignore_ascii_case(b"document"),
        None => headers
            .get(header::ACCEPT)
            .is_some_and(|a| a.as_bytes().starts_with(b"text/html")),
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

/// A proxy auto-config script sending browsers to the proxy at `host`
/// (`name:port`); `None` if `host` is not a plain host and port.
pub fn pac_script(host: &str) -> Option<String> {
    let plain = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    plain.then(|| format!(
        "function FindProxyForURL(url, host) {{\n  if (isPlainHostName(host) || host == \"localhost\") return \"DIRECT\";\n  return \"PROXY {host}\";\n}}\n"
    ))
}

/// A proxy auto-config file pointing browsers at this proxy, by the address
/// they used to fetch it. No `DIRECT` fallback: if the proxy is down,
/// browsing stops rather than going round the filter.
fn pac_file(host: &str) -> Response<ProxyBody> {
    let Some(pac) = pac_script(host) else {
        return text(StatusCode::BAD_REQUEST, "Bad Host header.\n");
    };
    let mut response = Response::new(ProxyBody::Page(Full::new(Bytes::from(pac))));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ns-proxy-autoconfig"),
    );
    response
}

impl Proxy {
    /// The school CA's certificate, for devices to install.
    fn ca_certificate(&self) -> Response<ProxyBody> {
        let Some(inspection) = &self.inspection else {
            return text(StatusCode::NOT_FOUND, "TLS inspection is not set up.\n");
        };
        let pem = inspection.ca.certificate_pem().to_string();
        let mut response = Response::new(ProxyBody::Page(Full::new(Bytes::from(pem))));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-pem-file"),
        );
        headers.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"tutela-ca.pem\""),
        );
        response
    }
}

/// 407: the browser asks the pupil to sign in.
fn sign_in_required() -> Response<ProxyBody> {
    let mut response = text(
        StatusCode::PROXY_AUTHENTICATION_REQUIRED,
        "Sign in with your school username and password to use the web.\n",
    );
    response.headers_mut().insert(
        header::PROXY_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Tutela\", charset=\"UTF-8\""),
    );
    response
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
