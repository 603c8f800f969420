use super::*;
use crate::wire::testutil::slow_checksum;
use crate::wire::{FrameSpec, Ipv4Packet};
use proptest::prelude::*;

const SRC_MAC: MacAddr = MacAddr([0x02, 0xfa, 0, 0, 0, 1]);
const DST_MAC: MacAddr = MacAddr([0x02, 0xfa, 0, 0, 0, 2]);
const GW_PORT: u16 = 6100;

fn encap(hop_count: u8) -> GeneveEncap {
    GeneveEncap {
        src_mac: SRC_MAC,
        dst_mac: DST_MAC,
        src_ip: Ipv4Addr::new(10, 77, 0, 1),
        dst_ip: Ipv4Addr::new(10, 77, 0, 2),
        dst_port: GW_PORT,
        flow_hash: 0xdead_beef,
        vni: 0x00ab_cdef,
        option: TandemOption {
            appliance_id: 41_999_999,
            io_point: 3,
            hop_count,
            flags: 0,
            generation: 0x0102_0304_0506_0708,
            draining_from: 401,
        },
    }
}

/// A terminal's UDP frame, as tier 1 receives it.
fn inner_frame() -> Vec<u8> {
    let spec = FrameSpec {
        src_mac: MacAddr([2, 0, 0, 0, 0, 0x0a]),
        dst_mac: MacAddr([2, 0, 0, 0, 0, 0x0b]),
        vlan: None,
        src_ip: Ipv4Addr::new(10, 8, 0, 100),
        dst_ip: Ipv4Addr::new(10, 9, 0, 1),
        src_port: 40000,
        dst_port: 53,
        ttl: 64,
    };
    crate::wire::frames::udp_frame(&spec, b"inner payload").unwrap()
}

fn encapsulated(hop_count: u8) -> Vec<u8> {
    let inner = inner_frame();
    let mut buf = vec![0u8; GENEVE_ENCAP_LEN];
    buf.extend_from_slice(&inner);
    let start = encapsulate(&mut buf, GENEVE_ENCAP_LEN, &encap(hop_count)).unwrap();
    assert_eq!(start, 0);
    buf
}

/// A fabric frame with the given Geneve header + options bytes in front
/// of the inner frame (outer headers written by the IPv4 builder).
fn with_geneve(geneve: &[u8]) -> Vec<u8> {
    let mut payload = geneve.to_vec();
    payload.extend_from_slice(&inner_frame());
    let mut udp = vec![0u8; 8];
    udp[0..2].copy_from_slice(&50000u16.to_be_bytes());
    udp[2..4].copy_from_slice(&GW_PORT.to_be_bytes());
    udp[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&payload);
    let mut frame = vec![0u8; 34];
    EthernetRepr {
        dst: DST_MAC,
        src: SRC_MAC,
        vlan: None,
        ethertype: ETHERTYPE_IPV4,
    }
    .emit(&mut frame)
    .unwrap();
    Ipv4Repr::new(
        Ipv4Addr::new(10, 77, 0, 1),
        Ipv4Addr::new(10, 77, 0, 2),
        PROTO_UDP,
        udp.len(),
    )
    .emit(&mut frame[14..])
    .unwrap();
    frame.extend_from_slice(&udp);
    frame
}

fn tandem_option_bytes(hop_count: u8) -> Vec<u8> {
    let mut option = vec![0u8; TANDEM_OPTION_LEN];
    encap(hop_count).option.emit(&mut option).unwrap();
    option
}

fn geneve_header(options_len: usize, first_byte_extra: u8, flags: u8, protocol: u16) -> Vec<u8> {
    let mut header = vec![(options_len / 4) as u8 | first_byte_extra, flags];
    header.extend_from_slice(&protocol.to_be_bytes());
    header.extend_from_slice(&[0x00, 0x00, 0x2a, 0x00]);
    header
}

