//! The queueing view for a server with N permits and a FIFO queue: past N, every extra user waits
//! in the queue, so served latency grows linearly with concurrency (mean ≈ S·C/N). The slope and
//! how linear it is (R²) show whether degradation is predictable.

use serde::Serialize;

/// A straight line fitted past N.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueingView {
    /// The permit count the line starts at.
    pub permits: u32,
    /// Where N came from (`/metrics` snapshot, or the knee).
    pub permits_source: String,
    /// Measured slope: extra mean latency per extra user, ms.
    pub slope_ms_per_user: f64,
    /// The slope the model expects, S/N, with S the service time below N, ms.
    pub expected_slope_ms_per_user: f64,
    /// Linear R² of mean latency against concurrency past N.
    pub r2: f64,
    /// Steps past N used.
    pub points: usize,
}

/// Ordinary least squares of y on x: (slope, intercept, R²). None with fewer than 2 x values.
pub fn linear(points: &[(f64, f64)]) -> Option<(f64, f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let syy: f64 = points.iter().map(|p| (p.1 - my).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let r2 = if syy > 0.0 {
        (sxy * sxy) / (sxx * syy)
    } else {
        1.0
    };
    Some((slope, my - slope * mx, r2))
}

/// The view from `(concurrency, mean served latency ms)` points of unshed steps, with N permits
/// and service time `service_ms`. Includes the step at N itself as the line's anchor.
pub fn view(
    points: &[(f64, f64)],
    permits: u32,
    permits_source: &str,
    service_ms: f64,
) -> Option<QueueingView> {
    let past: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|p| p.0 >= f64::from(permits))
        .collect();
    let (slope, _, r2) = linear(&past)?;
    Some(QueueingView {
        permits,
        permits_source: permits_source.to_string(),
        slope_ms_per_user: slope,
        expected_slope_ms_per_user: service_ms / f64::from(permits.max(1)),
        r2,
        points: past.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_growing_as_s_c_over_n_gives_slope_s_over_n_and_r2_one() {
        // S = 1000 ms, N = 10: mean = 1000 below 10 users, 100·C above.
        let pts: Vec<(f64, f64)> = [1.0, 5.0, 10.0, 20.0, 30.0, 40.0]
            .iter()
            .map(|&c: &f64| (c, 1000.0 * (c / 10.0).max(1.0)))
            .collect();
        let v = view(&pts, 10, "test", 1000.0).unwrap();
        assert!((v.slope_ms_per_user - 100.0).abs() < 1e-9);
        assert!((v.expected_slope_ms_per_user - 100.0).abs() < 1e-9);
        assert!((v.r2 - 1.0).abs() < 1e-12);
        assert_eq!(v.points, 4);
    }

    #[test]
    fn fewer_than_two_points_past_n_give_no_view() {
        assert!(view(&[(1.0, 1.0), (10.0, 2.0)], 10, "t", 1.0).is_none());
    }
}
