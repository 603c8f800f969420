//! IPFIX encoder and exporter tests: messages are read back with the
//! independent decoder in `ipfix_decode.rs`, and element numbers are
//! written out literally from the IANA registry, not taken from the
//! encoder.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::time::Duration;

use dataplane::event::{EndReason, RecordKind};

use super::*;
use crate::accounting::ipfix_decode::{
    ipv4, ipv6, text, uint, Decoded, Decoder, ElementKey, TemplateField,
};
use crate::accounting::test_support::sample_record;

const HEADER: MessageHeader = MessageHeader {
    export_time: 1_700_000_123,
    sequence: 77,
    observation_domain: 0x0102_0304,
};

fn template_and_decoder() -> (Decoded, Decoder) {
    let mut buf = Vec::new();
    encode_template_message(HEADER, &mut buf);
    let mut decoder = Decoder::default();
    let decoded = decoder.decode(&buf).unwrap();
    (decoded, decoder)
}

#[test]
fn template_lists_the_documented_elements() {
    let (msg, _) = template_and_decoder();
    assert_eq!(msg.version, 10);
    assert_eq!(msg.export_time, 1_700_000_123);
    assert_eq!(msg.sequence, 77);
    assert_eq!(msg.domain, 0x0102_0304);
    assert!(msg.records.is_empty());
    assert_eq!(msg.templates.len(), 3);
    let (id, fields) = &msg.templates[0];
    assert_eq!(*id, 256);
    let f = |enterprise, id, len| TemplateField {
        enterprise,
        id,
        len,
    };
    let expected = vec![
        f(0, 152, 8),     // flowStartMilliseconds
        f(0, 153, 8),     // flowEndMilliseconds
        f(0, 8, 4),       // sourceIPv4Address
        f(0, 12, 4),      // destinationIPv4Address
        f(0, 7, 2),       // sourceTransportPort
        f(0, 11, 2),      // destinationTransportPort
        f(0, 4, 1),       // protocolIdentifier
        f(0, 225, 4),     // postNATSourceIPv4Address
        f(0, 226, 4),     // postNATDestinationIPv4Address
        f(0, 227, 2),     // postNAPTSourceTransportPort
        f(0, 228, 2),     // postNAPTDestinationTransportPort
        f(0, 85, 8),      // octetTotalCount
        f(0, 86, 8),      // packetTotalCount
        f(29305, 85, 8),  // reverseOctetTotalCount (RFC 5103)
        f(29305, 86, 8),  // reversePacketTotalCount (RFC 5103)
        f(0, 136, 1),     // flowEndReason
        f(0, 233, 1),     // firewallEvent
        f(0, 96, 65535),  // applicationName, variable length
        f(0, 372, 65535), // applicationCategoryName, variable length
    ];
    assert_eq!(fields, &expected, "no enterprise element by default");
    // NAT64 records: IPv6 pre-NAT addresses, IPv4 post-NAT ones.
    let mut nat64 = expected.clone();
    nat64[2] = f(0, 27, 16); // sourceIPv6Address
    nat64[3] = f(0, 28, 16); // destinationIPv6Address
    assert_eq!(msg.templates[1], (257, nat64.clone()));
    // NAT66 records: IPv6 post-NAT addresses too, in the same place.
    let mut nat66 = nat64;
    nat66[7] = f(0, 281, 16); // postNATSourceIPv6Address
    nat66[8] = f(0, 282, 16); // postNATDestinationIPv6Address
    assert_eq!(msg.templates[2], (258, nat66));

    // With the operator's enterprise number, the session ID is added
    // under it, and nothing else changes.
    let mut buf = Vec::new();
    Template::new(Some(64_999)).encode_template_message(HEADER, &mut buf);
    let msg = Decoder::default().decode(&buf).unwrap();
    let mut with_pen = expected.clone();
    with_pen.push(f(64_999, 1, 8)); // mobile session ID
    assert_eq!(msg.templates[0].1, with_pen);
    assert_eq!(msg.templates[1].1.last(), Some(&f(64_999, 1, 8)));
    assert_eq!(msg.templates[2].1.last(), Some(&f(64_999, 1, 8)));
    assert_eq!(msg.templates[2].1.len(), 20);
}

