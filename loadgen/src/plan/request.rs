//! Request templates: the single request of `--url/-X/-H/--body`, or the weighted requests and
//! sessions of a `--scenario` file (TOML or JSON), each built once with its `Host` and content type.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST};
use http::{HeaderMap, Method, Uri};
use serde::Deserialize;

use super::flow::{Flow, FlowStep};
use super::ConfigError;
use crate::bodies::BodySet;
use crate::cli::{CommonArgs, DEFAULT_BODY};
use crate::think::ThinkTime;

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
    /// Body, shared without copying (with `bodies`: the first line's).
    pub body: Bytes,
    /// Varied bodies (`--bodies`, a scenario's `bodies = "…"`): each send picks one of them.
    pub bodies: Option<Arc<BodySet>>,
    /// Relative weight in the scenario.
    pub weight: u32,
}

/// One request of a scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioRequest {
    name: String,
    #[serde(default)]
    method: Option<String>,
    /// Path (joined to `--url`) or full http URL; required (refused when absent, rather than
    /// sending `GET /` to a request the file forgot to aim).
    #[serde(default)]
    path: Option<String>,
    /// Weight of a top-level request (1 when absent); a session's requests take none.
    #[serde(default)]
    weight: Option<u32>,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    body: Option<String>,
    /// JSON Lines file of varied bodies, relative to the scenario file's folder.
    #[serde(default)]
    bodies: Option<String>,
    /// The pause after this request's answer (`5s`, `exp:30s`, `uniform:1s..3s`); absent:
    /// `--think-time`.
    #[serde(default)]
    think_time: Option<String>,
}

/// A weighted session of a scenario file: requests a user sends in order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioSession {
    name: String,
    #[serde(default = "one")]
    weight: u32,
    request: Vec<ScenarioRequest>,
}

fn one() -> u32 {
    1
}

/// A scenario file: `[[request]]` and `[[session]]` entries (TOML) or
/// `{"request": [...], "session": [...]}` (JSON).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    #[serde(default)]
    request: Vec<ScenarioRequest>,
    #[serde(default)]
    session: Vec<ScenarioSession>,
}

/// The requests to build and the flows users choose among.
#[derive(Debug)]
pub(super) struct Scenario {
    /// Every request template, sessions' included.
    pub requests: Vec<RequestTemplate>,
    /// Single requests and sessions, in file order (requests first).
    pub flows: Vec<Flow>,
}

fn parse_header(h: &str) -> Result<(HeaderName, HeaderValue), ConfigError> {
    let (k, v) = h
        .split_once(':')
        .ok_or_else(|| ConfigError::new("--header", format!("'{h}' is not 'Name: value'")))?;
    header_pair(k, v, "--header", h)
}

/// A header from its name and value, each trimmed; errors quote `shown` under `flag`.
fn header_pair(
    name: &str,
    value: &str,
    flag: &str,
    shown: &str,
) -> Result<(HeaderName, HeaderValue), ConfigError> {
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| ConfigError::new(flag, format!("invalid header name in '{shown}'")))?;
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| ConfigError::new(flag, format!("invalid header value in '{shown}'")))?;
    Ok((name, value))
}

fn parse_method(m: &str, flag: &str) -> Result<Method, ConfigError> {
    Method::from_bytes(m.to_ascii_uppercase().as_bytes())
        .map_err(|_| ConfigError::new(flag, format!("invalid HTTP method '{m}'")))
}

pub(super) fn single_request(base: &Uri, common: &CommonArgs) -> Result<Scenario, ConfigError> {
    let method = parse_method(&common.method, "--method")?;
    let bodies = match &common.bodies {
        Some(path) => Some(Arc::new(
            BodySet::load(path, common.bodies_order, common.seed)
                .map_err(|e| ConfigError::new("--bodies", e.to_string()))?,
        )),
        None => None,
    };
    let body = match (&common.body, &common.body_file) {
        _ if bodies.is_some() => bodies
            .as_ref()
            .map(|b| b.bodies[0].clone())
            .unwrap_or_default(),
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
    let mut template = build_template(name.clone(), method, base.clone(), extra, body, 1, "--url")?;
    template.bodies = bodies;
    Ok(Scenario {
        requests: vec![template],
        flows: vec![Flow::single(name, 0, 1, None)],
    })
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
        bodies: None,
        weight,
    })
}

