//! Per-subscriber service policy that meters traffic (issue 15): token
//! buckets for bitrate limits. Plain values and arithmetic without I/O, so
//! the exactness the operator is promised (never more than rate x time +
//! burst) is checked by property tests here, not only through iperf3.

mod token_bucket;

pub use token_bucket::{Rate, TokenBucket};
