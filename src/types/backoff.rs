//! Waiting between retries: exponential backoff with a cap, and the jitter
//! that keeps many clients from retrying in step. Every retry loop of
//! promptgate (provider calls, GitHub calls, registry writes, server jobs)
//! computes its wait here.

use std::time::Duration;

use rand::Rng;

/// How much of the wait is random.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Exactly the ceiling: for waits a test or a user should predict.
    None,
    /// Uniform in [0, ceiling] ("full jitter"): the least contention.
    Full,
    /// Uniform in [ceiling / 2, ceiling]: never much shorter than asked.
    Equal,
}

/// `first · 2^retry`, at most `cap`, jittered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first retry's wait.
    pub first: Duration,
    pub cap: Duration,
    pub jitter: Jitter,
}

impl Backoff {
    /// The largest wait before retry number `retry` (0 for the first retry).
    pub fn ceiling(&self, retry: u32) -> Duration {
        self.first
            .saturating_mul(1u32 << retry.min(30))
            .min(self.cap)
    }

    /// The wait before retry number `retry` (0 for the first retry).
    pub fn delay(&self, retry: u32) -> Duration {
        let ceiling = self.ceiling(retry);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        match self.jitter {
            Jitter::None => ceiling,
            Jitter::Full => Duration::from_millis(rand::rng().random_range(0..=millis)),
            Jitter::Equal => Duration::from_millis(
                millis / 2 + rand::rng().random_range(0..=millis - millis / 2),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_doubles_up_to_the_cap() {
        let backoff = Backoff {
            first: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            jitter: Jitter::None,
        };
        let waits: Vec<u64> = (0..8)
            .map(|r| backoff.delay(r).as_millis() as u64)
            .collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        assert_eq!(backoff.ceiling(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn jittered_waits_stay_in_their_band() {
        for (jitter, floor) in [(Jitter::Full, 0), (Jitter::Equal, 2000)] {
            let backoff = Backoff {
                first: Duration::from_millis(1000),
                cap: Duration::from_secs(60),
                jitter,
            };
            for _ in 0..200 {
                let wait = backoff.delay(2).as_millis();
                assert!((floor..=4000).contains(&wait), "{jitter:?}: {wait}");
            }
        }
    }
}
