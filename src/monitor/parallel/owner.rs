//! An owner thread: counts the updates of the keys it owns into its set of views, in the
//! interval each producer counted them in, and hands each filled set to the combiner. Knows
//! nothing of packets or reports.

use super::protocol::{Filled, Message, Update};
use crate::monitor::views::ViewSet;
use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, SyncSender};

/// Where an owner knows a producer to be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Position {
    /// Nothing heard yet: it may still open any interval, so no interval can be chosen.
    Unknown,
    /// Counting in the interval starting at this second.
    In(u64),
    /// Counting in no interval.
    Done,
}

/// One owner thread: the views of its keys, and where each producer is.
pub(super) struct Owner {
    views: Box<ViewSet>,
    /// The set the combiner hands back (one is there from the start).
    spares: Receiver<Box<ViewSet>>,
    filled: SyncSender<Filled>,
    /// Per producer: where its batches go back.
    recycled: Vec<SyncSender<Vec<Update>>>,
    positions: Vec<Position>,
    /// Per producer: messages held back while it is ahead of `current`.
    held: Vec<VecDeque<Message>>,
    /// The interval being counted; `None` until every producer has said where it is, and
    /// between intervals.
    current: Option<u64>,
}

impl Owner {
    /// An owner of `views` (and of the spare that `spares` holds) for as many producers as
    /// `recycled` has queues, before it has heard from any.
    pub(super) fn new(
        views: Box<ViewSet>,
        spares: Receiver<Box<ViewSet>>,
        filled: SyncSender<Filled>,
        recycled: Vec<SyncSender<Vec<Update>>>,
    ) -> Self {
        let producers = recycled.len();
        Self {
            views,
            spares,
            filled,
            recycled,
            positions: vec![Position::Unknown; producers],
            held: (0..producers).map(|_| VecDeque::new()).collect(),
            current: None,
        }
    }

    /// Serves the producers until every one has hung up.
    pub(super) fn run(mut self, inbox: Receiver<(usize, Message)>) {
        for (producer, message) in inbox {
            self.receive(producer, message);
        }
    }

    /// Takes one message of `producer`: holds it back if the producer is ahead (or has
    /// messages held back), else handles it and closes and opens intervals as it allows.
    pub(super) fn receive(&mut self, producer: usize, message: Message) {
        if self.ahead(producer) || !self.held[producer].is_empty() {
            self.held[producer].push_back(message);
        } else {
            self.handle(producer, message);
            self.advance();
        }
    }

    /// Whether `producer`'s messages must wait: it counts in an interval after the current
    /// one, or the current one is not known yet.
    fn ahead(&self, producer: usize) -> bool {
        match self.positions[producer] {
            Position::In(start) => self.current.is_none_or(|current| start > current),
            Position::Unknown | Position::Done => false,
        }
    }

    fn handle(&mut self, producer: usize, message: Message) {
        match message {
            Message::Batch(mut batch) => {
                for update in batch.drain(..) {
                    update.apply(&mut self.views);
                }
                // The queue has room for every batch of the lane; it fails only if the producer
                // is gone.
                let _ = self.recycled[producer].try_send(batch);
            }
            Message::Open(start) => self.positions[producer] = Position::In(start),
            Message::Finish => self.positions[producer] = Position::Done,
        }
    }

    /// Closes the current interval once no producer is in it, then opens the earliest one a
    /// producer is in and counts what was held back for it; repeats while that closes more.
    fn advance(&mut self) {
        loop {
            if let Some(current) = self.current {
                if self.positions.contains(&Position::In(current)) {
                    return;
                }
                self.close(current);
                self.current = None;
            }
            if self.positions.contains(&Position::Unknown) {
                return;
            }
            let next = self.positions.iter().filter_map(|position| match position {
                Position::In(start) => Some(*start),
                Position::Unknown | Position::Done => None,
            });
            let Some(next) = next.min() else {
                return;
            };
            self.current = Some(next);
            for producer in 0..self.held.len() {
                while !self.ahead(producer) {
                    let Some(message) = self.held[producer].pop_front() else {
                        break;
                    };
                    self.handle(producer, message);
                }
            }
        }
    }

    /// Hands the filled set to the combiner and takes the spare.
    fn close(&mut self, start: u64) {
        match self.spares.recv() {
            Ok(spare) => {
                let views = std::mem::replace(&mut self.views, spare);
                // Fails only if the combiner is gone, and with it every report.
                let _ = self.filled.send(Filled { start, views });
            }
            // The combiner is gone, and with it every report: count the next interval afresh.
            Err(_) => self.views.clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::testing::{exact_with_workers as exact, tcp as key};
    use std::sync::mpsc;

    /// An owner with exact views for two producers, and where its sets go.
    fn owner() -> (Owner, Receiver<Filled>, SyncSender<Box<ViewSet>>) {
        let config = exact(1);
        let (spares, spares_rx) = mpsc::sync_channel(2);
        spares
            .send(Box::new(ViewSet::new(&config, config.sketch_bytes, true)))
            .unwrap();
        let (filled, filled_rx) = mpsc::sync_channel(2);
        let recycled = (0..2).map(|_| mpsc::sync_channel(4).0).collect();
        let views = Box::new(ViewSet::new(&config, config.sketch_bytes, true));
        (
            Owner::new(views, spares_rx, filled, recycled),
            filled_rx,
            spares,
        )
    }

    fn batch(port: u16) -> Message {
        let key = key(1, 2, port);
        Message::Batch(vec![Update::Flow {
            key,
            hash: u64::from(port),
            packets: 1,
            bytes: 100,
        }])
    }

    /// What the combiner does with a set once ranked.
    fn hand_back(spares: &SyncSender<Box<ViewSet>>, mut filled: Filled) {
        filled.views.clear();
        spares.send(filled.views).unwrap();
    }

    fn ports(filled: &Filled) -> Vec<u16> {
        let mut ports: Vec<u16> = (filled.views.flows.top(10, false).iter())
            .map(|(key, _, _)| key.src_port)
            .collect();
        ports.sort_unstable();
        ports
    }

    #[test]
    fn an_owner_holds_back_a_producer_ahead_and_closes_when_every_producer_has_moved_on() {
        let (mut owner, filled, spares) = owner();
        owner.receive(0, Message::Open(100));
        owner.receive(0, batch(1));
        owner.receive(0, Message::Open(110));
        owner.receive(0, batch(2));
        // Producer 1 might still open an earlier interval: nothing is counted or closed yet.
        assert!(owner.views.flows.top(10, false).is_empty());
        owner.receive(1, Message::Open(100));
        owner.receive(1, batch(3));
        // Producer 0 has moved on, producer 1 is still in 100.
        assert!(filled.try_recv().is_err());
        owner.receive(1, Message::Open(120));
        let first = filled.try_recv().expect("nobody counts in 100 any more");
        assert_eq!((first.start, ports(&first)), (100, vec![1, 3]));
        hand_back(&spares, first);
        // 110 is next (producer 0 is in it; producer 1 skipped it), its batch counted.
        owner.receive(1, batch(4));
        owner.receive(0, Message::Finish);
        let second = filled.try_recv().expect("nobody counts in 110 any more");
        assert_eq!((second.start, ports(&second)), (110, vec![2]));
        hand_back(&spares, second);
        owner.receive(1, Message::Finish);
        let third = filled.try_recv().expect("every producer has finished");
        assert_eq!((third.start, ports(&third)), (120, vec![4]));
        assert!(filled.try_recv().is_err());
    }
}
