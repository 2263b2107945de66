//! A real upstream for the tests: a small authoritative-style server on
//! 127.0.0.1 (UDP and TCP) with fixed answers, and helpers to run `dig`.

#![allow(dead_code)]

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::Command;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::svcb::{Alpn, EchConfigList, SvcParamKey, SvcParamValue, SVCB};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, HTTPS};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// What every ordinary name resolves to.
pub const STUB_A: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

pub struct Stub {
    pub addr: SocketAddr,
    pub queries: Arc<AtomicU64>,
    /// While set, the stub ignores every query (a dead upstream).
    pub silent: Arc<AtomicBool>,
}

fn name(s: &str) -> Name {
    Name::from_str(&format!("{s}.")).unwrap()
}

/// The stub's answer to one query.
fn respond(query: &[u8]) -> Option<Vec<u8>> {
    let q = Message::from_vec(query).ok()?;
    let question = q.queries().first()?.clone();
    let qname = question
        .name()
        .to_ascii()
        .trim_end_matches('.')
        .to_lowercase();
    let mut m = Message::new();
    m.set_id(q.id())
        .set_message_type(MessageType::Response)
        .set_recursion_desired(true)
        .set_recursion_available(true)
        .set_authoritative(true);
    m.add_query(question.clone());
    let owner = question.name().clone();
    let a = |ip: Ipv4Addr, ttl| Record::from_rdata(owner.clone(), ttl, RData::A(A(ip)));
    match (qname.as_str(), question.query_type()) {
        ("nx.example", _) => {
            m.set_response_code(ResponseCode::NXDomain);
        }
        // Looks harmless; its CNAME leads to a blocked tracker.
        ("innocent.example", _) => {
            m.add_answer(Record::from_rdata(
                owner.clone(),
                300,
                RData::CNAME(CNAME(name("metrics.tracker.example"))),
            ));
            m.add_answer(Record::from_rdata(
                name("metrics.tracker.example"),
                300,
                RData::A(A(Ipv4Addr::new(127, 0, 0, 3))),
            ));
        }
        ("big.example", RecordType::A) => {
            for i in 0..100u8 {
                m.add_answer(a(Ipv4Addr::new(10, 0, 0, i), 300));
            }
        }
        ("short.example", RecordType::A) => {
            m.add_answer(a(STUB_A, 1));
        }
        ("forcesafesearch.google.com", RecordType::A) => {
            m.add_answer(a(Ipv4Addr::new(216, 239, 38, 120), 300));
        }
        ("restrict.youtube.com", RecordType::A) => {
            m.add_answer(a(Ipv4Addr::new(216, 239, 38, 120), 300));
        }
        ("restrictmoderate.youtube.com", RecordType::A) => {
            m.add_answer(a(Ipv4Addr::new(216, 239, 38, 119), 300));
        }
        (_, RecordType::HTTPS) => {
            let svcb = SVCB::new(
                1,
                Name::root(),
                vec![
                    (
                        SvcParamKey::Alpn,
                        SvcParamValue::Alpn(Alpn(vec!["h2".into()])),
                    ),
                    (
                        SvcParamKey::EchConfigList,
                        SvcParamValue::EchConfigList(EchConfigList(vec![
                            0xfe, 0x0d, 0, 4, 1, 2, 3, 4,
                        ])),
                    ),
                ],
            );
            m.add_answer(Record::from_rdata(owner, 300, RData::HTTPS(HTTPS(svcb))));
        }
        (_, RecordType::A) => {
            m.add_answer(a(STUB_A, 3600));
        }
        (_, RecordType::AAAA) => {
            m.add_answer(Record::from_rdata(
                owner,
                3600,
                RData::AAAA(AAAA(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2))),
            ));
        }
        _ => {}
    }
    if let Some(edns) = q.extensions() {
        let mut e = edns.clone();
        e.set_max_payload(1232);
        m.set_edns(e);
    }
    let bytes = m.to_vec().ok()?;
    Some(bytes)
}

impl Stub {
    /// Starts on a free port of 127.0.0.1, UDP and TCP.
    pub async fn start() -> Stub {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        let tcp = TcpListener::bind(addr).await.unwrap();
        let queries = Arc::new(AtomicU64::new(0));
        let silent = Arc::new(AtomicBool::new(false));
        let (q, s) = (queries.clone(), silent.clone());
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                    continue;
                };
                if s.load(Ordering::SeqCst) {
                    continue;
                }
                q.fetch_add(1, Ordering::SeqCst);
                if let Some(mut answer) = respond(&buf[..n]) {
                    let limit = Message::from_vec(&buf[..n])
                        .ok()
                        .and_then(|m| m.extensions().as_ref().map(|e| e.max_payload() as usize))
                        .unwrap_or(512);
                    if answer.len() > limit {
                        // Truncate as a real server would: question only, TC.
                        let mut m = Message::from_vec(&answer).unwrap();
                        m.take_answers();
                        m.set_truncated(true);
                        answer = m.to_vec().unwrap();
                    }
                    let _ = udp.send_to(&answer, peer).await;
                }
            }
        });
        let (q, s) = (queries.clone(), silent.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = tcp.accept().await else {
                    continue;
                };
                let (q, s) = (q.clone(), s.clone());
                tokio::spawn(async move {
                    loop {
                        let mut len = [0u8; 2];
                        if conn.read_exact(&mut len).await.is_err() {
                            return;
                        }
                        let mut query = vec![0u8; u16::from_be_bytes(len) as usize];
                        if conn.read_exact(&mut query).await.is_err() {
                            return;
                        }
                        if s.load(Ordering::SeqCst) {
                            return;
                        }
                        q.fetch_add(1, Ordering::SeqCst);
                        let Some(answer) = respond(&query) else {
                            return;
                        };
                        let mut framed = (answer.len() as u16).to_be_bytes().to_vec();
                        framed.extend_from_slice(&answer);
                        if conn.write_all(&framed).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Stub {
            addr,
            queries,
            silent,
        }
    }
}

/// Runs `dig` with `args` against `server` and returns its output. Fails
/// the test loudly if dig is not installed (`.ci/run` installs it).
pub async fn dig(server: SocketAddr, args: &[&str]) -> String {
    let mut cmd = Command::new("dig");
    cmd.arg(format!("@{}", server.ip()))
        .arg("-p")
        .arg(server.port().to_string())
        .args(["+tries=1", "+time=3"])
        .args(args);
    let output = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("dig is needed for these tests: apt-get install -y bind9-dnsutils");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The status of a full dig answer (`NOERROR`, `NXDOMAIN`…).
pub fn status(out: &str) -> &str {
    out.split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("NO ANSWER")
}

/// The answer section's records as (name, type, data), lower-cased names.
pub fn answers(out: &str) -> Vec<(String, String, String)> {
    let mut records = Vec::new();
    let mut in_answer = false;
    for line in out.lines() {
        if line.starts_with(";; ANSWER SECTION:") {
            in_answer = true;
            continue;
        }
        if in_answer {
            if line.trim().is_empty() || line.starts_with(";;") {
                break;
            }
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() >= 5 {
                records.push((f[0].to_lowercase(), f[3].to_string(), f[4..].join(" ")));
            }
        }
    }
    records
}

/// The TTL of the first answer record.
pub fn first_ttl(out: &str) -> Option<u32> {
    let mut in_answer = false;
    for line in out.lines() {
        if line.starts_with(";; ANSWER SECTION:") {
            in_answer = true;
            continue;
        }
        if in_answer {
            return line.split_whitespace().nth(1)?.parse().ok();
        }
    }
    None
}
