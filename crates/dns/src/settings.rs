//! The `[dns]` part of the configuration file.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How the DNS filter listens, answers and forwards.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsSettings {
    /// Upstream resolvers, in order of preference: `9.9.9.9` (UDP, with TCP
    /// when an answer is truncated), `tcp://…`, `tls://ip:853#name`,
    /// `https://host/dns-query#ip`.
    pub upstreams: Vec<String>,
    /// Client subnets served. The subnets of `policy.identities` are served
    /// too. Everyone else gets REFUSED, so Tutela is never an open resolver.
    pub allowed_clients: Vec<ipnet::IpNet>,
    /// DNS over TLS listener (`0.0.0.0:853`); needs `certificate` and `key`.
    pub tls_listen: Option<SocketAddr>,
    /// DNS over HTTPS listener (`0.0.0.0:443`), answering `/dns-query` and
    /// `/dns-query/<device token>`; needs `certificate` and `key`.
    pub https_listen: Option<SocketAddr>,
    /// PEM certificate chain and private key for DoT and DoH.
    pub certificate: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Extra PEM trust anchors for DoT and DoH upstreams.
    pub upstream_ca: Option<PathBuf>,
    /// Where a blocked name points when its group answers with the block
    /// page (the proxy's or console's address).
    pub block_page_ipv4: Ipv4Addr,
    pub block_page_ipv6: Ipv6Addr,
    /// Upstream answers kept in memory, at most.
    pub cache_entries: usize,
    /// How long past its TTL an answer may be served when every upstream
    /// fails (`1d`; `0s` turns serve-stale off).
    pub serve_stale: String,
    /// One try at one upstream.
    pub upstream_timeout: String,
    /// Upstream queries in flight at most.
    pub max_upstream_queries: usize,
    /// Queries per second one client address may make (0: no limit). Bursts
    /// of twice this pass.
    pub client_rate_limit: u32,
    /// UDP receive threads (0: one per core).
    pub udp_threads: usize,
    /// TCP, DoT and DoH connections open at most.
    pub max_connections: usize,
    /// Remove the `ech` parameter from HTTPS and SVCB answers, so an
    /// encrypted ClientHello cannot hide the site's name from the proxy.
    pub strip_ech: bool,
}

impl Default for DnsSettings {
    fn default() -> Self {
        DnsSettings {
            upstreams: vec!["9.9.9.9".into(), "149.112.112.112".into()],
            allowed_clients: vec![
                ipnet::IpNet::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8).unwrap_or_default(),
                ipnet::IpNet::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 128).unwrap_or_default(),
            ],
            tls_listen: None,
            https_listen: None,
            certificate: None,
            key: None,
            upstream_ca: None,
            block_page_ipv4: Ipv4Addr::LOCALHOST,
            block_page_ipv6: Ipv6Addr::LOCALHOST,
            cache_entries: 200_000,
            serve_stale: "1d".into(),
            upstream_timeout: "1500ms".into(),
            max_upstream_queries: 4096,
            client_rate_limit: 1000,
            udp_threads: 0,
            max_connections: 10_000,
            strip_ech: true,
        }
    }
}
