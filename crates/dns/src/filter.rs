//! One query in, one answer out: who is asking, what the policy says, and
//! the answer that carries it out.
//!
//! [`DnsFilter::answer_now`] does everything that needs no upstream
//! (blocks, cache hits, errors) without awaiting, so the UDP threads answer
//! most queries without touching the async runtime. The rest comes back as
//! a [`Pending`] for [`DnsFilter::resolve`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns as HickoryEdns, Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::svcb::{SvcParamKey, SVCB};
use hickory_proto::rr::rdata::{CNAME, HTTPS};
use hickory_proto::rr::{Name, RData, Record};
use jiff::Timestamp;
use tutela_policy::{Action, DnsBlock, Engine, Identity, Rule, Snapshot, Target, Verdict};
use tutela_store::{event_for, EventSink, Protocol, RefGenerator, Request};

use crate::cache::{AnswerCache, CachedAnswer, KeyRef, MAX_TTL, STALE_TTL};
use crate::ratelimit::RateLimiter;
use crate::upstream::Upstreams;
use crate::wire::{self, Query, ResponseBuilder};

/// TTL of answers Tutela makes itself: short, so that an unblock reaches
/// clients within a minute.
pub const OWN_ANSWER_TTL: u32 = 60;
/// TTL of a safe-search CNAME.
const SAFESEARCH_TTL: u32 = 300;
/// Negative answers without an SOA, and empty answers, are kept this long.
const BARE_NEGATIVE_TTL: u32 = 30;

/// How the query arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
    Https,
}

/// Who sent a query, as the listener knows it.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    pub ip: IpAddr,
    pub transport: Transport,
    /// The device token of a DoH URL (`/dns-query/<token>`).
    pub token: Option<&'a str>,
}

/// What to do with a query.
pub enum Step {
    Reply(Vec<u8>),
    /// Say nothing (rate limited, or not a query at all).
    Drop,
    /// Needs an upstream: finish it with [`DnsFilter::resolve`].
    Resolve(Box<Pending>),
}

/// Settings of the filter that are not the policy.
#[derive(Debug, Clone)]
pub struct FilterOptions {
    pub allowed_clients: Vec<ipnet::IpNet>,
    pub block_page_ipv4: Ipv4Addr,
    pub block_page_ipv6: Ipv6Addr,
    pub cache_entries: usize,
    pub serve_stale: Duration,
    pub client_rate_limit: u32,
    pub strip_ech: bool,
}

impl Default for FilterOptions {
    fn default() -> Self {
        let s = crate::DnsSettings::default();
        FilterOptions {
            allowed_clients: s.allowed_clients,
            block_page_ipv4: s.block_page_ipv4,
            block_page_ipv6: s.block_page_ipv6,
            cache_entries: s.cache_entries,
            serve_stale: Duration::from_secs(86_400),
            client_rate_limit: s.client_rate_limit,
            strip_ech: s.strip_ech,
        }
    }
}

/// Counters since start.
#[derive(Debug, Default)]
pub struct FilterStats {
    pub queries: AtomicU64,
    pub blocked: AtomicU64,
    pub cache_hits: AtomicU64,
    pub forwarded: AtomicU64,
    pub served_stale: AtomicU64,
    pub upstream_failures: AtomicU64,
    pub malformed: AtomicU64,
    pub refused_clients: AtomicU64,
    pub rate_limited: AtomicU64,
    pub cloaked_blocks: AtomicU64,
}

/// Plain numbers of [`FilterStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FilterCounts {
    pub queries: u64,
    pub blocked: u64,
    pub cache_hits: u64,
    pub forwarded: u64,
    pub served_stale: u64,
    pub upstream_failures: u64,
    pub malformed: u64,
    pub refused_clients: u64,
    pub rate_limited: u64,
    pub cloaked_blocks: u64,
}

