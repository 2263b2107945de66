//! Where the proxy may connect: never the console, loopback, link-local or
//! cloud metadata, whatever name a pupil uses to point there.
//!
//! Names are resolved here and every address is checked before a socket is
//! opened, so a DNS answer that points inside (rebinding) is caught too.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Why a destination was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    #[error("{0} is an internal address the proxy does not reach")]
    Internal(IpAddr),
    #[error("{0} is Tutela's own console")]
    Console(SocketAddr),
    #[error("{0} is a cloud metadata address")]
    Metadata(IpAddr),
    #[error("cannot resolve {host}: {reason}")]
    Resolve { host: String, reason: String },
    #[error("{0} has no address")]
    NoAddress(String),
}

/// Addresses that answer instance secrets on cloud hosts: never reachable,
/// not even when an administrator allows internal addresses.
const METADATA: &[IpAddr] = &[
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
    // Azure's wire server.
    IpAddr::V4(Ipv4Addr::new(168, 63, 129, 16)),
];

/// A name lookup may take this long.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The destination rules and the local names table.
#[derive(Debug, Clone, Default)]
pub struct Destinations {
    allowed_internal: Vec<ipnet::IpNet>,
    forbidden: Vec<SocketAddr>,
    hosts: HashMap<String, IpAddr>,
    /// Never look a name up and never answer an address to connect to:
    /// for the fuzz targets, so no input reaches the network.
    offline: bool,
}

impl Destinations {
    /// `forbidden` holds Tutela's own admin listeners (the console); an
    /// unspecified address there (`0.0.0.0:8080`) forbids the port on
    /// loopback.
    pub fn new(
        allowed_internal: Vec<ipnet::IpNet>,
        forbidden: Vec<SocketAddr>,
        hosts: impl IntoIterator<Item = (String, IpAddr)>,
    ) -> Destinations {
        Destinations {
            allowed_internal,
            forbidden,
            hosts: hosts
                .into_iter()
                .map(|(name, ip)| (name.trim_end_matches('.').to_ascii_lowercase(), ip))
                .collect(),
            offline: false,
        }
    }

    /// These rules, but [`Destinations::resolve`] reads only IP literals
    /// and the names table, checks them as usual, and then refuses every
    /// address it would have allowed: nothing is ever connected to. For
    /// the fuzz targets (`crate::fuzzing`).
    #[doc(hidden)]
    pub fn offline(mut self) -> Destinations {
        self.offline = true;
        self
    }

    /// Whether an open connection reached this very host on a forbidden
    /// port (the console bound to `0.0.0.0`, reached by the LAN address).
    pub fn check_connected(&self, stream: &tokio::net::TcpStream) -> Result<(), DestinationError> {
        let (Ok(local), Ok(peer)) = (stream.local_addr(), stream.peer_addr()) else {
            return Ok(());
        };
        if local.ip() == peer.ip() {
            for f in &self.forbidden {
                if f.port() == peer.port() && (f.ip().is_unspecified() || f.ip() == peer.ip()) {
                    return Err(DestinationError::Console(*f));
                }
            }
        }
        Ok(())
    }

    /// Whether the proxy may open a connection to `addr`.
    pub fn check(&self, addr: SocketAddr) -> Result<(), DestinationError> {
        let ip = addr.ip().to_canonical();
        if METADATA.contains(&ip) {
            return Err(DestinationError::Metadata(ip));
        }
        for f in &self.forbidden {
            let same_ip = f.ip().to_canonical() == ip
                || (f.ip().is_unspecified() && (ip.is_loopback() || ip.is_unspecified()));
            if same_ip && f.port() == addr.port() {
                return Err(DestinationError::Console(*f));
            }
        }
        if is_internal(ip) && !self.allowed_internal.iter().any(|n| n.contains(&ip)) {
            return Err(DestinationError::Internal(ip));
        }
        Ok(())
    }

