//! The packet buffer the pipeline works on.
//!
//! In the appliance this is a DPDK mbuf; in tests a plain byte vector with
//! headroom. The pipeline rewrites in place and only grows or shrinks the
//! front (tunnel and VLAN headers) or the back (generated replies).

/// A frame held in a buffer with head and tail room.
pub trait Frame {
    fn bytes(&self) -> &[u8];
    fn bytes_mut(&mut self) -> &mut [u8];
    /// Grows the frame by `n` bytes at the front; false if no headroom.
    fn prepend(&mut self, n: usize) -> bool;
    /// Removes `n` bytes from the front; false if the frame is shorter.
    fn adj(&mut self, n: usize) -> bool;
    /// Removes `n` bytes from the end; false if the frame is shorter.
    fn trim(&mut self, n: usize) -> bool;
    /// Grows the frame by `n` bytes at the end; false if no tailroom.
    fn append(&mut self, n: usize) -> bool;

    fn len(&self) -> usize {
        self.bytes().len()
    }

    fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }
}

/// A frame in a `Vec<u8>`, for tests, benchmarks and the pcap generator.
#[derive(Clone, Debug)]
pub struct VecFrame {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl VecFrame {
    /// Headroom and tailroom like a default DPDK mbuf.
    pub const HEADROOM: usize = 128;
    pub const CAPACITY: usize = 2048;

    pub fn new(data: &[u8]) -> VecFrame {
        let mut buf = vec![0u8; Self::HEADROOM + Self::CAPACITY.max(data.len())];
        buf[Self::HEADROOM..Self::HEADROOM + data.len()].copy_from_slice(data);
        VecFrame {
            buf,
            start: Self::HEADROOM,
            end: Self::HEADROOM + data.len(),
        }
    }

    /// Replaces the contents, keeping the buffer.
    pub fn reset(&mut self, data: &[u8]) {
        self.reset_from(&[data]);
    }

    /// Replaces the contents with `parts` one after the other, keeping the
    /// buffer (grown, once, if they do not fit).
    pub fn reset_from(&mut self, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if self.buf.len() < Self::HEADROOM + len {
            self.buf.resize(Self::HEADROOM + len, 0);
        }
        self.start = Self::HEADROOM;
        self.end = Self::HEADROOM + len;
        let mut at = self.start;
        for p in parts {
            self.buf[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        }
    }
}

// The accessors are inlined as the appliance's `MbufFrame` ones are, so the
// benches count the pipeline the appliance runs, not calls it never makes.
impl Frame for VecFrame {
    #[inline(always)]
    fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }
    #[inline(always)]
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.end]
    }
    fn prepend(&mut self, n: usize) -> bool {
        if n > self.start {
            return false;
        }
        self.start -= n;
        true
    }
    fn adj(&mut self, n: usize) -> bool {
        if n > self.end - self.start {
            return false;
        }
        self.start += n;
        true
    }
    fn trim(&mut self, n: usize) -> bool {
        if n > self.end - self.start {
            return false;
        }
        self.end -= n;
        true
    }
    fn append(&mut self, n: usize) -> bool {
        if self.end + n > self.buf.len() {
            return false;
        }
        self.end += n;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grow_and_shrink() {
        let mut f = VecFrame::new(&[1, 2, 3]);
        assert!(f.prepend(2));
        assert_eq!(f.len(), 5);
        assert_eq!(&f.bytes()[2..], &[1, 2, 3]);
        assert!(f.adj(3));
        assert_eq!(f.bytes(), &[2, 3]);
        assert!(f.trim(1));
        assert_eq!(f.bytes(), &[2]);
        assert!(!f.trim(2));
        assert!(f.append(1));
        assert_eq!(f.len(), 2);
        assert!(!f.prepend(VecFrame::HEADROOM + 10));
    }
}
