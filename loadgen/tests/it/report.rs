//! `loadgen report` and `loadgen compare` as a user runs them: the real binary on fixture CSVs
//! (tests/fixtures/), checking every output file, the summary's fields, the charts' XML, the
//! Markdown's links, the HTML's self-containment, and the exit code and message on bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

static DIRS: AtomicU64 = AtomicU64::new(0);

/// A fresh, empty parent directory; the report goes into `<it>/out`.
fn scratch() -> PathBuf {
    let n = DIRS.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("loadgen-report-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn loadgen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .output()
        .unwrap()
}

fn report(csv: &Path, extra: &[&str]) -> (Output, PathBuf) {
    let dir = scratch();
    let out = dir.join("out");
    let mut args = vec![
        "report",
        csv.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    (loadgen(&args), out)
}

fn summary(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn report_writes_every_file_and_every_summary_field() {
    let (o, out) = report(
        &fixture("ramp/ramp.csv"),
        &[
            "--slo",
            "p99<8s",
            "--provider-rpm",
            "2000",
            "--provider-otpm",
            "80000",
            "--avg-output-tokens",
            "50",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for f in [
        "report.md",
        "report.html",
        "summary.json",
        "throughput.svg",
        "latency.svg",
        "outcomes.svg",
        "timeseries-latency.svg",
        "timeseries-rps.svg",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let s = summary(&out);
    for k in [
        "max_throughput_rps",
        "max_goodput_rps",
        "knee_concurrency",
        "max_concurrency_meeting_slo",
        "usl",
        "littles_law",
        "recommended",
        "queueing",
        "provider",
        "findings",
    ] {
        assert!(s.get(k).is_some(), "summary.json lacks {k}");
    }
    for k in [
        "sigma",
        "kappa",
        "lambda",
        "sigma_ci",
        "kappa_ci",
        "lambda_ci",
        "r2",
        "residual_se",
        "reliable",
        "retrograde",
    ] {
        assert!(!s["usl"][k].is_null(), "usl.{k} is null: {}", s["usl"]);
    }
    // κ's interval lies above 0, but goodput measured past the best step falls by 2.4% (8.3/s
    // at 40 users, 8.1/s at 50), within the ±2% noise: no retrograde region is claimed.
    assert_eq!(s["usl"]["retrograde"], false, "{}", s["usl"]);
    assert!(s["usl"]["peak_concurrency"].is_null(), "{}", s["usl"]);
    assert!(
        s["usl"]["kappa_ci"][0].as_f64().unwrap() > 0.0,
        "{}",
        s["usl"]
    );
    for k in ["step", "concurrency", "predicted", "measured", "error_pct"] {
        assert!(s["littles_law"][0].get(k).is_some(), "littles_law[].{k}");
    }
    for k in [
        "max_concurrent_analyses",
        "max_queue_depth",
        "queue_timeout_ms",
        "predicted_goodput_rps",
        "reasoning",
    ] {
        assert!(s["recommended"].get(k).is_some(), "recommended.{k}");
    }
    // The fixture: USL(σ=0.03, κ=0.0005, λ=0.6) with ±2% noise, nine steps, then a step at 60
    // users shedding 83% with 503 (left out of the fit).
    assert_eq!(s["usl"]["reliable"], true);
    assert_eq!(s["usl"]["points"], 9);
    let sigma = s["usl"]["sigma"].as_f64().unwrap();
    let ci = s["usl"]["sigma_ci"].as_array().unwrap();
    assert!(
        ci[0].as_f64().unwrap() <= 0.03 && 0.03 <= ci[1].as_f64().unwrap(),
        "σ {sigma} {ci:?}"
    );
    assert_eq!(s["max_throughput_rps"], 48.1);
    assert_eq!(s["max_goodput_rps"], 8.3);
    // 40 users: 8.3/s, and 50 users no more (30 users' 7.7/s is still 8% below it).
    assert_eq!(s["knee_concurrency"], 40);
    assert_eq!(s["max_concurrency_meeting_slo"], 40);
    assert_eq!(s["queueing"]["permits"], 10);
    // The tier sets N below the knee: S = 1.667 s at 1 user, 2 calls → 72 calls/min per
    // permit; 80% of 2000 rpm → 22; 80% of 80 000 otpm at 50 tokens per call → 17.
    assert_eq!(s["provider"]["rpm_concurrency"], 22);
    assert_eq!(s["provider"]["otpm_concurrency"], 17);
    assert_eq!(s["recommended"]["max_concurrent_analyses"], 17);
    // p99 < 8 s; at 10 users (the step at or below N within the server's 10 permits: N users
    // on N permits do not queue) p99 = 3261 ms: 4739 ms of slack, minus a tenth of the bound
    // as a margin = 3939 ms of queue wait, depth 17 × 3939 / 2174 = 30.
    assert_eq!(s["recommended"]["queue_timeout_ms"], 3939);
    assert_eq!(s["recommended"]["max_queue_depth"], 30);
    // No step ran at 17 users: the (reliable) USL predicts 0.6·17/(1+0.03·16+0.0005·17·16) ≈ 6.3.
    let predicted = s["recommended"]["predicted_goodput_rps"].as_f64().unwrap();
    assert!((6.0..6.6).contains(&predicted), "{predicted}");
    assert!(s["recommended"]["reasoning"]
        .as_str()
        .unwrap()
        .contains("provider tier allows only 17"));
    // The fixture's latencies are built by Little's law: every unshed step agrees within 1%.
    assert!(s["littles_law"]
        .as_array()
        .unwrap()
        .iter()
        .take(9)
        .all(|c| c["error_pct"].as_f64().unwrap().abs() < 1.0));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("Knee at 40 users"), "{stdout}");
    assert!(stdout.contains("report.html"), "{stdout}");
}

#[test]
fn charts_parse_as_xml_markdown_links_exist_and_html_is_self_contained() {
    let (o, out) = report(&fixture("ramp/ramp.csv"), &[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut svgs = 0;
    for e in std::fs::read_dir(&out).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "svg") {
            let text = std::fs::read_to_string(&p).unwrap();
            let doc = roxmltree::Document::parse(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            assert_eq!(doc.root_element().tag_name().name(), "svg");
            svgs += 1;
        }
    }
    assert_eq!(svgs, 5);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let mut links = 0;
    for part in md.split("](").skip(1) {
        let target = &part[..part.find(')').unwrap()];
        assert!(
            out.join(target).is_file(),
            "report.md links {target}, which does not exist"
        );
        links += 1;
    }
    assert_eq!(links, 5);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for external in [
        "src=", "href=", "url(", "@import", "<link", "<script", "<img", "<iframe",
    ] {
        assert!(
            !html.contains(external),
            "report.html references {external}"
        );
    }
    // The only address in the file is the run's target, quoted as text in the configuration.
    assert_eq!(
        html.matches("http").count(),
        html.matches("http://127.0.0.1:8000/analyze").count()
    );
    assert_eq!(html.matches("<svg").count(), 5);
}

#[test]
fn several_csvs_are_pooled_and_an_earlier_report_is_replaced() {
    let dir = scratch();
    let out = dir.join("out");
    let csv = fixture("ramp/ramp.csv");
    let first = loadgen(&[
        "report",
        csv.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
    ]);
    assert_eq!(first.status.code(), Some(0));
    assert_eq!(summary(&out)["usl"]["points"], 9);
    let o = loadgen(&[
        "report",
        csv.to_str().unwrap(),
        csv.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(summary(&out)["usl"]["points"], 18);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("out")]);
}

/// A copy of the ramp fixture's run directory (ramp.csv and its companions) in a scratch dir.
fn run_dir() -> PathBuf {
    let run = scratch().join("RUN");
    std::fs::create_dir_all(&run).unwrap();
    for e in std::fs::read_dir(fixture("ramp")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), run.join(e.file_name())).unwrap();
    }
    run
}

fn listing(dir: &Path) -> Vec<(std::ffi::OsString, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let bytes = std::fs::read(e.path()).unwrap_or_default();
            (e.file_name(), bytes)
        })
        .collect();
    v.sort();
    v
}

/// Exit 2, the message names `--out` and `path`, and `dir` is byte for byte as it was.
fn assert_refused(o: &Output, path: &Path, dir: &Path, before: &[(std::ffi::OsString, Vec<u8>)]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--out-dir"), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("nothing was written or removed"), "{err}");
    assert_eq!(listing(dir), before, "{} changed", dir.display());
}

#[test]
fn report_out_the_run_directory_is_refused_and_keeps_every_file() {
    let run = run_dir();
    let before = listing(&run);
    assert!(before.len() >= 2, "the fixture has companions");
    let csv = run.join("ramp.csv");
    let o = loadgen(&[
        "report",
        csv.to_str().unwrap(),
        "--out-dir",
        run.to_str().unwrap(),
    ]);
    assert_refused(&o, &run, &run, &before);
}

#[test]
fn report_out_the_input_csv_is_refused_and_nothing_is_hidden() {
    let run = run_dir();
    let before = listing(&run);
    let csv = run.join("ramp.csv");
    let o = loadgen(&[
        "report",
        csv.to_str().unwrap(),
        "--out-dir",
        csv.to_str().unwrap(),
    ]);
    assert_refused(&o, &csv, &run, &before);
    assert!(csv.is_file());
}

#[test]
fn report_out_a_directory_with_foreign_files_is_refused() {
    let dir = scratch();
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let before = listing(&out);
    let csv = fixture("ramp/ramp.csv");
    let o = loadgen(&[
        "report",
        csv.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
    ]);
    assert_refused(&o, &out, &out, &before);
    assert!(String::from_utf8_lossy(&o.stderr).contains("notes.txt"));
}

#[test]
fn compare_out_holding_its_inputs_is_refused_and_keeps_them() {
    let dir = scratch();
    let (a, b) = (dir.join("A.csv"), dir.join("B.csv"));
    std::fs::copy(fixture("before.csv"), &a).unwrap();
    std::fs::copy(fixture("ramp/ramp.csv"), &b).unwrap();
    let before = listing(&dir);
    let o = loadgen(&[
        "compare",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    assert_refused(&o, &dir, &dir, &before);
    // A report directory is not an earlier comparison either.
    let rep = dir.join("rep");
    let r = loadgen(&[
        "report",
        b.to_str().unwrap(),
        "--out-dir",
        rep.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(0));
    let rep_before = listing(&rep);
    let o = loadgen(&[
        "compare",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out-dir",
        rep.to_str().unwrap(),
    ]);
    assert_refused(&o, &rep, &rep, &rep_before);
}

fn assert_bad(name: &str, expect: &[&str]) {
    let (o, out) = report(&fixture(name), &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{name}: {err}");
    for e in expect {
        assert!(err.contains(e), "{name}: stderr lacks {e:?}: {err}");
    }
    assert!(!out.exists(), "{name}: DIR was created");
    let parent = out.parent().unwrap();
    assert_eq!(
        std::fs::read_dir(parent).unwrap().count(),
        0,
        "{name}: something left beside DIR"
    );
}

#[test]
fn a_missing_column_names_file_line_and_column() {
    assert_bad(
        "bad-missing-column.csv",
        &["bad-missing-column.csv", "line 1", "connect_p99_ms"],
    );
}

#[test]
fn an_empty_csv_names_file_and_line() {
    assert_bad(
        "bad-empty.csv",
        &["bad-empty.csv", "line 2", "no step rows"],
    );
}

#[test]
fn a_non_numeric_cell_names_file_line_and_column() {
    assert_bad(
        "bad-non-numeric.csv",
        &[
            "bad-non-numeric.csv",
            "line 4",
            "goodput_rps",
            "not a number",
        ],
    );
}

#[test]
fn one_step_only_names_file_line_and_column() {
    assert_bad(
        "bad-one-step.csv",
        &["bad-one-step.csv", "line 2", "step", "only one step"],
    );
}

#[test]
fn a_second_step_cut_by_ctrl_c_is_named_not_called_only_one_step() {
    // One full step and one interrupted: the file holds two steps, so "only one step" misled.
    let text = std::fs::read_to_string(fixture("bad-one-step.csv")).unwrap();
    let mut lines = text.lines();
    let (header, full) = (lines.next().unwrap(), lines.next().unwrap());
    let cut = full
        .replacen("1,1,", "2,2,", 1)
        .replacen(",false,", ",true,", 1);
    assert_ne!(cut, full);
    let csv = scratch().join("cut.csv");
    std::fs::write(&csv, format!("{header}\n{full}\n{cut}\n")).unwrap();
    let (o, out) = report(&csv, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("step 2 was interrupted (cut by Ctrl-C or SIGTERM) and left out"),
        "{err}"
    );
    assert!(!err.contains("only one step"), "{err}");
    assert!(!out.exists());
    let after = scratch().join("after.csv");
    std::fs::copy(fixture("ramp/ramp.csv"), &after).unwrap();
    let o = loadgen(&[
        "compare",
        csv.to_str().unwrap(),
        after.to_str().unwrap(),
        "--out-dir",
        scratch().join("cmp").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("step 2 was interrupted"), "{err}");
}

#[test]
fn an_adaptive_floor_of_zero_is_refused_not_read_as_one() {
    let (o, out) = report(&fixture("ramp/ramp.csv"), &["--adaptive-floor", "0"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--adaptive-floor"), "{err}");
    assert!(!out.exists());
}

#[test]
fn a_bad_objective_exits_2_and_writes_nothing() {
    let (o, out) = report(&fixture("ramp/ramp.csv"), &["--slo", "p98<1s"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--slo"));
    assert!(!out.exists());
}

#[test]
fn compare_writes_table_chart_and_headline() {
    let dir = scratch();
    let out = dir.join("cmp");
    let (b, a) = (fixture("before.csv"), fixture("ramp/ramp.csv"));
    let o = loadgen(&[
        "compare",
        b.to_str().unwrap(),
        a.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for f in ["compare.md", "compare.html", "compare.svg", "compare.json"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("compare.json")).unwrap()).unwrap();
    assert_eq!(c["steps"].as_array().unwrap().len(), 10);
    assert!(c["max_goodput_ratio"].as_f64().unwrap() > 1.5);
    assert_eq!(c["n"], 40);
    roxmltree::Document::parse(&std::fs::read_to_string(out.join("compare.svg")).unwrap()).unwrap();
    let md = std::fs::read_to_string(out.join("compare.md")).unwrap();
    assert!(md.contains("![") && md.contains("(compare.svg)"));
    assert!(!std::fs::read_to_string(out.join("compare.html"))
        .unwrap()
        .contains("http"));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Maximum goodput"));
}

#[test]
fn compare_with_bad_input_exits_2_and_writes_nothing() {
    let dir = scratch();
    let out = dir.join("cmp");
    let (b, a) = (fixture("bad-one-step.csv"), fixture("ramp/ramp.csv"));
    let o = loadgen(&[
        "compare",
        b.to_str().unwrap(),
        a.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad-one-step.csv"));
    assert!(!out.exists());
}

/// Two runs at different server settings (each with its own /metrics snapshot) are two
/// configurations side by side, not one pooled curve.
#[test]
fn runs_at_different_server_settings_are_kept_apart_as_configurations() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ramp");
    let base = scratch();
    let mut csvs = Vec::new();
    for (name, permits) in [("n10", "10"), ("n40", "40")] {
        let dir = base.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(fixture.join("ramp.csv"), dir.join("ramp.csv")).unwrap();
        let prom = std::fs::read_to_string(fixture.join("server-metrics.prom")).unwrap();
        std::fs::write(
            dir.join("server-metrics.prom"),
            prom.replace(
                "analyze_capacity 10",
                &format!("analyze_capacity {permits}"),
            ),
        )
        .unwrap();
        csvs.push(dir.join("ramp.csv"));
    }
    let out = base.join("out");
    let o = loadgen(&[
        "report",
        csvs[0].to_str().unwrap(),
        csvs[1].to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let s = summary(&out);
    let configs = s["configurations"].as_array().expect("configurations");
    assert_eq!(configs.len(), 2, "{s}");
    assert_eq!(configs[0]["settings"], "MAX_CONCURRENT_ANALYSES=10");
    assert_eq!(configs[1]["settings"], "MAX_CONCURRENT_ANALYSES=40");
    assert_eq!(s["inputs"].as_array().unwrap().len(), 1, "{s}");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Configurations"), "{md}");
    // Same settings: pooled as before, no configurations.
    let out2 = base.join("out2");
    let o = loadgen(&[
        "report",
        csvs[0].to_str().unwrap(),
        csvs[0].to_str().unwrap(),
        "--out-dir",
        out2.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let s2 = summary(&out2);
    assert!(s2["configurations"].as_array().unwrap().is_empty());
    assert_eq!(s2["inputs"].as_array().unwrap().len(), 2);
    // Not pooled: the body read one CSV's steps, the pooled report twice as many.
    assert_eq!(
        s2["steps"].as_u64().unwrap(),
        2 * s["steps"].as_u64().unwrap()
    );
}

/// Issue 33 item 4: a real run at N=4 reported with each subset of its side files — the
/// snapshots `--scrape` keeps, its samples, its JSON — gives one answer: the permits bind past
/// 4 users, 2 model calls per analysis, N=13 by the input-token budget.
#[test]
fn the_answer_is_the_same_whichever_evidence_sits_beside_the_csv() {
    let sets: [(&str, &[&str]); 4] = [
        (
            "everything",
            &[
                "ramp.json",
                "scrape.csv",
                "ramp-metrics.prom",
                "ramp-metrics-start.prom",
            ],
        ),
        ("the end snapshot only", &["ramp-metrics.prom"]),
        ("scrape.csv only", &["scrape.csv"]),
        ("the JSON only", &["ramp.json"]),
    ];
    for (what, files) in sets {
        let dir = scratch();
        for f in ["ramp.csv"].iter().chain(files) {
            std::fs::copy(fixture("evidence").join(f), dir.join(f)).unwrap();
        }
        let out = dir.join("out");
        let o = loadgen(&[
            "report",
            dir.join("ramp.csv").to_str().unwrap(),
            "--out-dir",
            out.to_str().unwrap(),
            "--slo",
            "p99<10s",
        ]);
        assert!(o.status.success(), "{what}: {o:?}");
        let s = summary(&out);
        let calls = s["provider"]["inputs"]["calls_per_request"]
            .as_f64()
            .unwrap();
        // The JSON's windows leave the warm-ups out: approximate, and said so.
        let tolerance = if what == "the JSON only" { 0.05 } else { 1e-9 };
        assert!(
            (calls - 2.0).abs() <= 2.0 * tolerance,
            "{what}: {calls} calls"
        );
        assert_eq!(s["recommended"]["max_concurrent_analyses"], 13, "{what}");
        assert_eq!(s["provider"]["binding"], "input tokens", "{what}");
        let bindings: Vec<&str> = s["binding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["binding"].as_str().unwrap())
            .collect();
        assert_eq!(
            bindings,
            ["none", "none", "none", "server_permits", "server_permits"],
            "{what}"
        );
    }
}

/// Issue 33 item 9: report.md lists every budget, the binding one first, with formatted figures
/// (before: requests and output tokens only, while input tokens bound, and a raw float).
#[test]
fn the_provider_tier_lists_every_budget_the_binding_one_first() {
    let (o, out) = report(&fixture("evidence").join("ramp.csv"), &["--slo", "p99<10s"]);
    assert!(o.status.success(), "{o:?}");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let line = md
        .lines()
        .find(|l| l.starts_with("Provider tier:"))
        .expect("a provider tier line");
    assert!(
        line.starts_with("Provider tier: 400000 input tokens/min (measured) at 285 per call (measured) → N ≤ 13, binds;"),
        "{line}"
    );
    assert!(
        line.contains("2000 requests/min (measured) → N ≤ 19"),
        "{line}"
    );
    assert!(
        line.contains("80000 output tokens/min (measured) at 29.5 per call"),
        "{line}"
    );
    assert!(line.contains("2.00 model calls per analysis"), "{line}");
}

/// Issue 33 item 10: a `--rate-steps` ramp (max-in-flight 1000) is not read as 1000 users: no
/// "at 1000 users", no N=1000, and `compare` says plainly that it matches closed-loop steps.
#[test]
fn open_loop_rows_are_read_by_their_rate_not_as_users() {
    let (o, out) = report(&fixture("open-loop.csv"), &["--slo", "p99<1s"]);
    assert!(o.status.success(), "{o:?}");
    let s = summary(&out);
    assert!(
        s["max_goodput_concurrency"].is_null(),
        "{}",
        s["max_goodput_concurrency"]
    );
    assert!(s["recommended"].is_null(), "{}", s["recommended"]);
    let why = s["recommendation_withheld"].as_str().unwrap();
    assert!(
        why.contains("every step of this run is open loop (--rate: 50/s, 100/s, 200/s)"),
        "{why}"
    );
    let findings = s["findings"].to_string();
    assert!(
        findings.contains("holds up to 200/s offered (measured)"),
        "{findings}"
    );
    assert!(!findings.contains("1000"), "{findings}");
    let csv = fixture("open-loop.csv");
    let dir = scratch();
    let o = loadgen(&[
        "compare",
        csv.to_str().unwrap(),
        csv.to_str().unwrap(),
        "--out-dir",
        dir.join("cmp").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("every step is open loop (--rate: 50/s, 100/s, 200/s)"),
        "{err}"
    );
    assert!(!err.contains("only one step"), "{err}");
}
