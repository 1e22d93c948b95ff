//! Scenario files (`--scenario`): `[[request]]` tables in TOML, or `{"request": [...]}` in JSON.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::{parse, scratch, Parsed, URL};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Runs a plan over a scenario file holding `text`, named with `ext`.
fn with_scenario(text: &str, ext: &str) -> Parsed {
    let path = scratch(&format!("scenario.{ext}"));
    std::fs::write(&path, text).expect("write scenario");
    let path = path.to_str().expect("utf-8 temp path").to_string();
    let parsed = parse(&["run", "-c", "1", "--url", URL, "--scenario", &path]);
    let _ = std::fs::remove_file(&path);
    parsed
}

/// One request of a generated valid scenario.
#[derive(Debug, Clone)]
struct Req {
    name: String,
    method: Option<String>,
    path: String,
    weight: Option<u32>,
    headers: BTreeMap<String, String>,
    body: Option<String>,
}

impl Req {
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        if let Some(v) = &self.method {
            m.insert("method".into(), json!(v));
        }
        m.insert("path".into(), json!(self.path));
        if let Some(v) = self.weight {
            m.insert("weight".into(), json!(v));
        }
        if !self.headers.is_empty() {
            m.insert("headers".into(), json!(self.headers));
        }
        if let Some(v) = &self.body {
            m.insert("body".into(), json!(v));
        }
        Value::Object(m)
    }
}

/// Requests with names unique within the list (a name used twice is refused: its own test).
fn requests(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Req>> {
    prop::collection::vec(request(), len).prop_map(|mut rs| {
        for (i, r) in rs.iter_mut().enumerate() {
            r.name = format!("{} {i}", r.name);
        }
        rs
    })
}

fn request() -> impl Strategy<Value = Req> {
    (
        "[a-z][a-z ]{0,9}",
        proptest::option::of(prop::sample::select(vec![
            "GET", "post", "Put", "DELETE", "patch",
        ])),
        prop_oneof![
            "/[a-z0-9/._-]{0,12}",
            "[a-z][a-z0-9/]{0,8}",
            Just("http://127.0.0.1:9200/quote?s=AAPL".to_string()),
        ],
        proptest::option::of(0u32..100),
        prop::collection::btree_map(
            "[a-z0-9!#$%&'*+.^_`|~-]{1,12}",
            "[!-~]([ -~]{0,16}[!-~])?",
            0..3,
        ),
        proptest::option::of("[ -~]{0,20}"),
    )
        .prop_map(|(name, method, path, weight, headers, body)| Req {
            name,
            method: method.map(String::from),
            path,
            weight,
            headers,
            body,
        })
}

/// A JSON tree near the scenario schema: the real keys holding any type, nested.
fn near_scenario() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u32>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "request", "name", "method", "path", "weight", "headers", "body", "x",
                    ]),
                    inner,
                ),
                0..5,
            )
            .prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

/// The checks every accepted scenario passes, whatever it was written from.
fn assert_sane(plan: &loadgen::plan::Plan) {
    assert!(!plan.requests.is_empty());
    for r in &plan.requests {
        assert!(r.weight > 0, "{r:?}");
        assert!(r.headers.contains_key(http::header::HOST), "{r:?}");
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_scenario_file_is_requests_or_an_error_naming_the_flag(
        text in prop_oneof![
            ".{0,200}",
            near_scenario().prop_map(|v| v.to_string()),
            near_scenario().prop_map(|v| toml::to_string(&v).unwrap_or_else(|_| v.to_string())),
            requests(0..4)
                .prop_map(|rs| json!({"request": rs.iter().map(Req::to_json).collect::<Vec<_>>()}).to_string()),
        ],
        ext in prop::sample::select(vec!["toml", "json", "txt"]),
    ) {
        match with_scenario(&text, ext) {
            Parsed::Plan(plan) => assert_sane(&plan),
            Parsed::Config(e) => {
                prop_assert_eq!(&e.flag, "--scenario");
                prop_assert!(!e.message.is_empty());
            }
            Parsed::Usage(e) => prop_assert!(false, "{e}"),
        }
    }

    #[test]
    fn valid_scenarios_are_the_requests_they_list(
        requests in requests(1..5),
        toml_format in any::<bool>(),
    ) {
        let doc = json!({"request": requests.iter().map(Req::to_json).collect::<Vec<_>>()});
        let (text, ext) = if toml_format {
            (toml::to_string(&doc).expect("a scenario is TOML"), "toml")
        } else {
            (doc.to_string(), "json")
        };
        let sent: Vec<&Req> = requests.iter().filter(|r| r.weight != Some(0)).collect();
        match with_scenario(&text, ext) {
            Parsed::Plan(plan) => {
                prop_assert_eq!(plan.requests.len(), sent.len(), "{}", text);
                for (want, got) in sent.iter().zip(&plan.requests) {
                    prop_assert_eq!(&got.name, &want.name);
                    let method = want.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
                    prop_assert_eq!(got.method.as_str(), method.as_str());
                    prop_assert_eq!(got.weight, want.weight.unwrap_or(1));
                    let p = want.path.as_str();
                    let path = if p.starts_with("http://") {
                        p.trim_start_matches("http://127.0.0.1:9200").to_string()
                    } else if p.starts_with('/') {
                        p.to_string()
                    } else {
                        format!("/{p}")
                    };
                    prop_assert_eq!(got.path_uri.to_string(), path);
                    for (k, v) in &want.headers {
                        prop_assert_eq!(got.headers.get(k.as_str()).map(|h| h.as_bytes()), Some(v.as_bytes()));
                    }
                    let body = want.body.clone().unwrap_or_default();
                    prop_assert_eq!(&got.body[..], body.as_bytes());
                    if !body.is_empty() && !want.headers.contains_key("content-type") {
                        prop_assert_eq!(got.headers.get("content-type").map(|h| h.as_bytes()), Some(&b"application/json"[..]));
                    }
                }
            }
            Parsed::Config(e) => {
                prop_assert!(sent.is_empty(), "{text}: {e}");
                prop_assert!(e.message.contains("weight 0"), "{e}");
            }
            Parsed::Usage(e) => prop_assert!(false, "{e}"),
        }
    }
}

#[test]
fn a_header_key_with_a_colon_is_refused_not_split() {
    // Joined as "a:b: c" and split at the first colon, this used to send header `a: b: c`.
    let text = r#"{"request": [{"name": "x", "path": "/", "headers": {"a:b": "c"}}]}"#;
    let e = with_scenario(text, "json").config_error();
    assert_eq!(e.flag, "--scenario");
    assert!(e.message.contains("invalid header name in 'a:b: c'"), "{e}");
}

#[test]
fn weights_that_overflow_the_weighted_choice_are_refused() {
    // Cumulative weights are u32: these used to overflow when the run started.
    let text =
        "[[request]]\nname = \"a\"\npath = \"/\"\nweight = 4294967295\n\n[[request]]\nname = \"b\"\npath = \"/\"\nweight = 1\n";
    let e = with_scenario(text, "toml").config_error();
    assert_eq!(e.flag, "--scenario");
    assert!(e.message.contains("weights sum to 4294967296"), "{e}");
    let text =
        "[[request]]\nname = \"a\"\npath = \"/\"\nweight = 4294967294\n\n[[request]]\nname = \"b\"\npath = \"/\"\nweight = 1\n";
    assert_eq!(with_scenario(text, "toml").plan().requests.len(), 2);
}
