//! `loadgen merge LOG…`: the instances' `--hdr-log` files merged step by step
//! ([`crate::merge`]), written as one CSV and JSON through the same [`Outputs`] sequence as a
//! single run (CSV → JSON → `--junit` → table) and gated with the same exit codes. No runtime:
//! it reads and writes files only.

use serde_json::json;

use crate::cli::MergeArgs;
use crate::config::OutputPaths;
use crate::error::RunError;
use crate::gate;
use crate::merge::{check_compatible, merge_steps, read_log};
use crate::outputs::{Closing, Outputs};
use crate::sinks;

/// Runs `loadgen merge`; 0 when every objective holds on the merged steps, 1 otherwise.
pub fn merge(args: &MergeArgs) -> Result<u8, RunError> {
    let objectives = &args.gate.slo;
    let paths = OutputPaths::merged(&args.out, args.gate.junit.as_deref())?;
    let logs = args
        .logs
        .iter()
        .map(|p| read_log(p))
        .collect::<Result<Vec<_>, _>>()?;
    check_compatible(&logs)?;
    let results = merge_steps(&logs);
    let config = json!({
        "command": "merge",
        "run": logs[0].meta.run,
        "instances": logs[0].meta.instances,
        "url": logs[0].meta.url,
        "source_command": logs[0].meta.command,
        "inputs": args.logs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "slo": objectives.iter().map(|o| o.text.clone()).collect::<Vec<_>>(),
        "slo_until": args.gate.slo_until,
        "loadgen_version": env!("CARGO_PKG_VERSION"),
    });
    let mut outputs = Outputs::create(paths)?;
    for r in &results {
        outputs.csv.write_step(r)?;
    }
    outputs.close(
        &results,
        Closing {
            json: |w: &mut _| sinks::json::write(w, &config, None, None, &results),
            hdr: None,
            command: "merge",
            objectives,
            until: args.gate.slo_until,
            table: !args.quiet,
        },
    )?;
    eprintln!(
        "loadgen: merged {} instances of run {} into {}",
        logs.len(),
        logs[0].meta.run,
        args.out.display()
    );
    let violations = gate::evaluate(objectives, &results, args.gate.slo_until);
    Ok(gate::verdict(objectives, &violations))
}
