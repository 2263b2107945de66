//! Tutela's DNS filter: UDP, TCP, DNS-over-TLS and DNS-over-HTTPS listeners
//! that apply each client's group policy to every query, answer blocks and
//! safe search themselves, and forward the rest to upstream resolvers
//! through a TTL cache.
//!
//! The hot path (parse, decide, block or cache hit, reply) is our own code
//! over [`wire`]; `hickory-proto` handles the rarer rewrites.

pub mod cache;
pub mod filter;
pub mod listen;
pub mod ratelimit;
pub mod settings;
pub mod upstream;
pub mod wire;

pub use filter::{Client, DnsFilter, FilterCounts, FilterOptions, Pending, Step, Transport};
pub use listen::{tls_server_config, DnsServer, Listen};
pub use settings::DnsSettings;
pub use upstream::{
    read_pem_certificates, Spec as UpstreamSpec, UpstreamError, UpstreamOptions, Upstreams,
};

/// Why the DNS filter could not start.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("TLS: {0}")]
    Tls(String),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("cannot listen: {0}")]
    Listen(#[from] std::io::Error),
}
