//! Pure functions of step rows: an objective's figure on a step and whether it holds, the most
//! load at which every objective held, the requests in flight, the shed share, the goodput
//! curve. Every other layer reads a step through these, so a figure is computed one way.

use crate::input::row::StepRow;
use crate::input::slo::Objective;

/// A step whose 429 + 503 share exceeds this is saturated by shedding and left out of the fit:
/// its throughput counts fast rejections, not work the system did.
pub const SHED_LIMIT: f64 = 0.01;

/// The value of an objective's metric on a row, in the objective's unit (0 where the row has
/// nothing the figure describes: [`Objective::value`] says why; [`holds`] fails there).
pub fn measure(o: &Objective, r: &StepRow) -> f64 {
    o.value(r).unwrap_or(0.0)
}

/// The row an objective is measured on: the step's row of its request name (`analyze:p99<5s`),
/// or the total row for an unqualified objective or a run with one name (no per-name rows).
/// `None`: the step has no row of that name.
pub fn row_for<'a>(o: &Objective, total: &'a StepRow, named: &'a [StepRow]) -> Option<&'a StepRow> {
    match &o.name {
        Some(n) if !named.is_empty() => named.iter().find(|r| &r.name == n),
        _ => Some(total),
    }
}

/// Whether the objective holds on the step, measured on [`row_for`]'s row.
pub fn holds_at(o: &Objective, total: &StepRow, named: &[StepRow]) -> bool {
    row_for(o, total, named).is_some_and(|r| holds(o, r))
}

/// Whether the objective holds on the row, by [`Objective::check`] (a step with no requests,
/// interrupted, or with nothing the figure describes fails).
pub fn holds(o: &Objective, r: &StepRow) -> bool {
    o.check(r).holds
}

/// Share of a step's requests answered 429 or 503.
pub fn shed_fraction(r: &StepRow) -> f64 {
    if r.requests == 0 {
        0.0
    } else {
        (r.rejected_429 + r.rejected_503) as f64 / r.requests as f64
    }
}

/// Mean goodput per distinct concurrency, sorted by concurrency.
pub fn goodput_curve(steps: &[StepRow]) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64, usize)> = Vec::new();
    for r in steps {
        let c = f64::from(r.concurrency.unwrap_or(0));
        match out.iter_mut().find(|p| p.0 == c) {
            Some(p) => {
                p.1 += r.goodput_rps;
                p.2 += 1;
            }
            None => out.push((c, r.goodput_rps, 1)),
        }
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out.into_iter().map(|(c, g, n)| (c, g / n as f64)).collect()
}

/// The requests a step held in flight against the server's permits: its users, or for users who
/// think (a thinking user holds no permit) the time-averaged requests in flight, measured.
pub fn in_flight(r: &StepRow) -> f64 {
    match r.in_flight_mean.filter(|_| thinks(r)) {
        Some(l) => l,
        None => f64::from(r.concurrency.unwrap_or(0)),
    }
}

/// Whether the step's users think between requests and its requests in flight were measured.
pub fn thinks(r: &StepRow) -> bool {
    r.think_time_mean_ms.is_some_and(|z| z > 0.0) && r.in_flight_mean.is_some()
}

/// The highest goodput of a step with at most `permits` requests in flight ([`in_flight`]):
/// every permit busy, at best.
pub fn goodput_within(steps: &[StepRow], permits: u32) -> f64 {
    steps
        .iter()
        .filter(|r| r.concurrency.is_some() && in_flight(r) <= f64::from(permits))
        .map(|r| r.goodput_rps)
        .fold(0.0, f64::max)
}

/// The last of `steps`, in their order, at which every objective held there and at every earlier
/// step, each measured on [`row_for`]'s row (`named[k]`: step k's per-name rows; missing or empty:
/// its total row). `None` without objectives, or when the first step already fails one. The one
/// answer to "the most load at which every objective holds", for the run, a request name and an
/// open-loop run's rates alike.
pub fn last_holding<'a>(
    steps: &'a [StepRow],
    named: &[Vec<StepRow>],
    objectives: &[Objective],
) -> Option<&'a StepRow> {
    if objectives.is_empty() {
        return None;
    }
    steps
        .iter()
        .enumerate()
        .take_while(|(k, r)| {
            let by_name = named.get(*k).map_or(&[][..], Vec::as_slice);
            objectives.iter().all(|o| holds_at(o, r, by_name))
        })
        .last()
        .map(|(_, r)| r)
}

/// Of one step's per-name rows, the one with the largest demand (requests × mean latency).
pub fn largest_demand(by_name: &[StepRow]) -> Option<&StepRow> {
    by_name.iter().filter(|r| r.requests > 0).max_by(|a, b| {
        let demand = |r: &StepRow| r.requests as f64 * r.mean_ms;
        demand(a).total_cmp(&demand(b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::fixture::row;

    #[test]
    fn the_last_holding_step_is_before_the_first_failure_even_when_a_later_step_holds_again() {
        // p99 = 1.5 × mean: 1.5 s, 3 s, 1.5 s.
        let steps = vec![
            row(1, 1, 1.0, 1000.0),
            row(2, 2, 2.0, 2000.0),
            row(3, 4, 4.0, 1000.0),
        ];
        let p99 = vec![Objective::parse("p99<2s").unwrap()];
        let last = last_holding(&steps, &[], &p99).map(|r| r.step);
        assert_eq!(last, Some(1));
        let loose = vec![Objective::parse("p99<5s").unwrap()];
        assert_eq!(last_holding(&steps, &[], &loose).map(|r| r.step), Some(3));
        assert_eq!(last_holding(&steps, &[], &[]).map(|r| r.step), None);
        let tight = vec![Objective::parse("p99<1s").unwrap()];
        assert_eq!(last_holding(&steps, &[], &tight).map(|r| r.step), None);
    }

    #[test]
    fn an_objective_on_a_name_holds_on_that_names_row_and_fails_where_the_step_has_none() {
        let total = vec![row(1, 1, 10.0, 100.0), row(2, 2, 20.0, 100.0)];
        let mut slow = row(1, 1, 1.0, 3000.0);
        slow.name = "analyze".into();
        let mut fast = row(1, 1, 1.0, 1000.0);
        fast.name = "analyze".into();
        let on_analyze = vec![Objective::parse("analyze:p99<2s").unwrap()];
        // Step 1's analyze row holds (1.5 s), step 2's fails (4.5 s): the total's 150 ms is
        // not what the objective reads.
        let named = vec![vec![fast.clone()], vec![slow]];
        let last = last_holding(&total, &named, &on_analyze).map(|r| r.step);
        assert_eq!(last, Some(1));
        // A step without a row of that name fails the objective.
        let mut health = row(2, 2, 20.0, 100.0);
        health.name = "health".into();
        let named = vec![named[0].clone(), vec![health]];
        let last = last_holding(&total, &named, &on_analyze).map(|r| r.step);
        assert_eq!(last, Some(1));
    }
}
