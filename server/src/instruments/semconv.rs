//! The OpenTelemetry HTTP semantic conventions in Prometheus naming, so a report that knows only
//! the standard reads our service as it would any other: `http.server.request.duration` →
//! `http_server_request_duration_seconds`, `http.server.active_requests` →
//! `http_server_active_requests`, `http.client.request.duration` →
//! `http_client_request_duration_seconds`, attributes with `.` as `_`. This module owns the
//! names, the buckets and the attribute values; [`super::Instruments`] records them.

/// `http.server.request.duration`: one per answered request (and per request whose client hung up).
pub const SERVER_DURATION: &str = "http_server_request_duration_seconds";
/// `http.server.active_requests`: requests being handled now.
pub const SERVER_ACTIVE: &str = "http_server_active_requests";
/// `http.client.request.duration`: one per outbound HTTP request (each attempt of a retried call).
pub const CLIENT_DURATION: &str = "http_client_request_duration_seconds";

/// The buckets the conventions advise for HTTP durations, plus 30 s and 60 s: a model call with
/// a long answer takes that long, and would otherwise only tell it was over 10 s.
pub const BUCKETS_SECONDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0, 60.0,
];

/// The scheme our listener speaks (`url.scheme`); TLS, when any, ends at a proxy in front.
pub const URL_SCHEME: &str = "http";

/// `http.request.method`: the method when it is one of the well-known ones, else `_OTHER`, as
/// the conventions ask (an unbounded label set would be an attack on the metrics store).
pub fn method(m: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE",
    ];
    KNOWN.into_iter().find(|k| *k == m).unwrap_or("_OTHER")
}

/// Where outbound calls go: `server.address` and `server.port` of the upstream's base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Host name or IP literal.
    pub address: String,
    /// The port, explicit or the scheme's default.
    pub port: String,
}

impl Peer {
    /// The peer of `url`; an address the URL does not yield (it was validated at start-up, so
    /// only in tests) is `unknown`.
    pub fn of_url(url: &str) -> Peer {
        let parsed = reqwest::Url::parse(url).ok();
        Peer {
            address: parsed.as_ref().and_then(|u| u.host_str()).map_or_else(
                || "unknown".into(),
                |h| h.trim_matches(['[', ']']).to_string(),
            ),
            port: parsed
                .and_then(|u| u.port_or_known_default())
                .map_or_else(|| "0".into(), |p| p.to_string()),
        }
    }
}

/// How one outbound HTTP request ended: the status when a response came, and `error.type` when
/// it failed (the status itself for 4xx/5xx, else a short class such as `timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallEnd {
    /// `http.response.status_code`, when the headers arrived.
    pub status: Option<u16>,
    /// What failed after (or instead of) the status: `timeout`, `connection_error`, ...
    pub error: Option<&'static str>,
}

impl CallEnd {
    /// A response with `status` that was read whole.
    pub fn answered(status: u16) -> CallEnd {
        CallEnd {
            status: Some(status),
            error: None,
        }
    }

    /// A call that failed with `error`, after its headers (`status`) or before any.
    pub fn failed(status: Option<u16>, error: &'static str) -> CallEnd {
        CallEnd {
            status,
            error: Some(error),
        }
    }

    /// The `http_response_status_code` and `error_type` labels, each when it applies.
    pub fn labels(&self) -> Vec<(&'static str, String)> {
        let mut labels = Vec::with_capacity(2);
        if let Some(status) = self.status {
            labels.push(("http_response_status_code", status.to_string()));
        }
        let error = self.error.map(str::to_string).or_else(|| {
            self.status
                .filter(|s| *s >= 400)
                .map(|status| status.to_string())
        });
        if let Some(error) = error {
            labels.push(("error_type", error));
        }
        labels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_are_other() {
        assert_eq!(method("POST"), "POST");
        assert_eq!(method("post"), "_OTHER");
        assert_eq!(method("BREW"), "_OTHER");
    }

    #[test]
    fn the_peer_is_the_host_and_the_port_or_the_schemes_default() {
        assert_eq!(
            Peer::of_url("http://127.0.0.1:4010"),
            Peer {
                address: "127.0.0.1".into(),
                port: "4010".into()
            }
        );
        assert_eq!(
            Peer::of_url("https://api.anthropic.com"),
            Peer {
                address: "api.anthropic.com".into(),
                port: "443".into()
            }
        );
        assert_eq!(Peer::of_url("http://[::1]:80/x").address, "::1");
    }

    #[test]
    fn error_type_is_the_status_of_an_error_response_or_the_failures_class() {
        assert_eq!(
            CallEnd::answered(200).labels(),
            vec![("http_response_status_code", "200".to_string())]
        );
        assert_eq!(
            CallEnd::answered(529).labels(),
            vec![
                ("http_response_status_code", "529".to_string()),
                ("error_type", "529".to_string())
            ]
        );
        assert_eq!(
            CallEnd::failed(None, "timeout").labels(),
            vec![("error_type", "timeout".to_string())]
        );
        assert_eq!(
            CallEnd::failed(Some(200), "response_broken").labels(),
            vec![
                ("http_response_status_code", "200".to_string()),
                ("error_type", "response_broken".to_string())
            ]
        );
    }
}