#[test]
fn no_element_uses_the_documentation_enterprise_number() {
    for enterprise in [None, Some(64_999)] {
        let mut buf = Vec::new();
        Template::new(enterprise).encode_template_message(HEADER, &mut buf);
        let msg = Decoder::default().decode(&buf).unwrap();
        assert_eq!(msg.templates.len(), 3);
        for (id, fields) in &msg.templates {
            assert!(
                fields.iter().all(|f| f.enterprise != 32473),
                "RFC 5612's documentation PEN on the wire (template {id})"
            );
        }
    }
}

#[test]
fn session_id_goes_under_the_configured_enterprise_number() {
    let template = Template::new(Some(64_999));
    let mut buf = Vec::new();
    template.encode_template_message(HEADER, &mut buf);
    let mut decoder = Decoder::default();
    decoder.decode(&buf).unwrap();
    let recs: Vec<_> = (0..3).map(sample_record).collect();
    template.encode_data_message(HEADER, &recs, &mut buf);
    let msg = decoder.decode(&buf).unwrap();
    for (got, rec) in msg.records.iter().zip(&recs) {
        assert_eq!(uint(got, (64_999, 1)), rec.session_id);
        assert_eq!(text(got, (0, 96)), rec.service);
    }
}

/// Checks every element of a decoded data record against the record.
fn assert_record_matches(got: &HashMap<ElementKey, Vec<u8>>, rec: &AccountingRecord) {
    assert_eq!(got.len(), 19);
    assert_eq!(uint(got, (0, 152)), rec.start_ms);
    assert_eq!(uint(got, (0, 153)), rec.end_ms);
    assert_eq!(ipv4(got, (0, 8)), rec.terminal_ip);
    assert_eq!(ipv4(got, (0, 12)), rec.dest_ip);
    assert_eq!(uint(got, (0, 7)), u64::from(rec.terminal_port));
    assert_eq!(uint(got, (0, 11)), u64::from(rec.dest_port));
    assert_eq!(uint(got, (0, 4)), u64::from(rec.proto));
    assert_eq!(ipv4(got, (0, 225)), rec.gateway_ip);
    assert_eq!(ipv4(got, (0, 226)), rec.server_ip);
    assert_eq!(uint(got, (0, 227)), u64::from(rec.gateway_port));
    assert_eq!(uint(got, (0, 228)), u64::from(rec.server_port));
    assert_eq!(uint(got, (0, 85)), rec.bytes_up);
    assert_eq!(uint(got, (0, 86)), rec.packets_up);
    assert_eq!(uint(got, (29305, 85)), rec.bytes_down);
    assert_eq!(uint(got, (29305, 86)), rec.packets_down);
    assert_eq!(text(got, (0, 96)), rec.service);
    let category = rec
        .quota_reason()
        .unwrap_or_else(|| rec.user_session_type.clone());
    assert_eq!(text(got, (0, 372)), category);
    if rec.service_index.is_none() && rec.quota_reason().is_none() {
        assert_eq!(text(got, (0, 96)), "external");
    }
    assert_end_codes(got, rec);
}

/// flowEndReason and firewallEvent of a decoded record, with values from
/// the IANA registries.
fn assert_end_codes(got: &HashMap<ElementKey, Vec<u8>>, rec: &AccountingRecord) {
    let (end_reason, fw_event) = match (rec.kind, rec.end_reason) {
        (RecordKind::Interim, _) => (2, 5),
        (RecordKind::Final, EndReason::Timeout) => (1, 2),
        (RecordKind::Final, EndReason::Fin | EndReason::Rst) => (3, 2),
        (RecordKind::Final, EndReason::Admin) => (4, 2),
        (RecordKind::Final, EndReason::NotEntitled | EndReason::SubscriberLimit) => (4, 3),
        (RecordKind::Final, EndReason::QuotaExhausted) if rec.gateway_port == 0 => (4, 3),
        (RecordKind::Final, EndReason::QuotaExhausted | EndReason::QuotaThreshold) => (4, 2),
    };
    assert_eq!(uint(got, (0, 136)), end_reason, "{rec:?}");
    assert_eq!(uint(got, (0, 233)), fw_event, "{rec:?}");
}

