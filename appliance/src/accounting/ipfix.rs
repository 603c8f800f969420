//! Accounting records as IPFIX (RFC 7011) over UDP.
//!
//! Operators' collectors (nfdump, pmacct, commercial mediation systems)
//! already speak IPFIX, so the appliance exports standard IANA information
//! elements (one template per kind of user session, below) and adds
//! enterprise-specific ones only where IANA has nothing:
//!
//! | record field            | information element                            |
//! |-------------------------|------------------------------------------------|
//! | start_ms / end_ms       | flowStartMilliseconds (152) / flowEndMilliseconds (153) |
//! | terminal ip / port      | sourceIPv4Address (8) / sourceTransportPort (7) |
//! | dest ip / port          | destinationIPv4Address (12) / destinationTransportPort (11) |
//! | proto                   | protocolIdentifier (4)                          |
//! | gateway ip / port       | postNATSourceIPv4Address (225) / postNAPTSourceTransportPort (227) |
//! | server ip / port        | postNATDestinationIPv4Address (226) / postNAPTDestinationTransportPort (228) |
//! | bytes_up / packets_up   | octetTotalCount (85) / packetTotalCount (86)   |
//! | bytes_down / packets_down | reverseOctetTotalCount / reversePacketTotalCount (RFC 5103: PEN 29305, IE 85 / 86) |
//! | kind + end_reason       | flowEndReason (136) and firewallEvent (233), mapping below |
//! | service (name)          | applicationName (96), string, variable length ("external" for external traffic) |
//! | user_session_type (name)| applicationCategoryName (372), string, variable length |
//! | session_id              | only with `enterprise: N` in the config: PEN N, IE 1, unsigned64 |
//!
//! NAT64 user sessions (an IPv6 terminal reaching IPv4 servers) go under a
//! second template, 257: the same elements, with the terminal and what it
//! addressed (an IPv6 VIP or a NAT64-prefix address) as sourceIPv6Address
//! (27) / destinationIPv6Address (28) in place of 8 / 12; the post-NAT
//! elements 225 / 226 stay IPv4 (gateway address, server).
//!
//! IPv6 → IPv6 user sessions (NAT66: an IPv6 terminal reaching IPv6
//! servers through an IPv6 gateway address) go under a third template,
//! 258: the NAT64 template with the post-NAT addresses IPv6 as well,
//! postNATSourceIPv6Address (281, the gateway IPv6 address) and
//! postNATDestinationIPv6Address (282, the server) in place of 225 / 226;
//! the ports (227 / 228) are the gateway's unique port and the server's as
//! for any record. A message holds one data set per run of records of one
//! template, in record order; the template message defines all three.
//!
//! The service and the user-session type go as their names in the IANA
//! application elements (the type is a first-level category of the traffic,
//! the service the application it reaches), so collectors show them without
//! any enterprise knowledge. The mobile session ID (terminal address with
//! VLAN, or GTP TEID) has no IANA element; it is exported only under the
//! operator's own private enterprise number (`accounting.ipfix.enterprise`):
//! the exporter used to send it under 32473, which RFC 5612 reserves for
//! documentation. Without that setting the template has no enterprise
//! element of its own (the terminal address is sourceIPv4Address; the JSON
//! records carry the session ID either way).
//!
//! Counter choice: records carry totals since the user session began
//! (interim records too), so the *Total* counters are the honest elements;
//! the *Delta* ones would make a collector that sums deltas count an interim
//! record's bytes again in the final record. The server-to-terminal
//! direction uses the RFC 5103 (standards track) reverse elements: the
//! `post*` counters mean "after the middlebox, same direction", not the
//! reverse direction.
//!
//! End mapping (flowEndReason, firewallEvent):
//!
//! * interim: 2 active timeout (the flow goes on and is reported
//!   periodically), 5 flow update;
//! * final fin / rst: 3 end of flow detected, 2 flow deleted;
//! * final timeout: 1 idle timeout, 2 flow deleted;
//! * final admin: 4 forced end, 2 flow deleted;
//! * final not_entitled, subscriber_limit: 4 forced end, 3 flow denied;
//! * final quota_exhausted: 4 forced end, and 3 flow denied for a user
//!   session refused at creation, 2 flow deleted for one the quota ended.
//!
//! A subscriber's quota record (issue 15: a threshold crossed, or the quota
//! used up) is an interim record of no user session: applicationName
//! (96) is `quota`, applicationCategoryName (372) says why
//! (`quota_threshold_50`, `quota_exhausted`), sourceIPv4Address is the
//! terminal, octetTotalCount and its reverse the period's bytes each way,
//! flowStart/EndMilliseconds the period's start and the crossing.
//!
//! natEvent (230) is not used: its values (RFC 8158) have no "update", so an
//! interim record could only be mislabelled as a create or a delete;
//! firewallEvent says the same thing for every kind of record.
//!
//! The UDP transport loses templates when a collector restarts, so the
//! exporter sends the template at start and again every refresh interval
//! (RFC 7011 §8.4, §10.3.6).

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dataplane::event::{EndReason, RecordKind};

