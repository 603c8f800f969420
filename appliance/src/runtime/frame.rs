//! An mbuf seen through the pipeline's `Frame` trait.

use dataplane::frame::Frame;
use dpdk_ffi::Mbuf;

pub struct MbufFrame<'a>(pub &'a mut Mbuf);

fn to_u16(n: usize) -> Option<u16> {
    u16::try_from(n).ok()
}

impl Frame for MbufFrame<'_> {
    #[inline]
    fn bytes(&self) -> &[u8] {
        self.0.data()
    }
    #[inline]
    fn bytes_mut(&mut self) -> &mut [u8] {
        self.0.data_mut()
    }
    #[inline]
    fn prepend(&mut self, n: usize) -> bool {
        to_u16(n).is_some_and(|n| self.0.prepend(n))
    }
    #[inline]
    fn adj(&mut self, n: usize) -> bool {
        to_u16(n).is_some_and(|n| self.0.adj(n))
    }
    #[inline]
    fn trim(&mut self, n: usize) -> bool {
        to_u16(n).is_some_and(|n| self.0.trim(n))
    }
    #[inline]
    fn append(&mut self, n: usize) -> bool {
        to_u16(n).is_some_and(|n| self.0.append(n))
    }
}