impl FilterStats {
    pub fn counts(&self) -> FilterCounts {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        FilterCounts {
            queries: l(&self.queries),
            blocked: l(&self.blocked),
            cache_hits: l(&self.cache_hits),
            forwarded: l(&self.forwarded),
            served_stale: l(&self.served_stale),
            upstream_failures: l(&self.upstream_failures),
            malformed: l(&self.malformed),
            refused_clients: l(&self.refused_clients),
            rate_limited: l(&self.rate_limited),
            cloaked_blocks: l(&self.cloaked_blocks),
        }
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The identity a query was decided for, owned, for a query that waits on
/// an upstream.
#[derive(Debug, Clone)]
struct Who {
    ip: IpAddr,
    user: Option<String>,
    device: Option<String>,
    site: Option<String>,
}

/// A query waiting for an upstream.
pub struct Pending {
    packet: Vec<u8>,
    query: Query,
    transport: Transport,
    snapshot: Arc<Snapshot>,
    /// `None` for names no policy applies to (the root).
    decided: Option<(Target, Verdict, Who)>,
}

/// The DNS filter: policy, cache, upstreams and the event log together.
pub struct DnsFilter {
    engine: Arc<Engine>,
    upstreams: Arc<Upstreams>,
    cache: AnswerCache,
    limiter: Option<RateLimiter>,
    options: FilterOptions,
    log: Option<EventSink>,
    refs: RefGenerator,
    pub stats: FilterStats,
}

impl DnsFilter {
    pub fn new(
        engine: Arc<Engine>,
        upstreams: Arc<Upstreams>,
        options: FilterOptions,
        log: Option<EventSink>,
    ) -> DnsFilter {
        DnsFilter {
            engine,
            upstreams,
            cache: AnswerCache::new(options.cache_entries, options.serve_stale),
            limiter: RateLimiter::new(options.client_rate_limit),
            options,
            log,
            refs: RefGenerator::default(),
            stats: FilterStats::default(),
        }
    }

    pub fn upstreams(&self) -> &Arc<Upstreams> {
        &self.upstreams
    }

    /// The policy in force now.
    pub fn engine_snapshot(&self) -> Arc<Snapshot> {
        self.engine.snapshot()
    }

    pub fn cache_len(&self) -> usize {
        self.cache.len()
    }

    /// Answers `packet` from `client` if it can be done without an
    /// upstream.
    pub fn answer_now(&self, packet: &[u8], client: &Client<'_>) -> Step {
        bump(&self.stats.queries);
        let now = Instant::now();
        let ip = client.ip.to_canonical();
        if let Some(limiter) = &self.limiter {
            if !limiter.allow(ip, now) {
                bump(&self.stats.rate_limited);
                // Over UDP, silence costs a flooder most; a stream client
                // is told.
                return match client.transport {
                    Transport::Udp => Step::Drop,
                    _ => reply(wire::error_response(packet, wire::RCODE_REFUSED)),
                };
            }
        }
        let snapshot = self.engine.current();
        let device = client.token.and_then(|t| snapshot.device_by_token(t));
        let (group, site) = match device {
            Some(d) => (d.group, d.site.as_deref()),
            None => match snapshot.served_client(ip, &self.options.allowed_clients) {
                Some(served) => served,
                None => {
                    bump(&self.stats.refused_clients);
                    return reply(wire::error_response(packet, wire::RCODE_REFUSED));
                }
            },
        };
        let query = match wire::parse_query(packet) {
            Ok(q) => q,
            Err(e) => {
                bump(&self.stats.malformed);
                tracing::debug!(client = %ip, error = %e, "malformed query");
                return reply(wire::error_response(packet, e.rcode()));
            }
        };
        if query.edns.is_some_and(|e| e.version > 0) {
            return Step::Reply(wire::badvers_response(packet, &query));
        }
        if query.qclass != wire::CLASS_IN || matches!(query.qtype, 251 | 252) {
            // Zone transfers and other classes are not a resolver's job.
            return Step::Reply(
                ResponseBuilder::new(packet, &query, wire::RCODE_REFUSED).finish(&query),
            );
        }
        let Some(target) = target_of(&query.name) else {
            return Step::Resolve(Box::new(Pending {
                packet: packet.to_vec(),
                query,
                transport: client.transport,
                snapshot: arc_swap::Guard::into_inner(snapshot),
                decided: None,
            }));
        };
        let user = device.and_then(|d| d.user.as_deref());
        let identity = Identity {
            group: snapshot.group(group).map(|g| g.name.as_str()),
            user,
        };
        let at = Timestamp::now();
        let verdict = snapshot.decide(&identity, &target, at);
        let who = WhoRef {
            ip,
            user,
            device: device.map(|d| d.name.as_str()),
            site,
        };
        match verdict.action {
            Action::Block => {
                let answer = self.blocked_answer(packet, &query, &snapshot, &verdict);
                self.record(&snapshot, &verdict, &target, &who, at);
                Step::Reply(self.fit(answer, packet, &query, client.transport))
            }
            Action::Allow => {
                let key = key_of(&query);
                if let Some((entry, age)) = self.cache.fresh(&key, now) {
                    bump(&self.stats.cache_hits);
                    let answer = self.finish_allowed(
                        packet, &query, &snapshot, &verdict, &target, &who, at, &entry, age, false,
                    );
                    return Step::Reply(self.fit(answer, packet, &query, client.transport));
                }
                Step::Resolve(Box::new(Pending {
                    packet: packet.to_vec(),
                    decided: Some((target, verdict, who.owned())),
                    query,
                    transport: client.transport,
                    snapshot: arc_swap::Guard::into_inner(snapshot),
                }))
            }
            Action::SafeSearch => Step::Resolve(Box::new(Pending {
                packet: packet.to_vec(),
                decided: Some((target, verdict, who.owned())),
                query,
                transport: client.transport,
                snapshot: arc_swap::Guard::into_inner(snapshot),
            })),
        }
    }

    /// Finishes a query that needed an upstream.
    pub async fn resolve(&self, pending: Pending) -> Vec<u8> {
        let Pending {
            packet,
            query,
            transport,
            snapshot,
            decided,
        } = pending;
        let at = Timestamp::now();
        let answer = match &decided {
            None => match self.fetch(&key_of(&query)).await {
                Some((entry, age, stale)) => wire::patch_answer(
                    &entry.wire,
                    &entry.shape,
                    &packet,
                    &query,
                    age,
                    stale.then_some(STALE_TTL),
                ),
                None => servfail(&packet, &query),
            },
            Some((target, verdict, who)) => {
                let who_ref = WhoRef {
                    ip: who.ip,
                    user: who.user.as_deref(),
                    device: who.device.as_deref(),
                    site: who.site.as_deref(),
                };
                match verdict.safesearch {
                    Some(safe) if verdict.action == Action::SafeSearch => {
                        let key = KeyRef {
                            name: safe.safe_host,
                            ..key_of(&query)
                        };
                        self.record(&snapshot, verdict, target, &who_ref, at);
                        let resolved = self.fetch(&key).await;
                        let resolved = resolved.as_ref().map(|(entry, age, stale)| {
                            (&**entry, if *stale { None } else { Some(*age) })
                        });
                        safesearch_answer(&packet, &query, safe.safe_host, resolved)
                            .unwrap_or_else(|| servfail(&packet, &query))
                    }
                    _ => match self.fetch(&key_of(&query)).await {
                        Some((entry, age, stale)) => self.finish_allowed(
                            &packet, &query, &snapshot, verdict, target, &who_ref, at, &entry, age,
                            stale,
                        ),
                        None => {
                            self.record(&snapshot, verdict, target, &who_ref, at);
                            servfail(&packet, &query)
                        }
                    },
                }
            }
        };
        self.fit(answer, &packet, &query, transport)
    }

    /// Answers a query completely, waiting on an upstream if need be; for
    /// the stream transports.
    pub async fn answer(&self, packet: &[u8], client: &Client<'_>) -> Option<Vec<u8>> {
        match self.answer_now(packet, client) {
            Step::Reply(a) => Some(a),
            Step::Drop => None,
            Step::Resolve(p) => Some(self.resolve(*p).await),
        }
    }

    /// An allowed answer from `entry`, unless a CNAME in it leads to a
    /// blocked name (CNAME cloaking), which is then blocked as that name.
    #[allow(clippy::too_many_arguments)]
    fn finish_allowed(
        &self,
        packet: &[u8],
        query: &Query,
        snapshot: &Snapshot,
        verdict: &Verdict,
        target: &Target,
        who: &WhoRef<'_>,
        at: Timestamp,
        entry: &CachedAnswer,
        age: u32,
        stale: bool,
    ) -> Vec<u8> {
        if !entry.shape.cname_targets.is_empty() {
            let identity = Identity {
                group: snapshot.group(verdict.group).map(|g| g.name.as_str()),
                user: who.user,
            };
            for name in &entry.shape.cname_targets {
                let Some(cname) = target_of(name) else {
                    continue;
                };
                let hidden = snapshot.decide(&identity, &cname, at);
                if hidden.is_blocked() {
                    bump(&self.stats.cloaked_blocks);
                    tracing::debug!(name = %target.host_str(), via = %name, "blocked behind a CNAME");
                    self.record(snapshot, &hidden, target, who, at);
                    return self.blocked_answer(packet, query, snapshot, &hidden);
                }
            }
        }
        if stale {
            bump(&self.stats.served_stale);
        }
        self.record(snapshot, verdict, target, who, at);
        wire::patch_answer(
            &entry.wire,
            &entry.shape,
            packet,
            query,
            age,
            stale.then_some(STALE_TTL),
        )
    }

    /// The answer to a blocked query, as its group asks.
    fn blocked_answer(
        &self,
        packet: &[u8],
        query: &Query,
        snapshot: &Snapshot,
        verdict: &Verdict,
    ) -> Vec<u8> {
        bump(&self.stats.blocked);
        let how = if verdict.rule == Rule::Circumvention {
            // The canaries' owners define "no" as NXDOMAIN: Firefox then
            // keeps DoH off, Safari keeps Private Relay off.
            DnsBlock::Nxdomain
        } else {
            snapshot
                .group(verdict.group)
                .map_or(DnsBlock::Page, |g| g.dns_block)
        };
        let (v4, v6) = match how {
            DnsBlock::Nxdomain => {
                return ResponseBuilder::new(packet, query, wire::RCODE_NXDOMAIN).finish(query)
            }
            DnsBlock::Refused => {
                return ResponseBuilder::new(packet, query, wire::RCODE_REFUSED).finish(query)
            }
            DnsBlock::Page => (self.options.block_page_ipv4, self.options.block_page_ipv6),
            DnsBlock::Null => (Ipv4Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED),
        };
        let mut b = ResponseBuilder::new(packet, query, wire::RCODE_NOERROR);
        match query.qtype {
            wire::TYPE_A => b.answer_a(OWN_ANSWER_TTL, v4),
            wire::TYPE_AAAA => b.answer_aaaa(OWN_ANSWER_TTL, v6),
            // Any other type (HTTPS, MX, TXT…): no data.
            _ => {}
        }
        b.finish(query)
    }

    /// A fresh answer from the cache, or else from an upstream, or else a
    /// stale one. The flag says it is stale.
    async fn fetch(&self, key: &KeyRef<'_>) -> Option<(Arc<CachedAnswer>, u32, bool)> {
        if let Some((entry, age)) = self.cache.fresh(key, Instant::now()) {
            bump(&self.stats.cache_hits);
            return Some((entry, age, false));
        }
        bump(&self.stats.forwarded);
        let failed = match self
            .upstreams
            .resolve(key.name, key.qtype, key.qclass, key.dnssec_ok)
            .await
        {
            Ok(answer) => match self.admit(answer) {
                Some(entry) => {
                    if entry.ttl > 0 {
                        self.cache.insert(key, entry.clone());
                    }
                    return Some((entry, 0, false));
                }
                None => "unusable answer".to_string(),
            },
            Err(e) => e.to_string(),
        };
        bump(&self.stats.upstream_failures);
        tracing::debug!(name = key.name, error = failed, "upstream failed");
        let stale = self.cache.stale(key, Instant::now())?;
        Some((stale, 0, true))
    }

    /// Checks an upstream answer and makes it fit to keep.
    fn admit(&self, mut answer: Vec<u8>) -> Option<Arc<CachedAnswer>> {
        let mut shape = wire::answer_shape(&answer).ok()?;
        if shape.has_ech && self.options.strip_ech {
            answer = strip_ech(&answer)?;
            shape = wire::answer_shape(&answer).ok()?;
        }
        let ttl = match shape.rcode {
            wire::RCODE_NOERROR | wire::RCODE_NXDOMAIN => {
                shape.min_ttl.unwrap_or(BARE_NEGATIVE_TTL).min(MAX_TTL)
            }
            _ => 0,
        };
        Some(Arc::new(CachedAnswer {
            wire: answer.into_boxed_slice(),
            shape,
            stored: Instant::now(),
            ttl,
        }))
    }

    fn fit(&self, answer: Vec<u8>, packet: &[u8], query: &Query, transport: Transport) -> Vec<u8> {
        match transport {
            Transport::Udp => wire::fit_udp(answer, packet, query),
            _ => answer,
        }
    }

    fn record(
        &self,
        snapshot: &Snapshot,
        verdict: &Verdict,
        target: &Target,
        who: &WhoRef<'_>,
        at: Timestamp,
    ) {
        let Some(sink) = &self.log else { return };
        let request = Request {
            client_ip: who.ip,
            user: who.user,
            device: who.device,
            site: who.site,
            protocol: Protocol::Dns,
            raw_url: None,
            at,
            page_view: false,
        };
        sink.record(event_for(&self.refs, snapshot, verdict, &request, target));
    }
}

#[derive(Debug, Clone, Copy)]
struct WhoRef<'a> {
    ip: IpAddr,
    user: Option<&'a str>,
    device: Option<&'a str>,
    site: Option<&'a str>,
}

impl WhoRef<'_> {
    fn owned(&self) -> Who {
        Who {
            ip: self.ip,
            user: self.user.map(str::to_string),
            device: self.device.map(str::to_string),
            site: self.site.map(str::to_string),
        }
    }
}