#[test]
fn data_records_decode_to_every_field() {
    let (_, mut decoder) = template_and_decoder();
    // Samples 0..12 cover every end reason, both kinds, three protocols,
    // internal and external services.
    let recs: Vec<_> = (0..12).map(sample_record).collect();
    assert!(recs.iter().any(|r| r.service_index.is_none()));
    assert!(recs.iter().any(|r| r.kind == RecordKind::Interim));
    let mut buf = Vec::new();
    encode_data_message(HEADER, &recs, &mut buf);
    let msg = decoder.decode(&buf).unwrap();
    assert_eq!(msg.version, 10);
    assert_eq!(msg.sequence, 77);
    assert_eq!(msg.domain, 0x0102_0304);
    assert_eq!(msg.export_time, 1_700_000_123);
    assert!(msg.templates.is_empty());
    assert_eq!(msg.records.len(), recs.len());
    for (got, rec) in msg.records.iter().zip(&recs) {
        assert_record_matches(got, rec);
    }
}

#[test]
fn every_end_reason_maps_on_the_wire() {
    let (_, mut decoder) = template_and_decoder();
    let reasons = [
        EndReason::Fin,
        EndReason::Rst,
        EndReason::Timeout,
        EndReason::NotEntitled,
        EndReason::Admin,
        EndReason::SubscriberLimit,
        EndReason::QuotaExhausted,
        EndReason::QuotaThreshold,
    ];
    let mut recs = Vec::new();
    for kind in [RecordKind::Final, RecordKind::Interim] {
        for end_reason in reasons {
            recs.push(AccountingRecord {
                kind,
                end_reason,
                ..sample_record(1)
            });
        }
    }
    let mut buf = Vec::new();
    encode_data_message(HEADER, &recs, &mut buf);
    let msg = decoder.decode(&buf).unwrap();
    for (got, rec) in msg.records.iter().zip(&recs) {
        assert_record_matches(got, rec);
    }
}

#[test]
fn quota_records_say_why_in_the_application_category() {
    let (_, mut decoder) = template_and_decoder();
    let names = crate::accounting::test_support::FixedNames;
    let mut ev = crate::accounting::test_support::sample_event(2);
    ev.kind = RecordKind::Interim;
    ev.end_reason = EndReason::QuotaThreshold;
    let threshold = AccountingRecord::quota(&ev, Some(50), &names);
    ev.end_reason = EndReason::QuotaExhausted;
    let exhausted = AccountingRecord::quota(&ev, None, &names);
    // A user session the quota refused: its type's name, flow denied.
    let refused = AccountingRecord {
        kind: RecordKind::Final,
        end_reason: EndReason::QuotaExhausted,
        gateway_port: 0,
        ..sample_record(1)
    };
    let recs = vec![threshold, exhausted, refused];
    let mut buf = Vec::new();
    encode_data_message(HEADER, &recs, &mut buf);
    let msg = decoder.decode(&buf).unwrap();
    let got = &msg.records;
    assert_eq!(text(&got[0], (0, 96)), "quota");
    assert_eq!(text(&got[0], (0, 372)), "quota_threshold_50");
    assert_eq!(text(&got[1], (0, 372)), "quota_exhausted");
    assert_eq!(uint(&got[1], (0, 85)), recs[1].bytes_up);
    assert_eq!(text(&got[2], (0, 372)), recs[2].user_session_type);
    assert_eq!(uint(&got[2], (0, 233)), 3, "flow denied");
    for (g, rec) in got.iter().zip(&recs) {
        assert_record_matches(g, rec);
    }
}

#[test]
fn a_full_message_fits_the_mtu_and_one_more_record_would_not() {
    let template = Template::new(None);
    let recs: Vec<_> = (0..100).map(sample_record).collect();
    let n = template.records_that_fit(&recs);
    let mut buf = Vec::new();
    template.encode_data_message(HEADER, &recs[..n], &mut buf);
    assert!(buf.len() <= 1400, "{}", buf.len());
    template.encode_data_message(HEADER, &recs[..n + 1], &mut buf);
    assert!(buf.len() > 1400, "{}", buf.len());
}

