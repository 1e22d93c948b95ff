//! What to send and when: the validated plan built once from the command line (steps, rates,
//! request templates, timeouts). A `Plan` cannot hold an invalid value; every error names its flag.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST};
use http::{HeaderMap, Method, Uri};
use serde::{Deserialize, Serialize};

use crate::cli::{Command, CommonArgs, DEFAULT_BODY};

/// A configuration error: which flag, and what is wrong with it (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{flag}: {message}")]
pub struct ConfigError {
    /// The flag at fault, e.g. `--steps`.
    pub flag: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// An error about `flag`.
    pub fn new(flag: &str, message: impl Into<String>) -> Self {
        Self {
            flag: flag.to_string(),
            message: message.into(),
        }
    }
}

/// How load is offered during one step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Load {
    /// `concurrency` virtual users, each sending its next request when the previous one ends.
    Closed {
        /// Number of virtual users (and connections).
        concurrency: u32,
    },
    /// Requests arrive at `rate` per second whatever the responses do.
    Open {
        /// Arrival rate, requests per second.
        rate: f64,
        /// Most requests in flight at once (and connections).
        max_in_flight: u32,
    },
}

impl Load {
    /// The value `--slo-until` compares against: concurrency, or rate in open loop.
    pub fn level(&self) -> f64 {
        match *self {
            Load::Closed { concurrency } => f64::from(concurrency),
            Load::Open { rate, .. } => rate,
        }
    }
}

/// One request of the scenario, built once and cloned per send.
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    /// Name the request is reported under.
    pub name: String,
    /// HTTP method.
    pub method: Method,
    /// Full URI (HTTP/2 needs it).
    pub uri: Uri,
    /// Path and query only (HTTP/1 origin form).
    pub path_uri: Uri,
    /// All headers, `Host` included.
    pub headers: HeaderMap,
    /// Body, shared without copying.
    pub body: Bytes,
    /// Relative weight in the scenario.
    pub weight: u32,
}

/// Everything the engine and sinks need, validated.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `ramp` or `run`.
    pub command: &'static str,
    /// The steps, in order.
    pub steps: Vec<Load>,
    /// Measured time of each step.
    pub step_duration: Duration,
    /// Uncounted time at the start of each step.
    pub warmup: Duration,
    /// The requests to send (one unless a scenario names more).
    pub requests: Vec<RequestTemplate>,
    /// Target URL as given.
    pub url: String,
    /// Host and port to connect to.
    pub authority: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// HTTP/2 prior knowledge.
    pub http2: bool,
    /// Honor Retry-After on 429/503.
    pub honor_retry_after: bool,
    /// Seed of the weighted choice.
    pub seed: u64,
}

/// One request of a scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioRequest {
    name: String,
    #[serde(default)]
    method: Option<String>,
    /// Path (joined to `--url`) or full http URL.
    #[serde(default)]
    path: Option<String>,
    #[serde(default = "one")]
    weight: u32,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    body: Option<String>,
}

fn one() -> u32 {
    1
}

/// A scenario file: `[[request]]` entries (TOML) or `{"request": [...]}` (JSON).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    request: Vec<ScenarioRequest>,
}

impl Plan {
    /// Validates the command line into a plan.
    pub fn from_command(cmd: &Command) -> Result<Plan, ConfigError> {
        let common = cmd.common();
        let (steps, step_duration, warmup) = match cmd {
            Command::Ramp(a) => (ramp_steps(a, common)?, a.step_duration, a.warmup),
            Command::Run(a) => {
                let load = match (a.concurrency, a.rate) {
                    (Some(c), None) => closed(c, "--concurrency")?,
                    (None, Some(r)) => open(r, common.max_in_flight, "--rate")?,
                    _ => return Err(ConfigError::new("--concurrency/--rate", "give exactly one")),
                };
                (vec![load], a.duration, a.warmup)
            }
        };
        if step_duration.is_zero() {
            return Err(ConfigError::new(
                "--step-duration/--duration",
                "must be greater than 0",
            ));
        }
        if common.timeout.is_zero() {
            return Err(ConfigError::new("--timeout", "must be greater than 0"));
        }
        if common.connect_timeout.is_zero() {
            return Err(ConfigError::new(
                "--connect-timeout",
                "must be greater than 0",
            ));
        }
        let base: Uri = common
            .url
            .parse()
            .map_err(|e| ConfigError::new("--url", format!("not a URL: {e}")))?;
        match base.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(ConfigError::new(
                    "--url",
                    format!("scheme {other} is not supported, use http"),
                ))
            }
            None => return Err(ConfigError::new("--url", "needs http://host:port/path")),
        }
        let authority = base
            .authority()
            .ok_or_else(|| ConfigError::new("--url", "has no host"))?
            .clone();
        let authority_str = if authority.port().is_some() {
            authority.to_string()
        } else {
            format!("{}:80", authority.host())
        };
        let requests = match &common.scenario {
            Some(path) => scenario_requests(path, &base, common)?,
            None => vec![single_request(&base, common)?],
        };
        Ok(Plan {
            command: cmd.name(),
            steps,
            step_duration,
            warmup,
            requests,
            url: common.url.clone(),
            authority: authority_str,
            timeout: common.timeout,
            connect_timeout: common.connect_timeout.min(common.timeout),
            http2: common.http2,
            honor_retry_after: common.honor_retry_after,
            seed: common.seed,
        })
    }
}

