//! A lean HTTP/1.1 client connection for the hot path: the request is serialized once and written
//! with one syscall; the response head is parsed in place with `httparse` (and read by
//! [`super::head`]) and the body skipped (Content-Length, chunked, or until close) without
//! allocating. hyper's client machinery (two channels, a oneshot and a HeaderMap per request)
//! cost about four times wrk's CPU per request.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::head::{parse_head, BodyKind, Head};

/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
const INITIAL_BUF: usize = 16 * 1024;
/// Most header lines a response head may have.
const MAX_HEADERS: usize = 64;

/// A request serialized once: `METHOD path HTTP/1.1`, headers, `content-length`, body.
pub fn serialize(
    method: &http::Method,
    path: &str,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Bytes {
    let mut out = Vec::with_capacity(128 + body.len());
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (k, v) in headers {
        out.extend_from_slice(k.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() || method == http::Method::POST || method == http::Method::PUT {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    Bytes::from(out)
}

/// How a raw exchange failed.
#[derive(Debug)]
pub enum RawError {
    /// A reused connection was found closed before any response byte: safe to resend.
    Stale,
    /// Anything else after the request went out.
    Io,
}

/// A connection's byte stream: plain TCP or TLS over TCP.
pub enum Stream {
    /// http.
    Tcp(TcpStream),
    /// https.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// One keep-alive HTTP/1.1 connection with its read buffer.
pub struct RawConn {
    stream: Stream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    used: bool,
    /// False once the server said `Connection: close` (or the body ran to EOF).
    pub reusable: bool,
}

impl RawConn {
    /// Wraps a connected stream.
    pub fn new(stream: Stream) -> Self {
        Self {
            stream,
            buf: vec![0; INITIAL_BUF],
            start: 0,
            end: 0,
            used: false,
            reusable: true,
        }
    }

    /// Whether the server closed this idle connection (EOF, a reset, or bytes nobody asked
    /// for — a TLS close_notify): one non-blocking read, so a keep-alive connection the server
    /// timed out while the user thought is replaced before a request is sent on it, as HTTP
    /// clients' pools do (hyper checks `is_closed` before reuse).
    pub fn peer_closed(&self) -> bool {
        let tcp = match &self.stream {
            Stream::Tcp(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        };
        let mut probe = [0u8; 1];
        !matches!(tcp.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Reads more bytes into the buffer; 0 means EOF.
    async fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < MAX_HEAD {
                self.buf.resize(self.buf.len() * 2, 0);
            } else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "response head too large",
                ));
            }
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }

    /// Sends `request` (serialized) and reads the whole response. `head_only` for HEAD requests.
    pub async fn exchange(&mut self, request: &[u8], head_only: bool) -> Result<Head, RawError> {
        let reused = self.used;
        self.used = true;
        if self.stream.write_all(request).await.is_err() {
            return Err(if reused {
                RawError::Stale
            } else {
                RawError::Io
            });
        }
        let mut received_any = false;
        loop {
            // Nothing buffered yet (the usual case right after the write): read before parsing.
            let parsed = if self.start == self.end {
                None
            } else {
                // Uninitialized header slots: httparse writes only those it fills, so a parse
                // does not first zero 64 headers (2 KiB), as `EMPTY_HEADER` arrays do.
                let mut headers = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS];
                let mut resp = httparse::Response::new(&mut []);
                match httparse::ParserConfig::default().parse_response_with_uninit_headers(
                    &mut resp,
                    &self.buf[self.start..self.end],
                    &mut headers,
                ) {
                    Ok(httparse::Status::Complete(len)) => {
                        Some((parse_head(&resp, head_only), len))
                    }
                    Ok(httparse::Status::Partial) => None,
                    Err(_) => return Err(RawError::Io),
                }
            };
            match parsed {
                Some(((head, body, keep_alive), len)) => {
                    self.start += len;
                    self.reusable &= keep_alive;
                    if (100..200).contains(&head.status) {
                        continue; // interim response: the real one follows
                    }
                    self.skip_body(body).await.map_err(|_| RawError::Io)?;
                    return Ok(head);
                }
                None => match self.fill().await {
                    Ok(0) | Err(_) if reused && !received_any && self.start == self.end => {
                        return Err(RawError::Stale)
                    }
                    Ok(0) | Err(_) => return Err(RawError::Io),
                    Ok(_) => received_any = true,
                },
            }
        }
    }
}

impl RawConn {
    /// Discards `n` body bytes.
    async fn skip(&mut self, mut n: u64) -> io::Result<()> {
        loop {
            let avail = (self.end - self.start) as u64;
            if avail >= n {
                self.start += n as usize;
                return Ok(());
            }
            n -= avail;
            self.start = self.end;
            if self.fill().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Reads one CRLF-terminated line, returning its bytes without the CRLF as a range.
    async fn line(&mut self) -> io::Result<(usize, usize)> {
        loop {
            if let Some(pos) = self.buf[self.start..self.end]
                .windows(2)
                .position(|w| w == b"\r\n")
            {
                let range = (self.start, self.start + pos);
                self.start += pos + 2;
                return Ok(range);
            }
            if self.fill().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    async fn skip_body(&mut self, body: BodyKind) -> io::Result<()> {
        match body {
            BodyKind::None => Ok(()),
            BodyKind::Length(n) => self.skip(n).await,
            BodyKind::UntilClose => {
                self.start = self.end;
                while self.fill().await? > 0 {
                    self.start = self.end;
                }
                Ok(())
            }
            BodyKind::Chunked => loop {
                let (a, b) = self.line().await?;
                let text =
                    std::str::from_utf8(&self.buf[a..b]).map_err(|_| io::ErrorKind::InvalidData)?;
                let hex = text.split(';').next().unwrap_or("").trim();
                let size = u64::from_str_radix(hex, 16).map_err(|_| io::ErrorKind::InvalidData)?;
                if size == 0 {
                    // Trailers end with an empty line.
                    loop {
                        let (a, b) = self.line().await?;
                        if a == b {
                            return Ok(());
                        }
                    }
                }
                self.skip(size + 2).await?;
            },
        }
    }
}
