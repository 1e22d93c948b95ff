//! The step CSV that `loadgen report` and `compare` read back (`sinks::csv::read_rows`).

use loadgen::row::{header, read_rows, ReadError, StepRow, HEADER, LATER_COLUMNS};
use loadgen::sinks::csv::CsvSink;
use proptest::prelude::*;

use super::scratch;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
        (0u32..100_000).prop_map(|n| f64::from(n) / 1000.0),
    ]
}

/// Any row the writer can produce: counters, finite figures, empty and present optional cells.
fn step_row() -> impl Strategy<Value = StepRow> {
    (
        prop::collection::vec(any::<u64>(), 18),
        prop::collection::vec(finite(), 18),
        prop::collection::vec(proptest::option::of(finite()), 9),
        proptest::option::of(any::<u32>()),
        any::<bool>(),
    )
        .prop_map(|(n, f, o, concurrency, interrupted)| StepRow {
            step: n[0] as usize,
            concurrency,
            target_rps: o[0],
            duration_s: f[0],
            requests: n[1],
            ok: n[2],
            rejected_429: n[3],
            rejected_503: n[4],
            other_4xx: n[5],
            other_5xx: n[6],
            timeouts: n[7],
            connect_errors: n[8],
            io_errors: n[9],
            success_rate: f[1],
            throughput_rps: f[2],
            goodput_rps: f[3],
            mean_ms: f[4],
            p50_ms: f[5],
            p90_ms: f[6],
            p95_ms: f[7],
            p99_ms: f[8],
            p999_ms: f[9],
            max_ms: f[10],
            stdev_ms: f[11],
            uncorrected_p50_ms: o[1],
            uncorrected_p99_ms: o[2],
            uncorrected_max_ms: o[3],
            late_sends: n[10],
            connections_opened: n[11],
            in_flight_at_end: n[12],
            retry_after_count: n[13],
            retry_after_mean_s: f[12],
            retry_after_max_s: f[13],
            interrupted,
            unsent_at_end: n[14],
            unsent: n[15],
            other_status: n[16],
            resent: n[17],
            all_p50_ms: f[14],
            all_p99_ms: f[15],
            rejected_p50_ms: f[16],
            rejected_p99_ms: f[17],
            connect_p50_ms: o[4],
            connect_p99_ms: o[5],
            littles_law_error_pct: o[6],
            in_flight_mean: o[7],
            think_time_mean_ms: o[8],
            name: "*".into(),
            arrivals: o[1].map(|_| "gamma:2".to_string()),
        })
}

/// The CSV text the sink writes for `rows`.
fn written(rows: &[StepRow]) -> String {
    let mut out = Vec::new();
    let mut sink = CsvSink::new(&mut out).expect("header");
    for r in rows {
        sink.write_row(r).expect("row");
    }
    drop(sink);
    String::from_utf8(out).expect("utf-8")
}

/// Reads `bytes` as a step CSV file.
fn read(bytes: &[u8]) -> (String, Result<Vec<StepRow>, ReadError>) {
    let path = scratch("steps.csv");
    std::fs::write(&path, bytes).expect("write csv");
    let rows = read_rows(&path);
    let _ = std::fs::remove_file(&path);
    (path.display().to_string(), rows)
}

/// Arbitrary bytes; the header over rows of plausible and implausible cells; a valid file.
fn csv_bytes() -> impl Strategy<Value = Vec<u8>> {
    let cell = prop_oneof![
        Just(String::new()),
        "[0-9.eE+-]{1,6}",
        Just("true".to_string()),
        Just("NaN".to_string()),
        ".{0,5}",
        Just("\"1,2\"".to_string()),
    ];
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        prop::collection::vec(prop::collection::vec(cell, 0..50), 0..4).prop_map(|rows| {
            let mut text = format!("{HEADER}\n");
            for r in rows {
                text.push_str(&r.join(","));
                text.push('\n');
            }
            text.into_bytes()
        }),
        prop::collection::vec(step_row(), 0..3).prop_map(|rows| written(&rows).into_bytes()),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_file_is_rows_or_an_error_naming_file_line_and_column(bytes in csv_bytes()) {
        let (path, result) = read(&bytes);
        match result {
            Ok(rows) => prop_assert!(!rows.is_empty()),
            Err(e) => {
                let message = e.to_string();
                prop_assert!(message.starts_with(&format!("{path}: ")), "{message}");
                match e {
                    ReadError::Cell { line, column, .. } => {
                        prop_assert!(line >= 1, "{message}");
                        prop_assert!(column == "?" || header().contains(&column.as_str()), "{message}");
                    }
                    ReadError::MissingColumn { column, .. } => {
                        prop_assert!(header().contains(&column.as_str()));
                    }
                    ReadError::NotStepCsv { .. } => {
                        prop_assert!(message.contains("line 1: not a loadgen step CSV"), "{message}");
                    }
                    ReadError::Empty { .. } | ReadError::Io { .. } => {}
                }
            }
        }
    }

    #[test]
    fn written_rows_read_back_unchanged(rows in prop::collection::vec(step_row(), 1..4)) {
        let (_, got) = read(written(&rows).as_bytes());
        prop_assert_eq!(got.expect("a written file reads"), rows);
    }

    #[test]
    fn a_bad_cell_is_reported_at_its_line_and_column(
        rows in prop::collection::vec(step_row(), 1..4),
        at_row in any::<prop::sample::Index>(),
        at_column in any::<prop::sample::Index>(),
        bad in prop::sample::select(vec!["x1", "1.5.1", "-", "yes"]),
    ) {
        let text = written(&rows);
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        let r = at_row.index(rows.len());
        // Every column but `name` and `arrivals` (free strings) refuses these cells.
        let typed: Vec<usize> = (0..header().len())
            .filter(|&i| !["name", "arrivals"].contains(&header()[i]))
            .collect();
        let c = typed[at_column.index(typed.len())];
        let mut cells: Vec<&str> = lines[r + 1].split(',').collect();
        cells[c] = bad;
        lines[r + 1] = cells.join(",");
        let (_, got) = read(lines.join("\n").as_bytes());
        match got {
            Err(ReadError::Cell { line, column, .. }) => {
                prop_assert_eq!(line, r as u64 + 2);
                prop_assert_eq!(column.as_str(), header()[c]);
            }
            other => prop_assert!(false, "{bad:?} in {} read as {other:?}", header()[c]),
        }
    }

    #[test]
    fn a_missing_column_is_named(
        rows in prop::collection::vec(step_row(), 1..3),
        at_column in any::<prop::sample::Index>(),
    ) {
        let c = at_column.index(header().len());
        let text: Vec<String> = written(&rows)
            .lines()
            .map(|l| {
                let mut cells: Vec<&str> = l.split(',').collect();
                cells.remove(c);
                cells.join(",")
            })
            .collect();
        let (_, got) = read(text.join("\n").as_bytes());
        match got {
            // Without `step` it is no step CSV at all: the message says what the file should be.
            Err(ReadError::NotStepCsv { .. }) => prop_assert_eq!(header()[c], "step"),
            Err(ReadError::MissingColumn { column, .. }) => prop_assert_eq!(column.as_str(), header()[c]),
            // A column appended later may be absent (a CSV written before it): read as empty.
            Ok(read) if LATER_COLUMNS.contains(&header()[c]) => {
                prop_assert_eq!(read.len(), rows.len());
            }
            other => prop_assert!(false, "without {} read as {other:?}", header()[c]),
        }
    }
}
