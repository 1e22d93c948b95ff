//! The model ids the mock serves and their `max_tokens` ceilings, as on the provider's models
//! pages (platform.claude.com/docs/en/models, checked 2026-12); `--models FILE` adds or
//! overrides entries so a new model does not need a new build.

use std::collections::BTreeMap;

use super::error::ApiError;

/// Built-in (model id, max output tokens): ids and aliases of current and legacy models still
/// served. Models retired before 2026-12 (Claude 3.x, Sonnet 4 and Opus 4 of 2025-05-14) are not
/// listed: the real API no longer serves them. `claude-sonnet-4-5-20250929` (retirement
/// announced for 2026-11-30) stays until the provider's models page drops it.
pub const KNOWN: &[(&str, u64)] = &[
    ("claude-fable-5-1", 128_000),
    ("claude-opus-5-5", 128_000),
    ("claude-sonnet-5-5", 128_000),
    ("claude-opus-4-6", 128_000),
    ("claude-sonnet-4-6", 128_000),
    ("claude-opus-4-5", 64_000),
    ("claude-opus-4-5-20251101", 64_000),
    ("claude-sonnet-4-5", 64_000),
    ("claude-sonnet-4-5-20250929", 64_000),
    ("claude-haiku-4-5", 64_000),
    ("claude-haiku-4-5-20251001", 64_000),
    ("claude-opus-4-1", 32_000),
    ("claude-opus-4-1-20250805", 32_000),
];

/// The ceiling of `model`: `extra` (from settings / `--models`) first, then the built-in list.
pub fn max_tokens_of(model: &str, extra: &BTreeMap<String, u64>) -> Option<u64> {
    extra.get(model).copied().or_else(|| {
        KNOWN
            .iter()
            .find(|(id, _)| *id == model)
            .map(|(_, max)| *max)
    })
}

/// 404 for an unknown model, 400 for `max_tokens` above its ceiling, in the API's words.
pub fn check(model: &str, max_tokens: u64, extra: &BTreeMap<String, u64>) -> Result<(), ApiError> {
    let Some(ceiling) = max_tokens_of(model, extra) else {
        return Err(ApiError::NotFound(format!("model: {model}")));
    };
    if max_tokens > ceiling {
        return Err(ApiError::InvalidRequest(format!(
            "max_tokens: {max_tokens} > {ceiling}, which is the maximum allowed number of output tokens for {model}"
        )));
    }
    Ok(())
}

/// Parses a models file: TOML of `"model-id" = max_tokens` lines.
pub fn parse_file(text: &str) -> Result<BTreeMap<String, u64>, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    table
        .into_iter()
        .map(|(id, v)| match v.as_integer() {
            Some(n) if n >= 1 => Ok((id, n as u64)),
            _ => Err(format!(
                "{id}: the max_tokens ceiling must be an integer >= 1"
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_models_have_ceilings_and_a_file_can_add_one() {
        let none = BTreeMap::new();
        assert!(check("claude-sonnet-4-5", 64_000, &none).is_ok());
        assert!(matches!(
            check("claude-sonnet-4-5", 64_001, &none),
            Err(ApiError::InvalidRequest(_))
        ));
        assert!(matches!(
            check("claude-sonet-4-5", 10, &none),
            Err(ApiError::NotFound(_))
        ));
        let extra = parse_file("\"claude-next\" = 1000\n").unwrap();
        assert!(check("claude-next", 1000, &extra).is_ok());
        assert!(parse_file("x = \"big\"").unwrap_err().contains("x:"));
    }
}