/// A NAT64 user session's record: the terminal's IPv6 address and the
/// NAT64-prefix address it addressed.
fn nat64_record(n: u32) -> AccountingRecord {
    AccountingRecord {
        terminal_ip: std::net::Ipv4Addr::UNSPECIFIED,
        dest_ip: std::net::Ipv4Addr::UNSPECIFIED,
        terminal_ipv6: Some("2001:db8:1::100".parse().unwrap()),
        dest_ipv6: Some("64:ff9b::a03:2".parse().unwrap()),
        ..sample_record(n)
    }
}

#[test]
fn nat64_records_carry_ipv6_pre_nat_and_ipv4_post_nat_addresses() {
    let rec = nat64_record(0);
    let mut buf = Vec::new();
    encode_data_message(HEADER, std::slice::from_ref(&rec), &mut buf);
    // Bytes from RFC 7011 and the element list, not from the encoder: the
    // set header names template 257; after the two 8-byte times come the
    // 16 bytes of sourceIPv6Address, the 16 of destinationIPv6Address,
    // the two ports, the protocol, then the 4-byte postNAT IPv4 addresses.
    let set = &buf[16..];
    assert_eq!(&set[0..2], &[0x01, 0x01], "set ID 257");
    assert_eq!(usize::from(u16::from_be_bytes([set[2], set[3]])), set.len());
    let body = &set[4..];
    assert_eq!(&body[0..8], &rec.start_ms.to_be_bytes());
    assert_eq!(
        &body[16..32],
        &[0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00]
    );
    assert_eq!(
        &body[32..48],
        &[0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 10, 3, 0, 2]
    );
    assert_eq!(&body[48..50], &rec.terminal_port.to_be_bytes());
    assert_eq!(&body[50..52], &rec.dest_port.to_be_bytes());
    assert_eq!(body[52], rec.proto);
    assert_eq!(&body[53..57], &rec.gateway_ip.octets());
    assert_eq!(&body[57..61], &rec.server_ip.octets());
    // 24 bytes more than the IPv4 record of the same user session.
    let v4 = Template::new(None).record_bytes(&sample_record(0));
    assert_eq!(Template::new(None).record_bytes(&rec), v4 + 24);

    // A collector that knows both templates reads everything else as in
    // an IPv4 record.
    let (_, mut decoder) = template_and_decoder();
    let msg = decoder.decode(&buf).unwrap();
    let got = &msg.records[0];
    assert_eq!(
        got.get(&(0, 27)).unwrap().as_slice(),
        &rec.terminal_ipv6.unwrap().octets()
    );
    assert_eq!(
        got.get(&(0, 28)).unwrap().as_slice(),
        &rec.dest_ipv6.unwrap().octets()
    );
    assert!(!got.contains_key(&(0, 8)) && !got.contains_key(&(0, 12)));
    assert_eq!(ipv4(got, (0, 225)), rec.gateway_ip);
    assert_eq!(ipv4(got, (0, 226)), rec.server_ip);
    assert_eq!(uint(got, (0, 85)), rec.bytes_up);
    assert_eq!(text(got, (0, 96)), rec.service);
}

/// An IPv6 → IPv6 user session's record, as the record builder makes it
/// from a NAT66 event: every IPv4 address unspecified, IPv6 on both sides
/// of the translation.
fn nat66_record(n: u32) -> AccountingRecord {
    let mut ev = crate::accounting::test_support::sample_event(n);
    ev.terminal_ip = std::net::Ipv4Addr::UNSPECIFIED;
    ev.dest_ip = std::net::Ipv4Addr::UNSPECIFIED;
    ev.gateway_ip = std::net::Ipv4Addr::UNSPECIFIED;
    ev.server_ip = std::net::Ipv4Addr::UNSPECIFIED;
    ev.ipv6 = Some(dataplane::event::Ipv6Ends {
        terminal: "2001:db8:1::100".parse().unwrap(),
        dest: "2001:db8:5::80".parse().unwrap(),
        post_nat: Some(dataplane::event::PostNat6 {
            gateway: "2001:db8:2::1".parse().unwrap(),
            server: "2001:db8:3::20".parse().unwrap(),
        }),
    });
    AccountingRecord::from_event(&ev, &crate::accounting::test_support::FixedNames)
}

