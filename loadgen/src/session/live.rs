//! `--dashboard` / `--metrics-addr`: the live view of a session, started once its outputs exist.

use crate::config::RunConfig;
use crate::error::RunError;
use crate::live::{Config, Live};
use crate::outputs::Outputs;
use crate::signals::StopRequest;

/// Starts the live view (printing where it is served) when `config` asks for one, fed by
/// `outputs` (`--scrape`'s samples) and stopping the run through `stop`, as SIGINT does.
pub(super) async fn start(
    config: &RunConfig,
    outputs: &Outputs,
    stop: StopRequest,
) -> Result<Option<Live>, RunError> {
    let o = &config.outputs;
    if o.dashboard.is_none() && o.metrics_addr.is_none() {
        return Ok(None);
    }
    let plan = &config.plan;
    let mut files = vec![("CSV".to_string(), outputs.path.clone())];
    for (what, n) in [
        ("JSON", &o.paths.json),
        ("time series", &o.paths.timeseries),
    ] {
        if let Some(n) = n {
            files.push((what.to_string(), n.path.clone()));
        }
    }
    let cfg = Config {
        dashboard: o.dashboard,
        metrics: o.metrics_addr,
        run_id: plan.run_id.clone(),
        generator: plan.instance.map(|i| format!("{}/{}", i.index, i.count)),
        command: plan.command,
        target: plan.url.clone(),
        names: plan.requests.iter().map(|r| r.name.clone()).collect(),
        objectives: config.gate.objectives.clone(),
        steps_total: if plan.command == "find-capacity" {
            0
        } else {
            plan.steps.len()
        },
        files,
        scrape: outputs.scraper.as_ref().map(|s| s.live_samples()),
    };
    let live = Live::start(cfg, stop).await?;
    if let Some(u) = &live.dashboard_url {
        eprintln!("loadgen: dashboard at {u}");
    }
    if let Some(u) = &live.metrics_url {
        eprintln!("loadgen: metrics at {u}");
    }
    Ok(Some(live))
}
