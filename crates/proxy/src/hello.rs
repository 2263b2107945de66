//! Reading a tunnel's TLS ClientHello to learn the server name (SNI) the
//! client really asks for, before any byte reaches the origin.
//!
//! rustls parses the handshake; the bytes read are kept so the hello can be
//! replayed to the origin unchanged.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// A ClientHello larger than this is not a browser's (post-quantum key
/// shares make them about 2 KB; 16 KB is one full TLS record).
const MAX_HELLO: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum HelloError {
    #[error("the tunnel did not start with a TLS ClientHello: {0}")]
    NotTls(String),
    #[error("no ClientHello within {0:?}")]
    Timeout(Duration),
    #[error("ClientHello over {MAX_HELLO} bytes")]
    TooLarge,
    #[error("the client closed the tunnel before its ClientHello")]
    Closed,
    #[error("reading the ClientHello: {0}")]
    Io(#[from] std::io::Error),
}

/// The TLS extension that carries an Encrypted ClientHello (RFC 9849
/// draft 'encrypted_client_hello').
pub const EXTENSION_ECH: u16 = 0xfe0d;

/// A ClientHello as read: its server name and the raw bytes.
pub struct Hello {
    pub server_name: Option<String>,
    pub bytes: Vec<u8>,
}

/// Reads one ClientHello from `stream` within `timeout`.
pub async fn read_client_hello<S: AsyncRead + Unpin>(
    stream: &mut S,
    timeout: Duration,
) -> Result<Hello, HelloError> {
    tokio::time::timeout(timeout, read(stream))
        .await
        .map_err(|_| HelloError::Timeout(timeout))?
}

async fn read<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Hello, HelloError> {
    let mut acceptor = rustls::server::Acceptor::default();
    let mut bytes = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(HelloError::Closed);
        }
        if bytes.is_empty() && chunk[0] != 0x16 {
            // Not a TLS handshake record: say so before rustls' alert text.
            return Err(HelloError::NotTls(format!(
                "first byte 0x{:02x}, not a handshake record",
                chunk[0]
            )));
        }
        bytes.extend_from_slice(&chunk[..n]);
        if bytes.len() > MAX_HELLO {
            return Err(HelloError::TooLarge);
        }
        let mut fed = &chunk[..n];
        while !fed.is_empty() {
            if acceptor.read_tls(&mut fed)? == 0 {
                break;
            }
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => {
                let server_name = accepted.client_hello().server_name().map(str::to_string);
                return Ok(Hello { server_name, bytes });
            }
            Ok(None) => continue,
            Err((e, _alert)) => return Err(HelloError::NotTls(e.to_string())),
        }
    }
}

impl Hello {
    /// Whether the hello carries an Encrypted ClientHello, whose inner
    /// server name the proxy cannot read.
    pub fn has_encrypted_hello(&self) -> bool {
        extension_types(&self.bytes).is_some_and(|types| types.contains(&EXTENSION_ECH))
    }
}

/// The extension types of the ClientHello in `records` (TLS records as
/// sent), or `None` if they are not a whole, well-formed ClientHello.
pub fn extension_types(records: &[u8]) -> Option<Vec<u16>> {
    // The handshake message may span records: join their payloads. What
    // follows it in the same read (a change_cipher_spec, early data, the
    // start of another record) is not part of it, and must not make the
    // hello unreadable: that would hide an ECH extension.
    let mut handshake = Vec::with_capacity(records.len());
    let mut rest = records;
    while rest.len() >= 5 && rest[0] == 0x16 {
        let length = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        let Some(payload) = rest.get(5..5 + length) else {
            break;
        };
        handshake.extend_from_slice(payload);
        rest = &rest[5 + length..];
    }
    let mut r = Reader(&handshake);
    if r.u8()? != 1 {
        return None;
    }
    let length = r.u24()?;
    let mut body = Reader(r.take(length)?);
    body.take(2 + 32)?; // legacy version, random
    let session = usize::from(body.u8()?);
    body.take(session)?;
    let suites = usize::from(body.u16()?);
    body.take(suites)?;
    let compression = usize::from(body.u8()?);
    body.take(compression)?;
    let extensions = usize::from(body.u16()?);
    let mut ext = Reader(body.take(extensions)?);
    let mut types = Vec::new();
    while !ext.0.is_empty() {
        types.push(ext.u16()?);
        let len = usize::from(ext.u16()?);
        ext.take(len)?;
    }
    Some(types)
}