use super::record::AccountingRecord;

/// IPFIX version number in the message header.
pub const IPFIX_VERSION: u16 = 10;
/// Set ID of a template set.
pub const TEMPLATE_SET_ID: u16 = 2;
/// The template of IPv4 records (data set ID).
pub const TEMPLATE_ID: u16 = 256;
/// The template of NAT64 records: IPv6 before the translation, IPv4 after.
pub const NAT64_TEMPLATE_ID: u16 = 257;
/// The template of NAT66 records: IPv6 before and after the translation.
pub const NAT66_TEMPLATE_ID: u16 = 258;
/// PEN that marks RFC 5103 reverse-direction elements.
pub const REVERSE_PEN: u32 = 29305;
/// Largest message sent: stays below common path MTUs with IP and UDP
/// headers added.
pub const MAX_MESSAGE_BYTES: usize = 1400;

const MESSAGE_HEADER_BYTES: usize = 16;
const SET_HEADER_BYTES: usize = 4;
const ENTERPRISE_BIT: u16 = 0x8000;
/// Template length of a variable-length element (RFC 7011 §7).
const VARIABLE_LENGTH: u16 = 0xFFFF;
/// Longest name sent in a string element (longer ones are cut at a
/// character boundary), so one record always fits a message.
pub const MAX_NAME_BYTES: usize = 254;

/// One information element of the template, with how a record fills it.
#[derive(Clone, Copy)]
struct Field {
    id: u16,
    len: u16,
    pen: Option<u32>,
    put: fn(&AccountingRecord, &mut Vec<u8>),
}

const fn std_ie(id: u16, len: u16, put: fn(&AccountingRecord, &mut Vec<u8>)) -> Field {
    Field {
        id,
        len,
        pen: None,
        put,
    }
}

const fn pen_ie(pen: u32, id: u16, len: u16, put: fn(&AccountingRecord, &mut Vec<u8>)) -> Field {
    Field {
        id,
        len,
        pen: Some(pen),
        put,
    }
}

fn put_ip(out: &mut Vec<u8>, ip: Ipv4Addr) {
    out.extend_from_slice(&ip.octets());
}

fn put_ip6(out: &mut Vec<u8>, ip: Option<Ipv6Addr>) {
    out.extend_from_slice(&ip.unwrap_or(Ipv6Addr::UNSPECIFIED).octets());
}

