//! Configuration: one clap struct read from flags and environment variables ([`RawArgs`]),
//! validated once into [`Settings`], which the rest of the server trusts.

mod explain;
mod raw;
mod settings;

pub use explain::{example, explain_invalid, explain_parse_error};
pub use raw::{RawArgs, DEFAULT_MODEL, DEPRECATED_MODELS};
pub use settings::{
    is_loopback_url, ConcurrencyMode, ConfigError, LogFormat, Settings, LOOPBACK_PLACEHOLDER_KEY,
};
