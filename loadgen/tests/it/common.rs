//! Test helpers: drive the `loadgen` binary, start small in-process targets on port 0, read its
//! CSV and JSON output.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mocks::{spawn_trading, LatencyDist, LatencySettings, MockHandle, TradingSettings};
use tokio::net::TcpListener;

/// The result of one `loadgen` invocation.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub dir: PathBuf,
}

impl Run {
    pub fn csv(&self) -> Vec<HashMap<String, String>> {
        read_csv(&self.dir.join("out.csv"))
    }
    pub fn csv_header(&self) -> String {
        std::fs::read_to_string(self.dir.join("out.csv"))
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string()
    }
    pub fn json(&self) -> serde_json::Value {
        let text =
            std::fs::read_to_string(self.dir.join("out.json")).expect("JSON summary written");
        serde_json::from_str(&text).unwrap()
    }
    /// The first step of the JSON summary.
    pub fn step(&self) -> serde_json::Value {
        self.json()["steps"][0].clone()
    }
}

static DIRS: AtomicU64 = AtomicU64::new(0);

/// A fresh output directory under the target dir.
pub fn out_dir() -> PathBuf {
    let n = DIRS.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("loadgen-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `loadgen ARGS --out DIR/out.csv --json DIR/out.json --quiet` and waits for it.
pub async fn loadgen(args: &[&str]) -> Run {
    let dir = out_dir();
    let out = dir.join("out.csv");
    let json = dir.join("out.json");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .arg("--out")
        .arg(&out)
        .arg("--json")
        .arg(&json)
        .arg("--quiet")
        .kill_on_drop(true)
        .output()
        .await
        .expect("loadgen runs");
    finish(output, dir)
}

pub fn finish(output: Output, dir: PathBuf) -> Run {
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        dir,
    };
    eprintln!(
        "loadgen exit {}\nstdout:\n{}\nstderr:\n{}",
        run.code, run.stdout, run.stderr
    );
    run
}

pub fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).expect("CSV written");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    lines
        .map(|l| {
            header
                .iter()
                .map(|h| h.to_string())
                .zip(l.split(',').map(String::from))
                .collect()
        })
        .collect()
}

pub fn num(v: &serde_json::Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is a number in {v}"))
}

/// An in-process axum target on 127.0.0.1:0, stopped when dropped.
pub struct Target {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Target {
    pub async fn serve(router: axum::Router) -> Target {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Target { addr, task }
    }

    /// A raw TCP target: `handle` gets each accepted connection and its sequence number.
    pub async fn raw<F, Fut>(handle: F) -> Target
    where
        F: Fn(tokio::net::TcpStream, u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = Arc::new(handle);
        let task = tokio::spawn(async move {
            let mut n = 0;
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(handle(stream, n));
                n += 1;
            }
        });
        Target { addr, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A port nothing listens on (bound, then released).
pub fn refused_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Reads one HTTP/1.1 request head (and a Content-Length body) from `stream`; false at EOF.
pub async fn read_request(stream: &mut tokio::net::TcpStream) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            return true;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

pub const OK_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

/// The mock Trading API with a fixed 20 ms latency; its in-process handle counts connections.
pub async fn trading() -> (MockHandle, String) {
    let mock = spawn_trading(TradingSettings {
        latency: LatencySettings {
            latency_ms: 20,
            latency_dist: LatencyDist::Fixed,
            latency_jitter: 0.0,
        },
        ..TradingSettings::default()
    })
    .await
    .expect("mock trading starts");
    let url = format!("{}/v1/market/status", mock.url());
    (mock, url)
}

/// A count column of the run's first CSV row.
pub fn column(run: &Run, key: &str) -> u64 {
    let rows = run.csv();
    rows[0][key]
        .parse()
        .unwrap_or_else(|_| panic!("{key} is a count: {rows:?}"))
}