pub(super) fn scenario_requests(
    path: &Path,
    base: &Uri,
    common: &CommonArgs,
) -> Result<Scenario, ConfigError> {
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
    if file.request.is_empty() && file.session.is_empty() {
        return Err(ConfigError::new(
            FLAG,
            "has no [[request]] or [[session]] entries",
        ));
    }
    let mut common_headers = Vec::new();
    for h in &common.headers {
        common_headers.push(parse_header(h)?);
    }
    // The weighted choice draws from 0..sum in u32.
    let total: u64 = file
        .request
        .iter()
        .map(|r| u64::from(r.weight.unwrap_or(1)))
        .chain(file.session.iter().map(|s| u64::from(s.weight)))
        .sum();
    if total > u64::from(u32::MAX) {
        return Err(ConfigError::new(
            FLAG,
            format!("weights sum to {total}, above {}", u32::MAX),
        ));
    }
    unique_names(&file)?;
    let mut out = Scenario {
        requests: Vec::new(),
        flows: Vec::new(),
    };
    let at = Where {
        base,
        common_headers: &common_headers,
        folder: path.parent().unwrap_or(Path::new("")),
        common,
    };
    for r in file.request {
        let weight = r.weight.unwrap_or(1);
        if weight == 0 {
            continue;
        }
        let name = r.name.clone();
        let step = template(r, weight, &at, &mut out.requests)?;
        out.flows.push(Flow {
            name,
            weight,
            steps: vec![step],
            session: false,
        });
    }
    for s in file.session {
        if s.weight == 0 {
            continue;
        }
        if s.request.is_empty() {
            return Err(ConfigError::new(
                FLAG,
                format!("session '{}' has no [[session.request]] entries", s.name),
            ));
        }
        let mut steps = Vec::new();
        for r in s.request {
            if r.weight.is_some() {
                return Err(ConfigError::new(
                    FLAG,
                    format!(
                        "request '{}' of session '{}' has a weight: a session's requests run in \
                         order, weight the session instead",
                        r.name, s.name
                    ),
                ));
            }
            steps.push(template(r, 0, &at, &mut out.requests)?);
        }
        out.flows.push(Flow {
            name: s.name,
            weight: s.weight,
            steps,
            session: true,
        });
    }
    if out.flows.is_empty() {
        return Err(ConfigError::new(
            FLAG,
            "every request and session has weight 0",
        ));
    }
    Ok(out)
}

/// What a scenario's requests are built against: the base URL, the `--header`s, the scenario
/// file's folder (relative `bodies` paths) and the command line (`--seed`, `--bodies-order`).
struct Where<'a> {
    base: &'a Uri,
    common_headers: &'a [(HeaderName, HeaderValue)],
    folder: &'a Path,
    common: &'a CommonArgs,
}

/// Refuses a request name used twice: each name is one CSV row and one `--slo 'name:…'` target,
/// so a second request of that name would be measured apart and never gated. Names both.
fn unique_names(file: &ScenarioFile) -> Result<(), ConfigError> {
    let top = file
        .request
        .iter()
        .enumerate()
        .map(|(i, r)| (&r.name, format!("[[request]] {}", i + 1)));
    let in_sessions = file.session.iter().flat_map(|s| {
        s.request.iter().enumerate().map(move |(j, r)| {
            (
                &r.name,
                format!("request {} of [[session]] '{}'", j + 1, s.name),
            )
        })
    });
    let mut seen: std::collections::HashMap<&String, String> = std::collections::HashMap::new();
    for (name, place) in top.chain(in_sessions) {
        if let Some(first) = seen.get(name) {
            return Err(ConfigError::new(
                "--scenario",
                format!(
                    "request name '{name}' is used twice, by {first} and by {place}: each name \
                     is one row and one --slo target, so give each request its own name"
                ),
            ));
        }
        seen.insert(name, place);
    }
    Ok(())
}

/// Builds the template of scenario request `r` into `requests`; returns its flow step.
fn template(
    r: ScenarioRequest,
    weight: u32,
    at: &Where<'_>,
    requests: &mut Vec<RequestTemplate>,
) -> Result<FlowStep, ConfigError> {
    const FLAG: &str = "--scenario";
    let base = at.base;
    let method = parse_method(r.method.as_deref().unwrap_or("GET"), FLAG)?;
    let Some(target) = r.path.as_deref() else {
        return Err(ConfigError::new(
            FLAG,
            format!(
                "request '{}' has no path: give path = \"/\" for the root, a path joined to \
                 --url's host, or a full http:// URL",
                r.name
            ),
        ));
    };
    let uri: Uri = if target.starts_with("http://") || target.starts_with("https://") {
        let uri = target
            .parse()
            .map_err(|_| ConfigError::new(FLAG, format!("invalid URL '{target}'")))?;
        super::target_url::check_port(&uri, FLAG, target)?;
        uri
    } else {
        let joined = format!(
            "{}://{}{}",
            base.scheme_str().unwrap_or("http"),
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
    let think = match &r.think_time {
        None => None,
        Some(t) => Some(t.parse::<ThinkTime>().map_err(|e| {
            ConfigError::new(FLAG, format!("request '{}': think_time {e}", r.name))
        })?),
    };
    let mut extra = at.common_headers.to_vec();
    // Name and value apart: joined as "k: v" and split again, a key `a:b` would become
    // header `a` with value `b: v`.
    for (k, v) in &r.headers {
        extra.push(header_pair(k, v, FLAG, &format!("{k}: {v}"))?);
    }
    let bodies = match (&r.bodies, &r.body) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                FLAG,
                format!(
                    "request '{}' has both body and bodies: give one body, or a bodies file",
                    r.name
                ),
            ))
        }
        (Some(file), None) => {
            let set = BodySet::load(
                &at.folder.join(file),
                at.common.bodies_order,
                at.common.seed,
            )
            .map_err(|e| ConfigError::new(FLAG, format!("request '{}': bodies {e}", r.name)))?;
            Some(Arc::new(set))
        }
        (None, _) => None,
    };
    let body = match &bodies {
        Some(set) => set.bodies[0].clone(),
        None => r.body.map(Bytes::from).unwrap_or_default(),
    };
    let mut built = build_template(r.name, method, uri, extra, body, weight, FLAG)?;
    built.bodies = bodies;
    requests.push(built);
    Ok(FlowStep {
        request: requests.len() - 1,
        think,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_without_colon_is_rejected_naming_the_flag() {
        let e = parse_header("nocolon").unwrap_err();
        assert_eq!(e.flag, "--header");
    }
}
