//! The request path under hostile input, on stable Rust: the kept cargo-fuzz
//! corpus (crates/dns/fuzz/corpus/request) replayed, and property tests that
//! mutate well-formed queries. Every packet must get a well-formed answer or
//! none, and never a panic.

use std::sync::Arc;

use proptest::prelude::*;
use tutela_dns::{
    wire, Client, DnsFilter, FilterOptions, Step, Transport, UpstreamOptions, Upstreams,
};
use tutela_lists::{HostName, Index, IndexBuilder, Usage};
use tutela_policy::{Engine, PolicyConfig, Snapshot};

fn filter() -> &'static DnsFilter {
    static FILTER: std::sync::OnceLock<(tokio::runtime::Runtime, DnsFilter)> =
        std::sync::OnceLock::new();
    &FILTER
        .get_or_init(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let mut b = IndexBuilder::new(4);
            let adult = b.categories_mut().intern("adult", Usage::Black).unwrap();
            b.add_domain(&HostName::parse("blocked.example").unwrap(), adult)
                .unwrap();
            let snapshot = Snapshot::build(
                &PolicyConfig::default(),
                Arc::new(b.finish()),
                Arc::new(Index::empty()),
            )
            .unwrap();
            let upstreams = runtime
                .block_on(Upstreams::new(&[], UpstreamOptions::default()))
                .unwrap();
            let filter = DnsFilter::new(
                Arc::new(Engine::new(snapshot)),
                Arc::new(upstreams),
                FilterOptions {
                    client_rate_limit: 0,
                    ..FilterOptions::default()
                },
                None,
            );
            (runtime, filter)
        })
        .1
}

/// What the fuzz target checks, for one input.
fn check(packet: &[u8]) {
    let client = Client {
        ip: "127.0.0.1".parse().unwrap(),
        transport: Transport::Udp,
        token: None,
    };
    if let Step::Reply(answer) = filter().answer_now(packet, &client) {
        assert!(
            wire::answer_shape(&answer).is_ok(),
            "malformed answer to {packet:?}"
        );
        assert_eq!(answer.get(..2), packet.get(..2), "answer with another ID");
    }
    let _ = wire::answer_shape(packet);
    let _ = wire::read_name(packet, wire::HEADER_LEN);
}

#[test]
fn corpus_replays() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/request");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("the kept fuzz corpus") {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        check(&bytes);
        n += 1;
    }
    assert!(n > 50, "only {n} corpus files in {}", dir.display());
}

fn query_bytes() -> impl Strategy<Value = Vec<u8>> {
    (
        "[a-z0-9-]{1,20}(\\.[a-z0-9-]{1,20}){0,4}",
        prop_oneof![Just(1u16), Just(28), Just(65), Just(16), any::<u16>()],
        any::<bool>(),
    )
        .prop_map(|(name, qtype, dnssec)| wire::upstream_query(0x4242, &name, qtype, 1, dnssec))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_queries_never_break_the_request_path(
        q in query_bytes(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in any::<usize>(),
        extra in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let mut p = q.clone();
        for (at, v) in flips {
            let i = at % p.len();
            p[i] = v;
        }
        p.truncate(cut % (p.len() + 1) + (cut % 3));
        p.extend_from_slice(&extra);
        check(&p);
    }

    #[test]
    fn random_bytes_never_break_the_request_path(p in proptest::collection::vec(any::<u8>(), 0..600)) {
        check(&p);
    }
}