/// A bounds-checked cursor: every read is `None` past the end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u24(&mut self) -> Option<usize> {
        self.take(3)
            .map(|b| usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello record with these extensions (type, data).
    fn hello(extensions: &[(u16, &[u8])]) -> Vec<u8> {
        let mut ext = Vec::new();
        for (t, data) in extensions {
            ext.extend_from_slice(&t.to_be_bytes());
            ext.extend_from_slice(&(data.len() as u16).to_be_bytes());
            ext.extend_from_slice(data);
        }
        let mut body = vec![3, 3];
        body.extend_from_slice(&[7; 32]);
        body.push(0); // session id
        body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one suite
        body.extend_from_slice(&[1, 0]); // null compression
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&ext);
        let mut hs = vec![1];
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        let mut record = vec![0x16, 3, 1];
        record.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        record.extend_from_slice(&hs);
        record
    }

    #[test]
    fn extensions_are_listed_even_across_records() {
        let bytes = hello(&[
            (0, b"\x00\x00"),
            (EXTENSION_ECH, b"abc"),
            (43, b"\x02\x03\x04"),
        ]);
        assert_eq!(extension_types(&bytes), Some(vec![0, EXTENSION_ECH, 43]));
        // The same handshake split over two records.
        let payload = &bytes[5..];
        let (a, b) = payload.split_at(20);
        let mut split = vec![0x16, 3, 1];
        split.extend_from_slice(&(a.len() as u16).to_be_bytes());
        split.extend_from_slice(a);
        split.extend_from_slice(&[0x16, 3, 1]);
        split.extend_from_slice(&(b.len() as u16).to_be_bytes());
        split.extend_from_slice(b);
        assert_eq!(extension_types(&split), Some(vec![0, EXTENSION_ECH, 43]));
    }

    /// Found by the `client_hello` fuzz target: bytes after the hello in
    /// the same read made the scan give up, so an ECH hello followed by a
    /// change_cipher_spec record passed as one without ECH.
    #[test]
    fn what_follows_the_hello_does_not_hide_its_extensions() {
        let bytes = hello(&[(0, b"\x00\x00"), (EXTENSION_ECH, b"abc")]);
        let expected = Some(vec![0, EXTENSION_ECH]);
        for tail in [
            &[0x14, 3, 3, 0, 1, 1][..],
            &[0x17, 3, 3, 0, 2, 9, 9],
            &[0x16, 3, 3, 0x40, 0, 1, 2],
            &[0x16, 3],
        ] {
            let mut sent = bytes.clone();
            sent.extend_from_slice(tail);
            assert_eq!(extension_types(&sent), expected, "{tail:?}");
            let hello = Hello {
                server_name: None,
                bytes: sent,
            };
            assert!(hello.has_encrypted_hello());
        }
    }

    #[test]
    fn truncated_or_hostile_bytes_are_none_never_a_panic() {
        let bytes = hello(&[(EXTENSION_ECH, b"abc")]);
        for end in 0..bytes.len() {
            let _ = extension_types(&bytes[..end]);
        }
        let mut lying = bytes.clone();
        let n = lying.len();
        lying[n - 4] = 0xff; // an extension length past the end
        assert_eq!(extension_types(&lying), None);
        assert_eq!(extension_types(&[0x16, 3, 1, 0xff, 0xff]), None);
    }
}
