//! A real SMTP server and a real webhook receiver on 127.0.0.1, for tests:
//! each speaks its protocol over a socket and hands over what arrived.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::{Duration, Instant};

/// Listens on a free loopback port; each connection gets its own thread
/// running `session`, which hands what arrived to the receiver.
fn serve<T: Send + 'static>(
    session: fn(TcpStream, &Sender<T>) -> std::io::Result<()>,
) -> (SocketAddr, Receiver<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().expect("address");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let _ = session(stream, &tx);
            });
        }
    });
    (addr, rx)
}

/// A mail as the SMTP sink took it.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body, as sent.
    pub data: String,
    pub received: Instant,
}

pub struct SmtpSink {
    pub addr: SocketAddr,
    pub mails: Receiver<Mail>,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        let (addr, mails) = serve(smtp_session);
        SmtpSink { addr, mails }
    }

    pub fn next(&self, within: Duration) -> Option<Mail> {
        self.mails.recv_timeout(within).ok()
    }
}

fn smtp_session(stream: TcpStream, tx: &Sender<Mail>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut out = stream.try_clone()?;
    let mut lines = BufReader::new(stream);
    out.write_all(b"220 sink.test ESMTP test sink\r\n")?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        let upper = command.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            out.write_all(b"250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")?;
        } else if upper.starts_with("MAIL FROM:") {
            from = command[10..].trim().to_string();
            to.clear();
            out.write_all(b"250 OK\r\n")?;
        } else if upper.starts_with("RCPT TO:") {
            to.push(command[8..].trim().to_string());
            out.write_all(b"250 OK\r\n")?;
        } else if upper == "DATA" {
            out.write_all(b"354 go ahead\r\n")?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            out.write_all(b"250 OK queued\r\n")?;
            let _ = tx.send(Mail {
                from: from.clone(),
                to: to.clone(),
                data,
                received: Instant::now(),
            });
        } else if upper == "QUIT" {
            out.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else if upper == "RSET" || upper == "NOOP" {
            out.write_all(b"250 OK\r\n")?;
        } else {
            out.write_all(b"502 not here\r\n")?;
        }
    }
}

/// A webhook call as received.
#[derive(Debug, Clone)]
pub struct Call {
    pub path: String,
    pub body: serde_json::Value,
    pub received: Instant,
}

pub struct WebhookReceiver {
    pub addr: SocketAddr,
    pub calls: Receiver<Call>,
}

impl WebhookReceiver {
    pub fn start() -> WebhookReceiver {
        let (addr, calls) = serve(http_request);
        WebhookReceiver { addr, calls }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn next(&self, within: Duration) -> Option<Call> {
        self.calls.recv_timeout(within).ok()
    }
}

fn http_request(stream: TcpStream, tx: &Sender<Call>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split(' ').nth(1).unwrap_or("").to_string();
    let mut length = 0usize;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    out.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")?;
    let _ = tx.send(Call {
        path,
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        received: Instant::now(),
    });
    Ok(())
}
