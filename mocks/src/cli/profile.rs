//! Settings resolution: defaults, then the profile's table, then flags and env vars.

use std::path::Path;

use serde_json::{Map, Value};

use super::args::{Command, SharedFlags};
use crate::common::live::{merge, LiveSettings};
use crate::{ClaudeSettings, TradingSettings};

/// Default ports of the binary (the library defaults to port 0).
pub const CLAUDE_PORT: u16 = 9100;
/// Default port of the mock Trading API binary.
pub const TRADING_PORT: u16 = 9200;

/// The `[claude]` and `[trading]` tables of a profile file, as flat JSON maps.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Profile {
    /// Settings of the mock Claude.
    pub claude: Map<String, Value>,
    /// Settings of the mock Trading API.
    pub trading: Map<String, Value>,
}

/// Reads and checks a profile file; the message names the file and the problem.
pub fn load(path: &Path) -> Result<Profile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read profile {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("invalid profile {}: {e}", path.display()))
}

/// Parses profile TOML text.
pub fn parse(text: &str) -> Result<Profile, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut profile = Profile::default();
    for (key, value) in table {
        let json = serde_json::to_value(&value).map_err(|e| e.to_string())?;
        let Value::Object(map) = json else {
            return Err(format!("[{key}] must be a table"));
        };
        match key.as_str() {
            "claude" => profile.claude = map,
            "trading" => profile.trading = map,
            other => {
                return Err(format!(
                    "unknown table [{other}]; expected [claude] and [trading]"
                ))
            }
        }
    }
    // Validate both tables now, so a typo fails at start and names the key.
    resolve_one(
        &ClaudeSettings::default(),
        &profile.claude,
        &Map::new(),
        None,
        0,
    )
    .map_err(|e| format!("[claude] {e}"))?;
    resolve_one(
        &TradingSettings::default(),
        &profile.trading,
        &Map::new(),
        None,
        0,
    )
    .map_err(|e| format!("[trading] {e}"))?;
    Ok(profile)
}

fn resolve_one<T: LiveSettings>(
    default: &T,
    profile: &Map<String, Value>,
    flags: &Map<String, Value>,
    port_flag: Option<u16>,
    default_port: u16,
) -> Result<T, String> {
    let mut overrides = profile.clone();
    if !overrides.contains_key("port") || port_flag.is_some() {
        overrides.insert(
            "port".into(),
            Value::from(port_flag.unwrap_or(default_port)),
        );
    }
    overrides.extend(flags.clone());
    merge(default, &overrides)
}

fn profile_of(shared: &SharedFlags) -> Result<Profile, String> {
    shared
        .profile
        .as_deref()
        .map(load)
        .transpose()
        .map(Option::unwrap_or_default)
}

/// The settings of each mock the command runs.
pub fn resolve(
    command: &Command,
) -> Result<(Option<ClaudeSettings>, Option<TradingSettings>), String> {
    match command {
        Command::Claude(c) => {
            let profile = profile_of(&c.shared)?;
            let mut flags = c.shared.overrides();
            flags.extend(c.claude.overrides()?);
            let s = resolve_one(
                &ClaudeSettings::default(),
                &profile.claude,
                &flags,
                c.port,
                CLAUDE_PORT,
            )?;
            Ok((Some(s), None))
        }
        Command::Trading(t) => {
            let profile = profile_of(&t.shared)?;
            let mut flags = t.shared.overrides();
            flags.extend(t.trading.overrides());
            let s = resolve_one(
                &TradingSettings::default(),
                &profile.trading,
                &flags,
                t.port,
                TRADING_PORT,
            )?;
            Ok((None, Some(s)))
        }
        Command::All(a) => {
            let profile = profile_of(&a.shared)?;
            let mut cflags = a.shared.overrides();
            cflags.extend(a.claude.overrides()?);
            let mut tflags = a.shared.overrides();
            tflags.extend(a.trading.overrides());
            let c = resolve_one(
                &ClaudeSettings::default(),
                &profile.claude,
                &cflags,
                a.claude_port,
                CLAUDE_PORT,
            )?;
            let t = resolve_one(
                &TradingSettings::default(),
                &profile.trading,
                &tflags,
                a.trading_port,
                TRADING_PORT,
            )?;
            Ok((Some(c), Some(t)))
        }
    }
}
