//! Arbitrary bytes as a DNS query from an allowed client, through the whole
//! synchronous request path (`DnsFilter::answer_now`: rate limit, identity,
//! parse, decide, block or cache answer), and as an upstream answer
//! (`wire::answer_shape`, which guards everything relayed or cached).
//!
//! Run: `cd crates/dns/fuzz && cargo +nightly fuzz run request corpus/request`
//! (see crates/dns/fuzz/README.md).

#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use tutela_dns::{wire, Client, DnsFilter, FilterOptions, Step, Transport, UpstreamOptions, Upstreams};
use tutela_lists::{HostName, Index, IndexBuilder, Usage};
use tutela_policy::{Engine, PolicyConfig, Snapshot};

fn filter() -> &'static DnsFilter {
    static FILTER: OnceLock<(tokio::runtime::Runtime, DnsFilter)> = OnceLock::new();
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
            // No upstreams: queries that would need one are only planned.
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

fuzz_target!(|data: &[u8]| {
    let client = Client {
        ip: "127.0.0.1".parse().unwrap(),
        transport: Transport::Udp,
        token: None,
    };
    if let Step::Reply(answer) = filter().answer_now(data, &client) {
        // Whatever Tutela says must itself be a well-formed answer.
        assert!(wire::answer_shape(&answer).is_ok(), "malformed answer to {data:?}");
    }
    let _ = wire::answer_shape(data);
    let _ = wire::read_name(data, wire::HEADER_LEN);
});
