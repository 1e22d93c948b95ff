//! The target URL as typed: parsed into a [`Uri`] with an http(s) scheme, a host and a port that
//! fits in 16 bits, or refused naming the flag and, where the mistake is a common one (no
//! scheme, one slash after it), what to type instead.

use http::Uri;

use super::ConfigError;

/// `given` (the `--url` or positional URL) as a base URI, or the usage error to print.
pub(super) fn base(given: &str) -> Result<Uri, ConfigError> {
    const FLAG: &str = "--url";
    if let Some(fixed) = one_slash_fix(given) {
        return Err(ConfigError::new(
            FLAG,
            format!(
                "'{}' is not a URL: the scheme needs two slashes, e.g. {}",
                given.escape_debug(),
                fixed.escape_debug()
            ),
        ));
    }
    // A bare `host:port` (or `host:port/path`): say what to type instead.
    let no_scheme = || {
        let fixed = if given.contains('/') {
            format!("http://{given}")
        } else {
            format!("http://{given}/")
        };
        ConfigError::new(
            FLAG,
            format!(
                "'{}' has no scheme: a URL starts with http:// or https://, e.g. {}",
                given.escape_debug(),
                fixed.escape_debug()
            ),
        )
    };
    let base: Uri = match given.parse::<Uri>() {
        Ok(u) => u,
        Err(_) if !given.contains("://") => return Err(no_scheme()),
        Err(e) => return Err(ConfigError::new(FLAG, format!("not a URL: {e}"))),
    };
    match base.scheme_str() {
        Some("http") | Some("https") => {}
        Some(other) => {
            return Err(ConfigError::new(
                FLAG,
                format!("scheme {other} is not supported, use http or https"),
            ))
        }
        None => return Err(no_scheme()),
    }
    if base.authority().is_none() {
        return Err(ConfigError::new(FLAG, "has no host"));
    }
    check_port(&base, FLAG, given)?;
    Ok(base)
}

/// Refuses a URL whose port is not 1 to 65535. `http::Uri` keeps an out-of-range port in the
/// authority but reports no port, and the connection then went to the scheme's default port.
pub(super) fn check_port(uri: &Uri, flag: &str, shown: &str) -> Result<(), ConfigError> {
    let Some(authority) = uri.authority() else {
        return Ok(());
    };
    // The port follows the last ':' after the host; an IPv6 host is bracketed.
    let host_end = authority.as_str().rfind(']').unwrap_or(0);
    let Some((_, port)) = authority.as_str()[host_end..].rsplit_once(':') else {
        return Ok(());
    };
    // `host:` with no digits is the default port (RFC 3986 §3.2.3).
    if port.is_empty() {
        return Ok(());
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(ConfigError::new(
            flag,
            format!(
                "'{}' is not a URL: port {} is not 1 to 65535",
                shown.escape_debug(),
                port.escape_debug()
            ),
        )),
    }
}

/// `http:/host/…` or `http:host/…` (any case): the URL with the two slashes it lacks.
fn one_slash_fix(given: &str) -> Option<String> {
    ["https", "http"].into_iter().find_map(|scheme| {
        let head = given.get(..scheme.len() + 1)?;
        if !head.eq_ignore_ascii_case(&format!("{scheme}:")) {
            return None;
        }
        let rest = &given[scheme.len() + 1..];
        if rest.starts_with("//") {
            return None;
        }
        let rest = rest.trim_start_matches('/');
        (!rest.is_empty()).then(|| format!("{scheme}://{rest}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_slash_gets_the_second_not_a_second_scheme() {
        assert_eq!(
            one_slash_fix("http:/127.0.0.1:27001/analyze").as_deref(),
            Some("http://127.0.0.1:27001/analyze")
        );
        assert_eq!(
            one_slash_fix("HTTPS:example.com").as_deref(),
            Some("https://example.com")
        );
        assert_eq!(one_slash_fix("http://127.0.0.1/"), None);
        assert_eq!(one_slash_fix("127.0.0.1:8000"), None);
        assert_eq!(one_slash_fix("http:"), None);
    }

    #[test]
    fn ports_outside_sixteen_bits_are_refused() {
        for bad in [
            "http://127.0.0.1:99999/",
            "http://127.0.0.1:0/",
            "http://[::1]:70000/",
        ] {
            let e = base(bad).unwrap_err();
            assert!(e.message.contains("is not 1 to 65535"), "{bad}: {e}");
        }
        for good in [
            "http://127.0.0.1:65535/",
            "http://[::1]/",
            "http://[::1]:8080/x",
            "http://h/",
            "http://h:/",
        ] {
            assert!(base(good).is_ok(), "{good}");
        }
    }
}
