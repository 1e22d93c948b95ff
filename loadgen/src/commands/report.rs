//! `loadgen report`: the capacity report of ramp CSVs, built by the `report` crate; prints the
//! headline findings and the report's path.

use ::report::ReportArgs;

use crate::error::RunError;

/// Writes the report; 0 when written.
pub fn report(args: &ReportArgs) -> Result<u8, RunError> {
    let summary = ::report::report(args)?;
    for f in &summary.findings {
        println!("- {f}");
    }
    println!("report: {}", args.out.join("report.html").display());
    Ok(0)
}
