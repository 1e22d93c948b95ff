//! `loadgen verify plan|users`: a report's prediction against the runs that re-measured it,
//! computed by the `report` crate; exit 0 when it came true, 1 when a number missed.

use ::report::verify_run::{run, VerifyKind};

use crate::error::RunError;

/// Writes verify.md / verify.json; 0 when every prediction came true, 1 otherwise.
pub fn verify(kind: &VerifyKind) -> Result<u8, RunError> {
    Ok(if run(kind)? { 0 } else { 1 })
}
