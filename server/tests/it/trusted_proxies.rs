//! The rate limit behind proxies: only the rightmost address a trusted proxy appended counts,
//! so a client forging `X-Forwarded-For` entries cannot buy new quota; IPv6 clients share one
//! bucket per /64.

use serde_json::json;
use server::admission::client_ip::TrustedProxies;

use crate::support::TestServer;

/// A server whose only client (this test, on 127.0.0.1) plays the proxy; 1 request per minute.
async fn behind(proxies: &str) -> TestServer {
    let mut s = crate::support::settings("http://127.0.0.1:9", "http://127.0.0.1:9");
    s.admission.rate_limit_per_minute = 1;
    s.admission.rate_limit_burst = 1;
    s.admission.trusted_proxies = TrustedProxies::parse(proxies).expect("valid");
    TestServer::start(s).await
}

/// POST /analyze through the "proxy" with this `X-Forwarded-For`; the body is invalid on purpose
/// (422 before any upstream call), which the rate limit still charges.
async fn status_with_forwarded_for(server: &TestServer, forwarded_for: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/analyze", server.url()))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({}))
        .send()
        .await
        .expect("sent")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_forged_leftmost_forwarded_for_does_not_dodge_the_limit_behind_one_trusted_proxy() {
    for proxies in ["127.0.0.1/32", "hops:1"] {
        let server = behind(proxies).await;
        // The proxy appends the real client (203.0.113.7) to whatever the client sent.
        let first = status_with_forwarded_for(&server, "1.1.1.1, 203.0.113.7").await;
        assert_ne!(first, 429, "{proxies}: first request is within quota");
        let forged = status_with_forwarded_for(&server, "9.9.9.9, 203.0.113.7").await;
        assert_eq!(
            forged, 429,
            "{proxies}: a new forged entry buys no new quota"
        );
        let other = status_with_forwarded_for(&server, "9.9.9.9, 203.0.113.8").await;
        assert_ne!(
            other, 429,
            "{proxies}: another real client has its own quota"
        );
    }
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let server = behind("10.0.0.0/8").await;
    assert_ne!(status_with_forwarded_for(&server, "203.0.113.1").await, 429);
    assert_eq!(
        status_with_forwarded_for(&server, "203.0.113.2").await,
        429,
        "127.0.0.1 is not a trusted proxy, so it is the client"
    );
}

#[tokio::test]
async fn two_ipv6_addresses_in_one_slash_64_share_a_bucket() {
    let server = behind("hops:1").await;
    assert_ne!(
        status_with_forwarded_for(&server, "2001:db8:0:1::1").await,
        429
    );
    assert_eq!(
        status_with_forwarded_for(&server, "2001:db8:0:1:ffff::2").await,
        429,
        "same /64, same bucket"
    );
    assert_ne!(
        status_with_forwarded_for(&server, "2001:db8:0:2::1").await,
        429,
        "the next /64 is another client"
    );
}
