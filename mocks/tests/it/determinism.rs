//! Same seed ⇒ same bytes; different seed ⇒ different data.

use serde_json::json;

use crate::support::*;

async fn conversation_bytes(seed: u64) -> Vec<Vec<u8>> {
    let c = claude(|s| s.seed = seed).await;
    let t = trading(|s| s.seed = seed).await;
    let client = reqwest::Client::new();
    let mut out = Vec::new();
    for path in [
        "/v1/quotes/AAPL",
        "/v1/history/MSFT?days=5",
        "/v1/market/status",
    ] {
        out.push(
            client
                .get(format!("{}{path}", t.url()))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
                .to_vec(),
        );
    }
    for question in ["Compare AAPL and MSFT", "How is the market?"] {
        let r = post_messages(&client, &c.url(), &first_turn(question)).await;
        out.push(r.headers()["request-id"].as_bytes().to_vec());
        out.push(r.bytes().await.unwrap().to_vec());
    }
    let mut stream = first_turn("Compare AAPL and MSFT");
    stream["stream"] = json!(true);
    out.push(
        post_messages(&client, &c.url(), &stream)
            .await
            .bytes()
            .await
            .unwrap()
            .to_vec(),
    );
    out
}

#[tokio::test]
async fn the_same_seed_gives_the_same_bytes() {
    assert_eq!(conversation_bytes(7).await, conversation_bytes(7).await);
}

#[tokio::test]
async fn a_different_seed_gives_different_data_and_ids() {
    let (a, b) = (conversation_bytes(7).await, conversation_bytes(8).await);
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_ne!(x, y, "item {i} should depend on the seed");
    }
}

#[tokio::test]
async fn admin_reset_replays_the_same_request_ids() {
    let c = claude(|_| {}).await;
    let client = reqwest::Client::new();
    let first = post_messages(&client, &c.url(), &first_turn("AAPL"))
        .await
        .headers()["request-id"]
        .clone();
    c.reset_stats();
    let again = post_messages(&client, &c.url(), &first_turn("AAPL"))
        .await
        .headers()["request-id"]
        .clone();
    assert_eq!(first, again);
}
