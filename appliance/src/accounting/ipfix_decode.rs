//! A small IPFIX decoder for the tests, written from RFC 7011 without the
//! encoder's code or constants, so an encoder mistake cannot hide behind a
//! decoder that shares it.

use std::collections::HashMap;

/// (enterprise number or 0 for IANA, element ID without the enterprise bit)
pub type ElementKey = (u32, u16);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateField {
    pub enterprise: u32,
    pub id: u16,
    pub len: u16,
}

#[derive(Debug, Default)]
pub struct Decoded {
    pub version: u16,
    pub length: u16,
    pub export_time: u32,
    pub sequence: u32,
    pub domain: u32,
    /// Templates defined in this message: (template ID, fields).
    pub templates: Vec<(u16, Vec<TemplateField>)>,
    /// Data records in this message, element by element.
    pub records: Vec<HashMap<ElementKey, Vec<u8>>>,
}

/// Keeps the templates seen so far, as a collector does.
#[derive(Default)]
pub struct Decoder {
    templates: HashMap<u16, Vec<TemplateField>>,
}

fn be16(b: &[u8], at: usize) -> Result<u16, String> {
    b.get(at..at + 2)
        .map(|s| u16::from_be_bytes([s[0], s[1]]))
        .ok_or_else(|| format!("short read at {at}"))
}

fn be32(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| format!("short read at {at}"))
}

impl Decoder {
    pub fn decode(&mut self, msg: &[u8]) -> Result<Decoded, String> {
        let mut out = Decoded {
            version: be16(msg, 0)?,
            length: be16(msg, 2)?,
            export_time: be32(msg, 4)?,
            sequence: be32(msg, 8)?,
            domain: be32(msg, 12)?,
            ..Decoded::default()
        };
        if usize::from(out.length) != msg.len() {
            return Err(format!("length {} but {} bytes", out.length, msg.len()));
        }
        let mut at = 16;
        while at < msg.len() {
            let set_id = be16(msg, at)?;
            let set_len = usize::from(be16(msg, at + 2)?);
            if set_len < 4 || at + set_len > msg.len() {
                return Err(format!("bad set length {set_len} at {at}"));
            }
            let body = &msg[at + 4..at + set_len];
            match set_id {
                2 => self.templates_from(body, &mut out)?,
                id if id >= 256 => self.records_from(id, body, &mut out)?,
                other => return Err(format!("unexpected set ID {other}")),
            }
            at += set_len;
        }
        Ok(out)
    }

    fn templates_from(&mut self, body: &[u8], out: &mut Decoded) -> Result<(), String> {
        let mut at = 0;
        while at + 4 <= body.len() {
            let template_id = be16(body, at)?;
            let count = be16(body, at + 2)?;
            at += 4;
            let mut fields = Vec::new();
            for _ in 0..count {
                let raw_id = be16(body, at)?;
                let len = be16(body, at + 2)?;
                at += 4;
                let enterprise = if raw_id & 0x8000 != 0 {
                    at += 4;
                    be32(body, at - 4)?
                } else {
                    0
                };
                fields.push(TemplateField {
                    enterprise,
                    id: raw_id & 0x7fff,
                    len,
                });
            }
            self.templates.insert(template_id, fields.clone());
            out.templates.push((template_id, fields));
        }
        Ok(())
    }

    fn records_from(&self, set_id: u16, body: &[u8], out: &mut Decoded) -> Result<(), String> {
        let fields = self
            .templates
            .get(&set_id)
            .ok_or_else(|| format!("data set {set_id} before its template"))?;
        // Fixed-length fields take their template length; a length of
        // 65535 means variable length: one length byte, or 255 and two
        // bytes of length (RFC 7011 §7).
        let min_record: usize = fields
            .iter()
            .map(|f| {
                if f.len == 0xFFFF {
                    1
                } else {
                    usize::from(f.len)
                }
            })
            .sum();
        if min_record == 0 {
            return Err("empty template".into());
        }
        let mut at = 0;
        while body.len() - at >= min_record {
            let mut values = HashMap::new();
            for f in fields {
                let len = if f.len == 0xFFFF {
                    let first = *body.get(at).ok_or("short record")?;
                    at += 1;
                    if first < 255 {
                        usize::from(first)
                    } else {
                        at += 2;
                        usize::from(be16(body, at - 2)?)
                    }
                } else {
                    usize::from(f.len)
                };
                let value = body
                    .get(at..at + len)
                    .ok_or_else(|| format!("record runs past its set at {at}"))?;
                values.insert((f.enterprise, f.id), value.to_vec());
                at += len;
            }
            out.records.push(values);
        }
        if body[at..].iter().any(|&b| b != 0) {
            return Err(format!(
                "{} bytes after the last record are not padding",
                body.len() - at
            ));
        }
        Ok(())
    }
}

/// A decoded element as text.
pub fn text(rec: &HashMap<ElementKey, Vec<u8>>, key: ElementKey) -> String {
    let bytes = rec
        .get(&key)
        .unwrap_or_else(|| panic!("element {key:?} missing"));
    String::from_utf8(bytes.clone()).expect("UTF-8 string element")
}

/// A decoded element as an unsigned number (big-endian, any width up to 8).
pub fn uint(rec: &HashMap<ElementKey, Vec<u8>>, key: ElementKey) -> u64 {
    let bytes = rec
        .get(&key)
        .unwrap_or_else(|| panic!("element {key:?} missing"));
    assert!(bytes.len() <= 8, "element {key:?} is {} bytes", bytes.len());
    bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

/// A decoded 4-byte element as an IPv4 address.
pub fn ipv4(rec: &HashMap<ElementKey, Vec<u8>>, key: ElementKey) -> std::net::Ipv4Addr {
    let bytes = rec
        .get(&key)
        .unwrap_or_else(|| panic!("element {key:?} missing"));
    let octets: [u8; 4] = bytes.as_slice().try_into().expect("4-byte address");
    std::net::Ipv4Addr::from(octets)
}

/// A decoded 16-byte element as an IPv6 address.
pub fn ipv6(rec: &HashMap<ElementKey, Vec<u8>>, key: ElementKey) -> std::net::Ipv6Addr {
    let bytes = rec
        .get(&key)
        .unwrap_or_else(|| panic!("element {key:?} missing"));
    let octets: [u8; 16] = bytes.as_slice().try_into().expect("16-byte address");
    std::net::Ipv6Addr::from(octets)
}
