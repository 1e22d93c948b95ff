//! A minimal HTTP client on hyper 1's connection API: one connection per virtual user, kept
//! alive and reused, its HTTP/1 driver polled inside the worker's own task (no cross-task hop per
//! request). Requests are cloned from templates built once; bodies are drained, not collected.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, HOST, RETRY_AFTER};
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::plan::RequestTemplate;

type H1Driver = http1::Connection<TokioIo<TcpStream>, Full<Bytes>>;

/// A request ready to be cloned for each send, in the form the protocol wants.
#[derive(Debug, Clone)]
pub struct Prepared {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
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
        Self {
            method: t.method.clone(),
            uri,
            headers,
            body: t.body.clone(),
        }
    }

    fn build(&self) -> Request<Full<Bytes>> {
        let mut r = Request::new(Full::new(self.body.clone()));
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

/// Opens connections to one address.
#[derive(Debug, Clone)]
pub struct Connector {
    addr: SocketAddr,
    http2: bool,
    connect_timeout: Duration,
}

impl Connector {
    /// A connector to `addr`.
    pub fn new(addr: SocketAddr, http2: bool, connect_timeout: Duration) -> Self {
        Self {
            addr,
            http2,
            connect_timeout,
        }
    }

    /// Opens one connection (TCP connect, and the HTTP/2 handshake with `--http2`).
    pub async fn connect(&self) -> io::Result<Conn> {
        let tcp = tokio::time::timeout(self.connect_timeout, TcpStream::connect(self.addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        tcp.set_nodelay(true)?;
        let io = TokioIo::new(tcp);
        if self.http2 {
            let (sender, conn) = http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(io::Error::other)?;
            tokio::spawn(conn);
            Ok(Conn::H2 { sender })
        } else {
            let (sender, driver) = http1::handshake(io).await.map_err(io::Error::other)?;
            Ok(Conn::H1 {
                sender,
                driver: Some(Box::pin(driver)),
            })
        }
    }
}

/// One open connection.
pub enum Conn {
    /// HTTP/1.1: the driver future is polled alongside each exchange.
    H1 {
        /// Request handle.
        sender: http1::SendRequest<Full<Bytes>>,
        /// Connection driver; `None` once it has finished.
        driver: Option<Pin<Box<H1Driver>>>,
    },
    /// HTTP/2: the driver runs in its own task.
    H2 {
        /// Request handle.
        sender: http2::SendRequest<Full<Bytes>>,
    },
}

impl Conn {
    /// Sends one request and drains its response.
    pub async fn exchange(&mut self, req: &Prepared) -> Result<Reply, ExchangeError> {
        match self {
            Conn::H1 { sender, driver } => {
                let Some(drv) = driver.as_mut() else {
                    return Err(ExchangeError::NotReady);
                };
                let ready = tokio::select! {
                    biased;
                    r = sender.ready() => r.is_ok(),
                    _ = drv.as_mut() => false,
                };
                if !ready {
                    *driver = None;
                    return Err(ExchangeError::NotReady);
                }
                let work = async {
                    let resp = sender.send_request(req.build()).await.map_err(|_| ExchangeError::Io)?;
                    drain(resp).await
                };
                tokio::pin!(work);
                let early = tokio::select! {
                    biased;
                    r = &mut work => Some(r),
                    _ = drv.as_mut() => None,
                };
                match early {
                    Some(r) => r,
                    None => {
                        // The driver ended (e.g. `Connection: close`) possibly right after
                        // delivering the whole response: let the exchange finish on what it has.
                        *driver = None;
                        work.await
                    }
                }
            }
            Conn::H2 { sender } => {
                sender.ready().await.map_err(|_| ExchangeError::NotReady)?;
                let resp = sender.send_request(req.build()).await.map_err(|_| ExchangeError::Io)?;
                drain(resp).await
            }
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
