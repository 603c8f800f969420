//! The event sink for final accounting records (shutdown, `ctl ... end`,
//! `on_down: Reset`): ending many user sessions at once emits one record
//! each, far more than an event ring holds. On the packet path a full ring
//! loses the event (a worker never waits there); here the worker is doing
//! nothing else, so it waits for the control plane, which drains the ring
//! meanwhile, to make room. Only if the control plane makes no room for
//! [`PATIENCE`] does a push give up (the pipeline counts the event as
//! lost, and the control plane reports it in the accounting `lost`
//! counter and the log).

use dataplane::event::{Event, EventSink};
use std::time::{Duration, Instant};

/// How long a push waits for room before the event is given up.
pub const PATIENCE: Duration = Duration::from_secs(5);
/// Pause between two looks at a full ring.
const PAUSE: Duration = Duration::from_micros(50);

/// Pushes into a worker's event ring, waiting while it is full.
pub struct PatientSink<'a> {
    ring: &'a mut rtrb::Producer<Event>,
    patience: Duration,
    /// Set once a push gave up: later pushes do not wait again (the
    /// control plane is not draining), so a stuck shutdown stays bounded.
    gave_up: bool,
}

impl<'a> PatientSink<'a> {
    pub fn new(ring: &'a mut rtrb::Producer<Event>) -> PatientSink<'a> {
        PatientSink::with_patience(ring, PATIENCE)
    }

    pub fn with_patience(
        ring: &'a mut rtrb::Producer<Event>,
        patience: Duration,
    ) -> PatientSink<'a> {
        PatientSink {
            ring,
            patience,
            gave_up: false,
        }
    }
}

impl EventSink for PatientSink<'_> {
    fn push(&mut self, e: Event) -> bool {
        let mut e = e;
        let mut since: Option<Instant> = None;
        loop {
            match self.ring.push(e) {
                Ok(()) => {
                    self.gave_up = false;
                    return true;
                }
                Err(rtrb::PushError::Full(back)) => e = back,
            }
            if self.gave_up {
                return false;
            }
            let start = *since.get_or_insert_with(Instant::now);
            if start.elapsed() >= self.patience {
                self.gave_up = true;
                return false;
            }
            std::thread::sleep(PAUSE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u64) -> Event {
        Event::SessionActive { session_id: n }
    }

    #[test]
    fn waits_for_the_consumer_to_make_room() {
        let (mut tx, mut rx) = rtrb::RingBuffer::new(4);
        let drain = std::thread::spawn(move || {
            let mut got = Vec::new();
            while got.len() < 1000 {
                match rx.pop() {
                    Ok(Event::SessionActive { session_id }) => got.push(session_id),
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_micros(10)),
                }
            }
            got
        });
        let mut sink = PatientSink::new(&mut tx);
        assert!((0..1000).all(|n| sink.push(event(n))), "every push lands");
        let got = drain.join().expect("drain thread");
        assert_eq!(got, (0..1000).collect::<Vec<u64>>(), "all, in order");
    }

    #[test]
    fn gives_up_when_nobody_drains_and_stops_waiting() {
        let (mut tx, _rx) = rtrb::RingBuffer::new(2);
        let mut sink = PatientSink::with_patience(&mut tx, Duration::from_millis(30));
        assert!(sink.push(event(1)) && sink.push(event(2)));
        let start = Instant::now();
        assert!(!sink.push(event(3)), "full and not drained");
        assert!(start.elapsed() >= Duration::from_millis(30));
        let again = Instant::now();
        assert!(!sink.push(event(4)));
        assert!(
            again.elapsed() < Duration::from_millis(30),
            "no second wait"
        );
    }
}
