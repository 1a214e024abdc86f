//! Response bodies: whole (JSON, errors) or streamed from a blocking
//! handler through a channel (logs, pull progress, `wait`, build output).

use bytes::Bytes;
use http_body::Frame;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A response body: either all of it at once, or chunks as a handler
/// sends them.
pub enum Body {
    /// The whole body.
    Full(Option<Bytes>),
    /// Chunks from a [`Sender`]; the body ends when every sender is dropped.
    Stream(tokio::sync::mpsc::Receiver<Bytes>),
}

impl Body {
    /// A body of these bytes.
    pub fn full(b: impl Into<Bytes>) -> Body {
        Body::Full(Some(b.into()))
    }

    /// An empty body.
    pub fn empty() -> Body {
        Body::Full(None)
    }

    /// A streamed body and the sender a blocking handler writes it with.
    pub fn channel() -> (Sender, Body) {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        (Sender(tx), Body::Stream(rx))
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }
}

/// The writing end of a streamed body, for blocking code.
#[derive(Clone)]
pub struct Sender(tokio::sync::mpsc::Sender<Bytes>);

impl Sender {
    /// Sends a chunk; false when the client has gone.
    pub fn send(&self, b: impl Into<Bytes>) -> bool {
        self.0.blocking_send(b.into()).is_ok()
    }

    /// Whether the client has gone (the body was dropped).
    pub fn closed(&self) -> bool {
        self.0.is_closed()
    }

    /// Sends one JSON value followed by a newline (a progress stream line).
    pub fn json(&self, v: &serde_json::Value) -> bool {
        let mut line = v.to_string();
        line.push('\n');
        self.send(line)
    }
}

/// One frame of a multiplexed stream (attach and exec without a TTY, and
/// logs): an 8-byte header — the stream (1 stdout, 2 stderr), three zero
/// bytes, the payload's length big-endian — and the payload.
pub fn frame(stream: &str, data: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(8 + data.len());
    v.push(if stream == "stderr" { 2 } else { 1 });
    v.extend_from_slice(&[0, 0, 0]);
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    Bytes::from(v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_multiplexed_frame_has_the_stream_and_length_in_its_header() {
        let f = super::frame("stderr", b"oops\n");
        assert_eq!(&f[..8], &[2, 0, 0, 0, 0, 0, 0, 5]);
        assert_eq!(&f[8..], b"oops\n");
        assert_eq!(super::frame("stdout", b"")[0], 1);
    }
}