#[test]
fn encapsulation_writes_the_outer_headers_byte_for_byte() {
    let frame = encapsulated(0);
    let expected_prefix: Vec<u8> = [
        &DST_MAC.0[..],
        &SRC_MAC.0[..],
        &[0x08, 0x00],
        // IPv4: 20-byte header, total 20 + 8 + 8 + 24 + inner, DF, TTL 64, UDP.
        &[0x45, 0x00],
        &((20 + 8 + 8 + 24 + inner_frame().len()) as u16).to_be_bytes(),
        &[0x00, 0x00, 0x40, 0x00, 64, 17, 0, 0],
        &[10, 77, 0, 1, 10, 77, 0, 2],
        // UDP: source port from the hash, gateway port, length, checksum 0.
        &outer_src_port(0xdead_beef).to_be_bytes(),
        &GW_PORT.to_be_bytes(),
        &((8 + 8 + 24 + inner_frame().len()) as u16).to_be_bytes(),
        &[0, 0],
        // Geneve: version 0, 6 words of options, C bit, Ethernet, VNI.
        &[0x06, 0x40, 0x65, 0x58, 0xab, 0xcd, 0xef, 0x00],
        // Tandem option: class 0xfff0, type 0x81, 5 words; appliance
        // 41 999 999 (0x0280_de7f, four bytes), I/O point 3, hop 0, flags 0.
        &[0xff, 0xf0, 0x81, 0x05, 0x02, 0x80, 0xde, 0x7f, 0, 3, 0, 0],
        &[1, 2, 3, 4, 5, 6, 7, 8],
        // Draining from gateway 401.
        &[0, 0, 0x01, 0x91],
    ]
    .concat();
    let mut actual = frame[..GENEVE_ENCAP_LEN].to_vec();
    // The IPv4 checksum, computed from scratch over the header.
    let ip_checksum = u16::from_be_bytes([actual[24], actual[25]]);
    actual[24] = 0;
    actual[25] = 0;
    assert_eq!(actual, expected_prefix);
    assert_eq!(ip_checksum, slow_checksum(&actual[14..34]));
    assert_eq!(&frame[GENEVE_ENCAP_LEN..], &inner_frame()[..]);
}

#[test]
fn outer_source_port_is_ephemeral_and_follows_the_hash() {
    for hash in [0u32, 1, 0xffff_ffff, 0x1234_5678, 0x8000_0000] {
        assert!(outer_src_port(hash) >= 49152);
    }
    assert_ne!(outer_src_port(1), outer_src_port(2));
    assert_ne!(outer_src_port(0x0001_0000), outer_src_port(0x0002_0000));
    assert_eq!(outer_src_port(42), outer_src_port(42));
}

#[test]
fn decapsulation_returns_the_option_and_the_inner_frame() {
    let frame = encapsulated(1);
    let got = decapsulate(&frame, GW_PORT).unwrap();
    assert_eq!(got.option, encap(1).option);
    assert_eq!(got.vni, 0xab_cdef);
    assert_eq!(got.outer_src, Ipv4Addr::new(10, 77, 0, 1));
    assert_eq!(got.outer_src_port, outer_src_port(0xdead_beef));
    assert_eq!(got.inner_offset, GENEVE_ENCAP_LEN);
    assert_eq!(
        &frame[got.inner_offset..got.inner_offset + got.inner_len],
        &inner_frame()[..]
    );
    // Ethernet padding after the UDP datagram is not part of the inner frame.
    let mut padded = frame.clone();
    padded.extend_from_slice(&[0; 6]);
    assert_eq!(
        decapsulate(&padded, GW_PORT).unwrap().inner_len,
        inner_frame().len()
    );
}

#[test]
fn a_right_udp_checksum_is_accepted_and_a_wrong_one_refused() {
    let mut frame = encapsulated(0);
    let ip = Ipv4Packet::new_checked(&frame[14..]).unwrap();
    let (src, dst) = (ip.src(), ip.dst());
    let csum = checksum::udp_wire_value(checksum::l4_checksum(src, dst, PROTO_UDP, &frame[34..]));
    frame[40..42].copy_from_slice(&csum.to_be_bytes());
    assert!(decapsulate(&frame, GW_PORT).is_ok());
    frame[41] ^= 0x01;
    assert_eq!(decapsulate(&frame, GW_PORT), Err(GeneveError::BadChecksum));
}

