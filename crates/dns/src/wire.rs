//! Just enough of the DNS wire format for the hot path: reading a query,
//! writing the answers Tutela makes itself, and walking an upstream answer
//! to patch its TTLs. Rarer work (safe-search chains, SVCB edits) goes
//! through `hickory-proto`.
//!
//! Every read is bounds-checked; a name's compression pointers must point
//! strictly backwards, so a loop cannot exist.

use std::net::{Ipv4Addr, Ipv6Addr};

pub const HEADER_LEN: usize = 12;
/// Classic DNS over UDP without EDNS.
pub const MIN_UDP_PAYLOAD: usize = 512;
/// The payload Tutela offers and honours at most over UDP (DNS flag day
/// 2020), so answers are not fragmented.
pub const MAX_UDP_PAYLOAD: u16 = 1232;

pub const TYPE_A: u16 = 1;
pub const TYPE_NS: u16 = 2;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_SOA: u16 = 6;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_OPT: u16 = 41;
pub const TYPE_SVCB: u16 = 64;
pub const TYPE_HTTPS: u16 = 65;
pub const CLASS_IN: u16 = 1;

pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_FORMERR: u8 = 1;
pub const RCODE_SERVFAIL: u8 = 2;
pub const RCODE_NXDOMAIN: u8 = 3;
pub const RCODE_NOTIMP: u8 = 4;
pub const RCODE_REFUSED: u8 = 5;
/// Extended: the high 8 bits go in the OPT record.
pub const RCODE_BADVERS: u16 = 16;

const FLAG_QR: u16 = 0x8000;
const FLAG_AA: u16 = 0x0400;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;
const FLAG_RA: u16 = 0x0080;
const FLAG_CD: u16 = 0x0010;
const EDNS_DO: u32 = 0x8000;

/// Why a packet is not a query Tutela can answer normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("shorter than a DNS header")]
    Short,
    #[error("a response, not a query")]
    NotQuery,
    #[error("truncated at byte {0}")]
    Truncated(usize),
    #[error("not exactly one question")]
    QuestionCount,
    #[error("a name longer than 255 bytes")]
    NameTooLong,
    #[error("a label longer than 63 bytes")]
    LabelTooLong,
    #[error("a compression pointer that does not point backwards")]
    BadPointer,
    #[error("a compressed name in the question")]
    CompressedQuestion,
    #[error("a name with characters that are not allowed in host names")]
    BadCharacter,
    #[error("more than one OPT record")]
    DuplicateOpt,
    #[error("opcode {0} is not QUERY")]
    Opcode(u8),
}

impl WireError {
    /// The response code a client gets for this.
    pub fn rcode(self) -> u8 {
        match self {
            WireError::Opcode(_) => RCODE_NOTIMP,
            WireError::BadCharacter => RCODE_REFUSED,
            _ => RCODE_FORMERR,
        }
    }
}

/// The EDNS(0) part of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    pub udp_payload: u16,
    pub version: u8,
    pub dnssec_ok: bool,
}

/// A parsed query. The name is lower-cased text without the final dot
/// (empty for the root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub id: u16,
    pub flags: u16,
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    /// Offset just past the question.
    pub question_end: usize,
    pub edns: Option<Edns>,
}

impl Query {
    pub fn recursion_desired(&self) -> bool {
        self.flags & FLAG_RD != 0
    }

    pub fn checking_disabled(&self) -> bool {
        self.flags & FLAG_CD != 0
    }

    pub fn dnssec_ok(&self) -> bool {
        self.edns.is_some_and(|e| e.dnssec_ok)
    }

    /// The largest UDP answer this client takes.
    pub fn udp_limit(&self) -> usize {
        match self.edns {
            Some(e) => (e.udp_payload.min(MAX_UDP_PAYLOAD) as usize).max(MIN_UDP_PAYLOAD),
            None => MIN_UDP_PAYLOAD,
        }
    }
}

fn u16_at(p: &[u8], at: usize) -> Result<u16, WireError> {
    match p.get(at..at + 2) {
        Some(b) => Ok(u16::from_be_bytes([b[0], b[1]])),
        None => Err(WireError::Truncated(at)),
    }
}

fn u32_at(p: &[u8], at: usize) -> Result<u32, WireError> {
    match p.get(at..at + 4) {
        Some(b) => Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        None => Err(WireError::Truncated(at)),
    }
}

