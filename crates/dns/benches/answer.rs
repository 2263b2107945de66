//! The per-query CPU cost of the DNS filter's hot path, without sockets:
//! parse, identify, decide, and answer a block or a cache hit. Whole-process
//! throughput against unbound and dnsmasq is measured by
//! `scripts/bench-dns.sh` with the shared harness.

use std::net::{Ipv4Addr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use tutela_dns::wire::{self, ResponseBuilder};
use tutela_dns::{
    Client, DnsFilter, FilterOptions, Step, Transport, UpstreamOptions, UpstreamSpec, Upstreams,
};
use tutela_lists::{HostName, Index, IndexBuilder, Usage};
use tutela_policy::{Engine, PolicyConfig, Snapshot};

/// A local upstream that answers every A query with 127.0.0.2.
fn upstream() -> std::net::SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, peer)) = socket.recv_from(&mut buf) {
            let Ok(q) = wire::parse_query(&buf[..n]) else {
                continue;
            };
            let mut b = ResponseBuilder::new(&buf[..n], &q, wire::RCODE_NOERROR);
            b.answer_a(3600, Ipv4Addr::new(127, 0, 0, 2));
            let _ = socket.send_to(&b.finish(&q), peer);
        }
    });
    addr
}

fn filter(runtime: &tokio::runtime::Runtime) -> DnsFilter {
    let mut b = IndexBuilder::new(200_000);
    let adult = b.categories_mut().intern("adult", Usage::Black).unwrap();
    for i in 0..200_000 {
        b.add_domain(
            &HostName::parse(&format!("site{i}.blocked.test")).unwrap(),
            adult,
        )
        .unwrap();
    }
    let snapshot = Snapshot::build(
        &PolicyConfig::default(),
        Arc::new(b.finish()),
        Arc::new(Index::empty()),
    )
    .unwrap();
    let upstreams = runtime.block_on(async {
        Upstreams::new(
            &[UpstreamSpec::Udp(upstream())],
            UpstreamOptions {
                attempt_timeout: Duration::from_secs(1),
                ..UpstreamOptions::default()
            },
        )
        .await
        .unwrap()
    });
    DnsFilter::new(
        Arc::new(Engine::new(snapshot)),
        Arc::new(upstreams),
        FilterOptions {
            client_rate_limit: 0,
            ..FilterOptions::default()
        },
        None,
    )
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let filter = filter(&runtime);
    let client = Client {
        ip: "127.0.0.1".parse().unwrap(),
        transport: Transport::Udp,
        token: None,
    };
    let blocked = wire::upstream_query(7, "www.site4242.blocked.test", wire::TYPE_A, 1, false);
    let allowed = wire::upstream_query(8, "www.allowed.example", wire::TYPE_A, 1, false);
    // Fill the cache.
    if let Step::Resolve(p) = filter.answer_now(&allowed, &client) {
        runtime.block_on(filter.resolve(*p));
    }
    assert!(matches!(
        filter.answer_now(&allowed, &client),
        Step::Reply(_)
    ));
    let mut g = c.benchmark_group("dns_answer_now");
    g.bench_function("blocked", |b| {
        b.iter(|| filter.answer_now(std::hint::black_box(&blocked), &client))
    });
    g.bench_function("cache_hit", |b| {
        b.iter(|| filter.answer_now(std::hint::black_box(&allowed), &client))
    });
    g.bench_function("parse_query", |b| {
        b.iter(|| wire::parse_query(std::hint::black_box(&allowed)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