fn put_name(out: &mut Vec<u8>, name: &str) {
    let mut end = name.len().min(MAX_NAME_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    // One length byte: names are at most 254 bytes (RFC 7011 §7).
    out.push(end as u8);
    out.extend_from_slice(&name.as_bytes()[..end]);
}

/// The standard elements, in wire order.
const STANDARD_FIELDS: &[Field] = &[
    std_ie(152, 8, |r, o| {
        o.extend_from_slice(&r.start_ms.to_be_bytes())
    }),
    std_ie(153, 8, |r, o| o.extend_from_slice(&r.end_ms.to_be_bytes())),
    std_ie(8, 4, |r, o| put_ip(o, r.terminal_ip)),
    std_ie(12, 4, |r, o| put_ip(o, r.dest_ip)),
    std_ie(7, 2, |r, o| {
        o.extend_from_slice(&r.terminal_port.to_be_bytes())
    }),
    std_ie(11, 2, |r, o| {
        o.extend_from_slice(&r.dest_port.to_be_bytes())
    }),
    std_ie(4, 1, |r, o| o.push(r.proto)),
    std_ie(225, 4, |r, o| put_ip(o, r.gateway_ip)),
    std_ie(226, 4, |r, o| put_ip(o, r.server_ip)),
    std_ie(227, 2, |r, o| {
        o.extend_from_slice(&r.gateway_port.to_be_bytes())
    }),
    std_ie(228, 2, |r, o| {
        o.extend_from_slice(&r.server_port.to_be_bytes())
    }),
    std_ie(85, 8, |r, o| o.extend_from_slice(&r.bytes_up.to_be_bytes())),
    std_ie(86, 8, |r, o| {
        o.extend_from_slice(&r.packets_up.to_be_bytes())
    }),
    pen_ie(REVERSE_PEN, 85, 8, |r, o| {
        o.extend_from_slice(&r.bytes_down.to_be_bytes())
    }),
    pen_ie(REVERSE_PEN, 86, 8, |r, o| {
        o.extend_from_slice(&r.packets_down.to_be_bytes())
    }),
    std_ie(136, 1, |r, o| o.push(flow_end_reason(r.kind, r.end_reason))),
    std_ie(233, 1, |r, o| {
        o.push(firewall_event(r.kind, r.end_reason, r.gateway_port))
    }),
    std_ie(96, VARIABLE_LENGTH, |r, o| put_name(o, &r.service)),
    std_ie(372, VARIABLE_LENGTH, |r, o| match r.quota_reason() {
        Some(reason) => put_name(o, &reason),
        None => put_name(o, &r.user_session_type),
    }),
];

/// The mobile session ID, under the operator's enterprise number.
fn session_id_field(pen: u32) -> Field {
    pen_ie(pen, 1, 8, |r, o| {
        o.extend_from_slice(&r.session_id.to_be_bytes())
    })
}

/// The NAT64 template's elements: the standard ones with the terminal and
/// what it addressed as sourceIPv6Address (27) / destinationIPv6Address
/// (28) in place of their IPv4 elements (8 / 12); the post-NAT elements stay
/// IPv4 (the gateway address and the server).
fn nat64_field(f: &Field) -> Field {
    match (f.pen, f.id) {
        (None, 8) => std_ie(27, 16, |r, o| put_ip6(o, r.terminal_ipv6)),
        (None, 12) => std_ie(28, 16, |r, o| put_ip6(o, r.dest_ipv6)),
        _ => *f,
    }
}

/// The NAT66 template's elements: the NAT64 ones with the post-NAT
/// addresses IPv6 too, postNATSourceIPv6Address (281, the gateway IPv6
/// address) / postNATDestinationIPv6Address (282, the server) in place of
/// 225 / 226, at the same place in the record.
fn nat66_field(f: &Field) -> Field {
    match (f.pen, f.id) {
        (None, 225) => std_ie(281, 16, |r, o| put_ip6(o, r.gateway_ipv6)),
        (None, 226) => std_ie(282, 16, |r, o| put_ip6(o, r.server_ipv6)),
        _ => nat64_field(f),
    }
}

/// The three templates this exporter sends: IPv4 records (256), NAT64
/// records (257) and NAT66 records (258). Template and data records are
/// both written from their lists of elements, so they cannot disagree.
pub struct Template {
    fields: Vec<Field>,
    nat64_fields: Vec<Field>,
    nat66_fields: Vec<Field>,
}

impl Template {
    /// The standard elements, plus the session ID when `enterprise` names
    /// the operator's private enterprise number.
    pub fn new(enterprise: Option<u32>) -> Template {
        let mut fields: Vec<Field> = STANDARD_FIELDS.to_vec();
        if let Some(pen) = enterprise {
            fields.push(session_id_field(pen));
        }
        let nat64_fields = fields.iter().map(nat64_field).collect();
        let nat66_fields = fields.iter().map(nat66_field).collect();
        Template {
            fields,
            nat64_fields,
            nat66_fields,
        }
    }

    /// Every template, in the order the template message defines them.
    fn all(&self) -> [(u16, &[Field]); 3] {
        [
            (TEMPLATE_ID, &self.fields),
            (NAT64_TEMPLATE_ID, &self.nat64_fields),
            (NAT66_TEMPLATE_ID, &self.nat66_fields),
        ]
    }

    /// The template ID and elements of `rec`: NAT66 records (those with
    /// post-NAT IPv6 addresses) and NAT64 records (the other ones with the
    /// terminal's IPv6 address) go under their own templates.
    fn template_of(&self, rec: &AccountingRecord) -> (u16, &[Field]) {
        if rec.gateway_ipv6.is_some() || rec.server_ipv6.is_some() {
            (NAT66_TEMPLATE_ID, &self.nat66_fields)
        } else if rec.terminal_ipv6.is_some() {
            (NAT64_TEMPLATE_ID, &self.nat64_fields)
        } else {
            (TEMPLATE_ID, &self.fields)
        }
    }

    /// Bytes of `rec` as a data record.
    pub fn record_bytes(&self, rec: &AccountingRecord) -> usize {
        let mut scratch = Vec::with_capacity(160);
        self.put_record(rec, &mut scratch);
        scratch.len()
    }

    fn put_record(&self, rec: &AccountingRecord, out: &mut Vec<u8>) {
        for field in self.template_of(rec).1 {
            (field.put)(rec, out);
        }
    }

    /// Writes a message holding only the template set into `out` (cleared
    /// first).
    pub fn encode_template_message(&self, header: MessageHeader, out: &mut Vec<u8>) {
        out.clear();
        start_message(header, out);
        let set_start = out.len();
        put_u16(out, TEMPLATE_SET_ID);
        put_u16(out, 0); // set length, patched below
        for (id, fields) in self.all() {
            put_u16(out, id);
            put_u16(out, fields.len() as u16);
            for field in fields {
                match field.pen {
                    None => {
                        put_u16(out, field.id);
                        put_u16(out, field.len);
                    }
                    Some(pen) => {
                        put_u16(out, field.id | ENTERPRISE_BIT);
                        put_u16(out, field.len);
                        out.extend_from_slice(&pen.to_be_bytes());
                    }
                }
            }
        }
        patch_len(out, set_start);
        patch_len(out, 0);
    }

    /// Writes a message of `recs` into `out` (cleared first), in order: one
    /// data set per run of records of one template. The exporter packs
    /// records so the message stays within `MAX_MESSAGE_BYTES`; more still
    /// encode correctly, only larger.
    pub fn encode_data_message(
        &self,
        header: MessageHeader,
        recs: &[AccountingRecord],
        out: &mut Vec<u8>,
    ) {
        out.clear();
        start_message(header, out);
        let mut set: Option<(u16, usize)> = None;
        for rec in recs {
            let id = self.template_of(rec).0;
            if set.map(|(open, _)| open) != Some(id) {
                if let Some((_, start)) = set {
                    patch_len(out, start);
                }
                set = Some((id, out.len()));
                put_u16(out, id);
                put_u16(out, 0); // set length, patched when it ends
            }
            self.put_record(rec, out);
        }
        if let Some((_, start)) = set {
            patch_len(out, start);
        }
        patch_len(out, 0);
    }

    /// How many of `recs` (at least one) go in the next message so that it
    /// stays within `MAX_MESSAGE_BYTES`.
    pub fn records_that_fit(&self, recs: &[AccountingRecord]) -> usize {
        let mut bytes = MESSAGE_HEADER_BYTES;
        let mut n = 0;
        let mut open = None;
        for rec in recs {
            let id = self.template_of(rec).0;
            if open != Some(id) {
                bytes += SET_HEADER_BYTES;
                open = Some(id);
            }
            bytes += self.record_bytes(rec);
            if bytes > MAX_MESSAGE_BYTES && n > 0 {
                break;
            }
            n += 1;
        }
        n
    }
}

/// [`Template::encode_template_message`] of the template without
/// enterprise elements.
pub fn encode_template_message(header: MessageHeader, out: &mut Vec<u8>) {
    Template::new(None).encode_template_message(header, out);
}

/// [`Template::encode_data_message`] of the template without enterprise
/// elements.
pub fn encode_data_message(header: MessageHeader, recs: &[AccountingRecord], out: &mut Vec<u8>) {
    Template::new(None).encode_data_message(header, recs, out);
}

/// flowEndReason (IANA): 1 idle timeout, 2 active timeout, 3 end of flow
/// detected, 4 forced end.
pub fn flow_end_reason(kind: RecordKind, reason: EndReason) -> u8 {
    match (kind, reason) {
        (RecordKind::Interim, _) => 2,
        (RecordKind::Final, EndReason::Timeout) => 1,
        (RecordKind::Final, EndReason::Fin | EndReason::Rst) => 3,
        (
            RecordKind::Final,
            EndReason::Admin
            | EndReason::NotEntitled
            | EndReason::SubscriberLimit
            | EndReason::QuotaExhausted
            | EndReason::QuotaThreshold,
        ) => 4,
    }
}

/// firewallEvent (IANA): 2 flow deleted, 3 flow denied, 5 flow update.
pub fn firewall_event(kind: RecordKind, reason: EndReason, gateway_port: u16) -> u8 {
    match (kind, reason) {
        (RecordKind::Interim, _) => 5,
        (RecordKind::Final, EndReason::NotEntitled | EndReason::SubscriberLimit) => 3,
        // Refused at creation (no gateway port) or ended: denied or deleted.
        (RecordKind::Final, EndReason::QuotaExhausted) if gateway_port == 0 => 3,
        (RecordKind::Final, _) => 2,
    }
}

/// Fields every message header carries besides its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageHeader {
    /// Seconds since the Unix epoch.
    pub export_time: u32,
    /// Data records sent in earlier messages, modulo 2^32.
    pub sequence: u32,
    pub observation_domain: u32,
}

