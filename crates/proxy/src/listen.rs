//! The listener: accepts connections within limits and serves HTTP/1.1 on
//! each with hyper.
//!
//! Limits: connections in all, connections per client address, a deadline
//! for each request head (which also closes idle keep-alive connections),
//! and a cap on the head's size. A slow or hostile client costs one task and
//! a small buffer, never a thread.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::proxy::{ConnectionGuard, Proxy};

/// How the listener limits clients.
#[derive(Debug, Clone)]
pub struct ListenLimits {
    pub max_connections: usize,
    pub max_connections_per_client: usize,
    pub header_timeout: Duration,
    pub max_header_bytes: usize,
}

impl Default for ListenLimits {
    fn default() -> Self {
        ListenLimits {
            max_connections: 20_000,
            max_connections_per_client: 512,
            header_timeout: Duration::from_secs(20),
            max_header_bytes: 32 * 1024,
        }
    }
}

/// A running proxy listener. Dropping it does not stop it; call
/// [`ProxyServer::shutdown`].
pub struct ProxyServer {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    proxy: Arc<Proxy>,
}

impl ProxyServer {
    /// Binds `addr` and serves. Must run inside a Tokio runtime.
    pub async fn start(
        addr: SocketAddr,
        limits: ListenLimits,
        proxy: Arc<Proxy>,
    ) -> std::io::Result<ProxyServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(accept_loop(listener, limits, proxy.clone()));
        Ok(ProxyServer { addr, task, proxy })
    }

    /// Stops accepting, and ends every open connection and tunnel.
    pub fn shutdown(self) {
        self.task.abort();
        self.proxy.close();
    }
}

/// Open connections per client address.
#[derive(Default)]
struct PerClient(Mutex<HashMap<IpAddr, usize>>);

impl PerClient {
    fn enter(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<ClientSlot> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            table: self.clone(),
            ip,
        })
    }
}

struct ClientSlot {
    table: Arc<PerClient>,
    ip: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut map = self.table.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

async fn accept_loop(listener: TcpListener, limits: ListenLimits, proxy: Arc<Proxy>) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_client = Arc::new(PerClient::default());
    // Owned here, so stopping the listener ends every connection with it.
    let mut connections = tokio::task::JoinSet::new();
    let http = http_builder(&limits);
    loop {
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors, say: wait rather than spin.
                tracing::warn!(error = %e, "proxy: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(client = %peer, "proxy: connection limit reached");
            continue;
        };
        let ip = peer.ip().to_canonical();
        let Some(slot) = per_client.enter(ip, limits.max_connections_per_client) else {
            tracing::debug!(client = %peer, "proxy: per-client connection limit reached");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let guard = ConnectionGuard(Arc::new((permit, slot)));
        connections.spawn(serve_connection(
            proxy.clone(),
            http.clone(),
            TokioIo::new(stream),
            peer,
            guard,
        ));
    }
}

/// How every client connection is served: HTTP/1.1 within `limits`.
pub(crate) fn http_builder(limits: &ListenLimits) -> http1::Builder {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    http
}

/// Serves one client connection until it ends. `guard` is its place in
/// the limits, held until then (and by any tunnel it opens).
pub(crate) async fn serve_connection<I>(
    proxy: Arc<Proxy>,
    http: http1::Builder,
    io: I,
    peer: SocketAddr,
    guard: ConnectionGuard,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let held = guard.clone();
    let service = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(guard.clone());
        let proxy = proxy.clone();
        async move { Ok::<_, std::convert::Infallible>(proxy.handle(req, peer).await) }
    });
    if let Err(e) = http.serve_connection(io, service).with_upgrades().await {
        if e.is_parse() || e.is_parse_too_large() {
            tracing::info!(client = %peer, error = %e, "proxy: malformed request");
        } else {
            tracing::debug!(client = %peer, error = %e, "proxy: connection ended");
        }
    }
    drop(held);
}
