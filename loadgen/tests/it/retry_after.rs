//! `--honor-retry-after`: a polite virtual user waits out Retry-After; an impolite one does not.

use crate::common;

use common::{loadgen, num};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honoring_retry_after_cuts_the_request_rate_to_what_the_server_asks() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .mount(&server)
        .await;
    let args = [
        "run",
        "-c",
        "2",
        "-d",
        "1500ms",
        "--url",
        &server.uri(),
        "-X",
        "GET",
    ];
    let impolite = loadgen(&args).await;
    let mut polite_args = args.to_vec();
    polite_args.push("--honor-retry-after");
    let polite = loadgen(&polite_args).await;
    assert_eq!((impolite.code, polite.code), (0, 0));

    let (rude, nice) = (impolite.step(), polite.step());
    // Polite: each of 2 users sends at t=0 and t=1s, so at most 2 requests each in 1.5 s.
    assert!(num(&nice, "requests") <= 4.0, "{nice}");
    assert!(num(&nice, "requests") >= 2.0, "{nice}");
    assert!(num(&rude, "requests") >= 50.0, "{rude}");
    assert!(num(&rude, "requests") >= 10.0 * num(&nice, "requests"));
    assert_eq!(num(&nice["retry_after"], "max_s"), 1.0);
    assert_eq!(num(&nice, "rejected_429"), num(&nice, "requests"));
}