#[test]
fn nat66_records_carry_ipv6_pre_nat_and_post_nat_addresses() {
    let rec = nat66_record(0);
    let mut buf = Vec::new();
    encode_data_message(HEADER, std::slice::from_ref(&rec), &mut buf);
    // Bytes from RFC 7011 and the element list, not from the encoder: the
    // set header names template 258; after the two 8-byte times come the
    // 16 bytes of sourceIPv6Address, the 16 of destinationIPv6Address,
    // the two ports, the protocol, then the 16-byte
    // postNATSourceIPv6Address and postNATDestinationIPv6Address, then
    // the two post-NAPT ports.
    let set = &buf[16..];
    assert_eq!(&set[0..2], &[0x01, 0x02], "set ID 258");
    assert_eq!(usize::from(u16::from_be_bytes([set[2], set[3]])), set.len());
    let body = &set[4..];
    assert_eq!(&body[0..8], &rec.start_ms.to_be_bytes());
    assert_eq!(
        &body[16..32],
        &[0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00]
    );
    assert_eq!(
        &body[32..48],
        &[0x20, 0x01, 0x0d, 0xb8, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80]
    );
    assert_eq!(&body[48..50], &rec.terminal_port.to_be_bytes());
    assert_eq!(&body[50..52], &rec.dest_port.to_be_bytes());
    assert_eq!(body[52], rec.proto);
    assert_eq!(
        &body[53..69],
        &[0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    );
    assert_eq!(
        &body[69..85],
        &[0x20, 0x01, 0x0d, 0xb8, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20]
    );
    assert_eq!(&body[85..87], &rec.gateway_port.to_be_bytes());
    assert_eq!(&body[87..89], &rec.server_port.to_be_bytes());
    assert_eq!(&body[89..97], &rec.bytes_up.to_be_bytes());
    // 48 bytes more than the IPv4 record of the same user session (four
    // 16-byte addresses in place of four 4-byte ones).
    let v4 = Template::new(None).record_bytes(&sample_record(0));
    assert_eq!(Template::new(None).record_bytes(&rec), v4 + 48);

    // A collector that knows the templates reads the IPv6 addresses and
    // everything else as in an IPv4 record; no IPv4 address element.
    let (_, mut decoder) = template_and_decoder();
    let msg = decoder.decode(&buf).unwrap();
    assert_eq!(msg.records.len(), 1);
    assert_nat66_record_matches(&msg.records[0], &rec);
}

/// Checks every element of a decoded NAT66 data record against the record.
fn assert_nat66_record_matches(got: &HashMap<ElementKey, Vec<u8>>, rec: &AccountingRecord) {
    assert_eq!(got.len(), 19);
    for v4_only in [8, 12, 225, 226] {
        assert!(!got.contains_key(&(0, v4_only)), "IPv4 element {v4_only}");
    }
    assert_eq!(Some(ipv6(got, (0, 27))), rec.terminal_ipv6);
    assert_eq!(Some(ipv6(got, (0, 28))), rec.dest_ipv6);
    assert_eq!(Some(ipv6(got, (0, 281))), rec.gateway_ipv6);
    assert_eq!(Some(ipv6(got, (0, 282))), rec.server_ipv6);
    assert_eq!(uint(got, (0, 152)), rec.start_ms);
    assert_eq!(uint(got, (0, 153)), rec.end_ms);
    assert_eq!(uint(got, (0, 7)), u64::from(rec.terminal_port));
    assert_eq!(uint(got, (0, 11)), u64::from(rec.dest_port));
    assert_eq!(uint(got, (0, 4)), u64::from(rec.proto));
    assert_eq!(uint(got, (0, 227)), u64::from(rec.gateway_port));
    assert_eq!(uint(got, (0, 228)), u64::from(rec.server_port));
    assert_eq!(uint(got, (0, 85)), rec.bytes_up);
    assert_eq!(uint(got, (0, 86)), rec.packets_up);
    assert_eq!(uint(got, (29305, 85)), rec.bytes_down);
    assert_eq!(uint(got, (29305, 86)), rec.packets_down);
    assert_eq!(text(got, (0, 96)), rec.service);
    assert_eq!(text(got, (0, 372)), rec.user_session_type);
    assert_end_codes(got, rec);
}

#[test]
fn mixed_records_go_in_one_set_per_run_of_a_template_in_order() {
    let recs = vec![
        sample_record(0),
        sample_record(1),
        nat64_record(2),
        sample_record(3),
        nat66_record(4),
        nat66_record(5),
        nat64_record(6),
    ];
    let mut buf = Vec::new();
    encode_data_message(HEADER, &recs, &mut buf);
    // Walk the sets by their headers: 256 (two records), 257, 256.
    let mut ids = Vec::new();
    let mut at = 16;
    while at < buf.len() {
        ids.push(u16::from_be_bytes([buf[at], buf[at + 1]]));
        at += usize::from(u16::from_be_bytes([buf[at + 2], buf[at + 3]]));
    }
    assert_eq!(at, buf.len());
    assert_eq!(ids, vec![256, 257, 256, 258, 257]);
    let (_, mut decoder) = template_and_decoder();
    let msg = decoder.decode(&buf).unwrap();
    assert_eq!(msg.records.len(), 7);
    for i in [0, 1, 3] {
        assert_record_matches(&msg.records[i], &recs[i]);
    }
    for i in [2, 6] {
        assert!(msg.records[i].contains_key(&(0, 27)));
        assert_eq!(ipv4(&msg.records[i], (0, 225)), recs[i].gateway_ip);
        assert!(!msg.records[i].contains_key(&(0, 281)));
    }
    for i in [4, 5] {
        assert_nat66_record_matches(&msg.records[i], &recs[i]);
    }
    // The packing counts the extra set headers: a message of alternating
    // records stays within the limit.
    let template = Template::new(None);
    let alternating: Vec<_> = (0..100)
        .map(|n| match n % 3 {
            0 => sample_record(n),
            1 => nat64_record(n),
            _ => nat66_record(n),
        })
        .collect();
    let n = template.records_that_fit(&alternating);
    template.encode_data_message(HEADER, &alternating[..n], &mut buf);
    assert!(buf.len() <= 1400, "{}", buf.len());
    template.encode_data_message(HEADER, &alternating[..n + 1], &mut buf);
    assert!(buf.len() > 1400, "{}", buf.len());
}

#[test]
fn long_names_are_cut_at_a_character_boundary() {
    let rec = AccountingRecord {
        service: "é".repeat(300),
        ..sample_record(0)
    };
    let (_, mut decoder) = template_and_decoder();
    let mut buf = Vec::new();
    encode_data_message(HEADER, std::slice::from_ref(&rec), &mut buf);
    let msg = decoder.decode(&buf).unwrap();
    let got = text(&msg.records[0], (0, 96));
    assert_eq!(got, "é".repeat(127), "254 bytes at most, whole characters");
}

/// Receives every datagram already sent to `rx` (the sends happened before,
/// on loopback; the timeout only keeps a broken test from hanging).
fn receive(rx: &UdpSocket, count: usize) -> Vec<Vec<u8>> {
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 65_536];
    (0..count)
        .map(|_| {
            let (n, _) = rx.recv_from(&mut buf).unwrap();
            buf[..n].to_vec()
        })
        .collect()
}