fn start_message(header: MessageHeader, out: &mut Vec<u8>) {
    put_u16(out, IPFIX_VERSION);
    put_u16(out, 0); // message length, patched at the end
    out.extend_from_slice(&header.export_time.to_be_bytes());
    out.extend_from_slice(&header.sequence.to_be_bytes());
    out.extend_from_slice(&header.observation_domain.to_be_bytes());
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Writes the length of everything from `start` to the end into the u16
/// that follows the u16 at `start` (message and set headers share this
/// shape). Lengths stay far below 65 535 for the batch sizes used.
fn patch_len(out: &mut [u8], start: usize) {
    let len = (out.len() - start) as u16;
    out[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// Sends accounting records to one collector over UDP.
pub struct IpfixExporter {
    socket: UdpSocket,
    template: Template,
    collector: SocketAddr,
    observation_domain: u32,
    template_refresh: Duration,
    /// When the template was last sent; `None` before the first time.
    template_sent_at: Option<Instant>,
    /// Data records sent so far (the next message's sequence number).
    data_records_sent: u64,
    /// One encoded message, reused.
    message: Vec<u8>,
}

impl IpfixExporter {
    /// Opens an unconnected UDP socket for `collector` (an unconnected
    /// socket keeps a collector's absence, reported through ICMP, from
    /// failing later sends). Nothing is sent until `export`.
    pub fn new(
        collector: SocketAddr,
        observation_domain: u32,
        template_refresh: Duration,
    ) -> io::Result<Self> {
        Self::with_enterprise(collector, observation_domain, template_refresh, None)
    }

    /// As [`new`](Self::new), adding the session ID under the operator's
    /// private enterprise number `enterprise`.
    pub fn with_enterprise(
        collector: SocketAddr,
        observation_domain: u32,
        template_refresh: Duration,
        enterprise: Option<u32>,
    ) -> io::Result<Self> {
        let bind: SocketAddr = match collector {
            SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        Ok(IpfixExporter {
            socket: UdpSocket::bind(bind)?,
            template: Template::new(enterprise),
            collector,
            observation_domain,
            template_refresh,
            template_sent_at: None,
            data_records_sent: 0,
            message: Vec::with_capacity(MAX_MESSAGE_BYTES),
        })
    }

    /// Sends the template if it is due, then `recs` in as many messages as
    /// needed. Stops at the first failed send; `data_records_sent` tells how
    /// far it got.
    pub fn export(&mut self, recs: &[AccountingRecord]) -> io::Result<()> {
        let now = Instant::now();
        let template_due = !matches!(
            self.template_sent_at,
            Some(at) if now.duration_since(at) < self.template_refresh
        );
        if template_due {
            self.template
                .encode_template_message(self.header(), &mut self.message);
            self.send()?;
            self.template_sent_at = Some(now);
        }
        let mut rest = recs;
        while !rest.is_empty() {
            let n = self.template.records_that_fit(rest);
            let (chunk, later) = rest.split_at(n);
            self.template
                .encode_data_message(self.header(), chunk, &mut self.message);
            self.send()?;
            self.data_records_sent += chunk.len() as u64;
            rest = later;
        }
        Ok(())
    }

    /// Data records sent since the exporter was created.
    pub fn data_records_sent(&self) -> u64 {
        self.data_records_sent
    }

    /// Where the messages go.
    pub fn collector(&self) -> SocketAddr {
        self.collector
    }

    fn header(&self) -> MessageHeader {
        let export_time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as u32);
        MessageHeader {
            export_time,
            // RFC 7011 §3.1: modulo 2^32.
            sequence: self.data_records_sent as u32,
            observation_domain: self.observation_domain,
        }
    }

    fn send(&self) -> io::Result<()> {
        let sent = self.socket.send_to(&self.message, self.collector)?;
        if sent != self.message.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!(
                    "IPFIX message truncated: {sent} of {} bytes",
                    self.message.len()
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "ipfix_tests.rs"]
mod tests;
