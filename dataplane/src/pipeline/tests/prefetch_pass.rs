//! The prefetch pass aims its hints at the lines the next pass reads and
//! survives any bytes.

use super::*;
use crate::prefetch::Prefetch;
use crate::tier2::FlowKey;
use proptest::prelude::*;
use std::cell::RefCell;

/// Records the address and size of every hint.
#[derive(Default)]
struct Recorder(RefCell<Vec<(usize, usize)>>);

impl Prefetch for Recorder {
    fn read<T>(&self, value: &T) {
        self.0
            .borrow_mut()
            .push((value as *const T as usize, std::mem::size_of::<T>()));
    }
}

impl Recorder {
    fn hinted(&self, address: usize) -> bool {
        self.0.borrow().iter().any(|(a, _)| *a == address)
    }
}

fn address_of<T>(value: &T) -> usize {
    value as *const T as usize
}

#[test]
fn an_established_flow_gets_its_bucket_and_slot_prefetched() {
    let mut lab = Lab::new(1);
    let (v, out) = lab.up(ACC, &syn(UE, 40000, VIP, 80));
    assert_eq!(v, Verdict::Forward(SRV));
    let translated = decode(&out);
    let w = &lab.workers[0];
    let key = FlowKey {
        proto: 6,
        client_ip: UE,
        client_port: 40000,
        dst_ip: VIP,
        dst_port: 80,
    };
    let idx = w.table().find_client(&key).unwrap();
    let hash = w.table().client_hash(&key);

    let data = tcp(
        UE,
        40000,
        VIP,
        80,
        TcpFlags::ACK,
        b"x",
        (UE_MAC, port_mac(ACC)),
    );
    let hints = Recorder::default();
    w.prefetch_burst([(&data[..], ACC)], &hints);
    assert!(hints.hinted(address_of(w.table().client_bucket(hash))));
    assert!(hints.hinted(address_of(w.table().slot_memory(idx).unwrap())));

    // The server's reply: the reply-index cell and the same slot.
    let reply = tcp(
        translated.dst,
        8080,
        GW,
        translated.sport,
        TcpFlags::ACK,
        &[],
        (server_mac(translated.dst), port_mac(SRV)),
    );
    let hints = Recorder::default();
    w.prefetch_burst([(&reply[..], SRV)], &hints);
    let cell = w.table().reply_cell(0, translated.sport).unwrap();
    assert!(hints.hinted(address_of(cell)));
    assert!(hints.hinted(address_of(w.table().slot_memory(idx).unwrap())));
}

#[test]
fn a_new_flow_gets_only_its_bucket_and_at_most_a_burst_is_read() {
    let lab = Lab::new(1);
    let w = &lab.workers[0];
    let first = syn(UE, 41000, VIP, 80);
    let frames: Vec<Vec<u8>> = (0..40).map(|_| first.clone()).collect();
    let hints = Recorder::default();
    w.prefetch_burst(frames.iter().map(|f| (&f[..], ACC)), &hints);
    // No session yet: one bucket hint per frame looked at, nothing else.
    assert_eq!(hints.0.borrow().len(), PREFETCH_MAX);
    assert!(hints.0.borrow().iter().all(|(_, size)| *size == 64));
}

#[test]
fn frames_without_a_session_to_find_get_no_hint() {
    let lab = Lab::new(1);
    let w = &lab.workers[0];
    let arp_like = [0u8; 60];
    let short = syn(UE, 41000, VIP, 80)[..20].to_vec();
    let hints = Recorder::default();
    w.prefetch_burst(
        [(&arp_like[..], ACC), (&short[..], ACC), (&short[..], 999)],
        &hints,
    );
    assert!(hints.0.borrow().is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any bytes on any port: no panic, and every hint points into the
    /// worker's own tables (checked by the recorder staying small).
    #[test]
    fn any_bytes_never_panic(
        frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..120), 1..40),
        port in 0u16..6,
    ) {
        let lab = Lab::new(1);
        let hints = Recorder::default();
        lab.workers[0].prefetch_burst(frames.iter().map(|f| (&f[..], port)), &hints);
        prop_assert!(hints.0.borrow().len() <= 2 * PREFETCH_MAX);
    }
}

#[test]
fn expiry_prefetches_what_removal_touches_and_still_expires() {
    let mut lab = Lab::new(1);
    let (_, out) = lab.up(ACC, &syn(UE, 42000, VIP, 80));
    let translated = decode(&out);
    let key = FlowKey {
        proto: 6,
        client_ip: UE,
        client_port: 42000,
        dst_ip: VIP,
        dst_port: 80,
    };
    let (bucket, cell) = {
        let table = lab.workers[0].table();
        (
            address_of(table.client_bucket(table.client_hash(&key))),
            address_of(table.reply_cell(0, translated.sport).unwrap()),
        )
    };
    let hints = Recorder::default();
    let later = lab.now + 3_600_000;
    let mut events = Vec::new();
    let w = &mut lab.workers[0];
    w.begin_burst();
    while w.run_timers_prefetched(later, 64, &mut events, &hints) > 0 {}
    assert_eq!(w.table().len(), 0, "the idle user session expired");
    assert!(hints.hinted(bucket) && hints.hinted(cell));
}
