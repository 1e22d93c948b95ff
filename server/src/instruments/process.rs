//! The standard process metrics the default Prometheus clients of Go, Python and Java export
//! (`process_cpu_seconds_total`, `process_resident_memory_bytes`, ...), read at scrape time by
//! `metrics-process` (on Linux from `/proc/self`). They are rendered as text here rather than
//! through the recorder: the `metrics` crate's counters are integers, and CPU seconds must keep
//! their fraction for a load step's CPU use to mean anything.

use std::fmt::Write;

use metrics_process::collector::{collect, Metrics};

/// Appends the process metrics of this process, each with its HELP and TYPE lines.
pub fn render(out: &mut String) {
    render_from(&collect(), out);
}

/// One metric family: name, type, help, value (absent when the OS does not report it).
type Family = (&'static str, &'static str, &'static str, Option<f64>);

/// Appends `m` in the exposition format; a value the platform does not give is left out, and a
/// limit of 0 (which `metrics-process` uses for "unlimited") too, as the Go client does.
fn render_from(m: &Metrics, out: &mut String) {
    let bytes = |v: Option<u64>| v.map(|v| v as f64);
    let limit = |v: Option<u64>| v.filter(|&v| v > 0).map(|v| v as f64);
    let families: [Family; 7] = [
        (
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            m.cpu_seconds_total,
        ),
        (
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            bytes(m.resident_memory_bytes),
        ),
        (
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            bytes(m.virtual_memory_bytes),
        ),
        (
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            bytes(m.start_time_seconds),
        ),
        (
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            bytes(m.open_fds),
        ),
        (
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            limit(m.max_fds),
        ),
        (
            "process_threads",
            "gauge",
            "Number of OS threads in the process.",
            bytes(m.threads),
        ),
    ];
    if !out.is_empty() && !out.ends_with("\n\n") {
        out.push('\n');
    }
    for (name, kind, help, value) in families {
        if let Some(v) = value {
            // Writing to a String cannot fail.
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n\n"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractional_cpu_seconds_stay_fractional_and_missing_values_are_left_out() {
        let m = Metrics {
            cpu_seconds_total: Some(0.37),
            resident_memory_bytes: Some(12_345_678),
            max_fds: Some(0),
            ..Metrics::default()
        };
        let mut out = String::from("# TYPE x gauge\nx 1\n");
        render_from(&m, &mut out);
        assert!(
            out.contains(
                "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 0.37\n"
            ),
            "{out}"
        );
        assert!(
            out.contains("process_resident_memory_bytes 12345678\n"),
            "{out}"
        );
        assert!(out.starts_with("# TYPE x gauge\nx 1\n\n# HELP"), "{out}");
        assert!(!out.contains("process_max_fds"), "unlimited: {out}");
        assert!(!out.contains("process_open_fds"), "not reported: {out}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reports_its_cpu_memory_and_start() {
        // Some CPU of our own, so the counter is past its first 10 ms tick however fast start-up was.
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(50) {
            std::hint::black_box(spin.elapsed());
        }
        let mut out = String::new();
        render(&mut out);
        for name in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_start_time_seconds ",
            "process_open_fds ",
        ] {
            let value: f64 = out
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap_or_else(|| panic!("{name} missing in {out}"))
                .parse()
                .expect("a number");
            assert!(value > 0.0, "{name}{value}");
        }
    }
}
