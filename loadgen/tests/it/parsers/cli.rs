//! Flags parsed from text: durations, rates, step lists, `-H`, `--instance`, `--start-at`.

use std::time::{Duration, SystemTime};

use clap::Parser;
use http::HeaderName;
use loadgen::cli::Cli;
use loadgen::engine::pacer::send_time;
use loadgen::engine::timeline::Timeline;
use loadgen::plan::{Instance, Load, Plan, MAX_DURATION, MAX_RATE, MAX_STEPS};
use proptest::prelude::*;
use tokio::time::Instant;

use super::{parse, Parsed, URL};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// What the engine does with a plan before the first request: lay its steps out on the clock,
/// put the last deadline after them, and pace the first sends of every open-loop step. Any plan
/// that validates must survive it.
fn assert_runnable(plan: &Plan) {
    let start = Instant::now();
    let timeline = Timeline::new(start, &plan.steps, plan.warmup, plan.step_duration);
    let deadline = plan
        .timeout
        .checked_mul(2)
        .and_then(|t| timeline.end().checked_add(t + Duration::from_secs(1)));
    assert!(deadline.is_some(), "no last deadline for {plan:?}");
    for w in &timeline.windows {
        if let Load::Open { rate, arrivals, .. } = w.load {
            let mut schedule = arrivals.schedule(rate, 42);
            let sends: Vec<_> = (0..4)
                .map_while(|_| send_time(w.start, w.end, schedule.next_offset()))
                .collect();
            if arrivals == loadgen::arrivals::Arrivals::Constant {
                assert_eq!(sends.first(), Some(&w.start));
            }
            assert!(sends.windows(2).all(|p| p[0] < p[1] && p[1] < w.end));
        }
    }
}

/// Duration text: humantime's units on numbers from 0 to past `u64`, pairs, and noise.
fn duration_text() -> impl Strategy<Value = String> {
    let unit = prop::sample::select(vec![
        "ns", "us", "ms", "s", "sec", "m", "min", "h", "hr", "d", "days", "w", "M", "y", "years",
        "", " s", "S", "x",
    ]);
    prop_oneof![
        (any::<u64>(), unit.clone()).prop_map(|(n, u)| format!("{n}{u}")),
        (0u64..1000, unit.clone()).prop_map(|(n, u)| format!("{n}{u}")),
        (0u64..100_000, unit.clone(), 0u64..1000, unit)
            .prop_map(|(a, u, b, v)| format!("{a}{u} {b}{v}")),
        "[0-9a-z .-]{0,16}",
        ".{0,16}",
    ]
}

/// A duration and its text in one unit.
fn duration_in_unit() -> impl Strategy<Value = (Duration, String)> {
    (0u64..100_000, 0usize..4).prop_map(|(n, unit)| match unit {
        0 => (Duration::from_millis(n), format!("{n}ms")),
        1 => (Duration::from_secs(n), format!("{n}s")),
        2 => (Duration::from_secs(n * 60), format!("{n}m")),
        _ => (Duration::from_secs(n * 3600), format!("{n}h")),
    })
}

/// Rate text: any float as Rust prints it, subnormal and huge ones, and noise.
fn rate_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<f64>().prop_map(|f| f.to_string()),
        (1u32..100_000).prop_map(|n| n.to_string()),
        prop::sample::select(vec![
            "1e-320", "5e-324", "1e-300", "1e300", "inf", "NaN", "-0", "0"
        ])
        .prop_map(String::from),
        "[0-9.eE+-]{0,8}",
        ".{0,8}",
    ]
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,16}"
}

fn header_value() -> impl Strategy<Value = String> {
    "[!-~]([ -~]{0,20}[!-~])?"
}

/// The default ramp's levels between its ends: 1, 2, 5, tens up to 50, then 1-2-5 by decades.
fn in_series(x: u32) -> bool {
    if [1, 2, 5, 10, 20, 30, 40, 50].contains(&x) {
        return true;
    }
    let mut decade = 100u64;
    while decade <= u64::from(x) {
        if [decade, 2 * decade, 5 * decade].contains(&u64::from(x)) {
            return true;
        }
        decade *= 10;
    }
    false
}

/// Levels of `--from from --to to --step n`, `to` included (counting stops past `MAX_STEPS`).
fn linear_count(from: u32, to: u32, n: u32) -> u64 {
    // Counted one by one, not with the formula the code uses.
    let (mut level, mut count) = (u64::from(from), 1);
    while level < u64::from(to) && count <= MAX_STEPS {
        level += u64::from(n);
        count += 1;
    }
    count
}

