use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The door every API request of one service (in one account and region) goes through: a
/// token bucket that keeps the request rate under the configured limit, and a counter of
/// requests, reported as "API calls per poll".
#[derive(Debug, Clone)]
pub(crate) struct Gate {
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
    calls: Arc<AtomicU64>,
}

impl Gate {
    /// A gate admitting `per_second` requests per second (0 or less: unlimited), with bursts
    /// of up to one second's worth.
    pub(crate) fn new(per_second: f64, calls: Arc<AtomicU64>) -> Self {
        let limiter = if per_second > 0.0 && per_second.is_finite() {
            let period = Duration::from_secs_f64(1.0 / per_second).max(Duration::from_micros(1));
            let burst = std::num::NonZeroU32::new(per_second.ceil().min(u32::MAX as f64) as u32)
                .unwrap_or(std::num::NonZeroU32::MIN);
            Quota::with_period(period).map(|q| Arc::new(RateLimiter::direct(q.allow_burst(burst))))
        } else {
            None
        };
        Self { limiter, calls }
    }

    /// Waits for a token, then counts one request.
    pub(crate) async fn pass(&self) {
        self.admit().await;
        self.count();
    }

    /// Waits for a token without counting: for a paginator, which only knows after asking
    /// for the next page whether it made a request.
    pub(crate) async fn admit(&self) {
        if let Some(l) = &self.limiter {
            l.until_ready().await;
        }
    }

    /// Counts one request made.
    pub(crate) fn count(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn limits_the_rate_and_counts() {
        let calls = Arc::new(AtomicU64::new(0));
        let gate = Gate::new(20.0, calls.clone());
        let start = Instant::now();
        // 20 pass at once (the burst), the next 10 need ~0.5 s.
        for _ in 0..30 {
            gate.pass().await;
        }
        assert!(start.elapsed() >= Duration::from_millis(400));
        assert_eq!(calls.load(Ordering::Relaxed), 30);
        let free = Gate::new(0.0, calls.clone());
        free.pass().await;
        assert_eq!(calls.load(Ordering::Relaxed), 31);
    }
}