#[test]
fn strangers_and_bad_headers_are_refused_with_their_reason() {
    let option = tandem_option_bytes(0);
    let good = [
        geneve_header(TANDEM_OPTION_LEN, 0, 0x40, GENEVE_PROTO_ETHERNET),
        option.clone(),
    ]
    .concat();
    assert!(decapsulate(&with_geneve(&good), GW_PORT).is_ok());

    // Wrong port, wrong version, OAM, not Ethernet.
    assert_eq!(
        decapsulate(&with_geneve(&good), GENEVE_PORT),
        Err(GeneveError::NotGeneve)
    );
    let v1 = [
        geneve_header(TANDEM_OPTION_LEN, 0x40, 0x40, GENEVE_PROTO_ETHERNET),
        option.clone(),
    ]
    .concat();
    assert_eq!(
        decapsulate(&with_geneve(&v1), GW_PORT),
        Err(GeneveError::BadVersion)
    );
    let oam = [
        geneve_header(TANDEM_OPTION_LEN, 0, 0xc0, GENEVE_PROTO_ETHERNET),
        option.clone(),
    ]
    .concat();
    assert_eq!(
        decapsulate(&with_geneve(&oam), GW_PORT),
        Err(GeneveError::ControlMessage)
    );
    let ipv4 = [
        geneve_header(TANDEM_OPTION_LEN, 0, 0x40, 0x0800),
        option.clone(),
    ]
    .concat();
    assert_eq!(
        decapsulate(&with_geneve(&ipv4), GW_PORT),
        Err(GeneveError::NotGeneve)
    );

    // No options at all, or only a non-critical stranger's option.
    let none = geneve_header(0, 0, 0, GENEVE_PROTO_ETHERNET);
    assert_eq!(
        decapsulate(&with_geneve(&none), GW_PORT),
        Err(GeneveError::MissingTandemOption)
    );
    let stranger = [0x01, 0x02, 0x03, 0x01, 0, 0, 0, 0];
    let other = [
        geneve_header(8, 0, 0, GENEVE_PROTO_ETHERNET),
        stranger.to_vec(),
    ]
    .concat();
    assert_eq!(
        decapsulate(&with_geneve(&other), GW_PORT),
        Err(GeneveError::MissingTandemOption)
    );
    // A non-critical unknown option next to ours is stepped over.
    let both = [
        geneve_header(TANDEM_OPTION_LEN + 8, 0, 0x40, GENEVE_PROTO_ETHERNET),
        stranger.to_vec(),
        option.clone(),
    ]
    .concat();
    assert!(decapsulate(&with_geneve(&both), GW_PORT).is_ok());
    // An unknown critical option.
    let critical = [0x01, 0x02, 0x83, 0x01, 0, 0, 0, 0];
    let crit = [
        geneve_header(TANDEM_OPTION_LEN + 8, 0, 0x40, GENEVE_PROTO_ETHERNET),
        option.clone(),
        critical.to_vec(),
    ]
    .concat();
    assert_eq!(
        decapsulate(&with_geneve(&crit), GW_PORT),
        Err(GeneveError::UnknownCriticalOption)
    );
    // Ours twice, or of the wrong length.
    let twice = [
        geneve_header(2 * TANDEM_OPTION_LEN, 0, 0x40, GENEVE_PROTO_ETHERNET),
        option.clone(),
        option.clone(),
    ]
    .concat();
    assert_eq!(
        decapsulate(&with_geneve(&twice), GW_PORT),
        Err(GeneveError::BadOption)
    );
    let mut short = option[..16].to_vec();
    short[3] = 3;
    let short = [geneve_header(16, 0, 0x40, GENEVE_PROTO_ETHERNET), short].concat();
    assert_eq!(
        decapsulate(&with_geneve(&short), GW_PORT),
        Err(GeneveError::BadOption)
    );
    // An option whose length runs past the option area.
    let mut long = option.clone();
    long[3] = 6;
    let long = [
        geneve_header(TANDEM_OPTION_LEN, 0, 0x40, GENEVE_PROTO_ETHERNET),
        long,
    ]
    .concat();
    assert_eq!(
        decapsulate(&with_geneve(&long), GW_PORT),
        Err(GeneveError::BadOption)
    );
    // More options than the bound.
    let many: Vec<u8> = [geneve_header(36, 0, 0, GENEVE_PROTO_ETHERNET)]
        .into_iter()
        .chain((0..9).map(|_| vec![0x01, 0x02, 0x03, 0x00]))
        .collect::<Vec<_>>()
        .concat();
    assert_eq!(
        decapsulate(&with_geneve(&many), GW_PORT),
        Err(GeneveError::BadOption)
    );
}