/// The header's ID, if there is one: even a malformed query is answered
/// with its own ID.
pub fn id_of(packet: &[u8]) -> Option<u16> {
    u16_at(packet, 0).ok()
}

/// Reads a query. Only the header, the question and an OPT record in the
/// additional section matter; other additional records are skipped.
pub fn parse_query(p: &[u8]) -> Result<Query, WireError> {
    if p.len() < HEADER_LEN {
        return Err(WireError::Short);
    }
    let id = u16_at(p, 0)?;
    let flags = u16_at(p, 2)?;
    if flags & FLAG_QR != 0 {
        return Err(WireError::NotQuery);
    }
    let opcode = ((flags >> 11) & 0xf) as u8;
    if opcode != 0 {
        return Err(WireError::Opcode(opcode));
    }
    let (qd, an, ns, ar) = (u16_at(p, 4)?, u16_at(p, 6)?, u16_at(p, 8)?, u16_at(p, 10)?);
    if qd != 1 {
        return Err(WireError::QuestionCount);
    }
    let mut name = String::new();
    let mut at = HEADER_LEN;
    let mut wire_len = 1usize;
    loop {
        let len = *p.get(at).ok_or(WireError::Truncated(at))? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        if len & 0xc0 != 0 {
            return Err(WireError::CompressedQuestion);
        }
        wire_len += len + 1;
        if wire_len > 255 {
            return Err(WireError::NameTooLong);
        }
        let label = p.get(at..at + len).ok_or(WireError::Truncated(at))?;
        if !name.is_empty() {
            name.push('.');
        }
        for &b in label {
            // A dot inside a label would make the text name mean another
            // name; control and non-ASCII bytes are not in host names.
            if !(0x21..=0x7e).contains(&b) || b == b'.' {
                return Err(WireError::BadCharacter);
            }
            name.push(b.to_ascii_lowercase() as char);
        }
        at += len;
    }
    let qtype = u16_at(p, at)?;
    let qclass = u16_at(p, at + 2)?;
    let question_end = at + 4;
    let mut edns = None;
    let mut at = question_end;
    for i in 0..(an as usize + ns as usize + ar as usize) {
        let rr = read_record(p, at)?;
        if i >= an as usize + ns as usize && rr.rtype == TYPE_OPT {
            if edns.is_some() {
                return Err(WireError::DuplicateOpt);
            }
            edns = Some(Edns {
                udp_payload: rr.class,
                version: (rr.ttl >> 16) as u8,
                dnssec_ok: rr.ttl & EDNS_DO != 0,
            });
        }
        at = rr.end;
    }
    Ok(Query {
        id,
        flags,
        name,
        qtype,
        qclass,
        question_end,
        edns,
    })
}

/// One resource record's place in a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub start: usize,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub ttl_at: usize,
    pub rdata_at: usize,
    pub end: usize,
}

/// Skips a possibly compressed name; returns the offset after it.
fn skip_name(p: &[u8], mut at: usize) -> Result<usize, WireError> {
    let mut seen = 0usize;
    loop {
        let len = *p.get(at).ok_or(WireError::Truncated(at))? as usize;
        match len & 0xc0 {
            0x00 if len == 0 => return Ok(at + 1),
            0x00 => {
                seen += len + 1;
                if seen > 255 {
                    return Err(WireError::NameTooLong);
                }
                at += 1 + len;
            }
            0xc0 => {
                if at + 2 > p.len() {
                    return Err(WireError::Truncated(at));
                }
                return Ok(at + 2);
            }
            _ => return Err(WireError::BadPointer),
        }
    }
}

