//! Shared set-up for the proxy's end-to-end tests: real origins (plain HTTP
//! and TLS), a real proxy listener with an event store, and the clients'
//! helpers.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tutela_lists::{HostName, Index, IndexBuilder, Usage};
use tutela_policy::config::{GroupConfig, IdentityMapping};
use tutela_policy::{Engine, PolicyConfig, Snapshot};
use tutela_proxy::{Destinations, ListenLimits, Proxy, ProxyOptions, ProxyServer};
use tutela_store::{AccessEvent, EventQuery, StoreConfig, Writer, WriterConfig};

/// A page bigger than one read, to see bodies stream whole.
pub fn page() -> String {
    let mut s = String::from("<html><head><title>Library</title></head><body>\n");
    while s.len() < 200_000 {
        s.push_str("<p>The school library opens at eight.</p>\n");
    }
    s.push_str("</body></html>\n");
    s
}

/// Plain HTTP origin: `/page.html`, and an echo of what it was sent.
pub async fn origin() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    let body = if req.uri().path() == "/page.html" {
                        page()
                    } else {
                        let mut s = format!("origin saw: {} {}\n", req.method(), req.uri());
                        for (name, value) in req.headers() {
                            s.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("?")));
                        }
                        s
                    };
                    let mut r = hyper::Response::new(Full::new(Bytes::from(body)));
                    r.headers_mut()
                        .insert("content-type", "text/html".parse().unwrap());
                    r.headers_mut()
                        .insert("connection", "keep-alive".parse().unwrap());
                    Ok::<_, std::convert::Infallible>(r)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// A CA, and a TLS origin for `secure.example` and `other.example` signed
/// by it.
pub async fn tls_origin(dir: &Path) -> (SocketAddr, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Tutela proxy test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec![
        "secure.example".to_string(),
        "other.example".to_string(),
        "bank.example".to_string(),
    ])
    .unwrap()
    .signed_by(&key, &issuer)
    .unwrap();
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca.pem()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut buf = vec![0u8; 4096];
                let n = tls.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let line = head.lines().next().unwrap_or("").to_string();
                let body = format!("secure hello\n{line}\n");
                let _ = tls
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (addr, ca_path)
}

pub fn index() -> Index {
    let mut b = IndexBuilder::new(4);
    let adult = b.categories_mut().intern("adult", Usage::Black).unwrap();
    b.add_domain(&HostName::parse("blocked.example").unwrap(), adult)
        .unwrap();
    // A UT1-style expression: only a full URL shows it.
    b.add_expression(r"/casino-[0-9]+/", adult).unwrap();
    b.finish()
}

pub fn policy() -> PolicyConfig {
    let mut p = PolicyConfig::default();
    // Staff at 127.0.0.2 may read what pupils may not.
    p.groups.insert(
        "staff".into(),
        GroupConfig {
            allow_sites: vec!["blocked.example".into()],
            ..GroupConfig::default_staff()
        },
    );
    // Pupils at 127.0.0.3 have TLS inspection on.
    p.groups.insert(
        "inspected".into(),
        GroupConfig {
            block_categories: vec!["adult".into()],
            block_sites: vec!["secure.example/private".into()],
            tls_inspection: true,
            ..GroupConfig::default_pupils()
        },
    );
    p.identities = vec![
        IdentityMapping {
            subnet: "127.0.0.2/32".parse().unwrap(),
            group: "staff".into(),
            site: Some("main".into()),
        },
        IdentityMapping {
            subnet: "127.0.0.3/32".parse().unwrap(),
            group: "inspected".into(),
            site: None,
        },
    ];
    p
}

pub struct Running {
    pub server: ProxyServer,
    pub proxy: Arc<Proxy>,
    pub writer: Option<Writer>,
    pub dir: tempfile::TempDir,
    pub origin: SocketAddr,
    pub tls: SocketAddr,
    pub ca: PathBuf,
    /// The proxy's own CA, which inspected clients trust.
    pub tutela_ca: PathBuf,
    /// Stands in for the console: nothing may reach it through the proxy.
    pub console: SocketAddr,
}

impl Running {
    pub async fn start(limits: ListenLimits) -> Running {
        Self::with_policy(limits, policy()).await
    }

    /// As [`Running::start`], with another policy.
    pub async fn with_policy(limits: ListenLimits, policy: PolicyConfig) -> Running {
        Self::with(limits, policy, |_| {}).await
    }

