//! The worker's connection: one per virtual user, kept alive and reused. HTTP/1.1 goes through
//! the lean client in [`super::h1`]; `--http2` through hyper's HTTP/2 connection. Requests are
//! built once from templates; bodies are drained, never collected.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, HOST, RETRY_AFTER};
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use super::h1::{self, RawConn, RawError, Stream};
use crate::bodies::BodySet;
use crate::plan::RequestTemplate;

/// A request ready to be cloned for each send, in the form the protocol wants.
#[derive(Debug, Clone)]
pub struct Prepared {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    /// One entry per body (one without `--bodies`): each serialized once, so a send only
    /// picks an index.
    variants: Arc<[Variant]>,
    /// The varied bodies' set, which picks each send's index.
    set: Option<Arc<BodySet>>,
    head_only: bool,
}

/// One body of a request and the whole HTTP/1.1 request carrying it.
#[derive(Debug)]
struct Variant {
    body: Bytes,
    /// The HTTP/1.1 request, serialized once.
    raw: Bytes,
}

impl Prepared {
    /// Prepares `t` for HTTP/1 (origin-form URI, `Host` header) or HTTP/2 (absolute URI).
    pub fn new(t: &RequestTemplate, http2: bool) -> Self {
        let mut headers = t.headers.clone();
        let uri = if http2 {
            headers.remove(HOST);
            t.uri.clone()
        } else {
            t.path_uri.clone()
        };
        let path = t.path_uri.to_string();
        let bodies = match &t.bodies {
            Some(set) => set.bodies.clone(),
            None => vec![t.body.clone()],
        };
        let variants = bodies
            .into_iter()
            .map(|body| Variant {
                raw: h1::serialize(&t.method, path.as_str(), &t.headers, &body),
                body,
            })
            .collect();
        Self {
            method: t.method.clone(),
            uri,
            headers,
            variants,
            set: t.bodies.clone(),
            head_only: t.method == Method::HEAD,
        }
    }

    /// The body the next send carries, as an index for [`Conn::exchange`]: 0 without varied
    /// bodies, else the set's next pick.
    pub fn pick(&self) -> usize {
        self.set.as_ref().map_or(0, |s| s.pick())
    }

    /// Whether the method may be resent after a reset without changing the outcome
    /// (RFC 9110 §9.2.2): GET, HEAD, PUT, DELETE, OPTIONS, TRACE.
    pub fn idempotent(&self) -> bool {
        matches!(
            self.method,
            Method::GET
                | Method::HEAD
                | Method::PUT
                | Method::DELETE
                | Method::OPTIONS
                | Method::TRACE
        )
    }

    fn build(&self, variant: usize) -> Request<Full<Bytes>> {
        let body = self.variants[variant % self.variants.len()].body.clone();
        let mut r = Request::new(Full::new(body));
        *r.method_mut() = self.method.clone();
        *r.uri_mut() = self.uri.clone();
        *r.headers_mut() = self.headers.clone();
        r
    }
}

/// What a worker needs from a response.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// `Retry-After`, kept only on 429 and 503.
    pub retry_after: Option<HeaderValue>,
    /// `Server-Timing`, when present.
    pub server_timing: Option<HeaderValue>,
}

/// How an exchange on an open connection failed.
#[derive(Debug, PartialEq, Eq)]
pub enum ExchangeError {
    /// The connection was closed before the request went out (stale keep-alive): resend elsewhere.
    NotReady,
    /// The connection failed after the request went out.
    Io,
}

/// TLS for one authority: the run's client configuration and the name to verify.
#[derive(Clone)]
pub struct TlsTarget {
    /// Shared rustls connector.
    pub connector: tokio_rustls::TlsConnector,
    /// Server name (SNI and certificate check).
    pub name: rustls_pki_types::ServerName<'static>,
}

impl std::fmt::Debug for TlsTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TlsTarget({:?})", self.name)
    }
}

/// Opens connections to one authority: its resolved addresses are tried in order until one
/// connects (`localhost` may resolve to `::1` first against an IPv4-only server); with TLS, the
/// handshake is part of opening.
#[derive(Debug, Clone)]
pub struct Connector {
    addrs: Vec<SocketAddr>,
    http2: bool,
    connect_timeout: Duration,
    tls: Option<TlsTarget>,
}

