//! The interface the monitor plugs into: streamed page text with the event
//! it belongs to.
//!
//! The proxy holds an `Option<Arc<dyn ContentObserver>>`. With none (the
//! default), responses pass through untouched: no wrapper, no copy, no
//! virtual call. With one, text/html and text/plain bodies are handed over
//! chunk by chunk as they stream to the pupil; nothing is buffered whole.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tutela_store::EventRef;

/// The kind of text a body holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    Html,
    Plain,
}

impl TextKind {
    /// The kind named by a `Content-Type` value, if it is text worth reading.
    pub fn of_content_type(value: &str) -> Option<TextKind> {
        let essence = value.split(';').next().unwrap_or("").trim();
        if essence.eq_ignore_ascii_case("text/html") {
            Some(TextKind::Html)
        } else if essence.eq_ignore_ascii_case("text/plain") {
            Some(TextKind::Plain)
        } else {
            None
        }
    }
}

/// One request the proxy could read in full: who, where, and the access
/// event it was logged as.
#[derive(Debug, Clone)]
pub struct PageContext {
    pub reference: EventRef,
    pub user: Option<String>,
    pub group: String,
    pub client_ip: std::net::IpAddr,
    /// The URL as the client sent it.
    pub url: String,
    pub search: Option<String>,
    /// Whether the policy blocked it (an attempt, for escalation).
    pub blocked: bool,
}

/// Receives what the proxy reads. Implementations must be quick: they run
/// on the proxy's threads, on the path to the pupil.
pub trait ContentObserver: Send + Sync + 'static {
    /// Every request with a full URL, allowed or blocked.
    fn request(&self, page: &PageContext);

    /// A text body about to stream to the client; a sink to receive it, or
    /// `None` to let it pass unread. Bodies arrive as sent: the proxy asks
    /// origins for unencoded bodies while an observer is set.
    fn open(&self, page: &PageContext, kind: TextKind) -> Option<Box<dyn TextSink>>;
}

/// One body's text, chunk by chunk.
pub trait TextSink: Send {
    fn text(&mut self, chunk: &[u8]);
    /// The body ended (`complete` is false when it was cut short).
    fn end(self: Box<Self>, complete: bool);
}

/// A body that copies its data frames to a [`TextSink`] as they pass.
pub struct ObservedBody<B> {
    inner: B,
    sink: Option<Box<dyn TextSink>>,
}

impl<B> ObservedBody<B> {
    pub fn new(inner: B, sink: Box<dyn TextSink>) -> Self {
        ObservedBody {
            inner,
            sink: Some(sink),
        }
    }
}

impl<B> Drop for ObservedBody<B> {
    fn drop(&mut self) {
        if let Some(sink) = self.sink.take() {
            sink.end(false);
        }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for ObservedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(sink)) = (frame.data_ref(), self.sink.as_mut()) {
                    sink.text(data);
                }
                // A body that knows it has ended is not polled again.
                if self.inner.is_end_stream() {
                    if let Some(sink) = self.sink.take() {
                        sink.end(true);
                    }
                }
            }
            Poll::Ready(None) => {
                if let Some(sink) = self.sink.take() {
                    sink.end(true);
                }
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
