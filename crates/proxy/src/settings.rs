//! The `[proxy]` part of the configuration file.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// How the proxy listens, identifies clients and reaches origins.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxySettings {
    /// When clients must sign in with a username and password (`off`,
    /// `optional`, `required`), checked against `policy.accounts` and the
    /// store's users with a password.
    pub authentication: crate::auth::Authentication,
    /// Client subnets served. The subnets of `policy.identities` are served
    /// too. Everyone else gets 403, so Tutela is never an open proxy.
    pub allowed_clients: Vec<ipnet::IpNet>,
    /// Internal addresses pupils may reach through the proxy although they
    /// are loopback or link-local (a local test origin, say). The console's
    /// own address and cloud metadata stay out of reach whatever this says.
    pub allowed_internal: Vec<ipnet::IpNet>,
    /// Ports a CONNECT tunnel may open (443 only, as browsers need).
    pub connect_ports: Vec<u16>,
    /// Names resolved here before DNS, as `/etc/hosts` would.
    pub hosts: BTreeMap<String, IpAddr>,
    /// The console's address as pupils' browsers reach it, for the block
    /// page's "request a review" link.
    pub console_url: String,
    /// Client connections open at most.
    pub max_connections: usize,
    /// Client connections from one address at most, so one device cannot
    /// take every slot.
    pub max_connections_per_client: usize,
    /// A request's head must arrive within this; an idle keep-alive
    /// connection is closed after it too (slow clients, slowloris).
    pub header_timeout: String,
    /// Request line and headers, in bytes, at most.
    pub max_header_bytes: usize,
    /// Opening a connection to an origin may take this long.
    pub connect_timeout: String,
    /// A TLS ClientHello must arrive this soon after CONNECT.
    pub hello_timeout: String,
    /// A tunnel that carries nothing either way for this long is closed.
    pub tunnel_idle_timeout: String,
    /// Sites (with subdomains) never decrypted, whatever a group says:
    /// health and counselling services pupils must be able to reach in
    /// private, and apps that pin their certificates.
    pub never_inspect_sites: Vec<String>,
    /// Categories never decrypted (UT1's `bank`).
    pub never_inspect_categories: Vec<String>,
    /// Extra PEM trust anchors for sites' certificates, beside the web PKI
    /// (an internal CA, say).
    pub origin_ca: Option<std::path::PathBuf>,
    /// Sites (with subdomains) whose certificates are accepted when they do
    /// not verify, for inspected traffic. Keep it short and review it: each
    /// is logged at start and on every use.
    pub certificate_exceptions: Vec<String>,
}

/// Never decrypted by default. A starting list: add local services.
pub const NEVER_INSPECT: &[&str] = &[
    // Health and counselling.
    "nhs.uk",
    "childline.org.uk",
    "samaritans.org",
    "kooth.com",
    "youngminds.org.uk",
    "papyrus-uk.org",
    "themix.org.uk",
    "giveusashout.org",
    "beateatingdisorders.org.uk",
    "mind.org.uk",
    "brook.org.uk",
    "ceop.police.uk",
    "nspcc.org.uk",
    // Apps that pin certificates, which inspection would only break.
    "push.apple.com",
    "icloud.com",
    "windowsupdate.com",
    "update.microsoft.com",
    "signal.org",
    "whatsapp.net",
    "whatsapp.com",
];

impl Default for ProxySettings {
    fn default() -> Self {
        ProxySettings {
            authentication: crate::auth::Authentication::Off,
            allowed_clients: vec![
                ipnet::IpNet::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8).unwrap_or_default(),
                ipnet::IpNet::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 128).unwrap_or_default(),
            ],
            allowed_internal: Vec::new(),
            connect_ports: vec![443],
            hosts: BTreeMap::new(),
            console_url: "http://127.0.0.1:8080".into(),
            max_connections: 20_000,
            max_connections_per_client: 512,
            header_timeout: "20s".into(),
            max_header_bytes: 32 * 1024,
            connect_timeout: "10s".into(),
            hello_timeout: "10s".into(),
            tunnel_idle_timeout: "10m".into(),
            never_inspect_sites: NEVER_INSPECT.iter().map(|s| s.to_string()).collect(),
            never_inspect_categories: vec!["bank".into()],
            origin_ca: None,
            certificate_exceptions: Vec::new(),
        }
    }
}
