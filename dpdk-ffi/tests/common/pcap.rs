//! A tiny pcap (libpcap file format) writer and reader for test frames.
#![allow(dead_code)]

use std::path::Path;

const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
const LINKTYPE_ETHERNET: u32 = 1;

/// Writes `frames` as an Ethernet pcap file (microsecond timestamps).
pub fn write(path: &Path, frames: &[Vec<u8>]) {
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC_MICROS.to_le_bytes());
    out.extend_from_slice(&2_u16.to_le_bytes());
    out.extend_from_slice(&4_u16.to_le_bytes());
    out.extend_from_slice(&0_i32.to_le_bytes()); // thiszone
    out.extend_from_slice(&0_u32.to_le_bytes()); // sigfigs
    out.extend_from_slice(&65_535_u32.to_le_bytes()); // snaplen
    out.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    for (i, frame) in frames.iter().enumerate() {
        let len = u32::try_from(frame.len()).expect("frame length");
        out.extend_from_slice(&(1_700_000_000_u32 + i as u32).to_le_bytes());
        out.extend_from_slice(&0_u32.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(frame);
    }
    std::fs::write(path, out).expect("write pcap");
}

/// Reads the frames of a little-endian pcap file (micro- or nanosecond).
pub fn read(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).expect("read pcap");
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    assert!(bytes.len() >= 24, "pcap file shorter than its header");
    let magic = u32_at(0);
    assert!(
        magic == MAGIC_MICROS || magic == MAGIC_NANOS,
        "not a little-endian pcap file: magic {magic:#x}"
    );
    assert_eq!(u32_at(20), LINKTYPE_ETHERNET);
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let captured = u32_at(at + 8) as usize;
        let start = at + 16;
        frames.push(bytes[start..start + captured].to_vec());
        at = start + captured;
    }
    assert_eq!(at, bytes.len(), "trailing bytes in pcap file");
    frames
}