#[test]
fn a_hop_count_over_one_is_a_loop() {
    assert!(decapsulate(&encapsulated(1), GW_PORT).is_ok());
    assert_eq!(
        decapsulate(&encapsulated(2), GW_PORT),
        Err(GeneveError::HopCountExceeded)
    );
    assert_eq!(
        decapsulate(&encapsulated(255), GW_PORT),
        Err(GeneveError::HopCountExceeded)
    );
}

#[test]
fn truncated_frames_and_small_buffers_are_refused() {
    let frame = encapsulated(0);
    for cut in [10, 30, 40, 45, 60, GENEVE_ENCAP_LEN + 5] {
        assert!(decapsulate(&frame[..cut], GW_PORT).is_err(), "cut at {cut}");
    }
    let mut buf = vec![0u8; 100];
    assert_eq!(
        encapsulate(&mut buf, GENEVE_ENCAP_LEN - 1, &encap(0)),
        Err(GeneveError::BufferTooSmall)
    );
    assert_eq!(
        encapsulate(&mut buf, 101, &encap(0)),
        Err(GeneveError::BufferTooSmall)
    );
}

/// Writes `frame` as a one-packet pcap file.
fn write_pcap(path: &std::path::Path, frame: &[u8]) {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&4u16.to_le_bytes());
    bytes.extend_from_slice(&[0; 8]);
    bytes.extend_from_slice(&65535u32.to_le_bytes());
    bytes.extend_from_slice(&1u32.to_le_bytes()); // Ethernet
    bytes.extend_from_slice(&[0; 8]); // timestamp
    bytes.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    bytes.extend_from_slice(frame);
    std::fs::write(path, bytes).expect("write pcap");
}