    /// As [`Running::with_policy`], with the proxy's options changed by
    /// `tweak`.
    pub async fn with(
        limits: ListenLimits,
        policy: PolicyConfig,
        tweak: impl FnOnce(&mut ProxyOptions),
    ) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let origin = origin().await;
        let (tls, ca) = tls_origin(dir.path()).await;
        let console = origin_like_console().await;
        let snapshot =
            Snapshot::build(&policy, Arc::new(index()), Arc::new(Index::empty())).unwrap();
        let engine = Arc::new(Engine::new(snapshot));
        let db = dir.path().join("tutela.db");
        let writer = Writer::start(
            WriterConfig {
                flush_interval: Duration::from_millis(50),
                ..WriterConfig::new(dir.path().join("journal"))
            },
            Box::new(move || {
                let mut b = StoreConfig::Sqlite(db.clone()).open()?;
                b.migrate()?;
                Ok(b)
            }),
        )
        .unwrap();
        let local = "127.0.0.1".parse().unwrap();
        let destinations = Destinations::new(
            vec!["127.0.0.0/8".parse().unwrap()],
            vec![console],
            [
                "allowed.example",
                "blocked.example",
                "www.google.com",
                "www.youtube.com",
                "secure.example",
                "other.example",
                "bank.example",
                "rebind.example",
            ]
            .map(|h| (h.to_string(), local)),
        );
        let tutela_ca_dir = dir.path().join("ca");
        let local_ca = Arc::new(tutela_proxy::ca::LocalCa::load_or_create(&tutela_ca_dir).unwrap());
        let mut options = ProxyOptions {
            allowed_clients: vec!["127.0.0.1/32".parse().unwrap()],
            connect_ports: vec![443, tls.port()],
            console_url: "http://console.school.example".into(),
            connect_timeout: Duration::from_secs(2),
            hello_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(5),
            never_inspect_sites: vec!["bank.example".into()],
            origin_roots: rustls_pemfile_certs(&ca),
            ..ProxyOptions::default()
        };
        tweak(&mut options);
        let proxy = Arc::new(
            Proxy::new(engine, destinations, options, writer.sink(), None)
                .with_inspection(local_ca)
                .unwrap(),
        );
        let server = ProxyServer::start("127.0.0.1:0".parse().unwrap(), limits, proxy.clone())
            .await
            .unwrap();
        Running {
            server,
            proxy,
            writer: Some(writer),
            dir,
            origin,
            tls,
            ca,
            tutela_ca: tutela_ca_dir.join("ca.pem"),
            console,
        }
    }

    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// `curl -x` through the proxy: (status, body, stderr, exit code).
    pub async fn curl(&self, args: &[&str]) -> (u16, String, String, i32) {
        let mut cmd = tokio::process::Command::new("curl");
        cmd.args(["-s", "-S", "--max-time", "10", "-x", &self.proxy_url()])
            .args(["-w", "\n%{http_code}"])
            .args(args);
        let out = cmd
            .output()
            .await
            .expect("curl must be installed (scripts/test.sh installs it)");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
        (
            code.trim().parse().unwrap_or(0),
            body.to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
            out.status.code().unwrap_or(-1),
        )
    }

    /// Stops everything and returns the events the writer stored.
    pub async fn events(self) -> Vec<AccessEvent> {
        let Running {
            server,
            proxy,
            writer,
            dir,
            ..
        } = self;
        server.shutdown();
        drop(proxy);
        tokio::time::sleep(Duration::from_millis(100)).await;
        tokio::task::spawn_blocking(move || {
            if let Some(writer) = writer {
                writer.shutdown();
            }
            let mut b = StoreConfig::Sqlite(dir.path().join("tutela.db"))
                .open()
                .unwrap();
            b.query_events(&EventQuery {
                limit: 1000,
                ..EventQuery::default()
            })
            .unwrap()
        })
        .await
        .unwrap()
    }
}

/// A listener standing in for the console's admin port.
pub async fn origin_like_console() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nadmin!")
                .await;
        }
    });
    addr
}

pub fn url(host: &str, port: u16, path: &str) -> String {
    format!("http://{host}:{port}{path}")
}

pub fn rustls_pemfile_certs(path: &Path) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_file_iter(path)
        .unwrap()
        .map(|c| c.unwrap())
        .collect()
}
