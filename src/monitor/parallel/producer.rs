//! A producer: a packet thread's end of the owners and the combiner. It hashes each flow
//! chunk's keys once, batches one update per view for each key's owner, and tells the owners
//! and the combiner where its intervals begin and end. Knows nothing of packets or sketches.

use super::protocol::{Closed, Message, Update};
use super::{BATCH, BATCHES_PER_LANE};
use crate::decode::FlowKey;
use crate::monitor::assemble::IntervalPart;
use crate::monitor::prefix::{Handed, PrefixLengths, PrefixSketches, PrefixViews};
use crate::monitor::views::address_coupon;
use crate::sketch::hll::Coupon;
use std::sync::mpsc::{Receiver, Sender, SyncSender};

/// A producer's end of one owner.
pub(super) struct Lane {
    /// The batch being filled.
    pub(super) batch: Vec<Update>,
    /// Batches of this lane in existence, `batch` included (at most [`BATCHES_PER_LANE`]).
    pub(super) batches: usize,
    pub(super) recycled: Receiver<Vec<Update>>,
    pub(super) inbox: SyncSender<(usize, Message)>,
}

impl Lane {
    /// Hands the batch to the owner and takes an empty one: one that came back, a new one
    /// while the lane has fewer than [`BATCHES_PER_LANE`], else the next to come back.
    fn flush(&mut self, producer: usize) {
        if self.batch.is_empty() {
            return;
        }
        let spare = match self.recycled.try_recv() {
            Ok(batch) => batch,
            Err(_) if self.batches < BATCHES_PER_LANE => {
                self.batches += 1;
                Vec::with_capacity(BATCH)
            }
            // Fails only if the owner is gone.
            Err(_) => self
                .recycled
                .recv()
                .unwrap_or_else(|_| Vec::with_capacity(BATCH)),
        };
        let full = std::mem::replace(&mut self.batch, spare);
        // Fails only if the owner is gone; its keys are then missing, which the combiner logs.
        let _ = self.inbox.send((producer, Message::Batch(full)));
    }

    /// Sends what is batched, then `message`.
    fn send(&mut self, producer: usize, message: Message) {
        self.flush(producer);
        let _ = self.inbox.send((producer, message));
    }
}

/// A packet thread's end of the owners and the combiner.
pub(crate) struct Producer {
    /// Its index among the producers, which the owners know it by.
    pub(super) id: usize,
    pub(super) lanes: Vec<Lane>,
    pub(super) closed: Sender<Closed>,
    pub(super) distinct: bool,
    /// Stands in for coupons when distinct counting is off.
    pub(super) no_coupon: Coupon,
    /// Whether the owners were last told `Finish`.
    pub(super) finished: bool,
}

impl Producer {
    /// The owner of a key of hash `hash`: bits 16..32, which neither the sketches (low 16
    /// bits for fingerprints, high 32 for buckets) nor the fan tables (high 32) use, so each
    /// owner's keys still spread over all of its buckets.
    #[inline]
    pub(super) fn owner(&self, hash: u64) -> usize {
        ((((hash >> 16) & 0xffff) * self.lanes.len() as u64) >> 16) as usize
    }

    #[inline]
    fn push(&mut self, hash: u64, update: Update) {
        let (id, owner) = (self.id, self.owner(hash));
        let lane = &mut self.lanes[owner];
        lane.batch.push(update);
        if lane.batch.len() >= BATCH {
            lane.flush(id);
        }
    }

    /// Queues the updates of `packets` packets of flow `key` of `bytes` bytes in all, given the
    /// views' hashes of its keys; and when `prefixes` is given, adds the flow to its caches
    /// and queues what they hand on (each prefix goes to its own owner, so that it is counted
    /// whole in one place).
    #[inline]
    pub(crate) fn dispatch(
        &mut self,
        key: &FlowKey,
        packets: u64,
        bytes: u64,
        (flow_hash, src_hash, dst_hash): (u64, u64, u64),
        prefixes: Option<&mut PrefixViews>,
    ) {
        let (src, dst) = if self.distinct {
            (address_coupon(&key.src), address_coupon(&key.dst))
        } else {
            (self.no_coupon, self.no_coupon)
        };
        self.push(
            flow_hash,
            Update::Flow {
                key: *key,
                hash: flow_hash,
                packets,
                bytes,
            },
        );
        self.push(
            src_hash,
            Update::Source {
                address: key.src,
                hash: src_hash,
                packets,
                bytes,
                own: src,
                peer: dst,
            },
        );
        self.push(
            dst_hash,
            Update::Destination {
                address: key.dst,
                hash: dst_hash,
                packets,
                bytes,
                own: dst,
                peer: src,
            },
        );
        if let Some(prefixes) = prefixes {
            let coupons = self.distinct.then_some((src, dst));
            prefixes.stage(key, packets, bytes, coupons, |lengths, sketches, handed| {
                self.dispatch_prefixes(lengths, sketches, &handed)
            });
        }
    }

    /// Queues what a prefix cache handed on (see [`PrefixViews::stage`]) for the owners of
    /// its prefixes: per length, one update with the sums and the first coupon, and one per
    /// further coupon.
    pub(crate) fn dispatch_prefixes(
        &mut self,
        lengths: &PrefixLengths,
        sketches: &PrefixSketches,
        handed: &Handed,
    ) {
        let source = handed.side == 0;
        for prefix in handed.prefixes(lengths) {
            let hash = sketches.hash(&prefix);
            let mut coupons = handed.coupons();
            let sums = Update::Prefix {
                source,
                prefix,
                hash,
                packets: handed.packets,
                bytes: handed.bytes,
                address: coupons.next(),
            };
            self.push(hash, sums);
            for address in coupons {
                let update = Update::PrefixAddress {
                    source,
                    prefix,
                    hash,
                    address,
                };
                self.push(hash, update);
            }
        }
    }

    /// Tells the combiner that this producer closed the interval starting at `start`, with
    /// its part of the report if it reports it. Call before [`open`](Self::open) or
    /// [`finish`](Self::finish) tells the owners.
    pub(crate) fn closed(&mut self, start: u64, part: Option<IntervalPart>) {
        // Fails only if the combiner is gone, and with it every report.
        let _ = self.closed.send(Closed { start, part });
    }

    /// Tells every owner that the updates from now on count in the interval starting at
    /// `start` (later than any this producer opened before, except after a
    /// [`finish`](Self::finish) when it is the only producer).
    pub(crate) fn open(&mut self, start: u64) {
        self.finished = false;
        self.tell(|| Message::Open(start));
    }

    /// Tells every owner that this producer counts in no interval until it opens one.
    pub(crate) fn finish(&mut self) {
        self.finished = true;
        self.tell(|| Message::Finish);
    }

    fn tell(&mut self, message: impl Fn() -> Message) {
        let id = self.id;
        for lane in &mut self.lanes {
            lane.send(id, message());
        }
    }
}

impl Drop for Producer {
    /// A producer that goes away counts in no interval: the owners must not wait for it.
    fn drop(&mut self) {
        if !self.finished {
            self.finish();
        }
    }
}
