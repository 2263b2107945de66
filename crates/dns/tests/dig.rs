//! The DNS filter end to end: real listeners on 127.0.0.1, a real stub
//! upstream, and `dig` as the client (UDP, TCP, DoT and DoH).

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use support::{answers, dig, first_ttl, status, Stub};
use tutela_dns::{
    DnsFilter, DnsServer, FilterOptions, Listen, UpstreamOptions, UpstreamSpec, Upstreams,
};
use tutela_lists::{HostName, Index, IndexBuilder, Usage};
use tutela_policy::config::{GroupConfig, IdentityMapping};
use tutela_policy::{DeviceConfig, DnsBlock, Engine, PolicyConfig, Snapshot};
use tutela_store::{EventQuery, StoreConfig, Writer, WriterConfig};

const TOKEN: &str = "laptop-token-0001-abcdef";

fn index(extra_blocked: &[&str]) -> Index {
    let mut b = IndexBuilder::new(8);
    let adult = b.categories_mut().intern("adult", Usage::Black).unwrap();
    let gambling = b.categories_mut().intern("gambling", Usage::Black).unwrap();
    for name in ["blocked.example", "tracker.example"]
        .iter()
        .chain(extra_blocked)
    {
        b.add_domain(&HostName::parse(name).unwrap(), adult)
            .unwrap();
    }
    b.add_domain(&HostName::parse("casino.example").unwrap(), gambling)
        .unwrap();
    b.finish()
}

fn policy() -> PolicyConfig {
    let mut p = PolicyConfig::default();
    // Infants: blocks answered NXDOMAIN, not with the block page.
    p.groups.insert(
        "infants".into(),
        GroupConfig {
            block_categories: vec!["adult".into(), "gambling".into()],
            dns_block: DnsBlock::Nxdomain,
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
            group: "infants".into(),
            site: None,
        },
    ];
    p.devices = vec![DeviceConfig {
        name: "laptop-7".into(),
        doh_token: TOKEN.into(),
        user: Some("alice".into()),
        group: Some("staff".into()),
        site: Some("home".into()),
    }];
    p
}

fn snapshot(extra_blocked: &[&str]) -> Snapshot {
    Snapshot::build(
        &policy(),
        Arc::new(index(extra_blocked)),
        Arc::new(Index::empty()),
    )
    .unwrap()
}

/// A CA and a certificate for `localhost` and 127.0.0.1 signed by it.
fn certificates(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Tutela test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let (ca_path, cert_path, key_path) =
        (dir.join("ca.pem"), dir.join("dns.pem"), dir.join("dns.key"));
    std::fs::write(&ca_path, ca.pem()).unwrap();
    std::fs::write(&cert_path, leaf.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (ca_path, cert_path, key_path)
}

struct Running {
    server: DnsServer,
    filter: Arc<DnsFilter>,
    engine: Arc<Engine>,
    writer: Option<Writer>,
    dir: tempfile::TempDir,
    ca: std::path::PathBuf,
}

impl Running {
    async fn start(upstreams: &[String], options: FilterOptions) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert, key) = certificates(dir.path());
        let engine = Arc::new(Engine::new(snapshot(&[])));
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
        let specs: Vec<UpstreamSpec> = upstreams
            .iter()
            .map(|u| UpstreamSpec::parse(u).unwrap())
            .collect();
        let upstreams = Arc::new(
            Upstreams::new(
                &specs,
                UpstreamOptions {
                    attempt_timeout: Duration::from_millis(400),
                    extra_roots: tutela_dns::read_pem_certificates(&ca).unwrap(),
                    ..UpstreamOptions::default()
                },
            )
            .await
            .unwrap(),
        );
        let filter = Arc::new(DnsFilter::new(
            engine.clone(),
            upstreams,
            options,
            writer.sink(),
        ));
        let tls = Arc::new(tutela_dns::tls_server_config(&cert, &key).unwrap());
        let server = DnsServer::start(
            Listen {
                plain: "127.0.0.1:0".parse().unwrap(),
                tls: Some("127.0.0.1:0".parse().unwrap()),
                https: Some("127.0.0.1:0".parse().unwrap()),
                tls_config: Some(tls),
                udp_threads: 2,
                max_connections: 100,
            },
            filter.clone(),
        )
        .await
        .unwrap();
        Running {
            server,
            filter,
            engine,
            writer: Some(writer),
            dir,
            ca,
        }
    }

    async fn with_stub(stub: &Stub) -> Running {
        Self::start(&[stub.addr.to_string()], FilterOptions::default()).await
    }

    fn udp(&self) -> SocketAddr {
        self.server.udp
    }

    /// Stops everything and returns the events the writer stored.
    async fn events(self, query: EventQuery) -> Vec<tutela_store::AccessEvent> {
        let Running {
            server,
            filter,
            writer,
            dir,
            ..
        } = self;
        tokio::task::spawn_blocking(move || {
            server.shutdown();
            drop(filter);
            if let Some(writer) = writer {
                writer.shutdown();
            }
            let mut b = StoreConfig::Sqlite(dir.path().join("tutela.db"))
                .open()
                .unwrap();
            b.query_events(&EventQuery {
                limit: 1000,
                ..query
            })
            .unwrap()
        })
        .await
        .unwrap()
    }
}