/// Reads a possibly compressed name at `at` as lower-cased text. Pointers
/// must point before the label that holds them, so reading ends.
pub fn read_name(p: &[u8], mut at: usize) -> Result<String, WireError> {
    let mut name = String::new();
    let mut total = 1usize;
    loop {
        let len = *p.get(at).ok_or(WireError::Truncated(at))? as usize;
        match len & 0xc0 {
            0x00 if len == 0 => return Ok(name),
            0x00 => {
                total += len + 1;
                if total > 255 {
                    return Err(WireError::NameTooLong);
                }
                let label = p
                    .get(at + 1..at + 1 + len)
                    .ok_or(WireError::Truncated(at))?;
                if !name.is_empty() {
                    name.push('.');
                }
                for &b in label {
                    if !(0x21..=0x7e).contains(&b) || b == b'.' {
                        return Err(WireError::BadCharacter);
                    }
                    name.push(b.to_ascii_lowercase() as char);
                }
                at += 1 + len;
            }
            0xc0 => {
                let target = (u16_at(p, at)? & 0x3fff) as usize;
                if target >= at {
                    return Err(WireError::BadPointer);
                }
                at = target;
            }
            _ => return Err(WireError::BadPointer),
        }
    }
}

/// Reads the record starting at `at`.
pub fn read_record(p: &[u8], at: usize) -> Result<Record, WireError> {
    let after_name = skip_name(p, at)?;
    let rtype = u16_at(p, after_name)?;
    let class = u16_at(p, after_name + 2)?;
    let ttl = u32_at(p, after_name + 4)?;
    let rdlen = u16_at(p, after_name + 8)? as usize;
    let rdata_at = after_name + 10;
    let end = rdata_at + rdlen;
    if end > p.len() {
        return Err(WireError::Truncated(rdata_at));
    }
    Ok(Record {
        start: at,
        rtype,
        class,
        ttl,
        ttl_at: after_name + 4,
        rdata_at,
        end,
    })
}

/// Section counts of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub answers: u16,
    pub authority: u16,
    pub additional: u16,
}

/// What an upstream answer holds, found in one walk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnswerShape {
    pub rcode: u8,
    pub truncated: bool,
    /// Offsets of every TTL except the OPT record's (which holds flags).
    pub ttl_offsets: Vec<u32>,
    /// The smallest TTL among the records (negative answers: the SOA's).
    pub min_ttl: Option<u32>,
    /// Targets of CNAME records in the answer section, in order.
    pub cname_targets: Vec<String>,
    /// The OPT record's span, when it is the last record.
    pub trailing_opt: Option<(usize, usize)>,
    /// Whether an HTTPS or SVCB answer carries an `ech` parameter.
    pub has_ech: bool,
}

/// Walks an answer to `question_end`-long question. Fails on anything
/// malformed, so a broken upstream answer is never cached or relayed.
pub fn answer_shape(p: &[u8]) -> Result<AnswerShape, WireError> {
    if p.len() < HEADER_LEN {
        return Err(WireError::Short);
    }
    let flags = u16_at(p, 2)?;
    if flags & FLAG_QR == 0 {
        return Err(WireError::NotQuery);
    }
    let qd = u16_at(p, 4)?;
    let counts = Counts {
        answers: u16_at(p, 6)?,
        authority: u16_at(p, 8)?,
        additional: u16_at(p, 10)?,
    };
    let mut at = HEADER_LEN;
    for _ in 0..qd {
        at = skip_name(p, at)? + 4;
        if at > p.len() {
            return Err(WireError::Truncated(at));
        }
    }
    let mut shape = AnswerShape {
        rcode: (flags & 0xf) as u8,
        truncated: flags & FLAG_TC != 0,
        ..AnswerShape::default()
    };
    let total = counts.answers as usize + counts.authority as usize + counts.additional as usize;
    for i in 0..total {
        let rr = read_record(p, at)?;
        if rr.rtype == TYPE_OPT {
            if i + 1 == total {
                shape.trailing_opt = Some((rr.start, rr.end));
            }
        } else {
            shape.ttl_offsets.push(rr.ttl_at as u32);
            let ttl = if rr.rtype == TYPE_SOA && i >= counts.answers as usize {
                // RFC 2308: a negative answer lives min(SOA TTL, MINIMUM).
                let minimum = u32_at(p, rr.end - 4)?;
                rr.ttl.min(minimum)
            } else {
                rr.ttl
            };
            shape.min_ttl = Some(shape.min_ttl.map_or(ttl, |m: u32| m.min(ttl)));
            if i < counts.answers as usize {
                if rr.rtype == TYPE_CNAME {
                    shape.cname_targets.push(read_name(p, rr.rdata_at)?);
                } else if matches!(rr.rtype, TYPE_HTTPS | TYPE_SVCB) && svcb_has_ech(p, &rr)? {
                    shape.has_ech = true;
                }
            }
        }
        at = rr.end;
    }
    Ok(shape)
}

