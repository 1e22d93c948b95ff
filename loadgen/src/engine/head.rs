//! What the lean HTTP/1.1 client ([`super::h1`]) reads from a response head parsed by `httparse`:
//! the status, the two headers a worker keeps, how the body is framed and whether the connection
//! stays open. Runs once per response, so the few header names looked for are matched a word at
//! a time rather than byte by byte.

use http::HeaderValue;

/// What the worker needs from one response head.
#[derive(Debug)]
pub struct Head {
    /// Status code.
    pub status: u16,
    /// `Retry-After` on 429/503.
    pub retry_after: Option<HeaderValue>,
    /// `Server-Timing`, when present.
    pub server_timing: Option<HeaderValue>,
}

/// How a response's body is framed.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// No body (HEAD, 1xx, 204, 304).
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the server closes the connection.
    UntilClose,
}

/// Reads what matters from a parsed head: the head, how its body is framed, and keep-alive.
pub fn parse_head(resp: &httparse::Response<'_, '_>, head_only: bool) -> (Head, BodyKind, bool) {
    let status = resp.code.unwrap_or(0);
    let mut head = Head {
        status,
        retry_after: None,
        server_timing: None,
    };
    let mut length = None;
    let mut chunked = false;
    let mut close = resp.version == Some(0);
    for h in resp.headers.iter() {
        // The name's length picks the one name it can be: most headers of a response
        // (Server, Date, Content-Type, ...) are then passed over without a comparison.
        let name = h.name.as_bytes();
        let is = |known: &[u8]| eq_lowercase(name, known);
        match name.len() {
            14 if is(b"content-length") => {
                length = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok());
            }
            17 if is(b"transfer-encoding") => {
                chunked = h
                    .value
                    .windows(7)
                    .any(|w| w.eq_ignore_ascii_case(b"chunked"));
            }
            10 if is(b"connection") => {
                let v = h.value;
                // The value every keep-alive answer carries, checked whole before a scan.
                if eq_lowercase(v, b"keep-alive") {
                    close = false;
                } else if v.windows(5).any(|w| w.eq_ignore_ascii_case(b"close")) {
                    close = true;
                } else if v.windows(10).any(|w| w.eq_ignore_ascii_case(b"keep-alive")) {
                    close = false;
                }
            }
            11 if is(b"retry-after") && (status == 429 || status == 503) => {
                head.retry_after = HeaderValue::from_bytes(h.value).ok();
            }
            13 if is(b"server-timing") => {
                head.server_timing = HeaderValue::from_bytes(h.value).ok();
            }
            _ => {}
        }
    }
    let body = if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        BodyKind::None
    } else if chunked {
        BodyKind::Chunked
    } else if let Some(n) = length {
        BodyKind::Length(n)
    } else {
        close = true;
        BodyKind::UntilClose
    };
    (head, body, !close)
}

