//! Test support: the real server in-process on 127.0.0.1:0, a scripted wiremock Claude, the
//! server's log lines captured in-process, and polling waits (no sleeps as synchronization).

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use server::{AppState, Settings};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing_subscriber::fmt::MakeWriter;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// A running analyze-server; shut down on drop (or explicitly with `shutdown`).
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    join: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Binds 127.0.0.1:0 and serves the real app with `settings`.
    pub async fn start(settings: Settings) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = AppState::new(settings).expect("state");
        let (tx, rx) = oneshot::channel::<()>();
        let join = tokio::spawn(server::serve(listener, state, async move {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            stop: Some(tx),
            join: Some(join),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// POST /analyze with a JSON body.
    pub async fn analyze(&self, client: &reqwest::Client, body: Value) -> reqwest::Response {
        client
            .post(format!("{}/analyze", self.url()))
            .json(&body)
            .send()
            .await
            .expect("request sent")
    }

    /// GET /health as JSON.
    pub async fn health(&self) -> Value {
        reqwest::get(format!("{}/health", self.url()))
            .await
            .expect("health")
            .json()
            .await
            .expect("json")
    }

    /// Waits until `/health` reports `field` (e.g. `in_flight`, `queue_depth`) equal to `want`.
    pub async fn wait_for_health(&self, field: &str, want: usize) {
        wait_until(&format!("/health {field} == {want}"), || async {
            self.health().await[field] == want
        })
        .await;
    }

    /// Sends the shutdown signal (like SIGTERM) without waiting; `shutdown` then waits.
    pub fn signal_shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    /// Signals shutdown and waits for `serve` to return (re-raising its panic).
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.join
            .take()
            .expect("join")
            .await
            .expect("server task panicked")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Polls `check` every 5 ms until it holds; panics with `what` after 10 s.
pub async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Settings for a server in front of `trading` and `claude`, with small test-friendly knobs.
pub fn settings(trading: &str, claude: &str) -> Settings {
    let mut s = Settings::for_upstreams(trading, claude);
    s.claude.retry_base = Duration::from_millis(5);
    s.claude.retry_max = Duration::from_millis(20);
    s.admission.rate_limit_per_minute = 0;
    s
}

/// A Messages API body.
pub fn claude_reply(stop_reason: &str, content: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "msg_test", "type": "message", "role": "assistant", "model": "claude-sonnet-4-6",
        "content": content, "stop_reason": stop_reason, "stop_sequence": null,
        "usage": {"input_tokens": 100, "output_tokens": 20}
    }))
}

/// Wiremock Claude: asks for `get_quote(AAPL)` on the first turn, then writes an analysis that
/// echoes the tool result text it was sent.
pub struct ScriptedClaude;

impl Respond for ScriptedClaude {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let last = &body["messages"]
            .as_array()
            .and_then(|m| m.last().cloned())
            .unwrap_or(Value::Null);
        let results: Vec<String> = last["content"]
            .as_array()
            .map(|blocks| {
                blocks
                    .iter()
                    .filter(|b| b["type"] == "tool_result")
                    .map(|b| b["content"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default();
        if results.is_empty() {
            claude_reply(
                "tool_use",
                json!([{"type": "text", "text": "Let me check."},
                       {"type": "tool_use", "id": "toolu_01", "name": "get_quote", "input": {"symbol": "AAPL"}}]),
            )
        } else {
            claude_reply(
                "end_turn",
                json!([{"type": "text", "text": format!("Data: {}", results.join(" | "))}]),
            )
        }
    }
}

/// The quote the wiremock Trading API serves for AAPL.
pub const AAPL_QUOTE: &str = r#"{"symbol":"AAPL","last":187.32,"bid":187.31,"ask":187.33}"#;

/// Mock Trading API and mock Claude in-process; `claude_latency_ms` makes each model call take time.
pub async fn mocks(claude_latency_ms: u64) -> (mocks::MockHandle, mocks::MockHandle) {
    mocks_with(|claude| claude.latency.latency_ms = claude_latency_ms).await
}

/// Mock Trading API and mock Claude in-process, with mock Claude's settings changed by `configure`.
pub async fn mocks_with(
    configure: impl FnOnce(&mut mocks::ClaudeSettings),
) -> (mocks::MockHandle, mocks::MockHandle) {
    let trading = mocks::spawn_trading(mocks::TradingSettings::default())
        .await
        .expect("mock trading");
    let mut claude_settings = mocks::ClaudeSettings::default();
    configure(&mut claude_settings);
    let claude = mocks::spawn_claude(claude_settings)
        .await
        .expect("mock claude");
    (trading, claude)
}

/// The raw JSON number text of `"last"` in a Trading API quote body.
pub fn last_price_text(quote_json: &str) -> String {
    let start = quote_json.find("\"last\":").expect("quote has last") + "\"last\":".len();
    quote_json[start..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '-')
        .collect()
}

/// Wiremock Trading API serving [`AAPL_QUOTE`] at `/v1/quotes/AAPL`.
pub async fn trading_with_aapl() -> MockServer {
    let trading = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/quotes/AAPL"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(AAPL_QUOTE, "application/json"))
        .mount(&trading)
        .await;
    trading
}

/// The server's log lines, as JSON (`LOG_FORMAT=json`), captured in-process for the whole test
/// binary; each test reads the lines of its own request ids only.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// The test binary's log capture: one global JSON subscriber at `info`, installed on first
    /// use, whose lines every test filters by its own request id. A global one, not a
    /// per-thread `set_default`: tracing caches each callsite's interest process-wide, and
    /// with scoped subscribers coming and going on parallel test threads a callsite first hit
    /// while none was interested stayed silent for a capturing thread (seen once under load).
    /// The second value is kept for the callers' `let (logs, _guard)`; it holds nothing.
    pub fn start() -> (CapturedLogs, ()) {
        static LOGS: std::sync::OnceLock<CapturedLogs> = std::sync::OnceLock::new();
        let logs = LOGS.get_or_init(|| {
            let logs = CapturedLogs::default();
            let subscriber = tracing_subscriber::fmt()
                .json()
                .with_max_level(tracing::Level::INFO)
                .with_writer(logs.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global subscriber in the server's test binary");
            logs
        });
        (logs.clone(), ())
    }

    /// Every captured line that names `request_id` (as a field or in its span).
    pub fn lines_with(&self, request_id: &str) -> Vec<String> {
        let bytes = self.0.lock().expect("log buffer").clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|line| line.contains(&format!("\"request_id\":\"{request_id}\"")))
            .map(str::to_string)
            .collect()
    }
}

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;

    fn make_writer(&'a self) -> CapturedLogs {
        self.clone()
    }
}
