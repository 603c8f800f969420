//! Accounting export: the control plane's end of claim 6 ("accounting
//! information about a service received by the mobile terminal").
//!
//! Workers push `AccountingEvent`s into bounded queues; the control plane
//! drains them, turns them into `AccountingRecord`s (names resolved) and
//! hands batches to `AccountingExporter`, which writes them to every sink
//! the config enables (JSON lines file, IPFIX collector). Operators bill
//! with these records, so nothing is dropped silently: queue overflows
//! (`note_lost`), refused records and sink errors are counted and logged,
//! at most once per second.

// The control plane that drives this module lands separately; until then
// the binary does not call it.
#![allow(dead_code)]

pub mod ipfix;
pub mod json;
mod loss_log;
pub mod record;

#[cfg(test)]
mod ipfix_collector_tests;
#[cfg(test)]
mod ipfix_decode;
#[cfg(test)]
mod test_support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use ipfix::IpfixExporter;
use json::JsonLinesWriter;
use loss_log::LossLog;
pub use record::AccountingRecord;

/// Which sinks get accounting records; both may be on, or neither.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccountingConfig {
    #[serde(default)]
    pub json: Option<JsonSink>,
    #[serde(default)]
    pub ipfix: Option<IpfixSink>,
}

/// A JSON-lines file rotated by size.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JsonSink {
    pub path: PathBuf,
    /// Size at which the file rotates.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Rotated files kept (`path.1` .. `path.keep`).
    #[serde(default = "default_keep")]
    pub keep: u32,
}

/// An IPFIX collector reached over UDP.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IpfixSink {
    /// `"IP:PORT"` (IPv6 as `"[addr]:port"`).
    pub collector: String,
    #[serde(default = "default_observation_domain")]
    pub observation_domain: u32,
    /// Seconds between template resends.
    #[serde(default = "default_template_refresh_s")]
    pub template_refresh_s: u64,
    /// The operator's IANA private enterprise number: when given, the
    /// mobile session ID (which has no IANA element) is exported as
    /// element 1 under it. Absent: no enterprise-specific elements.
    #[serde(default)]
    pub enterprise: Option<u32>,
}

fn default_max_bytes() -> u64 {
    100 * 1024 * 1024
}

fn default_keep() -> u32 {
    10
}

fn default_observation_domain() -> u32 {
    1
}

fn default_template_refresh_s() -> u64 {
    60
}

/// Why the exporter could not start.
#[derive(Debug, thiserror::Error)]
pub enum AccountingError {
    #[error("accounting: json.max_bytes must be above 0")]
    ZeroMaxBytes,
    #[error("accounting: cannot open {}: {source}", path.display())]
    JsonOpen {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("accounting: ipfix.collector '{0}' is not IP:PORT with a port above 0")]
    BadCollector(String),
    #[error("accounting: ipfix.template_refresh_s must be above 0")]
    ZeroTemplateRefresh,
    #[error("accounting: no UDP socket for IPFIX collector {collector}: {source}")]
    IpfixSocket {
        collector: SocketAddr,
        source: std::io::Error,
    },
}

/// What the exporter has done since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccountingCounters {
    /// Records every enabled sink took (with no sink enabled: every record;
    /// accounting is then off by choice, nothing failed).
    pub exported: u64,
    /// Records at least one enabled sink failed to take.
    pub failed: u64,
    /// I/O errors from the sinks (one failed send can fail many records).
    pub export_errors: u64,
    /// Events the worker queues could not take (`note_lost`).
    pub lost: u64,
}

/// Owns the enabled sinks and exports record batches to all of them.
pub struct AccountingExporter {
    json: Option<JsonLinesWriter>,
    ipfix: Option<IpfixExporter>,
    counters: AccountingCounters,
    loss_log: LossLog,
}