/// `input.eq_ignore_ascii_case(lower)` for a `lower` with no uppercase letter (a header name or
/// value looked for), eight bytes at a time: OR-ing 0x20 into the input's bytes where `lower`
/// has a letter folds exactly `A-Z` onto `a-z` there; every other byte must match exactly. The
/// byte-wise comparison took ≈ 270 of loadgen's ≈ 4,800 instructions per request on nginx's
/// `Content-Length` and `Connection: keep-alive` (callgrind).
#[inline(always)]
fn eq_lowercase(input: &[u8], lower: &[u8]) -> bool {
    let n = lower.len();
    if input.len() != n {
        return false;
    }
    if n < 8 {
        return input.eq_ignore_ascii_case(lower);
    }
    let word = |s: &[u8], at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[at..at + 8]);
        w
    };
    let same = |at: usize| {
        let want = word(lower, at);
        let fold = want.map(|b| if b.is_ascii_lowercase() { 0x20 } else { 0 });
        (u64::from_ne_bytes(word(input, at)) | u64::from_ne_bytes(fold)) == u64::from_ne_bytes(want)
    };
    // Whole words, then the last eight bytes (overlapping the previous word).
    let mut at = 0;
    while at + 8 < n {
        if !same(at) {
            return false;
        }
        at += 8;
    }
    same(n - 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOKED_FOR: [&[u8]; 6] = [
        b"content-length",
        b"transfer-encoding",
        b"connection",
        b"retry-after",
        b"server-timing",
        b"keep-alive",
    ];

    #[test]
    fn eq_lowercase_agrees_with_eq_ignore_ascii_case_on_every_byte_at_every_position() {
        for lower in LOOKED_FOR {
            // Each position takes every byte value once, the rest of the input the name itself
            // (in lower and in upper case): exactly the byte-wise comparison's answer each time.
            for base in [lower.to_vec(), lower.to_ascii_uppercase()] {
                for at in 0..lower.len() {
                    for b in 0..=255u8 {
                        let mut input = base.clone();
                        input[at] = b;
                        assert_eq!(
                            eq_lowercase(&input, lower),
                            input.eq_ignore_ascii_case(lower),
                            "{:?} against {:?}",
                            String::from_utf8_lossy(&input),
                            String::from_utf8_lossy(lower),
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn eq_lowercase_needs_the_same_length_and_folds_short_names_too() {
        assert!(eq_lowercase(b"Content-Length", b"content-length"));
        assert!(eq_lowercase(b"KEEP-ALIVE", b"keep-alive"));
        assert!(!eq_lowercase(b"content-lengths", b"content-length"));
        assert!(!eq_lowercase(b"content-lengt", b"content-length"));
        assert!(eq_lowercase(b"Close", b"close"));
        assert!(!eq_lowercase(b"clos\r", b"close"));
        // Where `lower` has a hyphen, a carriage return (0x0D | 0x20 = 0x2D) is not one.
        assert!(!eq_lowercase(b"keep\ralive", b"keep-alive"));
    }

    fn parsed(raw: &[u8], head_only: bool) -> (u16, BodyKind, bool, Option<HeaderValue>) {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut resp = httparse::Response::new(&mut headers);
        assert!(resp.parse(raw).unwrap().is_complete());
        let (head, body, keep) = parse_head(&resp, head_only);
        (head.status, body, keep, head.retry_after)
    }

    #[test]
    fn parse_head_reads_framing_and_keep_alive_in_any_case() {
        let nginx = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\n\
            Content-Length: 3\r\nConnection: keep-alive\r\n\r\n";
        assert_eq!(parsed(nginx, false), (200, BodyKind::Length(3), true, None));
        assert_eq!(parsed(nginx, true), (200, BodyKind::None, true, None));
        let shouty = b"HTTP/1.1 200 OK\r\nCONTENT-LENGTH: 12\r\nCONNECTION: CLOSE\r\n\r\n";
        assert_eq!(
            parsed(shouty, false),
            (200, BodyKind::Length(12), false, None)
        );
        let chunked = b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: Chunked\r\nRetry-After: 2\r\n\r\n";
        assert_eq!(
            parsed(chunked, false),
            (
                503,
                BodyKind::Chunked,
                true,
                Some(HeaderValue::from_static("2"))
            )
        );
        // HTTP/1.0 closes unless asked to keep alive; no length means until close.
        let old = b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(parsed(old, false), (200, BodyKind::Length(0), true, None));
        let unframed = b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Upgrade\r\n\r\n";
        assert_eq!(
            parsed(unframed, false),
            (200, BodyKind::UntilClose, false, None)
        );
        // A look-alike name of the same length is not the header.
        let lookalike = b"HTTP/1.1 200 OK\r\nContent-Lengtx: 5\r\nContent-Length: 7\r\n\r\n";
        assert_eq!(
            parsed(lookalike, false),
            (200, BodyKind::Length(7), true, None)
        );
    }
}