/// tshark decodes the fabric packet as Geneve with our VNI and the inner
/// frame as the terminal's UDP packet. tshark knows Geneve on 6081 only,
/// so the capture is decoded with `-d udp.port==PORT,geneve`, as an
/// operator would for a per-gateway port.
#[test]
fn tshark_decodes_the_encapsulation_as_geneve() {
    let Ok(version) = std::process::Command::new("tshark")
        .arg("--version")
        .output()
    else {
        println!("SKIPPED: tshark is not installed (scripts/setup.sh --test-tools installs it)");
        return;
    };
    assert!(version.status.success());
    let dir = std::env::temp_dir().join(format!("tandem-geneve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("geneve.pcap");
    write_pcap(&path, &encapsulated(1));
    let output = std::process::Command::new("tshark")
        .args(["-n", "-d"])
        .arg(format!("udp.port=={GW_PORT},geneve"))
        .arg("-V")
        .arg("-r")
        .arg(&path)
        .output()
        .expect("run tshark");
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains("Generic Network Virtualization Encapsulation"),
        "{text}"
    );
    assert!(
        text.contains("Virtual Network Identifier (VNI): 0xabcdef"),
        "{text}"
    );
    assert!(
        text.contains("Protocol Type: Transparent Ethernet bridging (0x6558)"),
        "{text}"
    );
    // The inner frame decodes too: the terminal's DNS query port.
    assert!(text.contains("Src: 10.8.0.100, Dst: 10.9.0.1"), "{text}");
    assert!(text.contains("Destination Port: 53"), "{text}");
}

/// The one-option fast path of `decapsulate` reads the option exactly as
/// the general walk does: every byte of the option area set to every
/// value (all 5,120 frames), the result is `find_tandem_option`'s (then
/// the hop count check).
#[test]
fn the_one_option_fast_path_agrees_with_the_walk() {
    let options = GENEVE_ENCAP_LEN - TANDEM_OPTION_LEN;
    for at in 0..TANDEM_OPTION_LEN {
        for value in 0..=u8::MAX {
            let mut frame = encapsulated(0);
            frame[options + at] = value;
            let walked = find_tandem_option(&frame[options..GENEVE_ENCAP_LEN]).and_then(|o| {
                if o.hop_count > MAX_HOP_COUNT {
                    Err(GeneveError::HopCountExceeded)
                } else {
                    Ok(o)
                }
            });
            assert_eq!(
                decapsulate(&frame, GW_PORT).map(|d| d.option),
                walked,
                "option byte {at} = {value}"
            );
        }
    }
}

/// What every Tandem sends (VNI 0, the Tandem option alone) is read at
/// fixed offsets after one compare: every byte of the Geneve header and
/// option set to every value (all 8,192 frames), `decapsulate` says what
/// the checks one by one say (`GenevePacket`, `GeneveRepr`, the protocol,
/// the option walk, the hop count, an inner frame at least an Ethernet
/// header long).
#[test]
fn the_fixed_header_fast_path_agrees_with_the_checks() {
    let mut params = encap(0);
    params.vni = 0;
    let geneve_at = GENEVE_ENCAP_LEN - TANDEM_OPTION_LEN - GENEVE_HEADER_LEN;
    for at in 0..GENEVE_HEADER_LEN + TANDEM_OPTION_LEN {
        for value in 0..=u8::MAX {
            let mut frame = vec![0u8; GENEVE_ENCAP_LEN];
            frame.extend_from_slice(&inner_frame());
            encapsulate(&mut frame, GENEVE_ENCAP_LEN, &params).unwrap();
            frame[geneve_at + at] = value;
            let one_by_one = GenevePacket::new_checked(&frame[geneve_at..]).and_then(|packet| {
                let repr = GeneveRepr::parse(&packet)?;
                if repr.protocol_type != GENEVE_PROTO_ETHERNET {
                    return Err(GeneveError::NotGeneve);
                }
                let option = find_tandem_option(packet.options())?;
                if option.hop_count > MAX_HOP_COUNT {
                    return Err(GeneveError::HopCountExceeded);
                }
                // A longer option area leaves less of the datagram for
                // the inner frame, which must still hold an Ethernet
                // header.
                if packet.payload().len() < ETHERNET_HEADER_LEN {
                    return Err(GeneveError::Truncated);
                }
                Ok((option, repr.vni, geneve_at + packet.payload_offset()))
            });
            let got = decapsulate(&frame, GW_PORT).map(|d| (d.option, d.vni, d.inner_offset));
            assert_eq!(got, one_by_one, "Geneve byte {at} = {value}");
        }
    }
}

proptest! {
    #[test]
    fn decapsulate_undoes_encapsulate(
        appliance_id in any::<u32>(), io_point in any::<u16>(), hop_count in 0u8..=1,
        flags in 0u8..=1,
        generation in any::<u64>(), draining_from in any::<u32>(),
        vni in 0u32..0x100_0000, flow_hash in any::<u32>(),
        inner in proptest::collection::vec(any::<u8>(), 14..1500),
    ) {
        let mut params = encap(hop_count);
        params.option = TandemOption { appliance_id, io_point, hop_count, flags, generation, draining_from };
        params.vni = vni;
        params.flow_hash = flow_hash;
        let mut buf = vec![0u8; GENEVE_ENCAP_LEN + 10];
        buf.extend_from_slice(&inner);
        let start = encapsulate(&mut buf, GENEVE_ENCAP_LEN + 10, &params).unwrap();
        prop_assert_eq!(start, 10);
        let got = decapsulate(&buf[start..], GW_PORT).unwrap();
        prop_assert_eq!(got.option, params.option);
        prop_assert_eq!(got.vni, vni);
        prop_assert_eq!(&buf[start + got.inner_offset..start + got.inner_offset + got.inner_len], &inner[..]);
    }

    /// The outer headers of one packet, as a template, give any later
    /// packet to the same destination exactly what `encapsulate` writes
    /// for it: lengths, IPv4 checksum, UDP source port, every option field.
    #[test]
    fn the_template_writes_what_encapsulate_writes(
        first_len in 14usize..1500, len in 14usize..9000,
        appliance_id in any::<u32>(), io_point in any::<u16>(), hop_count in 0u8..=1,
        flags in 0u8..=1, generation in any::<u64>(), draining_from in any::<u32>(),
        flow_hash in any::<u32>(), src in any::<u32>(), dst in any::<u32>(),
        ttl_byte in any::<u8>(),
    ) {
        let mut params = encap(0);
        params.vni = 0;
        params.src_ip = Ipv4Addr::from(src);
        params.dst_ip = Ipv4Addr::from(dst);
        let mut first = vec![ttl_byte; GENEVE_ENCAP_LEN + first_len];
        encapsulate(&mut first, GENEVE_ENCAP_LEN, &params).unwrap();
        let template = GeneveTemplate::from_outer(&first).unwrap();

        params.option = TandemOption { appliance_id, io_point, hop_count, flags, generation, draining_from };
        params.flow_hash = flow_hash;
        let mut want = vec![0x5a; GENEVE_ENCAP_LEN + len];
        encapsulate(&mut want, GENEVE_ENCAP_LEN, &params).unwrap();
        let mut got = [0xa5u8; GENEVE_ENCAP_LEN];
        template.write(&mut got, len, flow_hash, &params.option).unwrap();
        prop_assert_eq!(&got[..], &want[..GENEVE_ENCAP_LEN]);
        prop_assert_eq!(slow_checksum(&got[14..34]), 0);
    }

    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decapsulate(&bytes, GW_PORT);
        if let Ok(packet) = GenevePacket::new_checked(&bytes[..]) {
            let _ = (GeneveRepr::parse(&packet), find_tandem_option(packet.options()), packet.payload());
        }
    }
}

