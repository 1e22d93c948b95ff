//! The knee of a ramp: the lowest concurrency past which goodput grows by less than 5%.

/// Goodput growth below this fraction counts as flat.
pub const FLAT_GROWTH: f64 = 0.05;

/// The knee of `(concurrency, goodput)` points sorted by concurrency: the lowest concurrency
/// (not the top step) such that no later step's goodput exceeds its own by 5% or more. Measured
/// from the knee rather than step to step, so one noisy step neither hides nor fakes a knee.
/// None when goodput still grows at the top step.
pub fn knee(points: &[(f64, f64)]) -> Option<f64> {
    let last = points.len().checked_sub(1)?;
    (0..last)
        .find(|&i| {
            let (_, g) = points[i];
            g > 0.0
                && points[i + 1..]
                    .iter()
                    .all(|&(_, later)| later < g * (1.0 + FLAT_GROWTH))
        })
        .map(|i| points[i].0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEVELS: [f64; 9] = [1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0];

    fn curve(f: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
        LEVELS.iter().map(|&c| (c, f(c))).collect()
    }

    #[test]
    fn a_linear_curve_has_no_knee() {
        assert_eq!(knee(&curve(|c| 3.0 * c)), None);
    }

    #[test]
    fn a_saturating_curve_knees_where_it_flattens() {
        // 0.6/s per user up to 10 users, flat at 6/s after (a server with 10 permits).
        assert_eq!(knee(&curve(|c| 0.6 * c.min(10.0))), Some(10.0));
        // Noise under 5% on the plateau does not move it.
        let noisy = curve(|c| 0.6 * c.min(10.0) * if c == 40.0 { 1.03 } else { 1.0 });
        assert_eq!(knee(&noisy), Some(10.0));
    }

    #[test]
    fn a_retrograde_curve_knees_at_its_peak_region() {
        // USL with a peak near 20 users: throughput falls after it.
        let usl = |c: f64| 2.0 * c / (1.0 + 0.02 * (c - 1.0) + 0.0025 * c * (c - 1.0));
        let k = knee(&curve(usl)).unwrap();
        assert_eq!(k, 20.0, "{:?}", curve(usl));
    }

    #[test]
    fn one_step_has_no_knee() {
        assert_eq!(knee(&[(1.0, 1.0)]), None);
        assert_eq!(knee(&[]), None);
    }
}
