//! Per-subscriber service policy that meters traffic (issue 15): token
//! buckets for bitrate limits (per subscriber and per user-session type) and the usage-quota ledger. Plain values and arithmetic without I/O, so
//! the exactness the operator is promised (never more than rate x time +
//! burst) is checked by property tests here, not only through iperf3.

mod meter;
mod quota;
mod token_bucket;
mod type_limits;
mod verdicts;

pub use meter::{Bitrate, Meter};
pub use quota::{OnExhausted, QuotaEvent, QuotaPlan, QuotaState, Usage, MAX_THRESHOLDS};
pub use token_bucket::{Rate, Shape, TokenBucket, MIN_BURST_BYTES};
pub use type_limits::{TypeBuckets, TypeLimits, MAX_LIMITED_TYPES};
pub use verdicts::QuotaVerdicts;
