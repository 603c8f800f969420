//! Wall-clock milliseconds that never go backwards.
//!
//! Workers timestamp user sessions and accounting records with this: the
//! Unix time at start plus a monotonic elapsed time, so a clock step on the
//! host cannot make timers fire early or records run backwards.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: Instant,
    start_epoch_ms: u64,
}

impl Clock {
    pub fn new() -> Clock {
        let start_epoch_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Clock {
            start: Instant::now(),
            start_epoch_ms,
        }
    }

    /// Milliseconds since the Unix epoch.
    #[inline]
    pub fn now_ms(&self) -> u64 {
        self.start_epoch_ms + self.start.elapsed().as_millis() as u64
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}
