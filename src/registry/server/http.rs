//! A small HTTP/1.1 server layer: just what the distribution API needs.
//!
//! One thread per connection reads a request head, hands the handler a
//! [`Body`] that decodes `Content-Length` or `Transfer-Encoding: chunked`
//! request bodies as they stream in (and answers `Expect: 100-continue`
//! only when the handler starts reading), then writes the [`Response`].
//! Blob bodies are [`ResponseBody::File`] ranges sent with `sendfile(2)`,
//! so a 100 MiB pull never passes through user space. Connections are kept alive between requests.
//!
//! Why hand-written rather than hyper: the registry's needs are narrow
//! (no TLS, no HTTP/2, blocking file I/O anyway) and a plain thread per
//! connection is both fast enough and easy for a student to follow.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// Longest request line or header line accepted.
const MAX_LINE: usize = 16 * 1024;
/// Most header lines accepted.
const MAX_HEADERS: usize = 128;
/// How much of an unread request body is drained to keep a connection.
const MAX_DRAIN: u64 = 4 * 1024 * 1024;

/// One parsed request head.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `PUT`, ...
    pub method: String,
    /// The percent-decoded path, without the query.
    pub path: String,
    /// The path and query as the client sent them (for events).
    pub target: String,
    /// Percent-decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// HTTP/1.1 (keep-alive by default) rather than 1.0.
    pub http11: bool,
}

impl Request {
    /// The first header named `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first query parameter named `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn keep_alive(&self) -> bool {
        let conn = self.header("connection").unwrap_or("").to_ascii_lowercase();
        if self.http11 {
            !conn.contains("close")
        } else {
            conn.contains("keep-alive")
        }
    }
}

/// What a response carries after its head.
pub enum ResponseBody {
    /// Nothing (`Content-Length: 0`).
    Empty,
    /// Bytes in memory (JSON, manifests).
    Bytes(Vec<u8>),
    /// `len` bytes of `file` from `offset` (blobs).
    File {
        /// The open blob.
        file: File,
        /// Where to start.
        offset: u64,
        /// How many bytes.
        len: u64,
    },
}

impl ResponseBody {
    fn len(&self) -> u64 {
        match self {
            ResponseBody::Empty => 0,
            ResponseBody::Bytes(b) => b.len() as u64,
            ResponseBody::File { len, .. } => *len,
        }
    }
}

/// A response: status, headers, body. `Content-Length` is added from the
/// body; for `HEAD` the head is sent as for `GET` and the body left out.
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: ResponseBody,
}

impl Response {
    /// A response with no body.
    pub fn empty(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: ResponseBody::Empty,
        }
    }

    /// A JSON response.
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        Response {
            status,
            headers: vec![(
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: ResponseBody::Bytes(value.to_string().into_bytes()),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// The value of a header set on this response.
    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The standard reason phrase of a status.
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

enum Framing {
    Length(u64),
    Chunked { left: u64, done: bool },
}

/// A request body as it streams in. Reading it is what makes the client
/// send it (`Expect: 100-continue` is answered on the first read).
pub struct Body<'a> {
    reader: &'a mut dyn BufRead,
    writer: &'a mut dyn Write,
    framing: Framing,
    continue_pending: bool,
    read: u64,
}

impl Body<'_> {
    /// Bytes read from the body so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// The declared length, when the client sent `Content-Length`.
    pub fn declared_len(&self) -> Option<u64> {
        match self.framing {
            Framing::Length(n) => Some(n + self.read),
            Framing::Chunked { .. } => None,
        }
    }

    fn finished(&self) -> bool {
        match self.framing {
            Framing::Length(n) => n == 0,
            Framing::Chunked { done, .. } => done,
        }
    }

    fn read_chunk_size(&mut self) -> io::Result<u64> {
        let line = read_line(self.reader)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "chunked body ended"))?;
        let hex = line.split(';').next().unwrap_or("").trim();
        u64::from_str_radix(hex, 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))
    }

    /// Reads and drops what is left, up to a limit; false when the
    /// connection cannot be reused (too much left, or a broken body).
    fn drain(&mut self) -> bool {
        if self.continue_pending {
            // The client is waiting for our go-ahead and has sent nothing:
            // answer without it, then close.
            return self.finished();
        }
        let mut sink = io::sink();
        match io::copy(&mut self.by_ref().take(MAX_DRAIN), &mut sink) {
            Ok(_) => self.finished(),
            Err(_) => false,
        }
    }
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.finished() || buf.is_empty() {
            return Ok(0);
        }
        if self.continue_pending {
            self.continue_pending = false;
            self.writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let n = match &mut self.framing {
            Framing::Length(left) => {
                let want = (*left).min(buf.len() as u64) as usize;
                let n = self.reader.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the client closed the connection mid-body",
                    ));
                }
                *left -= n as u64;
                n
            }
            Framing::Chunked { left, .. } => {
                if *left == 0 {
                    let size = self.read_chunk_size()?;
                    if size == 0 {
                        // Trailers, then the empty line.
                        while let Some(l) = read_line(self.reader)? {
                            if l.is_empty() {
                                break;
                            }
                        }
                        self.framing = Framing::Chunked {
                            left: 0,
                            done: true,
                        };
                        return Ok(0);
                    }
                    self.framing = Framing::Chunked {
                        left: size,
                        done: false,
                    };
                }
                let Framing::Chunked { left, .. } = &mut self.framing else {
                    unreachable!("framing is chunked here")
                };
                let want = (*left).min(buf.len() as u64) as usize;
                let n = self.reader.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the client closed the connection mid-chunk",
                    ));
                }
                *left -= n as u64;
                if *left == 0 {
                    // Each chunk's data ends with CRLF.
                    read_line(self.reader)?;
                }
                n
            }
        };
        self.read += n as u64;
        Ok(n)
    }
}

