//! Which client a request is charged to: the socket peer, or — behind proxies the operator
//! trusts (`TRUSTED_PROXIES`) — the rightmost `X-Forwarded-For` address that is not one of
//! them. Proxies append, so everything left of the last trusted hop is client-written and
//! never believed. IPv6 clients are keyed per prefix (`RATE_LIMIT_IPV6_PREFIX`, /64 by default),
//! since one host is usually given a whole /64.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroUsize;

use axum::extract::ConnectInfo;
use axum::http::Request;
use ipnet::IpNet;

/// The proxies in front of the server whose `X-Forwarded-For` entries are believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustedProxies {
    /// No proxy: `X-Forwarded-For` is ignored, the socket peer is the client.
    None,
    /// Proxies by address: walking `X-Forwarded-For` from the right, trusted hops are skipped
    /// and the first other address is the client (only when the socket peer itself is trusted).
    Networks(Vec<IpNet>),
    /// A fixed chain of N proxies, each appending one entry: the client is the N-th entry from
    /// the right (the socket peer when the header is shorter).
    Hops(NonZeroUsize),
}

impl TrustedProxies {
    /// Parses `""`, `hops:N` or a comma-separated list of CIDRs / bare addresses.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(TrustedProxies::None);
        }
        if let Some(n) = raw.strip_prefix("hops:") {
            return n
                .trim()
                .parse::<NonZeroUsize>()
                .map(TrustedProxies::Hops)
                .map_err(|_| format!("{raw:?}: hops:N needs N ≥ 1"));
        }
        raw.split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| {
                part.parse::<IpNet>()
                    .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{part:?} is not a CIDR (10.0.0.0/8) or an IP address"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies::Networks)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        match self {
            TrustedProxies::Networks(nets) => nets.iter().any(|net| net.contains(&ip)),
            _ => false,
        }
    }

    /// The client behind `peer`, given the `X-Forwarded-For` values in order of appearance.
    pub fn client<'a>(&self, peer: IpAddr, forwarded: impl Iterator<Item = &'a str>) -> IpAddr {
        let hops = match self {
            TrustedProxies::None => return peer,
            TrustedProxies::Hops(n) => Some(n.get()),
            TrustedProxies::Networks(_) => None,
        };
        if hops.is_none() && !self.trusts(peer) {
            return peer;
        }
        // Several header lines are one list, in order (RFC 9110 §5.3).
        let entries: Vec<&str> = forwarded
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut from_right = entries.iter().rev().map(|e| parse_forwarded(e));
        if let Some(n) = hops {
            return match from_right.nth(n - 1) {
                Some(Some(ip)) => canonical(ip),
                _ => peer,
            };
        }
        let mut client = peer;
        for entry in from_right {
            // An entry a trusted proxy wrote but we cannot read ends the walk at the last hop known.
            let Some(ip) = entry.map(canonical) else {
                return client;
            };
            client = ip;
            if !self.trusts(ip) {
                return ip;
            }
        }
        client
    }
}

/// An `X-Forwarded-For` entry: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:443`.
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// IPv4-mapped IPv6 (`::ffff:1.2.3.4`) counts as the IPv4 client it is.
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// The client of `request` (socket peer from `ConnectInfo`, then the forwarded chain).
pub fn client_ip<B>(request: &Request<B>, proxies: &TrustedProxies) -> IpAddr {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| canonical(addr.ip()))
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let forwarded = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    proxies.client(peer, forwarded)
}

/// The rate-limit key of a client: IPv4 as is, IPv6 cut to its first `ipv6_prefix` bits.
pub fn rate_limit_key(client: IpAddr, ipv6_prefix: u8) -> IpAddr {
    match client {
        IpAddr::V4(_) => client,
        IpAddr::V6(v6) => {
            let bits = u32::from(ipv6_prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn parses_cidrs_bare_addresses_and_hops() {
        assert_eq!(TrustedProxies::parse(" ").unwrap(), TrustedProxies::None);
        assert_eq!(
            TrustedProxies::parse("hops:2").unwrap(),
            TrustedProxies::Hops(NonZeroUsize::new(2).unwrap())
        );
        match TrustedProxies::parse("10.0.0.0/8, 192.0.2.1,2001:db8::/32").unwrap() {
            TrustedProxies::Networks(nets) => assert_eq!(nets.len(), 3),
            other => panic!("{other:?}"),
        }
        assert!(TrustedProxies::parse("hops:0").is_err());
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.local").is_err());
    }

    #[test]
    fn rightmost_untrusted_address_wins_and_forged_left_entries_are_ignored() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let chain = ["6.6.6.6, 203.0.113.7", "10.1.1.1"];
        assert_eq!(
            proxies.client(ip("10.0.0.2"), chain.into_iter()),
            ip("203.0.113.7")
        );
        // A peer outside the trusted set is the client, whatever it claims.
        assert_eq!(
            proxies.client(ip("198.51.100.1"), chain.into_iter()),
            ip("198.51.100.1")
        );
        // All hops trusted: the leftmost trusted one is as far as the chain can be believed.
        assert_eq!(
            proxies.client(ip("10.0.0.2"), ["10.9.9.9"].into_iter()),
            ip("10.9.9.9")
        );
        // Garbage written by a trusted hop's client stops the walk there.
        assert_eq!(
            proxies.client(ip("10.0.0.2"), ["junk, 10.3.3.3"].into_iter()),
            ip("10.3.3.3")
        );
    }

    #[test]
    fn hops_count_from_the_right_and_fall_back_to_the_peer() {
        let one = TrustedProxies::parse("hops:1").unwrap();
        let two = TrustedProxies::parse("hops:2").unwrap();
        let chain = || ["6.6.6.6, 203.0.113.7:5555, 10.1.1.1"].into_iter();
        assert_eq!(one.client(ip("10.0.0.2"), chain()), ip("10.1.1.1"));
        assert_eq!(two.client(ip("10.0.0.2"), chain()), ip("203.0.113.7"));
        assert_eq!(
            two.client(ip("10.0.0.2"), ["1.1.1.1"].into_iter()),
            ip("10.0.0.2")
        );
        assert_eq!(
            TrustedProxies::None.client(ip("10.0.0.2"), chain()),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn ipv6_keys_are_cut_to_the_prefix_and_mapped_ipv4_is_ipv4() {
        assert_eq!(
            rate_limit_key(ip("2001:db8:1:2:aaaa::1"), 64),
            ip("2001:db8:1:2::")
        );
        assert_eq!(rate_limit_key(ip("2001:db8::1"), 128), ip("2001:db8::1"));
        assert_eq!(rate_limit_key(ip("2001:db8::1"), 0), ip("::"));
        assert_eq!(rate_limit_key(ip("192.0.2.1"), 64), ip("192.0.2.1"));
        let hops = TrustedProxies::parse("hops:1").unwrap();
        assert_eq!(
            hops.client(ip("10.0.0.1"), ["::ffff:192.0.2.9"].into_iter()),
            ip("192.0.2.9")
        );
    }
}