fn assert_nothing_more(rx: &UdpSocket) {
    rx.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 2048];
    let err = rx.recv_from(&mut buf).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    rx.set_nonblocking(false).unwrap();
}

#[test]
fn exporter_sends_template_first_and_counts_sequence_in_records() {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut exp =
        IpfixExporter::new(rx.local_addr().unwrap(), 42, Duration::from_secs(3600)).unwrap();
    let recs: Vec<_> = (0..40).map(sample_record).collect();
    exp.export(&recs).unwrap();
    assert_eq!(exp.data_records_sent(), 40);

    let mut decoder = Decoder::default();
    let template = Template::new(None);
    let per = template.records_that_fit(&recs);
    let second = template.records_that_fit(&recs[per..]);
    assert!(per + second < 40, "40 records take at least three messages");
    let rest = 40 - per - second;
    assert!(template.records_that_fit(&recs[per + second..]) == rest);
    let msgs: Vec<Decoded> = receive(&rx, 4)
        .iter()
        .map(|m| {
            assert!(m.len() <= 1400, "{}", m.len());
            decoder.decode(m).unwrap()
        })
        .collect();
    assert_nothing_more(&rx);
    assert_eq!(msgs[0].templates.len(), 3);
    assert!(msgs[0].records.is_empty());
    let counts: Vec<usize> = msgs.iter().map(|m| m.records.len()).collect();
    assert_eq!(counts, vec![0, per, second, rest]);
    let seqs: Vec<u32> = msgs.iter().map(|m| m.sequence).collect();
    assert_eq!(seqs, vec![0, 0, per as u32, (per + second) as u32]);
    assert!(msgs.iter().all(|m| m.domain == 42));
    let decoded: Vec<_> = msgs.iter().flat_map(|m| m.records.iter()).collect();
    for (got, rec) in decoded.iter().zip(&recs) {
        assert_record_matches(got, rec);
    }

    // The template is not due again for an hour: data only.
    exp.export(&recs[..2]).unwrap();
    let msgs = receive(&rx, 1);
    let msg = decoder.decode(&msgs[0]).unwrap();
    assert!(msg.templates.is_empty());
    assert_eq!(msg.sequence, 40);
    assert_eq!(msg.records.len(), 2);
    assert_nothing_more(&rx);
}

