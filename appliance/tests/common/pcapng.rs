//! A from-scratch reader for the pcapng files `dpdk-dumpcap` writes:
//! section header (byte order), interface descriptions (their `if_name`)
//! and enhanced packet blocks (the captured bytes). Enough to check what
//! a capture holds without trusting another tool.

/// One captured packet: the interface it was seen on and its bytes.
pub struct Packet {
    pub interface: u32,
    pub data: Vec<u8>,
}

/// What a pcapng file holds.
pub struct Capture {
    /// `if_name` of each interface description, in order ("" if none).
    pub interfaces: Vec<String>,
    pub packets: Vec<Packet>,
}

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const EPB: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
const OPT_IF_NAME: u16 = 2;

/// Parses a whole file; an error says where the structure broke.
pub fn parse(bytes: &[u8]) -> Result<Capture, String> {
    let mut at = 0;
    let mut big = false;
    let mut capture = Capture {
        interfaces: Vec::new(),
        packets: Vec::new(),
    };
    let u32_at = |b: &[u8], i: usize, big: bool| -> Option<u32> {
        let w: [u8; 4] = b.get(i..i + 4)?.try_into().ok()?;
        Some(if big {
            u32::from_be_bytes(w)
        } else {
            u32::from_le_bytes(w)
        })
    };
    let u16_at = |b: &[u8], i: usize, big: bool| -> Option<u16> {
        let w: [u8; 2] = b.get(i..i + 2)?.try_into().ok()?;
        Some(if big {
            u16::from_be_bytes(w)
        } else {
            u16::from_le_bytes(w)
        })
    };
    while at < bytes.len() {
        let kind = u32_at(bytes, at, big).ok_or(format!("truncated block type at {at}"))?;
        if kind == SHB {
            let magic = bytes
                .get(at + 8..at + 12)
                .ok_or(format!("truncated section header at {at}"))?;
            big = match u32::from_le_bytes(magic.try_into().map_err(|_| "magic")?) {
                BYTE_ORDER_MAGIC => false,
                m if m.swap_bytes() == BYTE_ORDER_MAGIC => true,
                m => return Err(format!("bad byte-order magic {m:#x} at {at}")),
            };
        }
        let len =
            u32_at(bytes, at + 4, big).ok_or(format!("truncated block length at {at}"))? as usize;
        if len < 12 || !len.is_multiple_of(4) || at + len > bytes.len() {
            return Err(format!("bad block length {len} at {at}"));
        }
        if u32_at(bytes, at + len - 4, big) != Some(len as u32) {
            return Err(format!("block at {at}: trailing length differs"));
        }
        let body = &bytes[at + 8..at + len - 4];
        match kind {
            IDB => {
                // link type (2), reserved (2), snaplen (4), then options.
                let mut name = String::new();
                let mut o = 8;
                while let (Some(code), Some(olen)) =
                    (u16_at(body, o, big), u16_at(body, o + 2, big))
                {
                    if code == 0 {
                        break;
                    }
                    let olen = usize::from(olen);
                    let value = body
                        .get(o + 4..o + 4 + olen)
                        .ok_or(format!("option past the end of block at {at}"))?;
                    if code == OPT_IF_NAME {
                        name = String::from_utf8_lossy(value).into_owned();
                    }
                    o += 4 + olen.div_ceil(4) * 4;
                }
                capture.interfaces.push(name);
            }
            EPB => {
                let interface = u32_at(body, 0, big).ok_or("short packet block")?;
                let caplen = u32_at(body, 12, big).ok_or("short packet block")? as usize;
                let data = body
                    .get(20..20 + caplen)
                    .ok_or(format!("packet data past the end of block at {at}"))?;
                capture.packets.push(Packet {
                    interface,
                    data: data.to_vec(),
                });
            }
            _ => {}
        }
        at += len;
    }
    Ok(capture)
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}
