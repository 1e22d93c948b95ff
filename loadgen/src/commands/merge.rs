//! `loadgen merge LOG…`: the instances' `--hdr-log` files merged step by step
//! ([`crate::merge`]), written as one CSV and JSON and gated with the same exit codes as a
//! single run. No runtime: it reads and writes files only.

use serde_json::json;

use crate::cli::MergeArgs;
use crate::error::RunError;
use crate::gate;
use crate::merge::{check_compatible, merge_steps, read_log};

/// Runs `loadgen merge`; 0 when every objective holds on the merged steps, 1 otherwise.
pub fn merge(args: &MergeArgs) -> Result<u8, RunError> {
    let objectives = &args.gate.slo;
    let logs = args
        .logs
        .iter()
        .map(|p| read_log(p))
        .collect::<Result<Vec<_>, _>>()?;
    check_compatible(&logs)?;
    let results = merge_steps(&logs);
    let csv_path = args.out.join("merged.csv");
    let mut csv = crate::sinks::csv::CsvSink::new(crate::sinks::create(&csv_path, "--out")?)?;
    for r in &results {
        csv.write_step(r)?;
    }
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
    crate::sinks::json::write(
        crate::sinks::create(&args.out.join("merged.json"), "--out")?,
        &config,
        None,
        &results,
    )?;
    if let Some(path) = &args.gate.junit {
        crate::sinks::junit::write(
            crate::sinks::create(path, "--junit")?,
            "merge",
            objectives,
            &results,
            args.gate.slo_until,
        )?;
    }
    if !args.quiet {
        crate::sinks::table::write(std::io::stdout().lock(), &results)?;
    }
    eprintln!(
        "loadgen: merged {} instances of run {} into {}",
        logs.len(),
        logs[0].meta.run,
        args.out.display()
    );
    let violations = gate::evaluate(objectives, &results, args.gate.slo_until);
    Ok(gate::verdict(objectives, &violations))
}
