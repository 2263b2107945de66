//! Starting the DNS filter from the configuration.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tutela_dns::{DnsFilter, DnsServer, Listen, UpstreamOptions, UpstreamSpec, Upstreams};
use tutela_policy::Engine;
use tutela_store::EventSink;

use crate::config::Config;

/// How often upstreams that are down are probed.
const HEALTH_CHECK_EVERY: Duration = Duration::from_secs(10);

/// The running DNS filter.
pub struct Dns {
    pub server: DnsServer,
    pub filter: Arc<DnsFilter>,
    health: tokio::task::JoinHandle<()>,
}

impl Dns {
    pub async fn start(
        config: &Config,
        engine: Arc<Engine>,
        log: Option<EventSink>,
    ) -> Result<Dns> {
        let settings = &config.dns;
        let (options, attempt_timeout) = config.dns_options()?;
        let specs = settings
            .upstreams
            .iter()
            .enumerate()
            .map(|(i, u)| UpstreamSpec::parse(u).with_context(|| format!("dns.upstreams[{i}]")))
            .collect::<Result<Vec<_>>>()?;
        let extra_roots = match &settings.upstream_ca {
            Some(path) => tutela_dns::read_pem_certificates(path).context("dns.upstream_ca")?,
            None => Vec::new(),
        };
        let upstreams = Arc::new(
            Upstreams::new(
                &specs,
                UpstreamOptions {
                    attempt_timeout,
                    max_in_flight: settings.max_upstream_queries,
                    extra_roots,
                },
            )
            .await
            .context("cannot set up the DNS upstreams")?,
        );
        let health = upstreams.spawn_health_checks(HEALTH_CHECK_EVERY);
        let filter = Arc::new(DnsFilter::new(engine, upstreams, options, log));
        let tls_config = match (&settings.certificate, &settings.key) {
            (Some(cert), Some(key)) => Some(Arc::new(
                tutela_dns::tls_server_config(cert, key).context("dns.certificate / dns.key")?,
            )),
            _ => None,
        };
        let listen = Listen {
            plain: config.listeners.dns,
            tls: settings.tls_listen,
            https: settings.https_listen,
            tls_config,
            udp_threads: settings.udp_threads,
            max_connections: settings.max_connections,
        };
        let server = DnsServer::start(listen, filter.clone())
            .await
            .with_context(|| {
                format!("cannot start the DNS listeners on {}", config.listeners.dns)
            })?;
        tracing::info!(
            udp = %server.udp,
            tcp = %server.tcp,
            dot = ?server.tls,
            doh = ?server.https,
            upstreams = ?settings.upstreams,
            "DNS filter listening"
        );
        Ok(Dns {
            server,
            filter,
            health,
        })
    }

    /// Stops the listeners (joins the UDP threads, so call it off the
    /// runtime's worker threads).
    pub fn stop(self) {
        self.health.abort();
        self.server.shutdown();
    }
}
