//! The accounting record operators bill with: one worker event made
//! readable.
//!
//! Workers report `AccountingEvent`s with indexes and raw numbers; the
//! control plane resolves the names here once, so every sink (JSON lines,
//! IPFIX) exports the same record. Addresses serialize as dotted strings,
//! protocol, kind and end reason as words, and times both as epoch
//! milliseconds and as RFC 3339 UTC text.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use dataplane::event::{AccountingEvent, EndReason, RecordKind, EXTERNAL_SERVICE};
use serde::{Serialize, Serializer};

/// Turns the indexes of an event into names. The control plane implements
/// it over its current policy snapshot and session table.
pub trait NameResolver {
    /// Name of the service with this index (never called for external
    /// destinations).
    fn service_name(&self, idx: u32) -> String;
    /// Name of the user-session type with this index.
    fn type_name(&self, idx: u8) -> String;
    /// How the subscriber of this mobile session is shown (e.g. the session
    /// ID as configured: address, VLAN, TEID).
    fn subscriber(&self, session_id: u64) -> String;
}

/// Service name written for external destinations.
pub const EXTERNAL_SERVICE_NAME: &str = "external";

/// One user session's accounting, ready for export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccountingRecord {
    /// `"final"` or `"interim"`.
    #[serde(serialize_with = "kind_word")]
    pub kind: RecordKind,
    /// `"fin"`, `"rst"`, `"timeout"`, `"not_entitled"`, `"admin"`.
    #[serde(serialize_with = "end_reason_word")]
    pub end_reason: EndReason,
    /// `"tcp"`, `"udp"`, `"icmp"`, or the protocol number in decimal.
    #[serde(serialize_with = "proto_word")]
    pub proto: u8,
    /// Mobile session ID as the worker saw it.
    pub session_id: u64,
    /// The subscriber as the control plane shows it.
    pub subscriber: String,
    /// User-session ID: `"GWIP:PORT"`, or `"[GWIPV6]:PORT"` for an IPv6
    /// → IPv6 user session (the gateway address is then IPv6).
    pub user_session_id: String,
    /// Name of the user-session type.
    pub user_session_type: String,
    /// Index of the user-session type in the policy.
    pub user_session_type_index: u8,
    /// Service name, or `"external"`.
    pub service: String,
    /// Service index; `None` for an external destination.
    pub service_index: Option<u32>,
    /// Worker (gateway) that owned the user session.
    pub worker: u16,
    pub terminal_ip: Ipv4Addr,
    pub terminal_port: u16,
    pub gateway_ip: Ipv4Addr,
    pub gateway_port: u16,
    /// What the terminal addressed (a VIP or an external destination).
    pub dest_ip: Ipv4Addr,
    pub dest_port: u16,
    /// The server chosen.
    pub server_ip: Ipv4Addr,
    pub server_port: u16,
    /// Terminal to server.
    pub packets_up: u64,
    pub bytes_up: u64,
    /// Server to terminal.
    pub packets_down: u64,
    pub bytes_down: u64,
    /// Milliseconds since the Unix epoch.
    pub start_ms: u64,
    pub end_ms: u64,
    /// The same instants as RFC 3339 UTC text, millisecond precision.
    pub start: String,
    pub end: String,
    /// NAT64 user sessions (`terminal_ip` and `dest_ip` are then
    /// 0.0.0.0): the terminal's IPv6 address and the IPv6 address it
    /// addressed (an IPv6 VIP or a NAT64-prefix address). Absent for IPv4.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminal_ipv6: Option<Ipv6Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dest_ipv6: Option<Ipv6Addr>,
    /// IPv6 → IPv6 user sessions (NAT66; `gateway_ip` and `server_ip`
    /// are then 0.0.0.0 as well): the gateway IPv6 address (the source
    /// the server sees) and the IPv6 server, after the translation.
    /// Absent for IPv4 and NAT64 records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway_ipv6: Option<Ipv6Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_ipv6: Option<Ipv6Addr>,
    /// A subscriber's quota record (`end_reason` `quota_threshold`): the
    /// percentage of the quota crossed. Absent from other records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota_threshold_percent: Option<u8>,
}