fn reply(answer: Option<Vec<u8>>) -> Step {
    match answer {
        Some(a) => Step::Reply(a),
        None => Step::Drop,
    }
}

fn key_of(query: &Query) -> KeyRef<'_> {
    KeyRef {
        name: &query.name,
        qtype: query.qtype,
        qclass: query.qclass,
        dnssec_ok: query.dnssec_ok(),
    }
}

fn servfail(packet: &[u8], query: &Query) -> Vec<u8> {
    ResponseBuilder::new(packet, query, wire::RCODE_SERVFAIL).finish(query)
}

/// The policy target for a queried name. A name that is not a host name
/// (`_dmarc.example.org`) is judged by the nearest parent that is; the root
/// has none.
pub fn target_of(name: &str) -> Option<Target> {
    let mut rest = name;
    loop {
        if rest.is_empty() {
            return None;
        }
        if let Ok(t) = Target::host(rest) {
            return Some(t);
        }
        rest = rest.split_once('.')?.1;
    }
}

/// The answer with every `ech` SvcParam removed from HTTPS and SVCB
/// records.
fn strip_ech(answer: &[u8]) -> Option<Vec<u8>> {
    let mut message = Message::from_vec(answer).ok()?;
    let without = |svcb: &SVCB| {
        SVCB::new(
            svcb.svc_priority(),
            svcb.target_name().clone(),
            svcb.svc_params()
                .iter()
                .filter(|(k, _)| *k != SvcParamKey::EchConfigList)
                .cloned()
                .collect(),
        )
    };
    for record in message.answers_mut() {
        let replaced = match record.data() {
            RData::HTTPS(h) => Some(RData::HTTPS(HTTPS(without(&h.0)))),
            RData::SVCB(s) => Some(RData::SVCB(without(s))),
            _ => None,
        };
        if let Some(data) = replaced {
            record.set_data(data);
        }
    }
    message.to_vec().ok()
}

