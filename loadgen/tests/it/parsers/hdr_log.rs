//! The `--hdr-log` files `loadgen merge` reads (`merge::read_log`, then `merge::merge_steps`).

use loadgen::merge::{merge_steps, read_log};
use proptest::prelude::*;
use serde_json::json;

use super::scratch;

const HEADER: &str = r#"#loadgen {"format":"loadgen-hdrlog/2","run":"r","instance":0,"instances":1,"command":"run","url":"http://127.0.0.1:9/"}"#;

/// A `#loadgen-step` line with the given figures.
fn step_line(step: usize, duration_s: f64, start_s: f64, unsent: u64) -> String {
    let meta = json!({
        "step": step, "load": {"mode": "closed", "concurrency": 1}, "duration_s": duration_s,
        "start_s": start_s, "interrupted": false, "unsent": unsent, "late_sends": 0,
        "connections_opened": 0, "resent": 0, "in_flight_at_end": 0,
        "retry_after": {"count": 0, "min_s": 0.0, "max_s": 0.0, "sum_s": 0.0}
    });
    format!("#loadgen-step {meta}")
}

fn read_and_merge(text: &str) -> Result<usize, loadgen::error::ConfigError> {
    let path = scratch("run.hlog");
    std::fs::write(&path, text).expect("write log");
    let log = read_log(&path);
    let _ = std::fs::remove_file(&path);
    let log = log?;
    let steps = log.steps.len();
    let merged = merge_steps(&[log]);
    assert_eq!(merged.len(), steps);
    Ok(steps)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_log_text_merges_or_is_an_error_naming_the_file(
        text in prop_oneof![
            ".{0,200}",
            ".{0,100}".prop_map(|t| format!("{HEADER}\n{t}")),
            prop::collection::vec(
                (1usize..4, any::<f64>(), any::<f64>(), any::<u64>())
                    .prop_filter("JSON numbers are finite", |(_, d, s, _)| d.is_finite() && s.is_finite()),
                0..4,
            )
            .prop_map(|steps| {
                let mut text = format!("{HEADER}\n");
                for (i, d, s, u) in steps {
                    text.push_str(&step_line(i, d, s, u));
                    text.push('\n');
                }
                text
            }),
        ],
    ) {
        match read_and_merge(&text) {
            Ok(steps) => prop_assert!(steps <= text.lines().count()),
            Err(e) => {
                prop_assert!(e.flag.contains("loadgen-parsers"), "{e}");
                prop_assert!(!e.message.is_empty());
            }
        }
    }
}

#[test]
fn a_step_start_beyond_system_time_merges_without_a_start() {
    // 1e300 s after the epoch is no SystemTime: merging used to panic converting it.
    let text = format!("{HEADER}\n{}\n", step_line(1, 1.0, 1e300, 0));
    let path = scratch("far.hlog");
    std::fs::write(&path, text).expect("write log");
    let log = read_log(&path).expect("a readable log");
    let merged = merge_steps(&[log]);
    assert_eq!(merged.len(), 1);
    assert_eq!(merged[0].started_at, None);
    let text = format!("{HEADER}\n{}\n", step_line(1, 1.0, 1.7e9, 0));
    std::fs::write(&path, text).expect("write log");
    let merged = merge_steps(&[read_log(&path).expect("a readable log")]);
    assert!(merged[0].started_at.is_some());
}