    /// Every address of `host` the proxy may reach; an error when there is
    /// none. `host` is a canonical name or an IP literal.
    pub async fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, DestinationError> {
        let host = host.trim_end_matches('.');
        let found: Vec<SocketAddr> = if let Ok(ip) = host.parse::<IpAddr>() {
            vec![SocketAddr::new(ip, port)]
        } else if let Some(ip) = self.hosts.get(&host.to_ascii_lowercase()) {
            vec![SocketAddr::new(*ip, port)]
        } else if self.offline {
            Vec::new()
        } else {
            tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port)))
                .await
                .map_err(|_| DestinationError::Resolve {
                    host: host.to_string(),
                    reason: "no answer in time".into(),
                })?
                .map_err(|e| DestinationError::Resolve {
                    host: host.to_string(),
                    reason: e.to_string(),
                })?
                .collect()
        };
        let mut first_refusal = None;
        let allowed: Vec<SocketAddr> = found
            .into_iter()
            .filter(|a| match self.check(*a) {
                Ok(()) => true,
                Err(e) => {
                    first_refusal.get_or_insert(e);
                    false
                }
            })
            .collect();
        match (allowed.is_empty(), first_refusal) {
            (false, _) if self.offline => Err(DestinationError::Resolve {
                host: host.to_string(),
                reason: "offline: nothing is connected to".into(),
            }),
            (false, _) => Ok(allowed),
            (true, Some(refusal)) => Err(refusal),
            (true, None) => Err(DestinationError::NoAddress(host.to_string())),
        }
    }
}

/// Addresses that belong to this machine or its link, not to the web.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.octets()[0] == 0
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Why the proxy could not open a connection to an origin.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Refused(#[from] DestinationError),
    #[error("the URL has no host")]
    NoHost,
    #[error("connecting: {0}")]
    Io(#[from] std::io::Error),
}

/// What a connector's `call` returns.
type Connecting<T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, ConnectError>> + Send>>;

/// A URI's host without IPv6 brackets.
pub(crate) fn bare_host(uri: &http::Uri) -> Result<&str, ConnectError> {
    let host = uri.host().ok_or(ConnectError::NoHost)?;
    Ok(host.trim_start_matches('[').trim_end_matches(']'))
}

/// The HTTP client's connector: resolves, checks every address with its
/// port, then connects, so a pooled connection was always checked first.
#[derive(Clone)]
pub(crate) struct CheckedConnector {
    pub(crate) destinations: Arc<Destinations>,
    pub(crate) timeout: Duration,
}

impl tower_service::Service<http::Uri> for CheckedConnector {
    type Response = hyper_util::rt::TokioIo<tokio::net::TcpStream>;
    type Error = ConnectError;
    type Future = Connecting<Self::Response>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let stream = this
                .open(bare_host(&uri)?, uri.port_u16().unwrap_or(80))
                .await?;
            Ok(hyper_util::rt::TokioIo::new(stream))
        })
    }
}

impl CheckedConnector {
    /// Resolves `host`, checks every address, connects to the first that
    /// answers.
    async fn open(&self, host: &str, port: u16) -> Result<tokio::net::TcpStream, ConnectError> {
        let addrs = self.destinations.resolve(host, port).await?;
        let stream = connect_any(&addrs, self.timeout).await?;
        self.destinations.check_connected(&stream)?;
        Ok(stream)
    }
}

/// The HTTPS client's connector for inspected traffic: [`CheckedConnector`],
/// then TLS with the origin's certificate verified against the web PKI.
#[derive(Clone)]
pub(crate) struct CheckedTlsConnector {
    pub(crate) tcp: CheckedConnector,
    pub(crate) tls: tokio_rustls::TlsConnector,
}

impl tower_service::Service<http::Uri> for CheckedTlsConnector {
    type Response = OriginTls;
    type Error = ConnectError;
    type Future = Connecting<Self::Response>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let (tcp, tls) = (self.tcp.clone(), self.tls.clone());
        Box::pin(async move {
            let host = bare_host(&uri)?;
            let name = rustls::pki_types::ServerName::try_from(host.to_string())
                .map_err(|e| ConnectError::Io(std::io::Error::other(e)))?;
            let stream = tcp.open(host, uri.port_u16().unwrap_or(443)).await?;
            let stream = tls.connect(name, stream).await?;
            Ok(OriginTls(hyper_util::rt::TokioIo::new(stream)))
        })
    }
}

/// A TLS connection to an origin, as the HTTP client uses it.
pub struct OriginTls(
    hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
);