fn closed(c: u32, flag: &str) -> Result<Load, ConfigError> {
    if c == 0 {
        return Err(ConfigError::new(flag, "concurrency must be at least 1"));
    }
    Ok(Load::Closed { concurrency: c })
}

fn open(rate: f64, max_in_flight: u32, flag: &str) -> Result<Load, ConfigError> {
    if !(rate.is_finite() && rate > 0.0) {
        return Err(ConfigError::new(
            flag,
            format!("rate must be a positive number, got {rate}"),
        ));
    }
    if max_in_flight == 0 {
        return Err(ConfigError::new("--max-in-flight", "must be at least 1"));
    }
    Ok(Load::Open {
        rate,
        max_in_flight,
    })
}

fn ramp_steps(a: &crate::cli::RampArgs, common: &CommonArgs) -> Result<Vec<Load>, ConfigError> {
    if let Some(rates) = &a.rate_steps {
        if rates.is_empty() {
            return Err(ConfigError::new("--rate-steps", "needs at least one rate"));
        }
        return rates
            .iter()
            .map(|&r| open(r, common.max_in_flight, "--rate-steps"))
            .collect();
    }
    if let Some(steps) = &a.steps {
        if steps.is_empty() {
            return Err(ConfigError::new(
                "--steps",
                "needs at least one concurrency",
            ));
        }
        return steps.iter().map(|&c| closed(c, "--steps")).collect();
    }
    if a.from == 0 {
        return Err(ConfigError::new("--from", "must be at least 1"));
    }
    if a.to < a.from {
        return Err(ConfigError::new(
            "--to",
            format!("must be at least --from ({})", a.from),
        ));
    }
    let levels = match a.step {
        Some(0) => return Err(ConfigError::new("--step", "must be at least 1")),
        Some(n) => linear_levels(a.from, a.to, n),
        None => default_levels(a.from, a.to),
    };
    levels
        .into_iter()
        .map(|c| closed(c, "--from/--to"))
        .collect()
}

/// `from, from+n, …` with `to` always last.
pub fn linear_levels(from: u32, to: u32, n: u32) -> Vec<u32> {
    let mut v: Vec<u32> = (from..=to).step_by(n as usize).collect();
    if v.last() != Some(&to) {
        v.push(to);
    }
    v
}

/// 1, 2, 5, 10, then every 10 up to 50, then 100, 200, 500, 1000…; clipped to `[from, to]`,
/// starting with `from` and ending with `to`.
pub fn default_levels(from: u32, to: u32) -> Vec<u32> {
    let mut series: Vec<u64> = vec![1, 2, 5, 10, 20, 30, 40, 50];
    let mut decade: u64 = 100;
    while decade <= u64::from(to) {
        series.extend([decade, decade * 2, decade * 5]);
        decade *= 10;
    }
    let mut v = vec![from];
    v.extend(
        series
            .into_iter()
            .filter(|&x| x > u64::from(from) && x < u64::from(to))
            .map(|x| x as u32),
    );
    if v.last() != Some(&to) {
        v.push(to);
    }
    v
}

fn parse_header(h: &str) -> Result<(HeaderName, HeaderValue), ConfigError> {
    let (k, v) = h
        .split_once(':')
        .ok_or_else(|| ConfigError::new("--header", format!("'{h}' is not 'Name: value'")))?;
    let name = HeaderName::from_bytes(k.trim().as_bytes())
        .map_err(|_| ConfigError::new("--header", format!("invalid header name in '{h}'")))?;
    let value = HeaderValue::from_str(v.trim())
        .map_err(|_| ConfigError::new("--header", format!("invalid header value in '{h}'")))?;
    Ok((name, value))
}

fn parse_method(m: &str, flag: &str) -> Result<Method, ConfigError> {
    Method::from_bytes(m.to_ascii_uppercase().as_bytes())
        .map_err(|_| ConfigError::new(flag, format!("invalid HTTP method '{m}'")))
}