/// Reads one CRLF- (or LF-) terminated line; `None` at a clean EOF.
fn read_line(r: &mut dyn BufRead) -> io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = Read::take(&mut *r, MAX_LINE as u64).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "request line too long",
        ));
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "header is not UTF-8"))
}

/// Decodes `%XX` escapes (and `+` as a space when `plus` is set).
pub fn percent_decode(s: &str, plus: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Encodes a query value (everything but unreserved characters).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.bytes() {
        if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
            out.push(c as char);
        } else {
            let _ = write!(out, "%{c:02X}");
        }
    }
    out
}

/// Why a request head could not be read.
enum HeadError {
    /// The connection closed (or timed out) between requests.
    Closed,
    /// Garbage: answer 400 and close.
    Bad(String),
}

fn read_head(r: &mut dyn BufRead) -> Result<Request, HeadError> {
    let line = loop {
        match read_line(r) {
            Ok(Some(l)) if l.is_empty() => continue, // stray CRLF between requests
            Ok(Some(l)) => break l,
            Ok(None) => return Err(HeadError::Closed),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(HeadError::Bad(e.to_string()))
            }
            Err(_) => return Err(HeadError::Closed),
        }
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Bad(format!("bad request line {line:?}")));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(HeadError::Bad(format!("unsupported version {version:?}")));
    }
    let mut headers = Vec::new();
    loop {
        let l = match read_line(r) {
            Ok(Some(l)) => l,
            Ok(None) => return Err(HeadError::Closed),
            Err(e) => return Err(HeadError::Bad(e.to_string())),
        };
        if l.is_empty() {
            break;
        }
        if headers.len() >= MAX_HEADERS {
            return Err(HeadError::Bad("too many headers".into()));
        }
        let Some((n, v)) = l.split_once(':') else {
            return Err(HeadError::Bad(format!("bad header line {l:?}")));
        };
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let (raw_path, raw_query) = target.split_once('?').unwrap_or((target, ""));
    let path = percent_decode(raw_path, false)
        .ok_or_else(|| HeadError::Bad(format!("bad escape in path {raw_path:?}")))?;
    let mut query = Vec::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match (percent_decode(k, true), percent_decode(v, true)) {
            (Some(k), Some(v)) => query.push((k, v)),
            _ => return Err(HeadError::Bad(format!("bad escape in query {pair:?}"))),
        }
    }
    Ok(Request {
        method: method.to_string(),
        path,
        target: target.to_string(),
        query,
        headers,
        http11: version == "HTTP/1.1",
    })
}

/// What one exchange on a connection came to.
pub(crate) enum Exchange {
    /// The connection closed (or timed out) between requests.
    Closed,
    /// Send this answer; close after it unless `keep`.
    Answer {
        /// The answer.
        resp: Response,
        /// A `HEAD` request: the head only.
        head_only: bool,
        /// The connection may carry another request.
        keep: bool,
    },
}

/// Reads one request from `reader`, lets `handle` answer it while its
/// body streams in (`100 Continue` goes to `interim`), and drains what the
/// handler left of the body. Garbage in the head or its framing is a 400
/// that closes the connection.
pub(crate) fn exchange(
    reader: &mut dyn BufRead,
    interim: &mut dyn Write,
    handle: &mut dyn FnMut(&Request, &mut Body<'_>) -> Response,
) -> Exchange {
    let bad = |resp| Exchange::Answer {
        resp,
        head_only: false,
        keep: false,
    };
    let req = match read_head(reader) {
        Ok(r) => r,
        Err(HeadError::Closed) => return Exchange::Closed,
        Err(HeadError::Bad(why)) => {
            return bad(Response::json(
                400,
                &serde_json::json!({"errors": [{"code": "UNSUPPORTED", "message": why}]}),
            ))
        }
    };
    let te = req.header("transfer-encoding").map(str::to_ascii_lowercase);
    let framing = match (&te, req.header("content-length")) {
        (Some(t), _) if t.contains("chunked") => Framing::Chunked {
            left: 0,
            done: false,
        },
        (Some(_), _) => return bad(Response::empty(400)),
        (None, Some(n)) => match n.parse::<u64>() {
            Ok(n) => Framing::Length(n),
            Err(_) => return bad(Response::empty(400)),
        },
        (None, None) => Framing::Length(0),
    };
    let expect = req
        .header("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"));
    let mut body = Body {
        reader,
        writer: interim,
        framing,
        continue_pending: expect,
        read: 0,
    };
    let resp = handle(&req, &mut body);
    let keep = req.keep_alive() && body.drain();
    Exchange::Answer {
        resp,
        head_only: req.method == "HEAD",
        keep,
    }
}

