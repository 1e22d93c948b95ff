//! Live progress: indicatif bars (all steps, plus the current step's elapsed time, rps, success
//! rate, p99 and errors) when stderr is a terminal; one plain line per step otherwise; nothing
//! with `--quiet`.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::plan::Load;
use crate::record::StepResult;

/// Figures of the last complete second, for the live line.
#[derive(Debug, Clone, Default)]
pub struct LiveStats {
    /// Attempts per second.
    pub rps: f64,
    /// ok / attempts in that second.
    pub success_rate: f64,
    /// p99 of that second, ms.
    pub p99_ms: f64,
    /// Non-ok attempts so far in the step.
    pub errors: u64,
}

/// The progress display.
pub enum Progress {
    /// Terminal bars.
    Bars {
        /// Holds both bars.
        _multi: MultiProgress,
        /// Steps done.
        steps: ProgressBar,
        /// Current step.
        current: ProgressBar,
    },
    /// One line per finished step on stderr.
    Plain {
        /// Number of steps.
        total: usize,
    },
    /// Nothing.
    Quiet,
}

fn level(load: Load) -> String {
    match load {
        Load::Closed { concurrency } => format!("concurrency {concurrency}"),
        Load::Open { rate, .. } => format!("rate {rate}/s"),
    }
}

impl Progress {
    /// Chooses the display for `total` steps; 0 means an open-ended search, whose steps are
    /// called probes and have no total.
    pub fn new(quiet: bool, total: usize) -> Self {
        if quiet {
            return Progress::Quiet;
        }
        if !std::io::stderr().is_terminal() {
            return Progress::Plain { total };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let steps = multi.add(ProgressBar::new(total as u64));
        let template = if total == 0 {
            "probes {pos}  {msg}"
        } else {
            "steps {bar:30} {pos}/{len}  {msg}"
        };
        steps.set_style(
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let current = multi.add(ProgressBar::new(100));
        current.set_style(
            ProgressStyle::with_template("{prefix} {bar:30} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Progress::Bars {
            _multi: multi,
            steps,
            current,
        }
    }

    /// A step begins; `planned` is its warmup plus duration.
    pub fn step_started(&self, step: usize, load: Load, planned: Duration) {
        if let Progress::Bars { steps, current, .. } = self {
            steps.set_message(level(load));
            current.set_length(planned.as_millis().max(1) as u64);
            current.set_position(0);
            current.set_prefix(self.name(step));
        }
    }

    /// `step 3/7` (or `step 3` on bars, which show the total), or `probe 3` in a search.
    fn name(&self, step: usize) -> String {
        match self {
            Progress::Plain { total: 0 } => format!("probe {step}"),
            Progress::Plain { total } => format!("step {step}/{total}"),
            Progress::Bars { steps, .. } if steps.length() == Some(0) => format!("probe {step}"),
            _ => format!("step {step}"),
        }
    }

    /// Live figures, about once a second.
    pub fn update(&self, elapsed: Duration, live: &LiveStats) {
        if let Progress::Bars { current, .. } = self {
            current.set_position(elapsed.as_millis() as u64);
            current.set_message(format!(
                "{:.1}s  {:.0} rps  success {:.1}%  p99 {:.1} ms  errors {}",
                elapsed.as_secs_f64(),
                live.rps,
                live.success_rate * 100.0,
                live.p99_ms,
                live.errors
            ));
        }
    }

    /// A step has finished.
    pub fn step_finished(&self, s: &StepResult) {
        let line = format!(
            "{} {}: {} requests, {:.1} rps, success {:.2}%, p50 {:.2} ms, p99 {:.2} ms, errors {}{}",
            self.name(s.step),
            s.target_rps
                .map(|r| format!("rate {r}/s"))
                .unwrap_or_else(|| format!("concurrency {}", s.concurrency.unwrap_or(0))),
            s.requests,
            s.throughput_rps,
            s.success_rate * 100.0,
            s.latency.p50_ms,
            s.latency.p99_ms,
            s.errors(),
            if s.interrupted { " (cut by Ctrl-C)" } else { "" },
        );
        match self {
            Progress::Bars { steps, .. } => {
                steps.inc(1);
                steps.println(line);
            }
            Progress::Plain { .. } => eprintln!("{line}"),
            Progress::Quiet => {}
        }
    }

    /// Prints a warning line on stderr (above the bars when they are drawn), even when quiet.
    pub fn warn(&self, line: &str) {
        match self {
            Progress::Bars { steps, .. } => steps.println(line),
            _ => eprintln!("{line}"),
        }
    }

    /// Clears the bars.
    pub fn finish(&self) {
        if let Progress::Bars { steps, current, .. } = self {
            current.finish_and_clear();
            steps.finish_and_clear();
        }
    }
}
