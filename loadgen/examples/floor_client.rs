//! A floor of CPU per request for an HTTP/1.1 keep-alive client with one request in flight per
//! connection (no pipelining): one thread, one mio (epoll, edge-triggered) loop, each connection
//! registered once; a fixed GET is sent, the answer read until its head and its
//! `Content-Length` body are in, its status checked to be 2xx, and the next GET sent at once. One
//! send and one receive system call per request, one `epoll_wait` per batch of answers, and
//! nothing else: no timing per request, no parsing beyond the status and the answer's end, no
//! recording, no reconnecting (the target must keep connections open).
//!
//! `scripts/bench_vs_wrk.py` runs it beside loadgen and wrk in every round, so loadgen's CPU per
//! request is weighed against what a client that does nothing else spends on the same target,
//! and a goal relative to wrk against what such a client reaches (issue 31). On loopback the
//! figure includes the target's receive path, which the kernel runs inside the client's send.
//!
//! ```text
//! cargo build --release -p loadgen --example floor_client
//! target/release/examples/floor_client URL CONNECTIONS SECONDS
//! ```
//! Prints one JSON line: `{"requests": N, "seconds": S, "rps": R}`. Exits 2 on bad arguments, 1
//! when the target cannot be reached, closes a connection, answers with a status other than 2xx
//! or without a `Content-Length`, or completes no request at all.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// Largest answer (head and body) the floor takes: it measures a small fixed answer.
const BUF: usize = 16 * 1024;
/// Most connections and seconds accepted (loadgen's own `--duration` is capped at a year too).
const MAX_CONNECTIONS: usize = 65_535;
const MAX_SECONDS: u64 = 365 * 24 * 3600;

/// Why the floor stopped: the arguments (exit 2) or the target (exit 1).
enum Failure {
    Usage(String),
    Target(String),
}

/// One keep-alive connection and the bytes of its current answer.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    len: usize,
}

/// Where the current answer ends, once its head is in: head length plus `Content-Length`. Lines
/// are found with `memchr` and only a line that can be `Content-Length` is compared (the whole
/// loop spends under a thousand user-space instructions per request, callgrind).
fn response_end(bytes: &[u8]) -> Result<Option<usize>, String> {
    const NAME: &[u8] = b"content-length:";
    let mut line_start = 0;
    let mut length = None;
    for newline in memchr::memchr_iter(b'\n', bytes) {
        let line = &bytes[line_start..newline];
        if line_start == 0 && !line.starts_with(b"HTTP/1.1 2") && !line.starts_with(b"HTTP/1.0 2") {
            let status = String::from_utf8_lossy(line.trim_ascii_end());
            return Err(format!(
                "the target answered `{status}`: the floor needs a 2xx"
            ));
        }
        line_start = newline + 1;
        if line == b"\r" {
            let length = length
                .ok_or("an answer has no Content-Length: the floor measures a fixed answer")?;
            return match line_start.checked_add(length) {
                Some(end) if end <= BUF => Ok(Some(end)),
                _ => Err(format!(
                    "an answer of {length} body bytes does not fit the floor's {BUF}-byte buffer"
                )),
            };
        }
        // The colon's place rules out every other header name first: one comparison per head.
        if line.len() > NAME.len()
            && line[NAME.len() - 1] == b':'
            && line[..NAME.len()].eq_ignore_ascii_case(NAME)
        {
            let digits = line[NAME.len()..].trim_ascii();
            let parsed = std::str::from_utf8(digits)
                .ok()
                .and_then(|d| d.parse::<usize>().ok());
            length = Some(parsed.ok_or_else(|| {
                format!(
                    "invalid Content-Length `{}`",
                    String::from_utf8_lossy(digits)
                )
            })?);
        }
    }
    Ok(None)
}

/// `http://host[:port]/path` → the addresses, the Host header and the path.
fn parse_url(url: &str) -> Result<(Vec<SocketAddr>, String, String), Failure> {
    let usage = |why: String| Failure::Usage(format!("{url}: {why}"));
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| usage("only http:// URLs".into()))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let port_of = |port: &str| match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(usage(format!("port `{port}` is not in 1-65535"))),
    };
    // `[v6]`, `[v6]:port`, `host` or `host:port`.
    let (host, port) = match authority.strip_prefix('[').and_then(|r| r.split_once(']')) {
        Some((v6, "")) => (v6, 80),
        Some((v6, rest)) => match rest.strip_prefix(':') {
            Some(port) => (v6, port_of(port)?),
            None => return Err(usage(format!("`{rest}` after the IPv6 address"))),
        },
        None if authority.starts_with('[') => {
            return Err(usage("an IPv6 address without its closing `]`".into()))
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, port_of(port)?),
            None => (authority, 80),
        },
    };
    if host.is_empty() {
        return Err(usage("the URL has no host".into()));
    }
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| Failure::Target(format!("cannot resolve {host}: {e}")))?
        .collect::<Vec<_>>();
    if addrs.is_empty() {
        return Err(Failure::Target(format!("{host} resolves to no address")));
    }
    Ok((addrs, authority.to_string(), path.to_string()))
}