fn common_of(cli: &Cli) -> &loadgen::cli::CommonArgs {
    cli.command.common().expect("run carries the common flags")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_duration_is_a_plan_or_an_error_naming_the_flag(text in duration_text()) {
        let arg = format!("--duration={text}");
        match (humantime::parse_duration(&text), parse(&["run", "-c", "1", &arg, "--url", URL])) {
            (Ok(d), Parsed::Plan(plan)) => {
                prop_assert!(!d.is_zero() && d <= MAX_DURATION, "{text:?} accepted as {d:?}");
                prop_assert_eq!(plan.step_duration, d);
                assert_runnable(&plan);
            }
            (Ok(d), Parsed::Config(e)) => {
                prop_assert!(d.is_zero() || d > MAX_DURATION, "{text:?} ({d:?}) refused: {e}");
                prop_assert_eq!(&e.flag, "--step-duration/--duration");
            }
            (Err(_), Parsed::Usage(e)) => {
                prop_assert!(e.to_string().contains("--duration"), "{e}");
            }
            (expected, got) => {
                prop_assert!(false, "{text:?}: humantime says {expected:?}, loadgen {got:?}");
            }
        }
    }

    #[test]
    fn formatted_durations_parse_back_to_themselves(
        secs in 0..=MAX_DURATION.as_secs(),
        nanos in 0u32..1_000_000_000,
    ) {
        let d = Duration::new(secs, nanos).min(MAX_DURATION);
        let text = humantime::format_duration(d).to_string();
        let warmup = format!("--warmup={text}");
        let plan = parse(&["run", "-c", "1", &warmup, "--url", URL]).plan();
        prop_assert_eq!(plan.warmup, d, "{}", text);
    }

    #[test]
    fn durations_in_one_unit_are_that_many_units((d, text) in duration_in_unit()) {
        let arg = format!("--timeout={text}");
        match parse(&["run", "-c", "1", &arg, "--url", URL]) {
            Parsed::Plan(plan) => prop_assert_eq!(plan.timeout, d),
            Parsed::Config(e) => {
                prop_assert!(d.is_zero() || d > MAX_DURATION, "{text}: {e}");
                prop_assert_eq!(&e.flag, "--timeout");
            }
            Parsed::Usage(e) => prop_assert!(false, "{text}: {e}"),
        }
    }

    #[test]
    fn any_rate_is_an_open_step_at_that_rate_or_an_error(text in rate_text()) {
        let arg = format!("--rate={text}");
        match (text.parse::<f64>(), parse(&["run", &arg, "--url", URL])) {
            (Ok(r), Parsed::Plan(plan)) => {
                prop_assert!(r.is_finite() && r > 0.0 && r <= MAX_RATE, "{text:?} accepted");
                prop_assert_eq!(&plan.steps, &vec![Load::Open { rate: r, max_in_flight: 1000, arrivals: Default::default() }]);
                assert_runnable(&plan);
            }
            (Ok(r), Parsed::Config(e)) => {
                prop_assert_eq!(&e.flag, "--rate");
                if r.is_finite() && r > MAX_RATE {
                    prop_assert!(e.message.contains("above"), "{e}");
                } else {
                    prop_assert!(!(r.is_finite() && r > 0.0), "{text:?} refused: {e}");
                    prop_assert!(e.message.contains("positive"), "{e}");
                }
            }
            (Err(_), Parsed::Usage(e)) => prop_assert!(e.to_string().contains("--rate"), "{e}"),
            (expected, got) => prop_assert!(false, "{text:?}: {expected:?} vs {got:?}"),
        }
    }

    #[test]
    fn rate_steps_are_the_rates_given_or_an_error(rates in prop::collection::vec(rate_text(), 1..6)) {
        let list = rates.join(",");
        let arg = format!("--rate-steps={list}");
        let expected: Result<Vec<f64>, _> = list.split(',').map(str::parse::<f64>).collect();
        match (expected, parse(&["ramp", &arg, "--url", URL])) {
            (Ok(rs), Parsed::Plan(plan)) => {
                prop_assert!(rs.iter().all(|r| r.is_finite() && *r > 0.0 && *r <= MAX_RATE), "{list:?} accepted");
                let got: Vec<f64> = plan.steps.iter().map(Load::level).collect();
                prop_assert_eq!(got, rs);
                assert_runnable(&plan);
            }
            (Ok(rs), Parsed::Config(e)) => {
                prop_assert!(rs.iter().any(|r| !(r.is_finite() && *r > 0.0 && *r <= MAX_RATE)), "{list:?}: {e}");
                prop_assert_eq!(&e.flag, "--rate-steps");
            }
            (Err(_), Parsed::Usage(e)) => {
                prop_assert!(e.to_string().contains("--rate-steps"), "{e}");
            }
            (expected, got) => prop_assert!(false, "{list:?}: {expected:?} vs {got:?}"),
        }
    }

    #[test]
    fn explicit_steps_are_the_concurrencies_given(steps in prop::collection::vec(0u32..2000, 1..20)) {
        let list: Vec<String> = steps.iter().map(u32::to_string).collect();
        let arg = format!("--steps={}", list.join(","));
        match parse(&["ramp", &arg, "--url", URL]) {
            Parsed::Plan(plan) => {
                prop_assert!(!steps.contains(&0));
                let want: Vec<Load> =
                    steps.iter().map(|&c| Load::Closed { concurrency: c }).collect();
                prop_assert_eq!(plan.steps, want);
            }
            Parsed::Config(e) => {
                prop_assert!(steps.contains(&0), "{e}");
                prop_assert_eq!(&e.flag, "--steps");
            }
            Parsed::Usage(e) => prop_assert!(false, "{e}"),
        }
    }

    #[test]
    fn ramps_start_at_from_climb_and_end_at_to(
        from in prop_oneof![0u32..60, any::<u32>()],
        to in prop_oneof![0u32..600, any::<u32>()],
        step in prop_oneof![Just(None), (0u32..40).prop_map(Some), any::<u32>().prop_map(Some)],
    ) {
        let mut args = vec![
            "ramp".to_string(), format!("--from={from}"), format!("--to={to}"), "--url".into(),
            URL.into(),
        ];
        if let Some(n) = step {
            args.push(format!("--step={n}"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match parse(&args) {
            Parsed::Plan(plan) => {
                let levels: Vec<u32> = plan.steps.iter().map(|l| l.level() as u32).collect();
                prop_assert_eq!(levels.first(), Some(&from));
                prop_assert_eq!(levels.last(), Some(&to));
                prop_assert!(levels.windows(2).all(|p| p[0] < p[1]), "{levels:?}");
                prop_assert!(levels.len() as u64 <= MAX_STEPS);
                match step {
                    Some(n) => {
                        let gaps: Vec<u32> = levels.windows(2).map(|p| p[1] - p[0]).collect();
                        prop_assert!(gaps.iter().all(|&g| g <= n), "{gaps:?} by {n}");
                        prop_assert!(gaps.iter().rev().skip(1).all(|&g| g == n), "{gaps:?} by {n}");
                    }
                    None => {
                        let inner = &levels[1..levels.len().max(2) - 1];
                        prop_assert!(inner.iter().all(|&x| in_series(x)), "{levels:?}");
                    }
                }
            }
            Parsed::Config(e) => {
                let want = if from == 0 {
                    "--from"
                } else if to < from {
                    "--to"
                } else {
                    "--step"
                };
                prop_assert_eq!(&e.flag, want, "{}", e);
                if want == "--step" {
                    let n = step.expect("only --step can be refused here");
                    prop_assert!(n == 0 || linear_count(from, to, n) > MAX_STEPS, "{e}");
                }
            }
            Parsed::Usage(e) => prop_assert!(false, "{e}"),
        }
    }

    #[test]
    fn any_header_argument_is_a_header_or_an_error_naming_the_flag(
        h in prop_oneof![
            ".{0,30}",
            (token(), "[ \t]{0,2}", header_value()).prop_map(|(k, s, v)| format!("{k}:{s}{v}")),
            (".{0,8}", ".{0,8}").prop_map(|(k, v)| format!("{k}:{v}")),
        ],
    ) {
        let arg = format!("--header={h}");
        match parse(&["run", "-c", "1", "--url", URL, &arg]) {
            Parsed::Plan(plan) => {
                let (k, v) = h.split_once(':').expect("a header has a colon");
                let name = HeaderName::from_bytes(k.trim().as_bytes()).expect("a valid name");
                let got = plan.requests[0].headers.get(&name);
                prop_assert_eq!(got.map(|g| g.as_bytes()), Some(v.trim().as_bytes()));
            }
            Parsed::Config(e) => {
                prop_assert_eq!(&e.flag, "--header");
                prop_assert!(e.message.contains(&h), "{e}");
            }
            Parsed::Usage(e) => prop_assert!(false, "{h:?}: {e}"),
        }
    }

    #[test]
    fn valid_headers_are_sent_as_given(name in token(), value in header_value(), pad in "[ ]{0,3}") {
        let header = format!("{name}:{pad}{value}{pad}");
        let arg = format!("--header={header}");
        let plan = parse(&["run", "-c", "1", "--url", URL, &arg]).plan();
        let got = plan.requests[0].headers.get(name.as_str()).map(|v| v.as_bytes().to_vec());
        prop_assert_eq!(got, Some(value.into_bytes()));
    }

    #[test]
    fn any_instance_text_is_a_share_or_an_error(
        text in prop_oneof![
            ".{0,12}",
            "[0-9 ]{0,4}/[0-9 ]{0,4}",
            (any::<u32>(), any::<u32>()).prop_map(|(i, n)| format!("{i}/{n}")),
            (0u32..8, 0u32..8).prop_map(|(i, n)| format!("{i}/{n}")),
        ],
    ) {
        let arg = format!("--instance={text}");
        match Cli::try_parse_from(["loadgen", "run", "-c", "1", &arg]) {
            Ok(cli) => {
                let inst = common_of(&cli).instance.expect("given");
                prop_assert!(inst.index < inst.count, "{inst:?}");
                let (i, n) = text.split_once('/').expect("i/n");
                prop_assert_eq!((i.trim().parse(), n.trim().parse()), (Ok(inst.index), Ok(inst.count)));
                // Display is the flag's own syntax.
                let again = format!("--instance={inst}");
                let cli = Cli::try_parse_from(["loadgen", "run", "-c", "1", &again]).expect("round trip");
                prop_assert_eq!(common_of(&cli).instance, Some(inst));
            }
            Err(e) => {
                let message = e.to_string();
                prop_assert!(message.contains("--instance"), "{message:?}");
                prop_assert!(
                    ["is not i/n", "is not an index", "is not a count", "must be below"]
                        .iter()
                        .any(|m| message.contains(m)),
                    "{message:?}"
                );
            }
        }
    }

    #[test]
    fn instance_shares_add_up_to_the_whole_load(c in 0u32..100_000, n in 1u32..64, rate in 0.001f64..1e6) {
        let shares: Vec<u32> =
            (0..n).map(|index| Instance { index, count: n }.share_of_users(c)).collect();
        prop_assert_eq!(shares.iter().map(|&s| u64::from(s)).sum::<u64>(), u64::from(c));
        let (lo, hi) = (shares.iter().min().unwrap(), shares.iter().max().unwrap());
        prop_assert!(hi - lo <= 1, "{shares:?}");
        let total: f64 = (0..n).map(|index| Instance { index, count: n }.share_of_rate(rate)).sum();
        prop_assert!((total - rate).abs() <= rate * 1e-9, "{total} vs {rate}");
    }

    #[test]
    fn start_at_instants_parse_back_to_themselves(secs in 0u64..4_000_000_000, millis in 0u32..1000) {
        let t = SystemTime::UNIX_EPOCH + Duration::new(secs, millis * 1_000_000);
        let text = humantime::format_rfc3339_millis(t).to_string();
        let arg = format!("--start-at={text}");
        let cli = Cli::try_parse_from(["loadgen", "run", "-c", "1", &arg]).expect(&text);
        prop_assert_eq!(common_of(&cli).start_at, Some(t));
    }

    #[test]
    fn any_start_at_text_is_an_instant_or_an_error(
        text in prop_oneof![
            ".{0,30}",
            "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?Z{0,2}",
        ],
    ) {
        let arg = format!("--start-at={text}");
        match Cli::try_parse_from(["loadgen", "run", "-c", "1", &arg]) {
            Ok(cli) => {
                let t = common_of(&cli).start_at.expect("given");
                let again = format!("--start-at={}", humantime::format_rfc3339_nanos(t));
                let cli = Cli::try_parse_from(["loadgen", "run", "-c", "1", &again]).expect("round trip");
                prop_assert_eq!(common_of(&cli).start_at, Some(t));
            }
            // The explanation survives clap's rendering whatever the text (control characters
            // are escaped, not passed to the terminal).
            Err(e) => prop_assert!(e.to_string().contains("RFC 3339"), "{:?}", e.to_string()),
        }
    }
}

#[test]
fn a_duration_beyond_a_year_is_refused_instead_of_overflowing_the_clock() {
    // 5·10^11 years parses (1.6·10^19 s fits in u64) but no Instant can be that far ahead: the
    // ramp used to panic laying out its steps.
    let e = parse(&[
        "ramp",
        "--steps=1,2",
        "--step-duration=500000000000years",
        "--warmup=1s",
        "--url",
        URL,
    ])
    .config_error();
    assert_eq!(e.flag, "--step-duration/--duration");
    assert!(e.message.contains("longer than 365 days"), "{e}");
    let e = parse(&["run", "-c", "1", "--timeout=400days", "--url", URL]).config_error();
    assert_eq!(e.flag, "--timeout");
    let plan = parse(&["run", "-c", "1", "--timeout=365days", "--url", URL]).plan();
    assert_runnable(&plan);
}

#[test]
fn a_ramp_of_billions_of_steps_is_refused_before_allocating_them() {
    let e = parse(&[
        "ramp",
        "--from=1",
        "--to=4000000000",
        "--step=1",
        "--url",
        URL,
    ])
    .config_error();
    assert_eq!(e.flag, "--step");
    assert!(e.message.contains("more than 10000 steps"), "{e}");
    // Exactly MAX_STEPS levels is still a ramp; one more is not.
    let to = format!("--to={MAX_STEPS}");
    let plan = parse(&["ramp", "--from=1", &to, "--step=1", "--url", URL]).plan();
    assert_eq!(plan.steps.len() as u64, MAX_STEPS);
    let to = format!("--to={}", MAX_STEPS + 1);
    let e = parse(&["ramp", "--from=1", &to, "--step=1", "--url", URL]).config_error();
    assert_eq!(e.flag, "--step");
}

#[test]
fn a_rate_too_high_for_the_pacer_clock_is_refused() {
    // At 1e300/s every send fell on the step's first nanosecond and the step never ended.
    let e = parse(&["run", "--rate=1e300", "--url", URL]).config_error();
    assert_eq!(e.flag, "--rate");
    assert!(e.message.contains("above 10000000 per second"), "{e}");
    let e = parse(&["ramp", "--rate-steps=10,1e10", "--url", URL]).config_error();
    assert_eq!(e.flag, "--rate-steps");
    assert_runnable(&parse(&["run", "--rate=1e7", "--url", URL]).plan());
}

#[test]
fn a_rate_too_low_for_a_second_send_paces_one_send_per_step() {
    // 1/5e-324 is infinite; 1/1e-300 overflows Duration: both used to panic in the pacer.
    for rate in ["5e-324", "1e-300"] {
        let plan = parse(&["run", &format!("--rate={rate}"), "--url", URL]).plan();
        assert_runnable(&plan);
    }
}

#[test]
fn a_control_character_in_a_flag_value_does_not_swallow_the_explanation() {
    // clap strips terminal escape sequences from what it prints: an unescaped ESC ] quoted
    // back used to take the rest of the message with it.
    for arg in ["--start-at=\u{1b}]", "--instance=\u{1b}]0/1"] {
        let e = Cli::try_parse_from(["loadgen", "run", "-c", "1", arg]).unwrap_err();
        let message = e.to_string();
        assert!(
            message.contains("\\u{1b}]")
                && (message.contains("RFC 3339") || message.contains("index")),
            "{message:?}"
        );
    }
}

#[test]
fn usage_lines_show_optional_flags_as_optional() {
    // clap's own usage, in a conflict error, read `Usage: loadgen ramp --steps <STEPS> [URL]`.
    let Parsed::Usage(e) = parse(&["ramp", "--steps", "1", "--rate-steps", "2", URL]) else {
        panic!("a conflict is a usage error");
    };
    let text = e.render().to_string();
    assert!(
        text.contains("Usage: loadgen ramp [OPTIONS] [URL]"),
        "{text}"
    );
}

#[test]
fn report_given_a_load_commands_output_flag_points_at_from_json() {
    // clap's tip for `report --json` was "a similar argument exists: '--slo'".
    for (flag, want) in [
        ("--json", "--from-json"),
        ("--timeseries", "--from-timeseries"),
        ("--metrics", "--from-metrics"),
    ] {
        let Parsed::Usage(e) = parse(&["report", "a.csv", "--out-dir", "d", flag, "x"]) else {
            panic!("{flag} is refused");
        };
        let text = e.render().to_string();
        assert!(
            text.contains("report reads") && text.contains(want),
            "{text}"
        );
        assert!(!text.contains("--slo"), "{text}");
        assert_eq!(e.exit_code(), 2);
    }
}
