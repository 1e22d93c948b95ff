//! The Trading API contract: quotes, history, market status, symbols; 404 and 400 as JSON.

use serde_json::Value;

use crate::support::*;

async fn get(url: &str, path: &str) -> (u16, Value) {
    status_json(reqwest::get(format!("{url}{path}")).await.unwrap()).await
}

#[tokio::test]
async fn quotes_have_two_decimal_prices_consistent_with_history() {
    let t = trading(|_| {}).await;
    let (s, q) = get(&t.url(), "/v1/quotes/aapl").await;
    assert_eq!(s, 200);
    assert_eq!(q["symbol"], "AAPL");
    let (bid, ask, last) = (
        q["bid"].as_f64().unwrap(),
        q["ask"].as_f64().unwrap(),
        q["last"].as_f64().unwrap(),
    );
    assert!(bid < last && last < ask);
    for p in [bid, ask, last] {
        assert_eq!((p * 100.0).round() / 100.0, p);
    }
    let (s, h) = get(&t.url(), "/v1/history/AAPL?days=10").await;
    assert_eq!(s, 200);
    let bars = h["bars"].as_array().unwrap();
    assert_eq!(bars.len(), 10);
    assert_eq!(h["days"], 10);
    assert_eq!(bars[9]["close"], q["last"]);
    let (_, default) = get(&t.url(), "/v1/history/AAPL").await;
    assert_eq!(default["bars"].as_array().unwrap().len(), 30);
}

#[tokio::test]
async fn market_status_and_symbol_list() {
    let t = trading(|_| {}).await;
    let (s, m) = get(&t.url(), "/v1/market/status").await;
    assert_eq!(s, 200);
    assert_eq!(m["market"], "NYSE");
    assert!(m["is_open"].is_boolean());
    let (_, list) = get(&t.url(), "/v1/symbols").await;
    assert!(list["symbols"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["symbol"] == "NVDA"));
}

#[tokio::test]
async fn unknown_symbols_routes_and_bad_parameters_are_json_errors() {
    let t = trading(|_| {}).await;
    let (s, e) = get(&t.url(), "/v1/quotes/ZZZZ").await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (404, Some("unknown_symbol"))
    );
    assert_eq!(e["error"]["message"], "unknown symbol: ZZZZ");
    let (s, e) = get(&t.url(), "/v1/history/ZZZZ").await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (404, Some("unknown_symbol"))
    );
    for days in ["0", "366", "abc", "-1"] {
        let (s, e) = get(&t.url(), &format!("/v1/history/AAPL?days={days}")).await;
        assert_eq!(s, 400, "days={days}");
        assert_eq!(e["error"]["code"], "bad_parameter");
        assert!(e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("days must be an integer from 1 to 365"));
    }
    let (s, e) = get(&t.url(), "/v2/anything").await;
    assert_eq!((s, e["error"]["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn shutdown_stops_the_server_and_frees_the_port() {
    let t = trading(|_| {}).await;
    let addr = t.addr();
    let served = reqwest::get(format!("http://{addr}/v1/market/status"))
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    t.shutdown().await;
    assert!(reqwest::get(format!("http://{addr}/v1/market/status"))
        .await
        .is_err());
    // Freed: the same address can be bound again (it would be "in use" while the listener lives).
    let again = tokio::net::TcpListener::bind(addr).await;
    assert!(again.is_ok(), "{addr} not freed: {again:?}");
}

#[test]
fn the_openapi_file_documents_every_route() {
    let spec =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/trading.yaml"))
            .unwrap();
    for path in [
        "/v1/quotes/{symbol}:",
        "/v1/history/{symbol}:",
        "/v1/market/status:",
        "/v1/symbols:",
    ] {
        assert!(
            spec.contains(path),
            "{path} missing from openapi/trading.yaml"
        );
    }
    for code in [
        "unknown_symbol",
        "bad_parameter",
        "not_found",
        "internal_error",
    ] {
        assert!(spec.contains(code), "{code}");
    }
}
