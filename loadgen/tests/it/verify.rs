//! `loadgen verify plan` as `make plan` runs it: a real ramp against a service with a pool of 4
//! workers, its report, a re-run at the recommended concurrency limit, and the verification of
//! one against the other; then a re-run that cannot match the prediction (half the users), which
//! must fail and say which number missed.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::any;
use tokio::sync::Semaphore;

use crate::common::{loadgen, out_dir, Target};

/// The `loadgen` binary with exactly `args` (no --out appended): exit code, stdout, stderr.
async fn cli(args: &[&str]) -> (i32, String, String) {
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .expect("loadgen runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// 50 ms of work behind a pool of 4: 80/s at most.
async fn pool_of_four() -> Target {
    let pool = Arc::new(Semaphore::new(4));
    Target::serve(axum::Router::new().route(
        "/",
        any(move || {
            let pool = pool.clone();
            async move {
                let _permit = pool.acquire().await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
                "ok"
            }
        }),
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recommendation_re_measured_passes_and_a_run_that_misses_fails_naming_the_number() {
    let target = pool_of_four().await;
    let url = target.url("/");
    let dir = out_dir();
    let r = loadgen(&[
        "ramp",
        "--url",
        &url,
        "--steps",
        "1,2,4,8",
        "--step-duration",
        "2s",
        "--warmup",
        "300ms",
    ])
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ramp = r.dir.join("out.csv");
    let report = dir.join("report");
    let (code, _, err) = cli(&[
        "report",
        ramp.to_str().unwrap(),
        "--out-dir",
        report.to_str().unwrap(),
        "--slo",
        "p99<1s",
        "--slo",
        "success>=99%",
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("summary.json")).unwrap())
            .unwrap();
    let n = summary["recommended"]["concurrency_limit"]
        .as_u64()
        .unwrap();
    assert_eq!(n, 4, "{summary:#}");
    let check = |users: u64| {
        let url = url.clone();
        async move {
            let r = loadgen(&[
                "run",
                "--url",
                &url,
                "-c",
                &users.to_string(),
                "-d",
                "3s",
                "--warmup",
                "300ms",
            ])
            .await;
            assert_eq!(r.code, 0, "{}", r.stderr);
            r.dir.join("out.csv")
        }
    };
    let at_n = check(n).await;
    let (code, out, err) = verify_plan(&report, &at_n).await;
    assert_eq!(code, 0, "{out}\n{err}");
    let md = std::fs::read_to_string(report.join("verify.md")).unwrap();
    assert!(md.contains("**PASS**"), "{md}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("verify.json")).unwrap())
            .unwrap();
    assert_eq!(json["failures"].as_array().unwrap().len(), 0, "{json:#}");

    // Half the users serve half the goodput: the prediction did not come true.
    let half = check(n / 2).await;
    let (code, out, err) = verify_plan(&report, &half).await;
    assert_eq!(code, 1, "{out}\n{err}");
    let md = std::fs::read_to_string(report.join("verify.md")).unwrap();
    assert!(
        md.contains("**FAIL: closed-loop goodput at N users") && md.contains("from the predicted"),
        "{md}"
    );

    // Bad input: a directory without summary.json is a usage error naming the file.
    let (code, _, err) = verify_plan(&dir, &half).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("summary.json"), "{err}");
}

/// `loadgen verify plan --report REPORT --recommended RUN`: (exit code, stdout, stderr).
async fn verify_plan(report: &std::path::Path, run: &std::path::Path) -> (i32, String, String) {
    cli(&[
        "verify",
        "plan",
        "--report",
        report.to_str().unwrap(),
        "--recommended",
        run.to_str().unwrap(),
    ])
    .await
}