/// Frames built by scapy (an independent implementation), committed as
/// fuzz seeds: the first byte is the seed's port selector.
#[test]
fn frames_built_by_scapy_decapsulate_as_expected() {
    let hop0 = &include_bytes!("../../../fuzz/seeds/geneve_decap/tandem-hop0")[1..];
    let got = decapsulate(hop0, GW_PORT).unwrap();
    assert_eq!(
        got.option,
        TandemOption {
            hop_count: 0,
            draining_from: 0,
            ..encap(0).option
        }
    );
    assert_eq!(got.vni, 0xab_cdef);
    let vlan = &include_bytes!("../../../fuzz/seeds/geneve_decap/vlan-udp-checksum")[1..];
    assert!(
        decapsulate(vlan, GW_PORT).is_ok(),
        "tagged, with a UDP checksum"
    );
    let hop1 = &include_bytes!("../../../fuzz/seeds/geneve_decap/tandem-hop1-6081")[1..];
    assert!(decapsulate(hop1, GENEVE_PORT).is_ok());
    let refused = [
        ("tandem-hop2-loop", GeneveError::HopCountExceeded),
        ("unknown-critical", GeneveError::UnknownCriticalOption),
        ("stranger-no-option", GeneveError::MissingTandemOption),
        ("oam", GeneveError::ControlMessage),
    ];
    let seeds: [&[u8]; 4] = [
        include_bytes!("../../../fuzz/seeds/geneve_decap/tandem-hop2-loop"),
        include_bytes!("../../../fuzz/seeds/geneve_decap/unknown-critical"),
        include_bytes!("../../../fuzz/seeds/geneve_decap/stranger-no-option"),
        include_bytes!("../../../fuzz/seeds/geneve_decap/oam"),
    ];
    for ((name, err), seed) in refused.iter().zip(seeds) {
        assert_eq!(decapsulate(&seed[1..], GW_PORT), Err(*err), "{name}");
    }
}