fn a_records(out: &str) -> Vec<String> {
    answers(out)
        .into_iter()
        .filter(|(_, t, _)| t == "A")
        .map(|(_, _, d)| d)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_domain_and_its_subdomains_get_the_block_page() {
    let stub = Stub::start().await;
    let t = Running::with_stub(&stub).await;
    for name in [
        "blocked.example",
        "www.blocked.example",
        "a.b.c.Blocked.Example",
    ] {
        let out = dig(t.udp(), &[name, "A"]).await;
        assert_eq!(status(&out), "NOERROR", "{out}");
        assert_eq!(a_records(&out), vec!["127.0.0.1"], "{name}: {out}");
        let out = dig(t.udp(), &[name, "AAAA"]).await;
        assert!(
            answers(&out)
                .iter()
                .any(|(_, t, d)| t == "AAAA" && d == "::1"),
            "{out}"
        );
    }
    // Look-alikes are not blocked.
    for name in ["notblocked.example", "blocked.example.org"] {
        let out = dig(t.udp(), &[name, "A"]).await;
        assert_eq!(a_records(&out), vec!["127.0.0.2"], "{name}: {out}");
    }
    // Blocks never reach the upstream.
    let before = stub.queries.load(Ordering::SeqCst);
    dig(t.udp(), &["x.blocked.example"]).await;
    assert_eq!(stub.queries.load(Ordering::SeqCst), before);
    // Over TCP too.
    let out = dig(t.server.tcp, &["+tcp", "blocked.example"]).await;
    assert_eq!(a_records(&out), vec!["127.0.0.1"], "{out}");

    let events = t
        .events(EventQuery {
            action: Some("block".into()),
            ..EventQuery::default()
        })
        .await;
    assert!(events.len() >= 7, "{} block events", events.len());
    let e = events
        .iter()
        .find(|e| e.host == b"a.b.c.blocked.example")
        .expect("the deep subdomain was logged");
    assert_eq!(e.categories, vec!["adult".to_string()]);
    assert_eq!(e.group.as_deref(), Some("pupils"));
    assert_eq!(e.protocol.as_str(), "dns");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_domain_resolves_and_is_cached() {
    let stub = Stub::start().await;
    let t = Running::with_stub(&stub).await;
    let out = dig(t.udp(), &["www.wikipedia.example", "A"]).await;
    assert_eq!(status(&out), "NOERROR");
    assert_eq!(a_records(&out), vec!["127.0.0.2"], "{out}");
    let asked = stub.queries.load(Ordering::SeqCst);
    // Letter case differs (DNS 0x20); the cache still answers, and the
    // question comes back exactly as asked.
    let out = dig(t.udp(), &["WWW.Wikipedia.Example", "A"]).await;
    assert_eq!(a_records(&out), vec!["127.0.0.2"], "{out}");
    assert!(out.contains("WWW.Wikipedia.Example."), "{out}");
    assert_eq!(
        stub.queries.load(Ordering::SeqCst),
        asked,
        "answered from cache"
    );
    let ttl = first_ttl(&out).unwrap();
    assert!((3590..=3600).contains(&ttl), "{ttl}");
    // NXDOMAIN from upstream passes through.
    let out = dig(t.udp(), &["nx.example"]).await;
    assert_eq!(status(&out), "NXDOMAIN", "{out}");
    // Without EDNS, the answer has no OPT record.
    let out = dig(t.udp(), &["+noedns", "www.wikipedia.example"]).await;
    assert!(!out.contains("OPT PSEUDOSECTION"), "{out}");
    assert_eq!(a_records(&out), vec!["127.0.0.2"], "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safe_search_is_a_cname_to_the_safe_host_resolved_in_the_same_answer() {
    let stub = Stub::start().await;
    let t = Running::with_stub(&stub).await;
    let out = dig(t.udp(), &["www.google.co.uk", "A"]).await;
    let records = answers(&out);
    assert_eq!(
        records[0],
        (
            "www.google.co.uk.".into(),
            "CNAME".into(),
            "forcesafesearch.google.com.".into()
        ),
        "{out}"
    );
    assert_eq!(a_records(&out), vec!["216.239.38.120"], "{out}");
    let out = dig(t.udp(), &["www.youtube.com", "A"]).await;
    assert_eq!(answers(&out)[0].2, "restrict.youtube.com.", "{out}");
    // Staff (by address) get YouTube's moderate mode.
    let out = dig(t.udp(), &["-b", "127.0.0.2", "www.youtube.com", "A"]).await;
    assert_eq!(answers(&out)[0].2, "restrictmoderate.youtube.com.", "{out}");
    assert_eq!(a_records(&out), vec!["216.239.38.119"], "{out}");
    let out = dig(t.udp(), &["www.bing.com", "A"]).await;
    assert_eq!(answers(&out)[0].2, "strict.bing.com.", "{out}");
    let out = dig(t.udp(), &["duckduckgo.com", "A"]).await;
    assert_eq!(answers(&out)[0].2, "safe.duckduckgo.com.", "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_group_gets_another_answer() {
    let stub = Stub::start().await;
    let t = Running::with_stub(&stub).await;
    // Pupils (the default group): gambling is blocked, with the block page.
    let out = dig(t.udp(), &["-b", "127.0.0.1", "casino.example"]).await;
    assert_eq!(a_records(&out), vec!["127.0.0.1"], "{out}");
    // Staff (127.0.0.2): gambling is not blocked.
    let out = dig(t.udp(), &["-b", "127.0.0.2", "casino.example"]).await;
    assert_eq!(a_records(&out), vec!["127.0.0.2"], "{out}");
    // Infants (127.0.0.3): blocked, answered NXDOMAIN.
    let out = dig(t.udp(), &["-b", "127.0.0.3", "casino.example"]).await;
    assert_eq!(status(&out), "NXDOMAIN", "{out}");
    let events = t.events(EventQuery::default()).await;
    let staff = events
        .iter()
        .find(|e| e.client_ip == "127.0.0.2")
        .expect("staff event");
    assert_eq!(
        (
            staff.group.as_deref(),
            staff.site.as_deref(),
            staff.action.as_str()
        ),
        (Some("staff"), Some("main"), "allow")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canaries_say_no_and_cname_cloaking_is_caught() {
    let stub = Stub::start().await;
    let t = Running::with_stub(&stub).await;
    for name in [
        "use-application-dns.net",
        "mask.icloud.com",
        "mask-h2.icloud.com",
    ] {
        let out = dig(t.udp(), &[name]).await;
        assert_eq!(status(&out), "NXDOMAIN", "{name}: {out}");
    }
    // innocent.example is a CNAME to metrics.tracker.example, which is
    // listed: the answer is the block page, not the tracker's address.
    let out = dig(t.udp(), &["innocent.example"]).await;
    assert_eq!(a_records(&out), vec!["127.0.0.1"], "{out}");
    // And again from the cache.
    let out = dig(t.udp(), &["innocent.example"]).await;
    assert_eq!(a_records(&out), vec!["127.0.0.1"], "{out}");
    assert!(t.filter.stats.counts().cloaked_blocks >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ech_is_stripped_from_https_records() {
    let stub = Stub::start().await;
    let t = Running::with_stub(&stub).await;
    let out = dig(t.udp(), &["site.example", "HTTPS"]).await;
    let records = answers(&out);
    assert_eq!(records.len(), 1, "{out}");
    assert!(records[0].2.contains("alpn=\"h2\""), "{out}");
    assert!(!records[0].2.contains("ech="), "{out}");
    // The stub does send it: asked directly, the parameter is there.
    let direct = dig(stub.addr, &["site.example", "HTTPS"]).await;
    assert!(direct.contains("ech="), "{direct}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_upstream_answer_is_fetched_over_tcp() {
    let stub = Stub::start().await;
    let t = Running::with_stub(&stub).await;
    // 100 A records do not fit the stub's UDP answer: Tutela asks again
    // over TCP. Its own UDP answer is truncated in turn, and dig retries
    // over TCP to Tutela.
    let out = dig(t.udp(), &["big.example", "A"]).await;
    assert_eq!(a_records(&out).len(), 100, "{out}");
    let out = dig(t.udp(), &["+ignore", "big.example", "A"]).await;
    assert!(out.contains(" tc "), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doh_with_a_token_maps_to_its_user_and_dot_works() {
    let stub = Stub::start().await;
    let t = Running::with_stub(&stub).await;
    let https = t.server.https.unwrap();
    let dot = t.server.tls.unwrap();
    let ca = format!("+tls-ca={}", t.ca.display());
    // The token's device belongs to alice in staff: gambling is allowed.
    let path = format!("+https=/dns-query/{TOKEN}");
    let out = dig(https, &[&path, &ca, "casino.example"]).await;
    assert_eq!(a_records(&out), vec!["127.0.0.2"], "{out}");
    // GET works too.
    // (dig's +https-get resets the path, so it goes first.)
    let out = dig(https, &["+https-get", &path, &ca, "blocked.example"]).await;
    assert_eq!(a_records(&out), vec!["127.0.0.1"], "{out}");
    // Without a token, the default group (pupils) applies.
    let out = dig(https, &["+https", &ca, "casino.example"]).await;
    assert_eq!(a_records(&out), vec!["127.0.0.1"], "{out}");
    // An unknown token is refused outright.
    let out = dig(
        https,
        &[
            "+https=/dns-query/not-a-real-token-at-all",
            &ca,
            "casino.example",
        ],
    )
    .await;
    assert!(a_records(&out).is_empty(), "{out}");
    // DNS over TLS.
    let out = dig(dot, &["+tls", &ca, "casino.example"]).await;
    assert_eq!(a_records(&out), vec!["127.0.0.1"], "{out}");

    let events = t
        .events(EventQuery {
            user: Some("alice".into()),
            ..EventQuery::default()
        })
        .await;
    assert_eq!(events.len(), 2, "{events:#?}");
    for e in &events {
        assert_eq!(e.device.as_deref(), Some("laptop-7"));
        assert_eq!(e.site.as_deref(), Some("home"));
        assert_eq!(e.group.as_deref(), Some("staff"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_configured_clients_are_served() {
    let stub = Stub::start().await;
    let t = Running::start(
        &[stub.addr.to_string()],
        FilterOptions {
            allowed_clients: vec!["127.0.0.1/32".parse().unwrap()],
            ..FilterOptions::default()
        },
    )
    .await;
    let out = dig(t.udp(), &["-b", "127.0.0.1", "www.example.org"]).await;
    assert_eq!(status(&out), "NOERROR", "{out}");
    // 127.0.0.2 is served because an identity mapping names it (staff).
    let out = dig(t.udp(), &["-b", "127.0.0.2", "www.example.org"]).await;
    assert_eq!(status(&out), "NOERROR", "{out}");
    let out = dig(t.udp(), &["-b", "127.0.0.9", "www.example.org"]).await;
    assert_eq!(status(&out), "REFUSED", "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_and_serve_stale() {
    let stub = Stub::start().await;
    // A dead first upstream: a port where nothing answers.
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let t = Running::start(
        &[
            dead.local_addr().unwrap().to_string(),
            stub.addr.to_string(),
        ],
        FilterOptions::default(),
    )
    .await;
    for i in 0..4 {
        let out = dig(t.udp(), &[&format!("n{i}.example")]).await;
        assert_eq!(a_records(&out), vec!["127.0.0.2"], "{out}");
    }
    let status_now = t.filter.upstreams().status();
    assert!(!status_now[0].up, "{status_now:?}");
    assert!(status_now[1].up, "{status_now:?}");
    // The dead one is skipped now: an answer comes at once.
    let started = std::time::Instant::now();
    dig(t.udp(), &["fast.example"]).await;
    assert!(
        started.elapsed() < Duration::from_millis(350),
        "{:?}",
        started.elapsed()
    );

    // short.example has a TTL of 1 s. Once every upstream is silent and the
    // TTL has passed, the stale answer is served with a 30 s TTL.
    let out = dig(t.udp(), &["short.example"]).await;
    assert_eq!(a_records(&out), vec!["127.0.0.2"], "{out}");
    stub.silent.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let out = dig(t.udp(), &["+time=5", "short.example"]).await;
    assert_eq!(a_records(&out), vec!["127.0.0.2"], "{out}");
    assert_eq!(first_ttl(&out), Some(30), "{out}");
    // A name never seen gets SERVFAIL, not silence.
    let out = dig(t.udp(), &["+time=5", "never-seen.example"]).await;
    assert_eq!(status(&out), "SERVFAIL", "{out}");
    // Safe search still rewrites: the CNAME goes out alone, never the
    // unrestricted engine and never a failure the browser would retry
    // elsewhere.
    let out = dig(t.udp(), &["+time=5", "www.bing.com"]).await;
    assert_eq!(status(&out), "NOERROR", "{out}");
    assert_eq!(
        answers(&out),
        vec![(
            "www.bing.com.".into(),
            "CNAME".into(),
            "strict.bing.com.".into()
        )],
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_applies_without_a_restart() {
    let stub = Stub::start().await;
    let t = Running::with_stub(&stub).await;
    let out = dig(t.udp(), &["newly-listed.example"]).await;
    assert_eq!(a_records(&out), vec!["127.0.0.2"], "{out}");
    // Queries keep flowing while the new policy goes in.
    let addr = t.udp();
    let load = tokio::spawn(async move {
        let mut ok = 0;
        for _ in 0..20 {
            let out = dig(addr, &["steady.example"]).await;
            ok += (a_records(&out) == vec!["127.0.0.2"]) as usize;
        }
        ok
    });
    t.engine.install(snapshot(&["newly-listed.example"]));
    assert_eq!(
        load.await.unwrap(),
        20,
        "no query dropped during the reload"
    );
    let out = dig(t.udp(), &["newly-listed.example"]).await;
    assert_eq!(a_records(&out), vec!["127.0.0.1"], "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_never_stops_the_listener() {
    let stub = Stub::start().await;
    let t = Running::with_stub(&stub).await;
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut packets: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x12],
        vec![0; 12],
        vec![0xff; 12],
        vec![0xff; 3000],
        // A question whose name is a pointer to itself.
        vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1],
        // A label running past the end.
        vec![0, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63, b'a', b'b'],
        // A response: must not be answered.
        vec![0, 3, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1],
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..500 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 600) as usize;
        packets.push((0..len).map(|i| (seed >> (i % 56)) as u8).collect());
    }
    for p in &packets {
        socket.send_to(p, t.udp()).unwrap();
    }
    // A response packet gets no reply.
    let mut buf = [0u8; 512];
    socket.send_to(packets[7].as_slice(), t.udp()).unwrap();
    let mut replies = 0;
    while let Ok((_, _)) = socket.recv_from(&mut buf) {
        replies += 1;
        if buf[..2] == [0, 3] {
            panic!("answered a response");
        }
    }
    assert!(replies > 0);
    let out = dig(t.udp(), &["still-alive.example"]).await;
    assert_eq!(a_records(&out), vec!["127.0.0.2"], "{out}");
    assert!(t.filter.stats.counts().malformed > 0);
}
