//! Configuration: flags and environment variables read by clap into [`RawArgs`] — grouped by
//! concern, each value typed and checked on its own as it is parsed — then turned once into
//! [`Settings`] by the rules that involve several settings. Every rejection names the variable
//! (or the flag) the operator set, with an example ([`explain_parse_error`], [`explain_invalid`]).

mod explain;
mod groups;
mod parsers;
mod raw;
mod settings;

pub use explain::{example, explain_invalid, explain_parse_error};
pub use groups::{
    Admission, Claude, ConcurrencyMode, Listener, LogFormat, Provider, Shutdown, Trading,
    DEFAULT_MODEL,
};
pub use parsers::ValueError;
pub use raw::{RawArgs, DEPRECATED_MODELS, MAX_WORKERS};
pub use settings::{is_loopback_url, ConfigError, Settings, LOOPBACK_PLACEHOLDER_KEY};