/// SvcParamKey 5 is `ech` (RFC 9460, RFC 9848).
pub const SVC_PARAM_ECH: u16 = 5;

fn svcb_has_ech(p: &[u8], rr: &Record) -> Result<bool, WireError> {
    // Priority, then an uncompressed target name, then key/length/value.
    let mut at = skip_name(p, rr.rdata_at + 2)?;
    while at + 4 <= rr.end {
        let key = u16_at(p, at)?;
        let len = u16_at(p, at + 2)? as usize;
        if key == SVC_PARAM_ECH {
            return Ok(true);
        }
        at += 4 + len;
    }
    Ok(false)
}

/// Writes `name` (text, no final dot) in wire form.
pub fn push_name(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let bytes = &label.as_bytes()[..label.len().min(63)];
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
    }
    out.push(0);
}

/// Builds answers to one query: its header and question, then records.
pub struct ResponseBuilder {
    buf: Vec<u8>,
    answers: u16,
}

impl ResponseBuilder {
    /// A response to `query` (the packet it was parsed from) with `rcode`.
    /// Recursion is available; authority is never claimed.
    pub fn new(packet: &[u8], query: &Query, rcode: u8) -> ResponseBuilder {
        let mut buf = Vec::with_capacity(query.question_end + 64);
        buf.extend_from_slice(&packet[..query.question_end]);
        let flags = FLAG_QR | FLAG_RA | (query.flags & (FLAG_RD | FLAG_CD)) | rcode as u16;
        buf[2..4].copy_from_slice(&flags.to_be_bytes());
        buf[4..12].copy_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        ResponseBuilder { buf, answers: 0 }
    }

    /// A record whose owner is the question's name.
    pub fn answer(&mut self, rtype: u16, ttl: u32, rdata: &[u8]) {
        self.buf.extend_from_slice(&[0xc0, HEADER_LEN as u8]);
        self.buf.extend_from_slice(&rtype.to_be_bytes());
        self.buf.extend_from_slice(&CLASS_IN.to_be_bytes());
        self.buf.extend_from_slice(&ttl.to_be_bytes());
        self.buf
            .extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        self.buf.extend_from_slice(rdata);
        self.answers += 1;
    }

    pub fn answer_a(&mut self, ttl: u32, ip: Ipv4Addr) {
        self.answer(TYPE_A, ttl, &ip.octets());
    }

    pub fn answer_aaaa(&mut self, ttl: u32, ip: Ipv6Addr) {
        self.answer(TYPE_AAAA, ttl, &ip.octets());
    }

    /// Adds an OPT record if the query had one, and sets the counts.
    pub fn finish(mut self, query: &Query) -> Vec<u8> {
        self.buf[6..8].copy_from_slice(&self.answers.to_be_bytes());
        if let Some(edns) = query.edns {
            push_opt(&mut self.buf, edns.dnssec_ok, 0);
            self.buf[10..12].copy_from_slice(&1u16.to_be_bytes());
        }
        self.buf
    }
}

/// An OPT record offering [`MAX_UDP_PAYLOAD`].
pub fn push_opt(out: &mut Vec<u8>, dnssec_ok: bool, extended_rcode: u8) {
    out.push(0);
    out.extend_from_slice(&TYPE_OPT.to_be_bytes());
    out.extend_from_slice(&MAX_UDP_PAYLOAD.to_be_bytes());
    let ttl = ((extended_rcode as u32) << 24) | if dnssec_ok { EDNS_DO } else { 0 };
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
}

/// A bare error answer to whatever `packet` is. Echoes the question when it
/// can be read, and nothing of the rest.
pub fn error_response(packet: &[u8], rcode: u8) -> Option<Vec<u8>> {
    let id = id_of(packet)?;
    let flags = u16_at(packet, 2).ok()?;
    if flags & FLAG_QR != 0 {
        // Never answer an answer: that is how reflection loops start.
        return None;
    }
    let mut out = Vec::with_capacity(HEADER_LEN);
    out.extend_from_slice(&id.to_be_bytes());
    let flags = FLAG_QR | FLAG_RA | (flags & (FLAG_RD | 0x7800)) | rcode as u16;
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&[0; 8]);
    Some(out)
}