fn single_request(base: &Uri, common: &CommonArgs) -> Result<RequestTemplate, ConfigError> {
    let method = parse_method(&common.method, "--method")?;
    let body = match (&common.body, &common.body_file) {
        (Some(b), _) => Bytes::from(b.clone()),
        (None, Some(path)) => Bytes::from(std::fs::read(path).map_err(|e| {
            ConfigError::new(
                "--body-file",
                format!("cannot read {}: {e}", path.display()),
            )
        })?),
        (None, None) if method == Method::POST => Bytes::from_static(DEFAULT_BODY.as_bytes()),
        (None, None) => Bytes::new(),
    };
    let mut extra = Vec::new();
    for h in &common.headers {
        extra.push(parse_header(h)?);
    }
    let name = format!("{} {}", method, base.path());
    build_template(name, method, base.clone(), extra, body, 1, "--url")
}

fn build_template(
    name: String,
    method: Method,
    uri: Uri,
    extra: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    weight: u32,
    flag: &str,
) -> Result<RequestTemplate, ConfigError> {
    let authority = uri
        .authority()
        .ok_or_else(|| ConfigError::new(flag, "URL has no host"))?;
    let mut headers = HeaderMap::new();
    let host = HeaderValue::from_str(authority.as_str())
        .map_err(|_| ConfigError::new(flag, "host is not a valid header value"))?;
    headers.insert(HOST, host);
    if !body.is_empty() {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    for (k, v) in extra {
        headers.insert(k, v);
    }
    let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let path_uri: Uri = pq
        .parse()
        .map_err(|_| ConfigError::new(flag, format!("invalid path '{pq}'")))?;
    Ok(RequestTemplate {
        name,
        method,
        uri,
        path_uri,
        headers,
        body,
        weight,
    })
}

fn scenario_requests(
    path: &Path,
    base: &Uri,
    common: &CommonArgs,
) -> Result<Vec<RequestTemplate>, ConfigError> {
    const FLAG: &str = "--scenario";
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(FLAG, format!("cannot read {}: {e}", path.display())))?;
    let is_json =
        path.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with('{');
    let file: ScenarioFile = if is_json {
        serde_json::from_str(&text)
            .map_err(|e| ConfigError::new(FLAG, format!("invalid JSON: {e}")))?
    } else {
        toml::from_str(&text).map_err(|e| ConfigError::new(FLAG, format!("invalid TOML: {e}")))?
    };
    if file.request.is_empty() {
        return Err(ConfigError::new(FLAG, "has no [[request]] entries"));
    }
    let mut common_headers = Vec::new();
    for h in &common.headers {
        common_headers.push(parse_header(h)?);
    }
    let mut out = Vec::new();
    for r in file.request {
        if r.weight == 0 {
            continue;
        }
        let method = parse_method(r.method.as_deref().unwrap_or("GET"), FLAG)?;
        let target = r.path.as_deref().unwrap_or("/");
        let uri: Uri = if target.starts_with("http://") {
            target
                .parse()
                .map_err(|_| ConfigError::new(FLAG, format!("invalid URL '{target}'")))?
        } else {
            let joined = format!(
                "http://{}{}",
                base.authority().map(|a| a.as_str()).unwrap_or(""),
                if target.starts_with('/') {
                    target.to_string()
                } else {
                    format!("/{target}")
                }
            );
            joined
                .parse()
                .map_err(|_| ConfigError::new(FLAG, format!("invalid path '{target}'")))?
        };
        let mut extra = common_headers.clone();
        for (k, v) in &r.headers {
            extra.push(
                parse_header(&format!("{k}: {v}"))
                    .map_err(|e| ConfigError::new(FLAG, e.message))?,
            );
        }
        let body = r.body.map(Bytes::from).unwrap_or_default();
        out.push(build_template(
            r.name, method, uri, extra, body, r.weight, FLAG,
        )?);
    }
    if out.is_empty() {
        return Err(ConfigError::new(FLAG, "every request has weight 0"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ramp_to_50_is_one_two_five_then_tens() {
        assert_eq!(default_levels(1, 50), vec![1, 2, 5, 10, 20, 30, 40, 50]);
        assert_eq!(default_levels(3, 7), vec![3, 5, 7]);
        assert_eq!(
            default_levels(1, 250),
            vec![1, 2, 5, 10, 20, 30, 40, 50, 100, 200, 250]
        );
    }

    #[test]
    fn linear_ramp_always_ends_at_to() {
        assert_eq!(linear_levels(1, 10, 4), vec![1, 5, 9, 10]);
        assert_eq!(linear_levels(5, 5, 3), vec![5]);
    }

    #[test]
    fn header_without_colon_is_rejected_naming_the_flag() {
        let e = parse_header("nocolon").unwrap_err();
        assert_eq!(e.flag, "--header");
    }
}