impl AccountingRecord {
    /// Builds the record of one worker event, asking `names` for the names.
    pub fn from_event(ev: &AccountingEvent, names: &dyn NameResolver) -> AccountingRecord {
        let (service, service_index) = if ev.service == EXTERNAL_SERVICE {
            (EXTERNAL_SERVICE_NAME.to_string(), None)
        } else {
            (names.service_name(ev.service), Some(ev.service))
        };
        let post_nat = ev.ipv6.and_then(|v| v.post_nat);
        AccountingRecord {
            kind: ev.kind,
            end_reason: ev.end_reason,
            proto: ev.proto,
            session_id: ev.session_id,
            subscriber: names.subscriber(ev.session_id),
            user_session_id: user_session_id(ev),
            user_session_type: names.type_name(ev.user_session_type),
            user_session_type_index: ev.user_session_type,
            service,
            service_index,
            worker: ev.worker,
            terminal_ip: ev.terminal_ip,
            terminal_port: ev.terminal_port,
            gateway_ip: ev.gateway_ip,
            gateway_port: ev.gateway_port,
            dest_ip: ev.dest_ip,
            dest_port: ev.dest_port,
            server_ip: ev.server_ip,
            server_port: ev.server_port,
            packets_up: ev.packets_up,
            bytes_up: ev.bytes_up,
            packets_down: ev.packets_down,
            bytes_down: ev.bytes_down,
            start_ms: ev.start_ms,
            end_ms: ev.end_ms,
            start: rfc3339_utc_ms(ev.start_ms),
            end: rfc3339_utc_ms(ev.end_ms),
            terminal_ipv6: ev.ipv6.map(|v| v.terminal),
            dest_ipv6: ev.ipv6.map(|v| v.dest),
            gateway_ipv6: post_nat.map(|p| p.gateway),
            server_ipv6: post_nat.map(|p| p.server),
            quota_threshold_percent: None,
        }
    }

    /// A subscriber's quota record: kind `interim`, reason
    /// `quota_threshold` (with `percent`) or `quota_exhausted`, service
    /// `"quota"`, no user session; bytes are the period's so far, start
    /// and end the period's start and now.
    pub fn quota(
        ev: &AccountingEvent,
        percent: Option<u8>,
        names: &dyn NameResolver,
    ) -> AccountingRecord {
        let mut rec = AccountingRecord::from_event(ev, names);
        rec.service = QUOTA_SERVICE_NAME.to_string();
        rec.service_index = None;
        rec.user_session_id = String::new();
        rec.user_session_type = String::new();
        rec.quota_threshold_percent = percent;
        rec
    }

    /// What a quota record's reason says, as one word (IPFIX carries it in
    /// applicationCategoryName): `quota_threshold_50`, `quota_exhausted`.
    pub fn quota_reason(&self) -> Option<String> {
        match (self.kind, self.end_reason, self.quota_threshold_percent) {
            (RecordKind::Interim, EndReason::QuotaThreshold, Some(p)) => {
                Some(format!("quota_threshold_{p}"))
            }
            (RecordKind::Interim, EndReason::QuotaExhausted, _) => {
                Some("quota_exhausted".to_string())
            }
            _ => None,
        }
    }
}

/// The user-session ID of `ev`: its gateway address and unique port, as a
/// socket address is written (`192.0.2.1:1025`, `[2001:db8::1]:1025` for
/// an IPv6 → IPv6 user session, whose IPv4 gateway address is 0.0.0.0).
fn user_session_id(ev: &AccountingEvent) -> String {
    let gateway: IpAddr = match ev.ipv6.and_then(|v| v.post_nat) {
        Some(p) => p.gateway.into(),
        None => ev.gateway_ip.into(),
    };
    SocketAddr::new(gateway, ev.gateway_port).to_string()
}

/// Service name written in a subscriber's quota records.
pub const QUOTA_SERVICE_NAME: &str = "quota";

