//! Starting the filtering proxy from the configuration.

use std::sync::Arc;

use anyhow::{Context, Result};
use tutela_policy::Engine;
use tutela_proxy::{Destinations, ListenLimits, Proxy, ProxyOptions, ProxyServer};
use tutela_store::EventSink;

use crate::config::{parse_duration, Config};

/// The running proxy.
pub struct ProxyListener {
    pub server: ProxyServer,
    pub proxy: Arc<Proxy>,
    /// The inspection CA's certificate, for devices to install.
    pub ca_pem: String,
}

impl ProxyListener {
    pub async fn start(
        config: &Config,
        engine: Arc<Engine>,
        log: Option<EventSink>,
        observer: Option<Arc<dyn tutela_proxy::ContentObserver>>,
    ) -> Result<ProxyListener> {
        let (options, limits) = config.proxy_options()?;
        let s = &config.proxy;
        // Pupils never reach the console's admin port, nor the proxy itself
        // (a request loop).
        let destinations = Destinations::new(
            s.allowed_internal.clone(),
            vec![config.listeners.console, config.listeners.proxy],
            s.hosts.clone(),
        );
        // The CA is made on first run, so a group can turn inspection on
        // without a restart; nothing is decrypted until one does.
        let ca_dir = config.data_dir.join("ca");
        let ca = tutela_proxy::ca::LocalCa::load_or_create(&ca_dir)
            .with_context(|| format!("cannot load or make the local CA in {}", ca_dir.display()))?;
        let ca_pem = ca.certificate_pem().to_string();
        let proxy = Proxy::new(engine, destinations, options, log, observer)
            .with_inspection(Arc::new(ca))
            .context("cannot set up TLS inspection")?;
        let proxy = Arc::new(proxy);
        let server = ProxyServer::start(config.listeners.proxy, limits, proxy.clone())
            .await
            .with_context(|| format!("cannot start the proxy on {}", config.listeners.proxy))?;
        tracing::info!(listen = %server.addr, "filtering proxy listening");
        if !s.certificate_exceptions.is_empty() {
            tracing::warn!(
                sites = ?s.certificate_exceptions,
                "proxy.certificate_exceptions: these sites' certificates are accepted unverified when inspected; review this list"
            );
        }
        Ok(ProxyListener {
            server,
            proxy,
            ca_pem,
        })
    }
}

impl Config {
    /// The proxy's settings with their durations read.
    pub fn proxy_options(&self) -> Result<(ProxyOptions, ListenLimits)> {
        let s = &self.proxy;
        let duration = |key: &str, value: &str| {
            parse_duration(value).with_context(|| format!("proxy.{key} = {value:?}"))
        };
        let options = ProxyOptions {
            allowed_clients: s.allowed_clients.clone(),
            connect_ports: s.connect_ports.clone(),
            console_url: s.console_url.clone(),
            connect_timeout: duration("connect_timeout", &s.connect_timeout)?,
            hello_timeout: duration("hello_timeout", &s.hello_timeout)?,
            tunnel_idle_timeout: duration("tunnel_idle_timeout", &s.tunnel_idle_timeout)?,
            header_timeout: duration("header_timeout", &s.header_timeout)?,
            never_inspect_sites: s.never_inspect_sites.clone(),
            never_inspect_categories: s.never_inspect_categories.clone(),
            origin_roots: match &s.origin_ca {
                Some(path) => tutela_dns::read_pem_certificates(path).context("proxy.origin_ca")?,
                None => Vec::new(),
            },
            authentication: s.authentication,
            certificate_exceptions: s.certificate_exceptions.clone(),
            ..ProxyOptions::default()
        };
        if s.max_connections == 0 || s.max_connections_per_client == 0 {
            anyhow::bail!(
                "proxy.max_connections and proxy.max_connections_per_client must be above zero"
            );
        }
        let limits = ListenLimits {
            max_connections: s.max_connections,
            max_connections_per_client: s.max_connections_per_client,
            header_timeout: duration("header_timeout", &s.header_timeout)?,
            max_header_bytes: s.max_header_bytes,
        };
        Ok((options, limits))
    }
}
