//! What a virtual user does between two choices: a *flow* is either one weighted request or a
//! weighted *session* (an ordered list of requests, each with its own think time). A closed-loop
//! user picks a flow by weight, runs its requests in order, then picks again; an open-loop arrival
//! is one request, so open loop accepts only single-request flows.
//!
//! A session's requests are fixed templates: values from one response cannot feed a later request
//! (no extraction or correlation yet).

use crate::think::ThinkTime;

/// One request of a flow: which template, and the pause after its answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlowStep {
    /// Index into the plan's request templates.
    pub request: usize,
    /// The pause after this request's answer; `None` uses `--think-time` (or none).
    pub think: Option<ThinkTime>,
}

/// A weighted single request or session.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    /// The session's name (the request's name for a single request).
    pub name: String,
    /// Relative weight of the choice.
    pub weight: u32,
    /// The requests, in order (one for a single request).
    pub steps: Vec<FlowStep>,
    /// A `[[session]]` of the scenario file, rather than a `[[request]]`.
    pub session: bool,
}

impl Flow {
    /// The single request at template `request` with weight `weight`.
    pub fn single(name: String, request: usize, weight: u32, think: Option<ThinkTime>) -> Self {
        Flow {
            name,
            weight,
            steps: vec![FlowStep { request, think }],
            session: false,
        }
    }
}

/// Where a user is in its flows: the flow it runs and the next step of it. A new cursor draws
/// its first flow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cursor {
    flow: usize,
    /// `usize::MAX` once the flow has ended (and before the first draw).
    next: usize,
}

impl Default for Cursor {
    fn default() -> Self {
        Cursor {
            flow: 0,
            next: usize::MAX,
        }
    }
}

/// The flows of a plan with their cumulative weights, for the weighted choice.
#[derive(Debug, Clone)]
pub struct FlowTable {
    flows: Vec<Flow>,
    /// Cumulative weights; empty when there is one flow (no draw needed).
    cumulative: Vec<u32>,
}

impl FlowTable {
    /// The table over `flows` (at least one, each with at least one step and weight above 0).
    pub fn new(flows: Vec<Flow>) -> Self {
        let mut cumulative = Vec::new();
        if flows.len() > 1 {
            let mut acc = 0u32;
            for f in &flows {
                acc = acc.saturating_add(f.weight);
                cumulative.push(acc);
            }
        }
        Self { flows, cumulative }
    }

    /// The flows, in file order.
    pub fn flows(&self) -> &[Flow] {
        &self.flows
    }

    /// The next request of a user at `cursor`: the flow's next step, or the first step of a flow
    /// drawn by weight with `draw(total)` (a uniform integer in `0..total`) when the flow ended.
    pub fn next(&self, cursor: &mut Cursor, draw: impl FnOnce(u32) -> u32) -> FlowStep {
        let ended = self
            .flows
            .get(cursor.flow)
            .is_none_or(|f| cursor.next >= f.steps.len());
        if ended {
            cursor.flow = match self.cumulative.last() {
                None => 0,
                Some(&total) => {
                    let r = draw(total);
                    self.cumulative.partition_point(|&w| w <= r)
                }
            };
            cursor.next = 0;
        }
        let step = self.flows[cursor.flow].steps[cursor.next];
        cursor.next += 1;
        // Past the last step: the next call draws again.
        if cursor.next >= self.flows[cursor.flow].steps.len() {
            cursor.next = usize::MAX;
        }
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn session(name: &str, weight: u32, requests: &[usize]) -> Flow {
        Flow {
            name: name.into(),
            weight,
            steps: requests
                .iter()
                .map(|&request| FlowStep {
                    request,
                    think: Some(ThinkTime::Fixed(Duration::from_secs(request as u64))),
                })
                .collect(),
            session: true,
        }
    }

    #[test]
    fn a_session_runs_its_requests_in_order_then_draws_again() {
        let table = FlowTable::new(vec![
            Flow::single("health".into(), 0, 1, None),
            session("analyst", 1, &[1, 2, 3]),
        ]);
        let mut cursor = Cursor::default();
        // Draws: 1 → the session (cumulative [1, 2]), then 0 → health, then 1 → session again.
        let mut draws = [1u32, 0, 1].into_iter();
        let seen: Vec<usize> = (0..7)
            .map(|_| {
                table
                    .next(&mut cursor, |total| {
                        assert_eq!(total, 2);
                        draws.next().expect("a draw only when a flow ends")
                    })
                    .request
            })
            .collect();
        assert_eq!(seen, [1, 2, 3, 0, 1, 2, 3]);
    }

    #[test]
    fn one_flow_never_draws() {
        let table = FlowTable::new(vec![session("only", 5, &[4, 5])]);
        let mut cursor = Cursor::default();
        let seen: Vec<usize> = (0..5)
            .map(|_| table.next(&mut cursor, |_| panic!("no draw")).request)
            .collect();
        assert_eq!(seen, [4, 5, 4, 5, 4]);
    }

    #[test]
    fn each_step_keeps_its_own_think_time() {
        let table = FlowTable::new(vec![session("s", 1, &[2, 7])]);
        let mut cursor = Cursor::default();
        let a = table.next(&mut cursor, |_| 0);
        let b = table.next(&mut cursor, |_| 0);
        assert_eq!(a.think, Some(ThinkTime::Fixed(Duration::from_secs(2))));
        assert_eq!(b.think, Some(ThinkTime::Fixed(Duration::from_secs(7))));
    }
}