/// BADVERS for a query that asks for an EDNS version other than 0.
pub fn badvers_response(packet: &[u8], query: &Query) -> Vec<u8> {
    let mut buf = ResponseBuilder::new(packet, query, (RCODE_BADVERS & 0xf) as u8).buf;
    push_opt(&mut buf, query.dnssec_ok(), (RCODE_BADVERS >> 4) as u8);
    buf[10..12].copy_from_slice(&1u16.to_be_bytes());
    buf
}

/// A query Tutela sends upstream for `name`/`qtype`: recursion desired,
/// EDNS(0) with our payload size.
pub fn upstream_query(id: u16, name: &str, qtype: u16, qclass: u16, dnssec_ok: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + name.len() + 20);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&FLAG_RD.to_be_bytes());
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 1]);
    push_name(&mut out, name);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&qclass.to_be_bytes());
    push_opt(&mut out, dnssec_ok, 0);
    out
}

/// Whether `answer` answers exactly `question` (ID aside): same name
/// (ignoring case), type and class.
pub fn same_question(answer: &[u8], query: &[u8]) -> bool {
    let Ok(q) = parse_question_span(query) else {
        return false;
    };
    let Ok(a) = parse_question_span(answer) else {
        return false;
    };
    query[HEADER_LEN..q].eq_ignore_ascii_case(&answer[HEADER_LEN..a])
}

fn parse_question_span(p: &[u8]) -> Result<usize, WireError> {
    if u16_at(p, 4)? != 1 {
        return Err(WireError::QuestionCount);
    }
    let mut at = HEADER_LEN;
    loop {
        let len = *p.get(at).ok_or(WireError::Truncated(at))? as usize;
        if len & 0xc0 != 0 {
            return Err(WireError::CompressedQuestion);
        }
        at += 1 + len;
        if len == 0 {
            break;
        }
    }
    let end = at + 4;
    if end > p.len() {
        return Err(WireError::Truncated(at));
    }
    Ok(end)
}

/// Rewrites a stored upstream answer for one client: its ID, its question
/// exactly as asked (case included), its flags, TTLs aged by `age` seconds
/// (or set to `fixed_ttl`), and EDNS as the client used it.
pub fn patch_answer(
    stored: &[u8],
    shape: &AnswerShape,
    packet: &[u8],
    query: &Query,
    age: u32,
    fixed_ttl: Option<u32>,
) -> Vec<u8> {
    let mut out = match (query.edns, shape.trailing_opt) {
        (None, Some((start, _))) => {
            let mut out = stored[..start].to_vec();
            let ar = u16::from_be_bytes([out[10], out[11]]).saturating_sub(1);
            out[10..12].copy_from_slice(&ar.to_be_bytes());
            out
        }
        _ => stored.to_vec(),
    };
    out[0..2].copy_from_slice(&query.id.to_be_bytes());
    let stored_flags = u16::from_be_bytes([out[2], out[3]]);
    let flags = (stored_flags & !(FLAG_RD | FLAG_CD | FLAG_AA | FLAG_TC))
        | (query.flags & (FLAG_RD | FLAG_CD))
        | FLAG_RA;
    out[2..4].copy_from_slice(&flags.to_be_bytes());
    if out.len() >= query.question_end {
        out[HEADER_LEN..query.question_end]
            .copy_from_slice(&packet[HEADER_LEN..query.question_end]);
    }
    for &at in &shape.ttl_offsets {
        let at = at as usize;
        if let Some(b) = out.get_mut(at..at + 4) {
            let ttl = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            let ttl = fixed_ttl.unwrap_or_else(|| ttl.saturating_sub(age));
            b.copy_from_slice(&ttl.to_be_bytes());
        }
    }
    out
}

