//! Accounting records as IPFIX (RFC 7011) over UDP.
//!
//! Operators' collectors (nfdump, pmacct, commercial mediation systems)
//! already speak IPFIX, so the appliance exports one template of standard
//! IANA information elements and adds enterprise-specific ones only where
//! IANA has nothing:
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
//! | session_id              | tandem PEN 32473, IE 1, unsigned64              |
//! | user_session_type_index | tandem PEN 32473, IE 2, unsigned8               |
//! | service_index           | tandem PEN 32473, IE 3, unsigned32 (0xFFFFFFFF: external) |
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
//! * final not_entitled: 4 forced end, 3 flow denied.
//!
//! natEvent (230) is not used: its values (RFC 8158) have no "update", so an
//! interim record could only be mislabelled as a create or a delete;
//! firewallEvent says the same thing for every kind of record.
//!
//! The UDP transport loses templates when a collector restarts, so the
//! exporter sends the template at start and again every refresh interval
//! (RFC 7011 §8.4, §10.3.6).

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dataplane::event::{EndReason, RecordKind, EXTERNAL_SERVICE};

use super::record::AccountingRecord;

/// IPFIX version number in the message header.
pub const IPFIX_VERSION: u16 = 10;
/// Set ID of a template set.
pub const TEMPLATE_SET_ID: u16 = 2;
/// The one template this exporter defines (data set ID).
pub const TEMPLATE_ID: u16 = 256;
/// Private enterprise number of the Tandem-specific elements: the
/// documentation PEN of RFC 5612 until the product has its own.
pub const TANDEM_PEN: u32 = 32473;
/// PEN that marks RFC 5103 reverse-direction elements.
pub const REVERSE_PEN: u32 = 29305;
/// Largest message sent: stays below common path MTUs with IP and UDP
/// headers added.
pub const MAX_MESSAGE_BYTES: usize = 1400;

const MESSAGE_HEADER_BYTES: usize = 16;
const SET_HEADER_BYTES: usize = 4;
const ENTERPRISE_BIT: u16 = 0x8000;

/// One information element of the template, with how a record fills it.
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

/// The template, in wire order. Template and data records are both written
/// from this list, so they cannot disagree.
const FIELDS: &[Field] = &[
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
    std_ie(233, 1, |r, o| o.push(firewall_event(r.kind, r.end_reason))),
    pen_ie(TANDEM_PEN, 1, 8, |r, o| {
        o.extend_from_slice(&r.session_id.to_be_bytes())
    }),
    pen_ie(TANDEM_PEN, 2, 1, |r, o| o.push(r.user_session_type_index)),
    pen_ie(TANDEM_PEN, 3, 4, |r, o| {
        let idx = r.service_index.unwrap_or(EXTERNAL_SERVICE);
        o.extend_from_slice(&idx.to_be_bytes())
    }),
];

/// Bytes of one data record.
pub const DATA_RECORD_BYTES: usize = {
    let mut sum = 0;
    let mut i = 0;
    while i < FIELDS.len() {
        sum += FIELDS[i].len as usize;
        i += 1;
    }
    sum
};

/// Data records that fit in one message.
pub const RECORDS_PER_MESSAGE: usize =
    (MAX_MESSAGE_BYTES - MESSAGE_HEADER_BYTES - SET_HEADER_BYTES) / DATA_RECORD_BYTES;

/// flowEndReason (IANA): 1 idle timeout, 2 active timeout, 3 end of flow
/// detected, 4 forced end.
pub fn flow_end_reason(kind: RecordKind, reason: EndReason) -> u8 {
    match (kind, reason) {
        (RecordKind::Interim, _) => 2,
        (RecordKind::Final, EndReason::Timeout) => 1,
        (RecordKind::Final, EndReason::Fin | EndReason::Rst) => 3,
        (
            RecordKind::Final,
            EndReason::Admin | EndReason::NotEntitled | EndReason::SubscriberLimit,
        ) => 4,
    }
}

/// firewallEvent (IANA): 2 flow deleted, 3 flow denied, 5 flow update.
pub fn firewall_event(kind: RecordKind, reason: EndReason) -> u8 {
    match (kind, reason) {
        (RecordKind::Interim, _) => 5,
        (RecordKind::Final, EndReason::NotEntitled | EndReason::SubscriberLimit) => 3,
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

/// Writes a message holding only the template set into `out` (cleared
/// first).
pub fn encode_template_message(header: MessageHeader, out: &mut Vec<u8>) {
    out.clear();
    start_message(header, out);
    let set_start = out.len();
    put_u16(out, TEMPLATE_SET_ID);
    put_u16(out, 0); // set length, patched below
    put_u16(out, TEMPLATE_ID);
    put_u16(out, FIELDS.len() as u16);
    for field in FIELDS {
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
    patch_len(out, set_start);
    patch_len(out, 0);
}

/// Writes a message with one data set of `recs` into `out` (cleared
/// first). Callers keep `recs.len() <= RECORDS_PER_MESSAGE` so the message
/// stays within `MAX_MESSAGE_BYTES`; more still encode correctly, only
/// larger.
pub fn encode_data_message(header: MessageHeader, recs: &[AccountingRecord], out: &mut Vec<u8>) {
    out.clear();
    start_message(header, out);
    let set_start = out.len();
    put_u16(out, TEMPLATE_ID);
    put_u16(out, 0); // set length, patched below
    for rec in recs {
        for field in FIELDS {
            (field.put)(rec, out);
        }
    }
    patch_len(out, set_start);
    patch_len(out, 0);
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
        let bind: SocketAddr = match collector {
            SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        Ok(IpfixExporter {
            socket: UdpSocket::bind(bind)?,
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
            encode_template_message(self.header(), &mut self.message);
            self.send()?;
            self.template_sent_at = Some(now);
        }
        for chunk in recs.chunks(RECORDS_PER_MESSAGE) {
            encode_data_message(self.header(), chunk, &mut self.message);
            self.send()?;
            self.data_records_sent += chunk.len() as u64;
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