impl hyper_util::client::legacy::connect::Connection for OriginTls {
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        let connected = hyper_util::client::legacy::connect::Connected::new();
        let (_, tls) = self.0.inner().get_ref();
        if tls.alpn_protocol() == Some(b"h2") {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

impl hyper::rt::Read for OriginTls {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for OriginTls {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Whether `site` (a domain, covering its subdomains) covers `host`.
pub fn covers(site: &str, host: &str) -> bool {
    host == site
        || host
            .strip_suffix(site)
            .is_some_and(|rest| rest.ends_with('.'))
}

/// The TLS client settings for origins: the web PKI's roots (Mozilla's,
/// built in) plus any extra anchors configured. `exceptions` are sites whose
/// certificates are accepted even when they do not verify (each use is
/// logged); everything else must verify.
pub fn origin_tls_config(
    extra_roots: &[rustls::pki_types::CertificateDer<'static>],
    exceptions: &[String],
) -> Result<rustls::ClientConfig, rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in extra_roots {
        roots.add(cert.clone())?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| rustls::Error::General(e.to_string()))?;
    let verifier = Arc::new(WithExceptions {
        webpki,
        exceptions: exceptions.to_vec(),
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The web PKI's verdict on an origin's certificate, overruled only for the
/// configured exception sites. Handshake signatures are always checked.
#[derive(Debug)]
struct WithExceptions {
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
    exceptions: Vec<String>,
}

impl rustls::client::danger::ServerCertVerifier for WithExceptions {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => Ok(verified),
            Err(e) => {
                let name = server_name.to_str();
                if self.exceptions.iter().any(|site| covers(site, &name)) {
                    tracing::warn!(site = %name, error = %e, "origin certificate does not verify; accepted by proxy.certificate_exceptions");
                    Ok(rustls::client::danger::ServerCertVerified::assertion())
                } else {
                    Err(e)
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// Connects to the first address that answers within `timeout` each.
pub async fn connect_any(
    addrs: &[SocketAddr],
    timeout: Duration,
) -> std::io::Result<tokio::net::TcpStream> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Ok(Err(e)) => last = e,
            Err(_) => last = std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn inside_addresses_are_refused() {
        let d = Destinations::new(vec![], vec![addr("10.0.0.5:8080")], []);
        for a in [
            "127.0.0.1:80",
            "127.9.9.9:443",
            "[::1]:80",
            "[::ffff:127.0.0.1]:80",
            "169.254.169.254:80",
            "169.254.1.1:80",
            "[fe80::1]:80",
            "0.0.0.0:80",
            "[::]:80",
            "224.0.0.1:80",
            "10.0.0.5:8080",
        ] {
            assert!(d.check(addr(a)).is_err(), "{a}");
        }
        for a in ["10.0.0.5:80", "192.168.1.10:80", "93.184.215.14:443"] {
            assert!(d.check(addr(a)).is_ok(), "{a}");
        }
    }

    #[test]
    fn an_allowed_internal_range_never_opens_metadata_or_the_console() {
        let d = Destinations::new(
            vec![
                "127.0.0.0/8".parse().unwrap(),
                "169.254.0.0/16".parse().unwrap(),
            ],
            vec![addr("0.0.0.0:8080")],
            [],
        );
        assert!(d.check(addr("127.0.0.1:18080")).is_ok());
        assert!(d.check(addr("127.0.0.1:8080")).is_err());
        assert!(d.check(addr("169.254.169.254:80")).is_err());
        assert!(d.check(addr("169.254.1.1:80")).is_ok());
    }

    #[test]
    fn a_site_covers_its_subdomains_at_label_boundaries_only() {
        assert!(covers("nhs.uk", "nhs.uk"));
        assert!(covers("nhs.uk", "www.nhs.uk"));
        assert!(!covers("nhs.uk", "fakenhs.uk"));
        assert!(!covers("nhs.uk", "nhs.uk.evil.example"));
    }

    #[tokio::test]
    async fn names_that_point_inside_are_refused() {
        let d = Destinations::new(
            vec![],
            vec![],
            [
                ("Rebind.Example.".to_string(), "127.0.0.1".parse().unwrap()),
                ("ok.example".to_string(), "192.0.2.1".parse().unwrap()),
            ],
        );
        assert!(matches!(
            d.resolve("rebind.example", 80).await,
            Err(DestinationError::Internal(_))
        ));
        assert!(d.resolve("localhost", 80).await.is_err());
        assert_eq!(
            d.resolve("ok.example", 80).await.unwrap(),
            vec![addr("192.0.2.1:80")]
        );
    }
}