impl AccountingExporter {
    /// Opens the sinks `cfg` enables.
    pub fn new(cfg: &AccountingConfig) -> Result<Self, AccountingError> {
        let json = match &cfg.json {
            None => None,
            Some(sink) => {
                if sink.max_bytes == 0 {
                    return Err(AccountingError::ZeroMaxBytes);
                }
                let writer = JsonLinesWriter::open(&sink.path, sink.max_bytes, sink.keep).map_err(
                    |source| AccountingError::JsonOpen {
                        path: sink.path.clone(),
                        source,
                    },
                )?;
                Some(writer)
            }
        };
        let ipfix = match &cfg.ipfix {
            None => None,
            Some(sink) => {
                let collector: SocketAddr = sink
                    .collector
                    .parse()
                    .ok()
                    .filter(|a: &SocketAddr| a.port() != 0)
                    .ok_or_else(|| AccountingError::BadCollector(sink.collector.clone()))?;
                if sink.template_refresh_s == 0 {
                    return Err(AccountingError::ZeroTemplateRefresh);
                }
                let refresh = Duration::from_secs(sink.template_refresh_s);
                let exporter = IpfixExporter::with_enterprise(
                    collector,
                    sink.observation_domain,
                    refresh,
                    sink.enterprise,
                )
                .map_err(|source| AccountingError::IpfixSocket { collector, source })?;
                Some(exporter)
            }
        };
        Ok(Self::with_sinks(json, ipfix))
    }

    /// An exporter over sinks opened by the caller.
    pub fn with_sinks(json: Option<JsonLinesWriter>, ipfix: Option<IpfixExporter>) -> Self {
        AccountingExporter {
            json,
            ipfix,
            counters: AccountingCounters::default(),
            loss_log: LossLog::new(Duration::from_secs(1)),
        }
    }

    /// Writes `recs` to every enabled sink, counting what each refused,
    /// then logs losses if a report is due.
    pub fn export(&mut self, recs: &[AccountingRecord]) {
        // Records [0, taken_by_all) are taken by the IPFIX sink, if any (it
        // stops at its first failed send).
        let mut taken_by_all = recs.len();
        if let Some(ipfix) = self.ipfix.as_mut() {
            let before = ipfix.data_records_sent();
            let result = ipfix.export(recs);
            taken_by_all = (ipfix.data_records_sent() - before) as usize;
            if let Err(e) = result {
                self.counters.export_errors += 1;
                self.loss_log
                    .add_sink_error(format!("IPFIX to {}: {e}", ipfix.collector()));
            }
        }
        let mut failed = recs.len() - taken_by_all;
        if let Some(json) = self.json.as_mut() {
            for (i, rec) in recs.iter().enumerate() {
                if let Err(e) = json.write(rec) {
                    self.counters.export_errors += 1;
                    self.loss_log
                        .add_sink_error(format!("JSON {}: {e}", json.path().display()));
                    if i < taken_by_all {
                        failed += 1;
                    }
                }
            }
            // Billing data: on disk once per batch, not when the buffer fills.
            if let Err(e) = json.flush() {
                self.counters.export_errors += 1;
                self.loss_log
                    .add_sink_error(format!("JSON {} flush: {e}", json.path().display()));
            }
        }
        self.counters.failed += failed as u64;
        self.counters.exported += (recs.len() - failed) as u64;
        self.loss_log.add_failed_records(failed as u64);
        self.warn_if_due();
    }

    /// Counts `n` events the worker queues could not take.
    pub fn note_lost(&mut self, n: u64) {
        if n == 0 {
            return;
        }
        self.counters.lost += n;
        self.loss_log.add_lost_events(n);
        self.warn_if_due();
    }

    /// Logs losses still waiting for their report; call it periodically so
    /// the last losses before a quiet spell are logged too.
    pub fn tick(&mut self) {
        self.warn_if_due();
    }

    pub fn counters(&self) -> AccountingCounters {
        self.counters
    }

    fn warn_if_due(&mut self) {
        if let Some(report) = self.loss_log.take_due(Instant::now()) {
            tracing::warn!(
                lost_events = report.lost_events,
                failed_records = report.failed_records,
                sink_errors = report.sink_errors,
                last_error = report.last_error.as_deref().unwrap_or(""),
                "accounting records lost since the last report"
            );
        }
    }
}

#[cfg(test)]
mod tests;