impl Connector {
    /// A connector to `addrs` (at least one).
    pub fn new(
        addrs: Vec<SocketAddr>,
        http2: bool,
        connect_timeout: Duration,
        tls: Option<TlsTarget>,
    ) -> Self {
        Self {
            addrs,
            http2,
            connect_timeout,
            tls,
        }
    }

    async fn tcp(&self) -> io::Result<TcpStream> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address to connect to");
        for addr in &self.addrs {
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(tcp)) => return Ok(tcp),
                Ok(Err(e)) => last = e,
                Err(_) => last = io::Error::new(io::ErrorKind::TimedOut, "connect timed out"),
            }
        }
        Err(last)
    }

    /// Opens one connection: TCP connect, the TLS handshake for https, and the HTTP/2
    /// handshake with `--http2`.
    pub async fn connect(&self) -> io::Result<Conn> {
        let tcp = self.tcp().await?;
        tcp.set_nodelay(true)?;
        let stream = match &self.tls {
            None => Stream::Tcp(tcp),
            Some(t) => {
                let tls = tokio::time::timeout(
                    self.connect_timeout,
                    t.connector.connect(t.name.clone(), tcp),
                )
                .await
                .map_err(|_| {
                    io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")
                })??;
                if self.http2 && tls.get_ref().1.alpn_protocol() != Some(b"h2") {
                    return Err(io::Error::other("the server did not negotiate h2 (ALPN)"));
                }
                Stream::Tls(Box::new(tls))
            }
        };
        if self.http2 {
            let (sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .map_err(io::Error::other)?;
            tokio::spawn(conn);
            Ok(Conn::H2 { sender })
        } else {
            Ok(Conn::H1(RawConn::new(stream)))
        }
    }
}

/// One open connection.
pub enum Conn {
    /// HTTP/1.1 on the lean client.
    H1(RawConn),
    /// HTTP/2: the driver runs in its own task.
    H2 {
        /// Request handle.
        sender: http2::SendRequest<Full<Bytes>>,
    },
}

impl Conn {
    /// Sends one request and drains its response.
    pub async fn exchange(
        &mut self,
        req: &Prepared,
        variant: usize,
    ) -> Result<Reply, ExchangeError> {
        match self {
            Conn::H1(raw) => match raw
                .exchange(
                    &req.variants[variant % req.variants.len()].raw,
                    req.head_only,
                )
                .await
            {
                Ok(head) => Ok(Reply {
                    status: head.status,
                    retry_after: head.retry_after,
                    server_timing: head.server_timing,
                }),
                Err(RawError::Stale) => Err(ExchangeError::NotReady),
                Err(RawError::Io) => Err(ExchangeError::Io),
            },
            Conn::H2 { sender } => {
                sender.ready().await.map_err(|_| ExchangeError::NotReady)?;
                let resp = sender
                    .send_request(req.build(variant))
                    .await
                    .map_err(|_| ExchangeError::Io)?;
                drain(resp).await
            }
        }
    }

    /// Whether the server closed the connection while it was idle (HTTP/2: the driver saw it).
    pub fn peer_closed(&self) -> bool {
        match self {
            Conn::H1(raw) => raw.peer_closed(),
            Conn::H2 { sender } => sender.is_closed(),
        }
    }

    /// False when the server asked to close the connection after this response.
    pub fn reusable(&self) -> bool {
        match self {
            Conn::H1(raw) => raw.reusable,
            Conn::H2 { sender } => !sender.is_closed(),
        }
    }
}

async fn drain(resp: http::Response<Incoming>) -> Result<Reply, ExchangeError> {
    let (parts, mut body) = resp.into_parts();
    while let Some(frame) = body.frame().await {
        frame.map_err(|_| ExchangeError::Io)?;
    }
    let status = parts.status.as_u16();
    let retry_after = if status == 429 || status == 503 {
        parts.headers.get(RETRY_AFTER).cloned()
    } else {
        None
    };
    Ok(Reply {
        status,
        retry_after,
        server_timing: parts.headers.get("server-timing").cloned(),
    })
}