/// The word for an IP protocol number: `"tcp"`, `"udp"`, `"icmp"`, or the
/// number itself.
pub fn proto_name(proto: u8) -> String {
    match proto {
        1 => "icmp".to_string(),
        6 => "tcp".to_string(),
        17 => "udp".to_string(),
        other => other.to_string(),
    }
}

fn proto_word<S: Serializer>(proto: &u8, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&proto_name(*proto))
}

fn kind_word<S: Serializer>(kind: &RecordKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.as_str())
}

fn end_reason_word<S: Serializer>(reason: &EndReason, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(reason.as_str())
}

const MS_PER_DAY: u64 = 86_400_000;

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for milliseconds since the Unix epoch.
/// Years past 9999 print with more digits (no clock gives those).
pub fn rfc3339_utc_ms(epoch_ms: u64) -> String {
    let days = epoch_ms / MS_PER_DAY;
    let ms_of_day = epoch_ms % MS_PER_DAY;
    let (year, month, day) = civil_from_days(days);
    let hour = ms_of_day / 3_600_000;
    let minute = ms_of_day / 60_000 % 60;
    let second = ms_of_day / 1000 % 60;
    let milli = ms_of_day % 1000;
    let mut text = String::with_capacity(24);
    // Writing into a String cannot fail.
    let _ = write!(
        text,
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{milli:03}Z"
    );
    text
}

