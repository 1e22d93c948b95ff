//! "How many users can we take?" for runs with think time: the largest user count measured
//! meeting every objective, and predictions for other user counts and think times from a
//! service model fitted to the run and the interactive response-time law `N = X × (R + Z)`.
//!
//! The model (labelled *fitted* in the report; its user counts *predicted*): the request that
//! binds (the one with the largest demand, share × service time at the lightest step) is served
//! by `m` parallel servers (the server's permits, or fewer when the measured goodput saturated
//! below them — a provider tier), everything else is a delay (think time plus the other requests'
//! own latency). Closed-network mean-value analysis with Seidmann's multi-server approximation
//! gives the throughput and the mean wait at every user count; a latency figure is predicted as
//! its light-load value plus that wait (a queue in front of fixed permits delays every request
//! alike).

use serde::Serialize;

use crate::input::row::StepRow;
use crate::input::slo::{Metric, Objective};

/// Think times the report predicts for besides the run's own, seconds.
pub const OTHER_THINK_TIMES_S: [f64; 3] = [5.0, 30.0, 120.0];

/// Most users a prediction searches up to.
const MAX_USERS: u32 = 1_000_000;

/// The fitted service model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceModel {
    /// The request that binds.
    pub name: String,
    /// Its share of all requests (visits per request cycle).
    pub share: f64,
    /// Its service time at light load, seconds (measured mean at the lightest step).
    pub service_s: f64,
    /// Parallel servers that serve it (permits, or measured saturation × service time).
    pub servers: f64,
    /// What the servers are: `"server permits"` or `"measured saturation"`.
    pub servers_from: &'static str,
    /// Per request, the mean time that is not the binding request's service: think time plus
    /// the other requests' latency, seconds (measured at the lightest step, by the law).
    pub delay_s: f64,
    /// The run's mean think time, seconds.
    pub think_s: f64,
    /// How much more a latency figure grows than the mean wait: (figure − its light-load value)
    /// / (mean − light-load mean), the median over the steps where a queue formed (1 when none
    /// did). A queue's wait varies, so a p99 grows faster than the mean.
    pub wait_spread: f64,
    /// Steps `wait_spread` was fitted on.
    pub wait_spread_steps: usize,
}

/// Throughput and binding-request latency the model predicts at one user count.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Predicted {
    /// Users.
    pub users: u32,
    /// Requests per second (all names).
    pub throughput_rps: f64,
    /// Mean latency of the binding request, ms.
    pub mean_ms: f64,
    /// Mean wait in the queue of the binding request, ms.
    pub wait_ms: f64,
}

/// One row of the prediction table.
#[derive(Debug, Clone, Serialize)]
pub struct UsersAtThink {
    /// Mean think time, seconds.
    pub think_s: f64,
    /// Users served with no queueing to speak of: `N* = (D + Z') / D_max`, the asymptotes' cross.
    pub users_at_saturation: f64,
    /// Largest user count the model predicts meets the latency objective (None without one).
    pub users_at_objective: Option<u32>,
    /// The model's figures at `users_at_objective`.
    pub at_objective: Option<Predicted>,
    /// Predicted value of the objective's latency figure there, ms.
    pub predicted_latency_ms: Option<f64>,
}

/// The answer for a run with think time.
#[derive(Debug, Clone, Serialize)]
pub struct UsersAnswer {
    /// Mean think time of the run, seconds.
    pub think_s: f64,
    /// Largest measured user count with it and every lower step meeting every objective.
    pub measured_max_users: Option<u32>,
    /// The fitted model (None: too little to fit; `unfitted` says why).
    pub model: Option<ServiceModel>,
    /// Why no model.
    pub unfitted: Option<String>,
    /// The latency objective the predictions hold to, as given.
    pub objective: Option<String>,
    /// Predictions at the run's think time, then at [`OTHER_THINK_TIMES_S`].
    pub predictions: Vec<UsersAtThink>,
    /// How to check the prediction (a command that can fail).
    pub verify: String,
}

impl ServiceModel {
    /// Mean-value analysis up to `users` with a mean think time of `think_s`; the figures at
    /// each user count from 1.
    pub fn solve(&self, users: u32, think_s: f64) -> Vec<Predicted> {
        let demand = self.share * self.service_s;
        let m = self.servers.max(1.0);
        let queueing = demand / m;
        let fixed = demand * (m - 1.0) / m;
        let delay = self.delay_s - self.think_s + think_s;
        let mut queue = 0.0;
        let mut out = Vec::with_capacity(users as usize);
        for n in 1..=users {
            let r_queue = queueing * (1.0 + queue);
            let station = r_queue + fixed;
            let x = f64::from(n) / (station + delay);
            queue = x * r_queue;
            // Per visit of the binding request (its share of each cycle).
            let mean = station / self.share;
            out.push(Predicted {
                users: n,
                throughput_rps: x,
                mean_ms: mean * 1000.0,
                wait_ms: (mean - self.service_s).max(0.0) * 1000.0,
            });
        }
        out
    }