/// Serves requests on one connection until it closes, the client asks to
/// close, or something goes wrong. `handle` answers each request.
pub fn serve_connection(
    stream: TcpStream,
    mut handle: impl FnMut(&Request, &mut Body<'_>) -> Response,
) {
    let _ = stream.set_nodelay(true);
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::with_capacity(256 * 1024, read_half);
    loop {
        let mut interim = &stream;
        match exchange(&mut reader, &mut interim, &mut handle) {
            Exchange::Closed => return,
            Exchange::Answer {
                resp,
                head_only,
                keep,
            } => {
                if write_response(&stream, &resp, head_only, keep).is_err() || !keep {
                    return;
                }
            }
        }
    }
}

/// Serves the requests in `input` one after another as [`serve_connection`]
/// serves a connection's, writing the answers to `output` (file bodies are
/// read rather than sent with sendfile). The fuzzing seam: the same
/// [`exchange`] and response head as a socket gets.
pub(crate) fn serve_bytes(
    input: &[u8],
    output: &mut Vec<u8>,
    mut handle: impl FnMut(&Request, &mut Body<'_>) -> Response,
) {
    let mut reader = io::Cursor::new(input);
    loop {
        let mut interim = Vec::new();
        let ex = exchange(&mut reader, &mut interim, &mut handle);
        output.extend_from_slice(&interim);
        match ex {
            Exchange::Closed => return,
            Exchange::Answer {
                resp,
                head_only,
                keep,
            } => {
                output.extend_from_slice(response_head(&resp, keep).as_bytes());
                if !head_only {
                    match &resp.body {
                        ResponseBody::Empty => {}
                        ResponseBody::Bytes(b) => output.extend_from_slice(b),
                        ResponseBody::File { file, offset, len } => {
                            use std::os::unix::fs::FileExt;
                            let mut buf = vec![0; (*len).min(1 << 24) as usize];
                            if file.read_exact_at(&mut buf, *offset).is_err() {
                                return;
                            }
                            output.extend_from_slice(&buf);
                        }
                    }
                }
                if !keep {
                    return;
                }
            }
        }
    }
}

/// Sends `len` bytes of `file` from `offset` with sendfile(2): the kernel
/// moves them from the page cache to the socket without a copy through
/// this process.
fn send_file(sock: &TcpStream, file: &File, mut offset: u64, mut len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    while len > 0 {
        let mut off = offset as libc::off_t;
        let chunk = len.min(1 << 30) as usize;
        // SAFETY: both descriptors are open for the whole call (borrowed
        // from live `TcpStream` and `File` values) and `off` is a local the
        // kernel may update.
        let n = unsafe { libc::sendfile(sock.as_raw_fd(), file.as_raw_fd(), &mut off, chunk) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "blob shorter than its size",
            ));
        }
        offset += n as u64;
        len -= n as u64;
    }
    Ok(())
}

/// The status line and headers of `resp`, up to the empty line.
fn response_head(resp: &Response, keep: bool) -> String {
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (n, v) in &resp.headers {
        let _ = write!(head, "{n}: {v}\r\n");
    }
    // A 204 has no body and, by RFC 9110, no Content-Length either.
    if resp.status != 204 {
        let _ = write!(head, "Content-Length: {}\r\n", resp.body.len());
    }
    head.push_str("Docker-Distribution-API-Version: registry/2.0\r\n");
    if !keep {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    head
}

fn write_response(
    stream: &TcpStream,
    resp: &Response,
    head_only: bool,
    keep: bool,
) -> io::Result<()> {
    let head = response_head(resp, keep);
    let mut w = stream;
    match (&resp.body, head_only) {
        (ResponseBody::Bytes(b), false) => {
            // One write for small answers: head and body in one segment.
            let mut all = head.into_bytes();
            all.extend_from_slice(b);
            w.write_all(&all)?;
        }
        (ResponseBody::File { file, offset, len }, false) => {
            w.write_all(head.as_bytes())?;
            send_file(stream, file, *offset, *len)?;
        }
        _ => w.write_all(head.as_bytes())?,
    }
    if !keep {
        let _ = stream.shutdown(std::net::Shutdown::Write);
    }
    Ok(())
}
