//! One function per subcommand, each returning the exit code or the [`RunError`] `main` prints:
//! `main` matches the command once and calls one of these. The load commands share a
//! [`crate::session::Session`]; `merge`, `report` and `compare` read files only.
//!
//! [`RunError`]: crate::error::RunError

mod compare;
mod find_capacity;
mod merge;
mod ramp_run;
mod report;
mod verify;

pub use self::compare::compare;
pub use self::find_capacity::find_capacity;
pub use self::merge::merge;
pub use self::ramp_run::ramp_run;
pub use self::report::report;
pub use self::verify::verify;