#[test]
fn template_is_resent_when_the_refresh_interval_has_passed() {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    // A zero interval has always passed.
    let mut exp = IpfixExporter::new(rx.local_addr().unwrap(), 1, Duration::ZERO).unwrap();
    exp.export(&[sample_record(0)]).unwrap();
    exp.export(&[]).unwrap();
    exp.export(&[sample_record(1)]).unwrap();
    let mut decoder = Decoder::default();
    let msgs: Vec<Decoded> = receive(&rx, 5)
        .iter()
        .map(|m| decoder.decode(m).unwrap())
        .collect();
    assert_nothing_more(&rx);
    let shape: Vec<(usize, usize, u32)> = msgs
        .iter()
        .map(|m| (m.templates.len(), m.records.len(), m.sequence))
        .collect();
    assert_eq!(
        shape,
        vec![(3, 0, 0), (0, 1, 0), (3, 0, 1), (3, 0, 1), (0, 1, 1)]
    );
}

#[test]
fn a_collector_reads_every_kind_of_record_from_the_exporters_templates() {
    // A fresh collector learns the templates only from what the exporter
    // sends: its first message defines 256, 257 and 258, so records of
    // every kind decode, in one message or several.
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut exp =
        IpfixExporter::new(rx.local_addr().unwrap(), 9, Duration::from_secs(3600)).unwrap();
    let recs: Vec<_> = (0..30)
        .map(|n| match n % 3 {
            0 => nat66_record(n),
            1 => sample_record(n),
            _ => nat64_record(n),
        })
        .collect();
    exp.export(&recs).unwrap();
    let template = Template::new(None);
    let mut messages = 1;
    let mut rest = &recs[..];
    while !rest.is_empty() {
        rest = &rest[template.records_that_fit(rest)..];
        messages += 1;
    }
    assert!(messages > 2, "30 records take more than one data message");
    let mut decoder = Decoder::default();
    let msgs: Vec<Decoded> = receive(&rx, messages)
        .iter()
        .map(|m| {
            assert!(m.len() <= 1400, "{}", m.len());
            decoder.decode(m).unwrap()
        })
        .collect();
    assert_nothing_more(&rx);
    let ids: Vec<u16> = msgs[0].templates.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, vec![256, 257, 258]);
    let decoded: Vec<_> = msgs.iter().flat_map(|m| m.records.iter()).collect();
    assert_eq!(decoded.len(), recs.len());
    for (got, rec) in decoded.iter().zip(&recs) {
        if rec.gateway_ipv6.is_some() {
            assert_nat66_record_matches(got, rec);
        } else if rec.terminal_ipv6.is_some() {
            assert_eq!(Some(ipv6(got, (0, 27))), rec.terminal_ipv6);
            assert_eq!(ipv4(got, (0, 226)), rec.server_ip);
        } else {
            assert_record_matches(got, rec);
        }
    }
}