    /// The users at which the two asymptotes cross: `(D + Z') / D_max`.
    pub fn saturation_users(&self, think_s: f64) -> f64 {
        let demand = self.share * self.service_s;
        let delay = self.delay_s - self.think_s + think_s;
        (demand + delay) / (demand / self.servers.max(1.0))
    }
}

/// The median of `(figure − light figure) / (mean − light mean)` over the binding request's
/// steps whose mean wait exceeds a quarter of its service time.
fn fit_wait_spread(rows: &[&StepRow], light: &StepRow, o: &Objective) -> (f64, usize) {
    let base = crate::measure::steps::measure(o, light);
    let mut ratios: Vec<f64> = rows
        .iter()
        .filter(|r| r.ok > 0 && r.mean_ms - light.mean_ms > 0.25 * light.mean_ms)
        .map(|r| (crate::measure::steps::measure(o, r) - base) / (r.mean_ms - light.mean_ms))
        .filter(|k| k.is_finite() && *k > 0.0)
        .collect();
    if ratios.is_empty() {
        return (1.0, 0);
    }
    ratios.sort_by(f64::total_cmp);
    let n = ratios.len();
    let median = if n % 2 == 1 {
        ratios[n / 2]
    } else {
        (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0
    };
    (median, n)
}

/// The light-load value of a latency objective's figure on `r`, ms.
fn light_figure(o: &Objective, r: &StepRow) -> Option<f64> {
    matches!(o.metric, Metric::Latency(_)).then(|| crate::measure::steps::measure(o, r))
}

/// The answer, when the run's rows carry think time; `None` otherwise.
///
/// `totals` are the steps' total rows sorted by users, `named` each one's per-name rows (parallel
/// to `totals`), `permits` the
/// server's permit count when known.
pub fn answer(
    totals: &[StepRow],
    named: &[Vec<StepRow>],
    objectives: &[Objective],
    permits: Option<u32>,
    measured_max_users: Option<u32>,
) -> Option<UsersAnswer> {
    let think_s = totals
        .iter()
        .find_map(|r| r.think_time_mean_ms.filter(|&t| t > 0.0))?
        / 1000.0;
    let mut answer = UsersAnswer {
        think_s,
        measured_max_users,
        model: None,
        unfitted: None,
        objective: None,
        predictions: Vec::new(),
        verify: format!(
            "make demo-users (re-runs the predicted user count; `loadgen verify users` fails \
             when throughput or p99 is more than {:.0}% off)",
            crate::verify::TOLERANCE * 100.0
        ),
    };
    match fit(totals, named, permits, think_s) {
        Ok((model, light)) => {
            // The latency objective for the binding request: its own, else the total's.
            let objective = objectives
                .iter()
                .filter(|o| matches!(o.metric, Metric::Latency(_)))
                .filter(|o| o.name.as_deref().is_none_or(|n| n == light.name))
                .min_by(|a, b| {
                    (a.name.is_none(), a.threshold)
                        .partial_cmp(&(b.name.is_none(), b.threshold))
                        .unwrap_or(std::cmp::Ordering::Equal)
                });
            answer.objective = objective.map(|o| o.text.clone());
            let mut model = model;
            if let Some(o) = objective {
                let rows: Vec<&StepRow> = if light.is_total() {
                    totals.iter().collect()
                } else {
                    named
                        .iter()
                        .filter_map(|by_name| by_name.iter().find(|r| r.name == light.name))
                        .collect()
                };
                (model.wait_spread, model.wait_spread_steps) = fit_wait_spread(&rows, &light, o);
            }
            for think in std::iter::once(think_s).chain(OTHER_THINK_TIMES_S) {
                answer
                    .predictions
                    .push(predict(&model, think, objective, &light));
            }
            answer.model = Some(model);
        }
        Err(why) => answer.unfitted = Some(why),
    }
    Some(answer)
}

/// The prediction table row at think time `think_s`.
fn predict(
    model: &ServiceModel,
    think_s: f64,
    objective: Option<&Objective>,
    light: &StepRow,
) -> UsersAtThink {
    let users_at_saturation = model.saturation_users(think_s);
    let (mut users_at_objective, mut at_objective, mut predicted_latency_ms) = (None, None, None);
    if let Some(o) = objective {
        let base = light_figure(o, light).unwrap_or(0.0);
        // Past saturation the wait grows by 1/X_max per user: search a little beyond the cross.
        let limit = MAX_USERS.min((users_at_saturation * 4.0 + 1000.0) as u32);
        for p in model.solve(limit, think_s) {
            let latency = base + model.wait_spread * p.wait_ms;
            if latency >= o.threshold {
                break;
            }
            users_at_objective = Some(p.users);
            at_objective = Some(p);
            predicted_latency_ms = Some(latency);
        }
    }
    UsersAtThink {
        think_s,
        users_at_saturation,
        users_at_objective,
        at_objective,
        predicted_latency_ms,
    }
}

/// Fits the model: the binding request's share, service time and servers, and the delay.
fn fit(
    totals: &[StepRow],
    named: &[Vec<StepRow>],
    permits: Option<u32>,
    think_s: f64,
) -> Result<(ServiceModel, StepRow), String> {
    let (light_index, lightest) = totals
        .iter()
        .enumerate()
        .find(|(_, r)| r.ok > 0 && r.throughput_rps > 0.0)
        .ok_or("no step served a request")?;
    let users = f64::from(lightest.concurrency.ok_or("not a closed-loop run")?);
    // The binding request: largest demand (share × mean latency) at the lightest step.
    let light = named
        .get(light_index)
        .and_then(|by_name| crate::measure::steps::largest_demand(by_name))
        .unwrap_or(lightest)
        .clone();
    let share = if lightest.requests > 0 && !light.is_total() {
        light.requests as f64 / lightest.requests as f64
    } else {
        1.0
    };
    let service_s = light.mean_ms / 1000.0;
    if service_s <= 0.0 {
        return Err("the binding request has no measured latency".into());
    }
    // The law at the lightest step: users = X × (R + Z'), so Z' = users / X − share × S.
    let delay_s = users / lightest.throughput_rps - share * service_s;
    if delay_s < 0.0 {
        return Err(format!(
            "step {} breaks the response-time law (users {users}, {:.2}/s)",
            lightest.step, lightest.throughput_rps
        ));
    }
    // Saturation of the binding request: its highest goodput, where its goodput stopped growing.
    let goodput_of = |k: usize, r: &StepRow| -> f64 {
        if light.is_total() {
            r.goodput_rps
        } else {
            named
                .get(k)
                .and_then(|by_name| by_name.iter().find(|n| n.name == light.name))
                .map_or(0.0, |n| n.goodput_rps)
        }
    };
    let curve: Vec<(f64, f64)> = totals
        .iter()
        .enumerate()
        .map(|(k, r)| (f64::from(r.concurrency.unwrap_or(0)), goodput_of(k, r)))
        .collect();
    let saturated = crate::measure::knee::knee(&curve)
        .map(|_| curve.iter().map(|p| p.1).fold(0.0, f64::max) * service_s);
    let (servers, servers_from) = match (permits.map(f64::from), saturated) {
        (Some(p), Some(s)) if s < 0.9 * p => (s, "measured saturation"),
        (Some(p), _) => (p, "server permits"),
        (None, Some(s)) => (s, "measured saturation"),
        (None, None) => {
            return Err(
                "the binding request never saturated and the server's permits are unknown \
                 (no /metrics snapshot beside the run): ramp further"
                    .into(),
            )
        }
    };
    Ok((
        ServiceModel {
            name: light.name.clone(),
            share,
            service_s,
            servers,
            servers_from,
            delay_s,
            think_s,
            wait_spread: 1.0,
            wait_spread_steps: 0,
        },
        light,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::fixture::row;

    fn model(servers: f64, think_s: f64) -> ServiceModel {
        ServiceModel {
            name: "*".into(),
            share: 1.0,
            service_s: 1.0,
            servers,
            servers_from: "server permits",
            delay_s: think_s,
            think_s,
            wait_spread: 1.0,
            wait_spread_steps: 0,
        }
    }

    #[test]
    fn below_saturation_the_law_holds_and_past_it_throughput_is_the_servers() {
        let m = model(10.0, 9.0);
        let p = m.solve(400, 9.0);
        // 10 users, 10 s cycles, no queue to speak of: 1/s.
        assert!((p[9].throughput_rps - 1.0).abs() < 0.01, "{:?}", p[9]);
        // Far past N* = 100: 10 servers / 1 s.
        assert!((p[399].throughput_rps - 10.0).abs() < 0.05, "{:?}", p[399]);
        // Law: N = X (R + Z) at every count.
        for q in [&p[49], &p[149], &p[399]] {
            let n = q.throughput_rps * (q.mean_ms / 1000.0 + 9.0);
            assert!((n - f64::from(q.users)).abs() < 1e-6, "{q:?}");
        }
        // Past saturation each extra user adds 1/X_max = 0.1 s of wait.
        let slope = (p[399].wait_ms - p[299].wait_ms) / 100.0;
        assert!((slope - 100.0).abs() < 2.0, "{slope}");
        assert!((m.saturation_users(9.0) - 100.0).abs() < 1e-9);
    }

    #[test]
    fn the_answer_fits_permits_and_predicts_users_at_the_objective() {
        // 10 permits of 1 s service, 9 s think: light load 10 users → 1/s.
        let mut rows: Vec<StepRow> = [10u32, 50, 100, 150]
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let x = (f64::from(c) / 10.0).min(10.0);
                let mut r = row(i + 1, c, x, 1000.0);
                r.think_time_mean_ms = Some(9000.0);
                r
            })
            .collect();
        rows[3].mean_ms = 6000.0;
        let o = Objective::parse("p99<4s").unwrap();
        let a = answer(&rows, &[], &[o], Some(10), Some(100)).expect("think time");
        let m = a.model.expect("fitted");
        assert_eq!((m.servers, m.servers_from), (10.0, "server permits"));
        assert!((m.delay_s - 9.0).abs() < 1e-9, "{m:?}");
        let at = &a.predictions[0];
        // p99 at light load 1.5 s: 2.5 s of wait allowed, ≈ 25 users past N* = 100.
        let u = at.users_at_objective.unwrap();
        assert!((118..=126).contains(&u), "{at:?}");
        assert!(at.predicted_latency_ms.unwrap() < 4000.0);
        // Longer think times take more users at the same servers.
        let users: Vec<u32> = a
            .predictions
            .iter()
            .map(|p| p.users_at_objective.unwrap())
            .collect();
        assert!(users[3] > users[2] && users[2] > users[1], "{users:?}");
    }

    #[test]
    fn a_mix_binds_on_the_request_with_the_largest_demand() {
        // 80% health at 1 ms, 20% analyze at 1 s; 10 users, 4.9 s think.
        let mut total = row(1, 10, 2.0, 200.8);
        total.think_time_mean_ms = Some(4800.0);
        total.requests = 20;
        let mut health = row(1, 10, 1.6, 1.0);
        health.name = "health".into();
        health.requests = 16;
        let mut analyze = row(1, 10, 0.4, 1000.0);
        analyze.name = "analyze".into();
        analyze.requests = 4;
        let mut second = row(2, 20, 4.0, 200.8);
        second.think_time_mean_ms = Some(4800.0);
        let named = [vec![health, analyze], Vec::new()];
        let a = answer(&[total, second], &named, &[], Some(5), None).unwrap();
        let m = a.model.unwrap();
        assert_eq!(m.name, "analyze");
        assert!((m.share - 0.2).abs() < 1e-9);
        // 10 / 2 − 0.2 × 1 = 4.8 s of delay per request.
        assert!((m.delay_s - 4.8).abs() < 1e-9, "{m:?}");
    }

    #[test]
    fn no_think_time_no_answer_and_no_saturation_no_model() {
        let rows = vec![row(1, 1, 1.0, 1000.0), row(2, 2, 2.0, 1000.0)];
        assert!(answer(&rows, &[], &[], None, None).is_none());
        let thinking: Vec<StepRow> = rows
            .into_iter()
            .map(|mut r| {
                r.think_time_mean_ms = Some(1000.0);
                r
            })
            .collect();
        let a = answer(&thinking, &[], &[], None, None).unwrap();
        assert!(a.model.is_none());
        assert!(a.unfitted.unwrap().contains("never saturated"));
    }

    #[test]
    fn the_wait_spread_is_fitted_on_steps_where_a_queue_formed() {
        let light = row(1, 10, 1.0, 1000.0);
        // Fixture percentiles follow the mean: p99 = 1.5 × mean, so p99 grows 1.5× the wait.
        let queued = row(2, 50, 5.0, 3000.0);
        let barely = row(3, 20, 2.0, 1100.0);
        let o = Objective::parse("p99<4s").unwrap();
        let (k, n) = fit_wait_spread(&[&light, &barely, &queued], &light, &o);
        assert_eq!(n, 1);
        assert!((k - 1.5).abs() < 1e-9, "{k}");
        assert_eq!(fit_wait_spread(&[&light, &barely], &light, &o), (1.0, 0));
    }
}
