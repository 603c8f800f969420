//! Classic libpcap files (link type 1, Ethernet): what `net_pcap` replays
//! and what it records.
//!
//! The reader accepts micro- and nanosecond files in either byte order, and
//! has a lenient form for files still being written: a record cut short at
//! the end is not counted yet.

use std::path::Path;

const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
const LINKTYPE_ETHERNET: u32 = 1;
const FILE_HEADER_LEN: usize = 24;
const RECORD_HEADER_LEN: usize = 16;

/// Writes `frames` as a microsecond, little-endian Ethernet pcap file.
pub fn write(path: &Path, frames: &[Vec<u8>]) {
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC_MICROS.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes()); // version 2.4
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes()); // time zone
    out.extend_from_slice(&0u32.to_le_bytes()); // accuracy
    out.extend_from_slice(&65_535u32.to_le_bytes()); // snap length
    out.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    for (i, frame) in frames.iter().enumerate() {
        let len = u32::try_from(frame.len()).expect("frame length");
        out.extend_from_slice(&(1_750_000_000u32 + i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes()); // captured
        out.extend_from_slice(&len.to_le_bytes()); // on the wire
        out.extend_from_slice(frame);
    }
    std::fs::write(path, out).expect("write pcap");
}

/// Parses a whole pcap file. `Err` says what is wrong with it.
pub fn parse(bytes: &[u8], lenient: bool) -> Result<Vec<Vec<u8>>, String> {
    if bytes.len() < FILE_HEADER_LEN {
        return Err(format!("{} bytes: shorter than a pcap header", bytes.len()));
    }
    let magic_le = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes"));
    let big_endian = match magic_le {
        MAGIC_MICROS | MAGIC_NANOS => false,
        m if m.swap_bytes() == MAGIC_MICROS || m.swap_bytes() == MAGIC_NANOS => true,
        m => return Err(format!("not a pcap file: magic {m:#010x}")),
    };
    let u32_at = |at: usize| {
        let b: [u8; 4] = bytes[at..at + 4].try_into().expect("4 bytes");
        if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    if u32_at(20) != LINKTYPE_ETHERNET {
        return Err(format!("link type {} is not Ethernet", u32_at(20)));
    }
    let mut frames = Vec::new();
    let mut at = FILE_HEADER_LEN;
    while at < bytes.len() {
        if at + RECORD_HEADER_LEN > bytes.len() {
            if lenient {
                break;
            }
            return Err(format!("record header cut short at byte {at}"));
        }
        let captured = u32_at(at + 8) as usize;
        let on_wire = u32_at(at + 12) as usize;
        let start = at + RECORD_HEADER_LEN;
        if start + captured > bytes.len() {
            if lenient {
                break;
            }
            return Err(format!("record at byte {at} cut short"));
        }
        if captured != on_wire {
            return Err(format!(
                "record at byte {at}: {captured} of {on_wire} bytes captured"
            ));
        }
        frames.push(bytes[start..start + captured].to_vec());
        at = start + captured;
    }
    Ok(frames)
}

/// Every frame of a finished pcap file; panics if it is not well formed.
pub fn read(path: &Path) -> Vec<Vec<u8>> {
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    parse(&bytes, false).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Complete frames of a pcap file that may still be being written; zero
/// if it does not exist yet.
pub fn count_so_far(path: &Path) -> usize {
    std::fs::read(path)
        .ok()
        .and_then(|b| parse(&b, true).ok())
        .map_or(0, |f| f.len())
}
