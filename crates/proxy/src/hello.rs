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

/// A ClientHello as read: its server name and the raw bytes.
pub struct Hello {
    pub server_name: Option<String>,
    pub bytes: Vec<u8>,
    /// The parsed hello, to continue the handshake locally (inspection).
    pub accepted: rustls::server::Accepted,
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
                return Ok(Hello {
                    server_name,
                    bytes,
                    accepted,
                });
            }
            Ok(None) => continue,
            Err((e, _alert)) => return Err(HelloError::NotTls(e.to_string())),
        }
    }
}
