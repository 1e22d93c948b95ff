//! `loadgen compare`: two ramp CSVs side by side, built by the `report` crate; prints the
//! headline and the comparison's path.

use ::report::CompareArgs;

use crate::error::RunError;

/// Writes the comparison; 0 when written.
pub fn compare(args: &CompareArgs) -> Result<u8, RunError> {
    let headline = ::report::compare::compare(&args.before, &args.after, &args.out)?;
    for f in &headline {
        println!("- {f}");
    }
    println!("comparison: {}", args.out.join("compare.html").display());
    Ok(0)
}
