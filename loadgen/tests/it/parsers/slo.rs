//! SLO expressions (`--slo`): `METRIC OP VALUE` with units.

use loadgen::slo::{ExtraLatency, LatencyFigure, Metric, Objective, Op};
use proptest::prelude::*;

use super::{parse, Parsed, URL};

/// Every metric name the gate knows, with what it measures and how its value is read.
fn metrics() -> Vec<(&'static str, Metric)> {
    use ExtraLatency::*;
    use LatencyFigure::*;
    vec![
        ("p50", Metric::Latency(P50)),
        ("median", Metric::Latency(P50)),
        ("p90", Metric::Latency(P90)),
        ("p95", Metric::Latency(P95)),
        ("p99", Metric::Latency(P99)),
        ("p999", Metric::Latency(P999)),
        ("p99.9", Metric::Latency(P999)),
        ("max", Metric::Latency(Max)),
        ("mean", Metric::Latency(Mean)),
        ("success", Metric::Success),
        ("success_rate", Metric::Success),
        ("errors", Metric::Errors),
        ("error_rate", Metric::Errors),
        ("goodput", Metric::Goodput),
        ("goodput_rps", Metric::Goodput),
        ("throughput", Metric::Throughput),
        ("throughput_rps", Metric::Throughput),
        ("rps", Metric::Throughput),
        ("all_p50", Metric::Column(AllP50)),
        ("all_p99_ms", Metric::Column(AllP99)),
        ("rejected_p50", Metric::Column(RejectedP50)),
        ("rejected_p99_ms", Metric::Column(RejectedP99)),
        ("connect_p50_ms", Metric::Column(ConnectP50)),
        ("connect_p99", Metric::Column(ConnectP99)),
    ]
}

const OPS: [(&str, Op); 4] = [("<", Op::Lt), ("<=", Op::Le), (">", Op::Gt), (">=", Op::Ge)];

/// Near-valid expressions: known and unknown names, every operator and some that are not,
/// numbers from 0 to past f64 (and NaN, inf, negatives), every unit and some that are not.
fn slo_text() -> impl Strategy<Value = String> {
    let names: Vec<&str> = metrics()
        .into_iter()
        .map(|(n, _)| n)
        .chain(["p98", "", "P99", "x"])
        .collect();
    let ops = vec!["<", "<=", ">", ">=", "=", "=<", "<<", "><", ">=="];
    let numbers = prop_oneof![
        any::<f64>().prop_map(|f| f.to_string()),
        (0u32..10_000).prop_map(|n| n.to_string()),
        prop::sample::select(vec![
            "1e308", "1e400", "NaN", "inf", "-1", "-0", "", ".", "1e-400"
        ])
        .prop_map(String::from),
    ];
    let units = vec![
        "", "s", "ms", "us", "µs", "%", "/s", "rps", "x", "sms", "%%",
    ];
    prop_oneof![
        ".{0,24}",
        (
            prop::sample::select(names),
            " {0,2}",
            prop::sample::select(ops),
            " {0,2}",
            numbers,
            prop::sample::select(units),
        )
            .prop_map(|(n, a, o, b, v, u)| format!("{n}{a}{o}{b}{v}{u}")),
    ]
}