/// Fits an answer to a UDP client: past its limit, only the header and
/// question go, with TC set so it asks again over TCP.
pub fn fit_udp(answer: Vec<u8>, packet: &[u8], query: &Query) -> Vec<u8> {
    if answer.len() <= query.udp_limit() {
        return answer;
    }
    let mut out = ResponseBuilder::new(packet, query, answer[3] & 0xf).finish(query);
    out[2] |= (FLAG_TC >> 8) as u8;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16, edns: bool) -> Vec<u8> {
        let mut q = upstream_query(0x1234, name, qtype, CLASS_IN, false);
        if !edns {
            q.truncate(q.len() - 11);
            q[11] = 0;
        }
        q
    }

    #[test]
    fn reads_a_query() {
        let p = query("WWW.Example.ORG", TYPE_A, true);
        let q = parse_query(&p).unwrap();
        assert_eq!(q.name, "www.example.org");
        assert_eq!((q.id, q.qtype, q.qclass), (0x1234, TYPE_A, CLASS_IN));
        assert_eq!(q.edns.map(|e| e.udp_payload), Some(MAX_UDP_PAYLOAD));
        assert!(q.recursion_desired());
        let q = parse_query(&query("example.org", TYPE_AAAA, false)).unwrap();
        assert_eq!(q.edns, None);
        assert_eq!(q.udp_limit(), 512);
        assert_eq!(parse_query(&query("", TYPE_NS, false)).unwrap().name, "");
    }

    #[test]
    fn rejects_bad_queries() {
        assert_eq!(parse_query(&[0; 5]), Err(WireError::Short));
        let mut p = query("example.org", TYPE_A, false);
        p[2] |= 0x80;
        assert_eq!(parse_query(&p), Err(WireError::NotQuery));
        let mut p = query("example.org", TYPE_A, false);
        p[2] |= 0x28; // opcode 5, UPDATE
        assert_eq!(parse_query(&p), Err(WireError::Opcode(5)));
        let p = query("example.org", TYPE_A, false);
        assert!(matches!(
            parse_query(&p[..p.len() - 3]),
            Err(WireError::Truncated(_))
        ));
        // A label holding a dot would read as two labels.
        let mut p = query("exampleXorg", TYPE_A, false);
        p[HEADER_LEN + 8] = b'.';
        assert_eq!(parse_query(&p), Err(WireError::BadCharacter));
        let mut p = query("a", TYPE_A, false);
        p[HEADER_LEN] = 0xc0;
        assert_eq!(parse_query(&p), Err(WireError::CompressedQuestion));
    }

    #[test]
    fn a_pointer_loop_is_an_error_not_a_hang() {
        // A name at 12 that points to itself.
        let mut p = vec![0u8; HEADER_LEN];
        p.extend_from_slice(&[0xc0, 12]);
        assert_eq!(read_name(&p, 12), Err(WireError::BadPointer));
        // Two names pointing at each other.
        let mut p = vec![0u8; HEADER_LEN];
        p.extend_from_slice(&[1, b'a', 0xc0, 16, 1, b'b', 0xc0, 12]);
        assert_eq!(read_name(&p, 16), Err(WireError::BadPointer));
    }

    #[test]
    fn answers_and_patches() {
        let p = query("Blocked.Example", TYPE_A, true);
        let q = parse_query(&p).unwrap();
        let mut b = ResponseBuilder::new(&p, &q, RCODE_NOERROR);
        b.answer_a(60, Ipv4Addr::new(192, 0, 2, 1));
        let answer = b.finish(&q);
        let shape = answer_shape(&answer).unwrap();
        assert_eq!(shape.min_ttl, Some(60));
        assert_eq!(shape.ttl_offsets.len(), 1);
        assert!(shape.trailing_opt.is_some());
        // The same answer for a client without EDNS, 20 s later.
        let p2 = query("blocked.example", TYPE_A, false);
        let q2 = parse_query(&p2).unwrap();
        let patched = patch_answer(&answer, &shape, &p2, &q2, 20, None);
        let s2 = answer_shape(&patched).unwrap();
        assert_eq!(s2.min_ttl, Some(40));
        assert_eq!(s2.trailing_opt, None);
        assert_eq!(
            &patched[HEADER_LEN..q2.question_end],
            &p2[HEADER_LEN..q2.question_end]
        );
    }

    #[test]
    fn truncates_for_small_clients() {
        let p = query("big.example", TYPE_A, false);
        let q = parse_query(&p).unwrap();
        let mut b = ResponseBuilder::new(&p, &q, RCODE_NOERROR);
        for i in 0..40 {
            b.answer_a(60, Ipv4Addr::new(10, 0, 0, i));
        }
        let fitted = fit_udp(b.finish(&q), &p, &q);
        assert!(fitted.len() <= 512);
        assert_eq!(fitted[2] & 0x02, 0x02, "TC set");
    }
}
