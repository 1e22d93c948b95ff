//! The SLO gate: objectives (the `--slo` grammar of [`crate::slo`]) checked on each step's
//! result, the `--slo-until` cut, and the verdict a CI reads in the exit code.

use std::fmt;

use crate::error::ConfigError;
use crate::record::StepResult;
use crate::row::StepRow;
use crate::slo::Objective;

/// A failed objective on one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// 1-based step number.
    pub step: usize,
    /// The step's concurrency or rate, as in the CSV.
    pub level: String,
    /// The objective's text.
    pub objective: String,
    /// The measured value, with its unit.
    pub measured: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "step {} ({}): {} failed, measured {}",
            self.step, self.level, self.objective, self.measured
        )
    }
}

/// Whether objective `o` holds on step `s`, and the measured value as text, by the workspace's
/// one check ([`Objective::check`] on the step's CSV row): a step with no requests, cut by an
/// interruption, or with no response the figure describes (a latency objective on a step that
/// answered only errors) never holds.
pub fn check(o: &Objective, s: &StepResult) -> (bool, String) {
    if let Some(name) = &o.name {
        return match s.per_name.iter().find(|(n, _)| n == name) {
            Some((_, r)) => check_total(o, r),
            None if s.by_name.len() == 1 && s.by_name.contains_key(name) => check_total(o, s),
            None => (false, format!("no request named '{name}' in this step")),
        };
    }
    check_total(o, s)
}

fn check_total(o: &Objective, s: &StepResult) -> (bool, String) {
    let c = o.check(&StepRow::from(s));
    (c.holds, c.measured)
}

/// Refuses a `NAME:` objective whose name no request of the plan has.
pub fn check_names(objectives: &[Objective], names: &[String]) -> Result<(), ConfigError> {
    for o in objectives {
        if let Some(n) = o.name.as_ref().filter(|n| !names.contains(n)) {
            return Err(ConfigError::new(
                "--slo",
                format!(
                    "'{}': no request is named '{n}' (the requests are: {})",
                    o.text,
                    names.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Whether step `s` is gated under `--slo-until`.
pub fn gated(s: &StepResult, until: Option<f64>) -> bool {
    let level = s.target_rps.or(s.concurrency.map(f64::from)).unwrap_or(0.0);
    !until.is_some_and(|u| level > u)
}

/// The step's level as reports name it: `concurrency C` or `rate R/s`.
pub fn level_text(s: &StepResult) -> String {
    match (s.target_rps, s.concurrency) {
        (Some(r), _) => format!("rate {r}/s"),
        (None, Some(c)) => format!("concurrency {c}"),
        _ => String::new(),
    }
}

/// Checks every objective on every step up to `until` (concurrency, or rate in open loop).
pub fn evaluate(
    objectives: &[Objective],
    steps: &[StepResult],
    until: Option<f64>,
) -> Vec<Violation> {
    let mut out = Vec::new();
    for s in steps {
        if !gated(s, until) {
            continue;
        }
        let level_text = level_text(s);
        for o in objectives {
            let (holds, value) = check(o, s);
            let measured = (!holds).then_some(value);
            if let Some(measured) = measured {
                out.push(Violation {
                    step: s.step,
                    level: level_text.clone(),
                    objective: o.text.clone(),
                    measured,
                });
            }
        }
    }
    out
}

/// Prints the gate's outcome; 0 when every objective held, 1 otherwise.
pub fn verdict(objectives: &[Objective], violations: &[Violation]) -> u8 {
    if violations.is_empty() {
        if !objectives.is_empty() {
            let n = objectives.len();
            eprintln!(
                "loadgen: SLO passed ({n} objective{})",
                if n == 1 { "" } else { "s" }
            );
        }
        0
    } else {
        eprintln!("loadgen: SLO failed:");
        for v in violations {
            eprintln!("  {v}");
        }
        1
    }
}