/// Valid expressions of every metric, in the unit its kind reads.
fn valid_slo() -> impl Strategy<Value = String> {
    (
        prop::sample::select(metrics()),
        prop::sample::select(OPS.to_vec()),
        0u32..10_000,
        prop::sample::select(vec!["ms", "s", "us", ""]),
    )
        .prop_map(|((name, metric), (op, _), n, unit)| match metric {
            Metric::Latency(_) | Metric::Column(_) => format!("{name}{op}{n}{unit}"),
            Metric::Success | Metric::Errors => format!("{name}{op}{}%", n % 101),
            Metric::Goodput | Metric::Throughput => format!("{name}{op}{n}/s"),
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_slo_is_an_objective_with_a_finite_threshold_or_an_error_quoting_it(text in slo_text()) {
        match Objective::parse(&text) {
            Ok(o) => {
                prop_assert_eq!(&o.text, &text);
                prop_assert!(o.threshold.is_finite() && o.threshold >= 0.0, "{text:?}: {o:?}");
                if matches!(o.metric, Metric::Success | Metric::Errors) {
                    prop_assert!(o.threshold <= 1.0, "{text:?}: {o:?}");
                }
            }
            Err(e) => {
                prop_assert_eq!(&e.text, &text);
                prop_assert!(e.to_string().contains(&format!("'{text}'")), "{e}");
                // The command line refuses it as a usage error naming the flag.
                let arg = format!("--slo={text}");
                match parse(&["run", "-c", "1", arg.as_str(), URL]) {
                    Parsed::Usage(u) => prop_assert!(u.to_string().contains("--slo"), "{u}"),
                    other => prop_assert!(false, "{text:?}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn latency_objectives_read_their_unit(
        (name, metric) in prop::sample::select(metrics()).prop_filter("latency", |(_, m)| matches!(m, Metric::Latency(_) | Metric::Column(_))),
        (op_text, op) in prop::sample::select(OPS.to_vec()),
        n in 0u32..100_000,
        (unit, factor) in prop::sample::select(vec![("ms", 1.0), ("s", 1000.0), ("us", 0.001), ("µs", 0.001), ("", 1.0)]),
    ) {
        let o = Objective::parse(&format!("{name}{op_text}{n}{unit}")).unwrap();
        prop_assert_eq!((o.metric, o.op, o.threshold), (metric, op, f64::from(n) * factor));
    }

    #[test]
    fn fraction_objectives_read_percentages_and_fractions(
        (name, metric) in prop::sample::select(metrics()).prop_filter("fraction", |(_, m)| matches!(m, Metric::Success | Metric::Errors)),
        (op_text, op) in prop::sample::select(OPS.to_vec()),
        percent in 0u32..=100,
        fraction in 0.0f64..=1.0,
    ) {
        let o = Objective::parse(&format!("{name}{op_text}{percent}%")).unwrap();
        prop_assert_eq!((o.metric, o.op, o.threshold), (metric, op, f64::from(percent) / 100.0));
        let o = Objective::parse(&format!("{name}{op_text}{fraction}")).unwrap();
        prop_assert_eq!(o.threshold, fraction);
    }

    #[test]
    fn rate_objectives_read_per_second(
        (name, metric) in prop::sample::select(metrics()).prop_filter("rate", |(_, m)| matches!(m, Metric::Goodput | Metric::Throughput)),
        (op_text, op) in prop::sample::select(OPS.to_vec()),
        rate in 0.0f64..1e9,
        unit in prop::sample::select(vec!["/s", "rps", ""]),
    ) {
        let o = Objective::parse(&format!("{name}{op_text}{rate}{unit}")).unwrap();
        prop_assert_eq!((o.metric, o.op, o.threshold), (metric, op, rate));
    }

    #[test]
    fn spaces_and_metric_case_do_not_change_an_objective(
        text in valid_slo(),
        at in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
    ) {
        let o = Objective::parse(&text).unwrap();
        let mut spaced: Vec<char> = text.chars().collect();
        for i in at {
            let i = i.index(spaced.len() + 1);
            spaced.insert(i, ' ');
        }
        let spaced: String = spaced.into_iter().collect();
        let op = spaced.find(['<', '>']).unwrap();
        let shouted = format!("{}{}", spaced[..op].to_ascii_uppercase(), &spaced[op..]);
        let again = Objective::parse(&shouted).unwrap();
        prop_assert_eq!((again.metric, again.op, again.threshold), (o.metric, o.op, o.threshold));
    }
}

#[test]
fn a_latency_threshold_that_overflows_in_milliseconds_is_refused() {
    // 1e308 s is a finite number of seconds but not of milliseconds: it used to become an
    // infinite threshold that every step passes.
    let e = Objective::parse("p99<1e308s").unwrap_err();
    assert_eq!(e.text, "p99<1e308s");
    assert!(e.reason.contains("expected a duration"), "{e}");
    assert_eq!(Objective::parse("p99<1e300s").unwrap().threshold, 1e303);
}
