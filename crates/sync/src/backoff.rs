//! Exponential backoff with full jitter, bounded in attempts.

use std::time::Duration;

/// How often and how patiently a batch is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// First delay ceiling; doubled after each failed attempt.
    pub base: Duration,
    /// Largest delay ceiling.
    pub cap: Duration,
    /// Retries after the first attempt (0: try once).
    pub retries: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            retries: 8,
        }
    }
}

impl RetryPolicy {
    /// The ceiling of the delay before retry number `retry` (from 1).
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The delay before retry number `retry`: uniform in [0, ceiling]
    /// ("full jitter"), so many laptops coming back online at once do not
    /// retry in step.
    pub fn delay(&self, retry: u32) -> Duration {
        let ceiling = self.ceiling(retry).as_millis();
        let ms = u64::try_from(ceiling).unwrap_or(u64::MAX);
        Duration::from_millis(rand::random_range(0..=ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_then_stop_at_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.ceiling(1), Duration::from_millis(500));
        assert_eq!(p.ceiling(2), Duration::from_secs(1));
        assert_eq!(p.ceiling(4), Duration::from_secs(4));
        assert_eq!(p.ceiling(7), Duration::from_secs(30));
        assert_eq!(p.ceiling(200), Duration::from_secs(30));
        for retry in 1..12 {
            assert!(p.delay(retry) <= p.ceiling(retry));
        }
    }
}
