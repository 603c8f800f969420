//! Rate-limited reporting of lost accounting: every loss is counted, and
//! the counts gathered since the last report are logged at most once per
//! interval, so a full queue or a dead collector cannot flood the log.

use std::time::{Duration, Instant};

/// Losses gathered since the last report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LossReport {
    /// Events the worker queues could not take.
    pub lost_events: u64,
    /// Records at least one sink failed to take.
    pub failed_records: u64,
    /// I/O errors from the sinks.
    pub sink_errors: u64,
    /// The most recent sink error, if any.
    pub last_error: Option<String>,
}

impl LossReport {
    fn is_empty(&self) -> bool {
        self.lost_events == 0 && self.failed_records == 0 && self.sink_errors == 0
    }
}

/// Gathers losses and hands them out as one report per interval.
pub struct LossLog {
    interval: Duration,
    last_report: Option<Instant>,
    pending: LossReport,
}

impl LossLog {
    pub fn new(interval: Duration) -> LossLog {
        LossLog {
            interval,
            last_report: None,
            pending: LossReport::default(),
        }
    }

    pub fn add_lost_events(&mut self, n: u64) {
        self.pending.lost_events += n;
    }

    pub fn add_failed_records(&mut self, n: u64) {
        self.pending.failed_records += n;
    }

    pub fn add_sink_error(&mut self, error: String) {
        self.pending.sink_errors += 1;
        self.pending.last_error = Some(error);
    }

    /// The losses gathered so far if there are any and the last report is
    /// at least one interval old at `now`; they are then cleared.
    pub fn take_due(&mut self, now: Instant) -> Option<LossReport> {
        if self.pending.is_empty() {
            return None;
        }
        let due = !matches!(
            self.last_report,
            Some(at) if now.saturating_duration_since(at) < self.interval
        );
        if !due {
            return None;
        }
        self.last_report = Some(now);
        Some(std::mem::take(&mut self.pending))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_at_most_once_per_interval_and_keeps_every_count() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut log = LossLog::new(Duration::from_secs(1));
        assert_eq!(log.take_due(t0), None, "nothing to report");

        log.add_lost_events(3);
        let first = log.take_due(t0).unwrap();
        assert_eq!(first.lost_events, 3);

        log.add_lost_events(2);
        log.add_failed_records(4);
        log.add_sink_error("disk full".into());
        assert_eq!(log.take_due(t0 + ms(999)), None, "within the interval");
        log.add_lost_events(5);
        log.add_sink_error("still full".into());
        let second = log.take_due(t0 + ms(1000)).unwrap();
        assert_eq!(
            second,
            LossReport {
                lost_events: 7,
                failed_records: 4,
                sink_errors: 2,
                last_error: Some("still full".into()),
            }
        );
        assert_eq!(log.take_due(t0 + ms(5000)), None, "all reported");
    }
}
