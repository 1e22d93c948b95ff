//! The floor of CPU per request for an HTTP/1.1 keep-alive client on this machine: one thread,
//! one mio (epoll, edge-triggered) loop, each connection registered once; a fixed GET is sent, the
//! response read until its head and its `Content-Length` body are in, and the next GET sent at
//! once. One send and one receive system call per request and nothing else: no timing per
//! request, no parsing beyond finding the response's end, no recording.
//!
//! `scripts/bench_vs_wrk.py` runs it beside loadgen and wrk in every round, so loadgen's CPU per
//! request is weighed against the least any client spends here, and a goal relative to wrk
//! against what any client can reach at all (issue 31).
//!
//! ```text
//! cargo build --release -p loadgen --example floor_client
//! target/release/examples/floor_client URL CONNECTIONS SECONDS
//! ```
//! Prints one JSON line: `{"requests": N, "seconds": S, "rps": R}`. Exits 2 on bad arguments,
//! 1 when the target cannot be reached or answers without a `Content-Length`.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// Largest response (head and body) the floor expects: it measures a small fixed answer.
const BUF: usize = 16 * 1024;

/// One keep-alive connection and the bytes of its current response.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    len: usize,
}

/// Where the current response ends, once its head is in: head length plus `Content-Length`.
/// Lines are found with `memchr` and only a line that can be `Content-Length` is compared, so
/// the whole loop spends under a thousand user-space instructions per request (callgrind).
fn response_end(bytes: &[u8]) -> Result<Option<usize>, &'static str> {
    let mut line_start = 0;
    let mut length = None;
    for newline in memchr::memchr_iter(b'\n', bytes) {
        let line = &bytes[line_start..newline];
        line_start = newline + 1;
        if line == b"\r" {
            let length = length
                .ok_or("a response has no Content-Length: the floor measures a fixed answer")?;
            return Ok(Some(line_start + length));
        }
        const NAME: &[u8] = b"content-length:";
        // The colon's place rules out every other header name first: one comparison per head.
        if line.len() > NAME.len()
            && line[NAME.len() - 1] == b':'
            && line[..NAME.len()].eq_ignore_ascii_case(NAME)
        {
            let digits = line[NAME.len()..].trim_ascii();
            length = std::str::from_utf8(digits)
                .ok()
                .and_then(|d| d.parse::<usize>().ok());
        }
    }
    Ok(None)
}

/// `http://host:port/path` → the addresses, the Host header and the path.
fn parse_url(url: &str) -> Result<(Vec<SocketAddr>, String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// URLs"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let addrs = with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {authority}: {e}"))?
        .collect::<Vec<_>>();
    if addrs.is_empty() {
        return Err(format!("{authority} resolves to no address"));
    }
    Ok((addrs, authority.to_string(), path.to_string()))
}

/// Sends the whole request on a connection whose send buffer has room for it.
fn send(stream: &mut TcpStream, request: &[u8]) -> Result<(), String> {
    match stream.write(request) {
        Ok(n) if n == request.len() => Ok(()),
        Ok(_) | Err(_) => Err("a request did not go out in one send".into()),
    }
}

fn run(url: &str, connections: usize, seconds: u64) -> Result<(u64, f64), String> {
    let (addrs, host, path) = parse_url(url)?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes();
    let mut poll = Poll::new().map_err(|e| format!("epoll: {e}"))?;
    let mut conns = Vec::with_capacity(connections);
    for i in 0..connections {
        let std_stream = std::net::TcpStream::connect(&addrs[..])
            .map_err(|e| format!("connect to {host}: {e}"))?;
        std_stream.set_nodelay(true).map_err(|e| e.to_string())?;
        std_stream
            .set_nonblocking(true)
            .map_err(|e| e.to_string())?;
        let mut stream = TcpStream::from_std(std_stream);
        poll.registry()
            .register(&mut stream, Token(i), Interest::READABLE)
            .map_err(|e| format!("epoll: {e}"))?;
        conns.push(Conn {
            stream,
            buf: vec![0; BUF],
            len: 0,
        });
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    for c in &mut conns {
        send(&mut c.stream, &request)?;
    }
    let mut events = Events::with_capacity(1024);
    let mut requests = 0u64;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok((requests, now.duration_since(start).as_secs_f64()));
        }
        if let Err(e) = poll.poll(&mut events, Some(deadline - now)) {
            if e.kind() != ErrorKind::Interrupted {
                return Err(format!("epoll: {e}"));
            }
        }
        let sending = Instant::now() < deadline;
        for event in &events {
            let c = &mut conns[event.token().0];
            // Edge-triggered: read until a read comes back shorter than the room it had.
            loop {
                let room = BUF - c.len;
                if room == 0 {
                    return Err(format!("a response is larger than {BUF} bytes"));
                }
                match c.stream.read(&mut c.buf[c.len..]) {
                    Ok(0) => return Err("the target closed a connection".into()),
                    Ok(n) => {
                        c.len += n;
                        if let Some(end) = response_end(&c.buf[..c.len]).map_err(String::from)? {
                            if c.len >= end {
                                requests += 1;
                                c.buf.copy_within(end..c.len, 0);
                                c.len -= end;
                                if sending {
                                    send(&mut c.stream, &request)?;
                                }
                            }
                        }
                        if n < room {
                            break;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(format!("receive: {e}")),
                }
            }
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match args.as_slice() {
        [url, c, d] => c
            .parse::<usize>()
            .ok()
            .filter(|&c| c > 0)
            .zip(d.parse::<u64>().ok().filter(|&d| d > 0))
            .map(|(c, d)| (url.as_str(), c, d)),
        _ => None,
    };
    let Some((url, connections, seconds)) = parsed else {
        eprintln!("usage: floor_client URL CONNECTIONS SECONDS (both at least 1)");
        return ExitCode::from(2);
    };
    match run(url, connections, seconds) {
        Ok((requests, secs)) => {
            println!(
                "{{\"requests\": {requests}, \"seconds\": {secs:.3}, \"rps\": {:.1}}}",
                requests as f64 / secs
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("floor_client: {e}");
            ExitCode::from(1)
        }
    }
}