/// Sends the whole request on a connection whose send buffer has room for it.
fn send(stream: &mut TcpStream, request: &[u8]) -> Result<(), String> {
    match stream.write(request) {
        Ok(n) if n == request.len() => Ok(()),
        Ok(n) => Err(format!(
            "a request went out only in part ({n} of {} bytes)",
            request.len()
        )),
        Err(e) => Err(format!("send: {e}")),
    }
}

/// Opens the connections and runs the loop until `seconds` have passed.
fn run(url: &str, connections: usize, seconds: u64) -> Result<(u64, f64), Failure> {
    let (addrs, host, path) = parse_url(url)?;
    let target = Failure::Target;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes();
    let mut poll = Poll::new().map_err(|e| target(format!("epoll: {e}")))?;
    let mut conns = Vec::with_capacity(connections);
    for i in 0..connections {
        let std_stream = std::net::TcpStream::connect(&addrs[..])
            .map_err(|e| target(format!("connect to {host}: {e}")))?;
        std_stream
            .set_nodelay(true)
            .and_then(|()| std_stream.set_nonblocking(true))
            .map_err(|e| target(format!("socket option: {e}")))?;
        let mut stream = TcpStream::from_std(std_stream);
        poll.registry()
            .register(&mut stream, Token(i), Interest::READABLE)
            .map_err(|e| target(format!("epoll: {e}")))?;
        conns.push(Conn {
            stream,
            buf: vec![0; BUF],
            len: 0,
        });
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    for c in &mut conns {
        send(&mut c.stream, &request).map_err(target)?;
    }
    let mut events = Events::with_capacity(1024);
    let mut requests = 0u64;
    loop {
        let now = Instant::now();
        if now >= deadline {
            if requests == 0 {
                return Err(target(format!("no answer completed in {seconds} s")));
            }
            return Ok((requests, now.duration_since(start).as_secs_f64()));
        }
        if let Err(e) = poll.poll(&mut events, Some(deadline - now)) {
            if e.kind() != ErrorKind::Interrupted {
                return Err(target(format!("epoll: {e}")));
            }
        }
        let sending = Instant::now() < deadline;
        for event in &events {
            let c = &mut conns[event.token().0];
            // Edge-triggered: mio documents reading until WouldBlock; a read that comes back
            // shorter than the room it had drained the socket on Linux TCP (new bytes raise a
            // new edge), the same shortcut tokio takes, and saves an EAGAIN read per answer.
            loop {
                let room = BUF - c.len;
                match c.stream.read(&mut c.buf[c.len..]) {
                    Ok(0) => return Err(target("the target closed a connection".into())),
                    Ok(n) => {
                        c.len += n;
                        if let Some(end) = response_end(&c.buf[..c.len]).map_err(target)? {
                            if c.len > end {
                                return Err(target(
                                    "bytes after an answer nobody asked for: one request is \
                                     in flight per connection"
                                        .into(),
                                ));
                            }
                            if c.len == end {
                                requests += 1;
                                c.len = 0;
                                if sending {
                                    send(&mut c.stream, &request).map_err(target)?;
                                }
                            }
                        }
                        if n < room {
                            break;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(target(format!("receive: {e}"))),
                }
            }
        }
    }
}

/// The three arguments, each checked: a usage error names what is wrong.
fn parse_args(args: &[String]) -> Result<(&str, usize, u64), String> {
    let [url, c, d] = args else {
        return Err("expected three arguments".into());
    };
    let connections = c
        .parse::<usize>()
        .ok()
        .filter(|c| (1..=MAX_CONNECTIONS).contains(c))
        .ok_or_else(|| format!("CONNECTIONS `{c}` is not in 1-{MAX_CONNECTIONS}"))?;
    let seconds = d
        .parse::<u64>()
        .ok()
        .filter(|d| (1..=MAX_SECONDS).contains(d))
        .ok_or_else(|| format!("SECONDS `{d}` is not in 1-{MAX_SECONDS}"))?;
    Ok((url, connections, seconds))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (url, connections, seconds) = match parse_args(&args) {
        Ok(parsed) => parsed,
        Err(why) => {
            eprintln!("floor_client: {why}\nusage: floor_client URL CONNECTIONS SECONDS");
            return ExitCode::from(2);
        }
    };
    match run(url, connections, seconds) {
        Ok((requests, secs)) => {
            println!(
                "{{\"requests\": {requests}, \"seconds\": {secs:.3}, \"rps\": {:.1}}}",
                requests as f64 / secs
            );
            ExitCode::SUCCESS
        }
        Err(Failure::Usage(why)) => {
            eprintln!("floor_client: {why}\nusage: floor_client URL CONNECTIONS SECONDS");
            ExitCode::from(2)
        }
        Err(Failure::Target(why)) => {
            eprintln!("floor_client: {why}");
            ExitCode::from(1)
        }
    }
}
