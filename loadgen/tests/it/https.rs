//! https targets: an in-process TLS server whose CA and certificate are made at test time
//! (rcgen). Trusted through `--cacert`, refused without it, accepted with `--insecure`; ALPN
//! picks HTTP/2 with `--http2`; the handshake is timed in `connect_p50_ms`/`connect_p99_ms`.

use crate::common;

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use common::{loadgen, num};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;

/// A TLS target on 127.0.0.1:0 and the PEM of the CA that signed its certificate.
struct TlsTarget {
    port: u16,
    ca_pem: String,
    h2_requests: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsTarget {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn tls_target() -> TlsTarget {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let h2_requests = Arc::new(AtomicU64::new(0));
    let h2 = h2_requests.clone();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let h2 = h2.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    if req.version() == hyper::Version::HTTP_2 {
                        h2.fetch_add(1, Ordering::SeqCst);
                    }
                    async {
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("ok"))))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    TlsTarget {
        port,
        ca_pem: ca.pem(),
        h2_requests,
        task,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_the_ca_given_by_cacert_is_served_and_the_handshake_timed() {
    let t = tls_target().await;
    let dir = common::out_dir();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &t.ca_pem).unwrap();
    let url = format!("https://localhost:{}/", t.port);
    let run = loadgen(&[
        "run",
        "-c",
        "2",
        "-d",
        "1s",
        "-X",
        "GET",
        "--cacert",
        ca.to_str().unwrap(),
        &url,
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let step = run.step();
    assert!(num(&step, "ok") > 10.0, "{step}");
    assert_eq!(num(&step, "ok"), num(&step, "requests"));
    let row = &run.csv()[0];
    let connect_p50: f64 = row["connect_p50_ms"].parse().expect("handshake timed");
    assert!(connect_p50 > 0.0);
    assert_eq!(row["connections_opened"], "2", "keep-alive over TLS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_issuer_is_refused_before_the_run_and_insecure_accepts_it() {
    let t = tls_target().await;
    let url = format!("https://127.0.0.1:{}/", t.port);
    let refused = loadgen(&["run", "-c", "1", "-d", "300ms", "-X", "GET", &url]).await;
    assert_eq!(refused.code, 3, "unreachable: certificate not trusted");
    assert!(
        refused.stderr.contains("certificate") || refused.stderr.contains("Issuer"),
        "{}",
        refused.stderr
    );
    let accepted = loadgen(&[
        "run",
        "-c",
        "1",
        "-d",
        "300ms",
        "-X",
        "GET",
        "--insecure",
        &url,
    ])
    .await;
    assert_eq!(accepted.code, 0, "{}", accepted.stderr);
    assert!(num(&accepted.step(), "ok") > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_over_https_is_negotiated_by_alpn() {
    let t = tls_target().await;
    let url = format!("https://127.0.0.1:{}/", t.port);
    let run = loadgen(&[
        "run",
        "-c",
        "2",
        "-d",
        "500ms",
        "-X",
        "GET",
        "--insecure",
        "--http2",
        &url,
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let ok = num(&run.step(), "ok");
    assert!(ok > 0.0);
    assert!(
        t.h2_requests.load(Ordering::SeqCst) as f64 >= ok,
        "every request arrived over HTTP/2"
    );
}

#[tokio::test]
async fn a_cacert_that_is_not_pem_is_a_usage_error() {
    let dir = common::out_dir();
    let bad = dir.join("bad.pem");
    std::fs::write(&bad, "not a certificate").unwrap();
    let run = loadgen(&[
        "run",
        "-c",
        "1",
        "-d",
        "100ms",
        "--cacert",
        bad.to_str().unwrap(),
        "https://127.0.0.1:1/",
    ])
    .await;
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--cacert"), "{}", run.stderr);
}