/// `name CNAME safe_host`, then `safe_host`'s own answer, in one message.
///
/// `resolved` is that answer with its age (`None` when stale). When no
/// upstream could resolve the safe host, the CNAME goes out alone: the
/// client then asks for the safe host itself, and is never handed the
/// unrestricted engine in the meantime.
fn safesearch_answer(
    packet: &[u8],
    query: &Query,
    safe_host: &str,
    resolved: Option<(&CachedAnswer, Option<u32>)>,
) -> Option<Vec<u8>> {
    let upstream = match resolved {
        Some((entry, age)) => Some((Message::from_vec(&entry.wire).ok()?, age)),
        None => None,
    };
    let client = Message::from_vec(packet).ok()?;
    let mut out = Message::new();
    out.set_id(query.id)
        .set_message_type(MessageType::Response)
        .set_recursion_desired(query.recursion_desired())
        .set_checking_disabled(query.checking_disabled())
        .set_recursion_available(true)
        .set_response_code(
            upstream
                .as_ref()
                .map_or(ResponseCode::NoError, |(m, _)| m.response_code()),
        );
    out.add_queries(client.queries().iter().cloned());
    let owner = client.queries().first()?.name().clone();
    let safe = Name::from_ascii(format!("{safe_host}.")).ok()?;
    out.add_answer(Record::from_rdata(
        owner,
        SAFESEARCH_TTL,
        RData::CNAME(CNAME(safe)),
    ));
    let (answers, age) = match &upstream {
        Some((m, age)) => (m.answers(), *age),
        None => (&[][..], None),
    };
    for record in answers {
        let mut record = record.clone();
        let ttl = match age {
            Some(age) => record.ttl().saturating_sub(age),
            None => STALE_TTL,
        };
        record.set_ttl(ttl);
        out.add_answer(record);
    }
    if let Some(e) = query.edns {
        let mut edns = HickoryEdns::new();
        edns.set_max_payload(wire::MAX_UDP_PAYLOAD)
            .set_dnssec_ok(e.dnssec_ok);
        out.set_edns(edns);
    }
    let mut bytes = out.to_vec().ok()?;
    // The question exactly as asked, letter case included (DNS 0x20).
    if bytes.len() >= query.question_end {
        bytes[wire::HEADER_LEN..query.question_end]
            .copy_from_slice(&packet[wire::HEADER_LEN..query.question_end]);
    }
    Some(bytes)
}