/// Proleptic Gregorian (year, month 1..=12, day 1..=31) of a day count
/// since 1970-01-01.
///
/// The calendar repeats every 400 years (146 097 days). Counting from
/// 0000-03-01 puts the leap day at the end of each year, so within an era
/// the year follows from the day by dividing out the 4-, 100- and 400-year
/// rules, and the month from a linear formula over March-based months
/// (153 days for every 5 months).
pub fn civil_from_days(days_since_epoch: u64) -> (u64, u32, u32) {
    const DAYS_PER_ERA: u64 = 146_097;
    // 1970-01-01 is 719 468 days after 0000-03-01.
    let days = days_since_epoch + 719_468;
    let era = days / DAYS_PER_ERA;
    let day_of_era = days % DAYS_PER_ERA; // 0..=146_096
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365; // 0..=399
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // 0..=365
    let march_month = (5 * day_of_year + 2) / 153; // 0 = March .. 11 = February
    let day = (day_of_year - (153 * march_month + 2) / 5 + 1) as u32;
    let month = if march_month < 10 {
        march_month + 3
    } else {
        march_month - 9
    } as u32;
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounting::test_support::FixedNames;

    fn event() -> AccountingEvent {
        AccountingEvent {
            kind: RecordKind::Final,
            end_reason: EndReason::NotEntitled,
            proto: 6,
            user_session_type: 3,
            worker: 2,
            session_id: 0xabc,
            terminal_ip: Ipv4Addr::new(10, 1, 2, 3),
            terminal_port: 40000,
            gateway_ip: Ipv4Addr::new(192, 0, 2, 1),
            gateway_port: 1025,
            dest_ip: Ipv4Addr::new(198, 51, 100, 10),
            dest_port: 80,
            server_ip: Ipv4Addr::new(198, 51, 100, 20),
            server_port: 8080,
            service: 7,
            packets_up: 11,
            bytes_up: 1100,
            packets_down: 22,
            bytes_down: 22_000,
            start_ms: 1_709_164_800_123,
            end_ms: 1_709_251_199_999,
            ipv6: None,
        }
    }

    #[test]
    fn every_field_reads_in_json() {
        let rec = AccountingRecord::from_event(&event(), &FixedNames);
        let v: serde_json::Value = serde_json::to_value(&rec).unwrap();
        let expected = serde_json::json!({
            "kind": "final",
            "end_reason": "not_entitled",
            "proto": "tcp",
            "session_id": 0xabc,
            "subscriber": "sub-abc",
            "user_session_id": "192.0.2.1:1025",
            "user_session_type": "type3",
            "user_session_type_index": 3,
            "service": "svc7",
            "service_index": 7,
            "worker": 2,
            "terminal_ip": "10.1.2.3",
            "terminal_port": 40000,
            "gateway_ip": "192.0.2.1",
            "gateway_port": 1025,
            "dest_ip": "198.51.100.10",
            "dest_port": 80,
            "server_ip": "198.51.100.20",
            "server_port": 8080,
            "packets_up": 11,
            "bytes_up": 1100,
            "packets_down": 22,
            "bytes_down": 22000,
            "start_ms": 1_709_164_800_123u64,
            "end_ms": 1_709_251_199_999u64,
            "start": "2024-02-29T00:00:00.123Z",
            "end": "2024-02-29T23:59:59.999Z",
        });
        assert_eq!(v, expected);
    }

    #[test]
    fn a_nat64_record_carries_the_ipv6_ends() {
        let mut ev = event();
        ev.terminal_ip = Ipv4Addr::UNSPECIFIED;
        ev.dest_ip = Ipv4Addr::UNSPECIFIED;
        ev.ipv6 = Some(dataplane::event::Ipv6Ends {
            terminal: "2001:db8:1::100".parse().unwrap(),
            dest: "64:ff9b::c633:640a".parse().unwrap(),
            post_nat: None,
        });
        let v = serde_json::to_value(AccountingRecord::from_event(&ev, &FixedNames)).unwrap();
        assert_eq!(v["terminal_ipv6"], "2001:db8:1::100");
        assert_eq!(v["dest_ipv6"], "64:ff9b::c633:640a");
        assert_eq!(v["terminal_ip"], "0.0.0.0");
        assert_eq!(v["dest_ip"], "0.0.0.0");
        // After the translation: IPv4 as for any record.
        assert_eq!(v["gateway_ip"], "192.0.2.1");
        assert_eq!(v["server_ip"], "198.51.100.20");
        assert_eq!(v["user_session_id"], "192.0.2.1:1025");
        assert!(v.get("gateway_ipv6").is_none(), "{v}");
        assert!(v.get("server_ipv6").is_none(), "{v}");
        // IPv4 records have no IPv6 field at all.
        let plain =
            serde_json::to_value(AccountingRecord::from_event(&event(), &FixedNames)).unwrap();
        for key in ["terminal_ipv6", "dest_ipv6", "gateway_ipv6", "server_ipv6"] {
            assert!(plain.get(key).is_none(), "{key} in {plain}");
        }
    }

    #[test]
    fn a_nat66_record_carries_the_ipv6_ends_on_both_sides() {
        let mut ev = event();
        ev.terminal_ip = Ipv4Addr::UNSPECIFIED;
        ev.dest_ip = Ipv4Addr::UNSPECIFIED;
        ev.gateway_ip = Ipv4Addr::UNSPECIFIED;
        ev.server_ip = Ipv4Addr::UNSPECIFIED;
        ev.ipv6 = Some(dataplane::event::Ipv6Ends {
            terminal: "2001:db8:1::100".parse().unwrap(),
            dest: "2001:db8:5::80".parse().unwrap(),
            post_nat: Some(dataplane::event::PostNat6 {
                gateway: "2001:db8:2::1".parse().unwrap(),
                server: "2001:db8:3::20".parse().unwrap(),
            }),
        });
        let v = serde_json::to_value(AccountingRecord::from_event(&ev, &FixedNames)).unwrap();
        assert_eq!(v["terminal_ipv6"], "2001:db8:1::100");
        assert_eq!(v["dest_ipv6"], "2001:db8:5::80");
        assert_eq!(v["gateway_ipv6"], "2001:db8:2::1");
        assert_eq!(v["server_ipv6"], "2001:db8:3::20");
        // Every IPv4 address field unspecified, the ports as for any record.
        for key in ["terminal_ip", "dest_ip", "gateway_ip", "server_ip"] {
            assert_eq!(v[key], "0.0.0.0", "{key}");
        }
        assert_eq!(v["terminal_port"], 40000);
        assert_eq!(v["gateway_port"], 1025);
        assert_eq!(v["server_port"], 8080);
        // The user session is named by its IPv6 gateway address and port,
        // written as a socket address.
        assert_eq!(v["user_session_id"], "[2001:db8:2::1]:1025");
        let id: std::net::SocketAddr = v["user_session_id"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            id,
            std::net::SocketAddr::new("2001:db8:2::1".parse().unwrap(), 1025)
        );
    }

    #[test]
    fn a_quota_record_names_its_reason_and_percentage() {
        let mut ev = event();
        ev.kind = RecordKind::Interim;
        ev.end_reason = EndReason::QuotaThreshold;
        let rec = AccountingRecord::quota(&ev, Some(80), &FixedNames);
        let v = serde_json::to_value(&rec).unwrap();
        assert_eq!(v["kind"], "interim");
        assert_eq!(v["end_reason"], "quota_threshold");
        assert_eq!(v["quota_threshold_percent"], 80);
        assert_eq!(v["service"], "quota");
        assert_eq!(v["subscriber"], "sub-abc");
        assert_eq!(v["bytes_down"], 22_000);
        assert_eq!(rec.quota_reason().as_deref(), Some("quota_threshold_80"));
        // Other records carry no percentage at all.
        let plain =
            serde_json::to_value(AccountingRecord::from_event(&event(), &FixedNames)).unwrap();
        assert!(plain.get("quota_threshold_percent").is_none());
    }

    #[test]
    fn external_destination_needs_no_service_name() {
        struct NoServices;
        impl NameResolver for NoServices {
            fn service_name(&self, idx: u32) -> String {
                panic!("asked for service {idx}")
            }
            fn type_name(&self, _: u8) -> String {
                "default".into()
            }
            fn subscriber(&self, _: u64) -> String {
                "s".into()
            }
        }
        let mut ev = event();
        ev.service = EXTERNAL_SERVICE;
        ev.kind = RecordKind::Interim;
        ev.proto = 17;
        let rec = AccountingRecord::from_event(&ev, &NoServices);
        let v = serde_json::to_value(&rec).unwrap();
        assert_eq!(v["service"], "external");
        assert_eq!(v["service_index"], serde_json::Value::Null);
        assert_eq!(v["kind"], "interim");
        assert_eq!(v["proto"], "udp");
    }

    #[test]
    fn protocol_words() {
        assert_eq!(proto_name(1), "icmp");
        assert_eq!(proto_name(6), "tcp");
        assert_eq!(proto_name(17), "udp");
        assert_eq!(proto_name(47), "47");
    }

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339_utc_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_utc_ms(86_399_999), "1970-01-01T23:59:59.999Z");
        // 2000 is a leap year (divisible by 400), 1900 and 2100 are not.
        assert_eq!(rfc3339_utc_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_utc_ms(951_868_800_000), "2000-03-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_utc_ms(4_107_542_400_000),
            "2100-03-01T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339_utc_ms(1_234_567_890_000),
            "2009-02-13T23:31:30.000Z"
        );
        assert_eq!(
            rfc3339_utc_ms(1_703_980_800_000),
            "2023-12-31T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339_utc_ms(253_402_300_799_999),
            "9999-12-31T23:59:59.999Z"
        );
    }

    /// Counts days forward one by one with the leap-year rule and checks
    /// the arithmetic conversion agrees on every day of 1970..2500.
    #[test]
    fn civil_from_days_matches_day_by_day_calendar() {
        fn leap(y: u64) -> bool {
            matches!((y % 4, y % 100, y % 400), (_, _, 0) | (0, 1.., _))
        }
        let month_len = |y: u64, m: u32| -> u32 {
            match m {
                2 if leap(y) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            }
        };
        let (mut y, mut m, mut d) = (1970u64, 1u32, 1u32);
        let mut day = 0u64;
        while y < 2500 {
            assert_eq!(civil_from_days(day), (y, m, d), "day {day}");
            day += 1;
            d += 1;
            if d > month_len(y, m) {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }
}
