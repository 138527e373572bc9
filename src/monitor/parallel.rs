//! Parallel aggregation (`--workers N`, after the mCHK-I framework of the CHK paper): every key
//! of every view has one owner thread, chosen by its hash, and only the owner counts it; a
//! combiner thread turns the owners' sketches into reports, so that neither the threads that
//! read packets nor the owners wait for a report.
//!
//! **Producers** (the threads that read packets: one for a replay, one per reader of a live
//! capture) keep reading, decoding, the plain totals and their flow cache; per flow chunk the
//! cache hands on (up to 16 packets of one flow, or a single packet under a flood) a producer
//! hashes the flow, the source and the destination once and appends one weighted update per
//! view to its batch for that key's owner. Full batches go to the owner through a bounded queue
//! (`std::sync::mpsc::sync_channel`, crossbeam's lock-free array channel inside) and come back
//! empty through another. A producer has at most [`BATCHES_PER_LANE`] batches per owner and
//! waits for one to come back when all are out, so a slow owner slows its producers down
//! instead of losing updates or growing queues, and nothing is allocated per packet. A source
//! update carries the destination's coupon (for the source's fan-out) and a destination update
//! the source's (fan-in), so each owner holds the heavy-hitter sketches, interval HyperLogLogs
//! and fan tables of its own keys only.
//!
//! **Intervals.** Each producer keeps its own interval clock ([`super::IntervalAggregator`]) and
//! tells every owner, in line with its batches, which interval it counts in (`Open(start)`) and
//! when it has stopped (`Finish`). An owner counts the batches of the producers in its current
//! interval, holds back (in order, uncounted) those of producers already in a later one, and
//! closes its interval once no producer is in it any more; its next interval is the earliest one
//! a producer is in. Since a producer's intervals only move forward (after `Finish` only a lone
//! producer may go back), every owner closes the same intervals in the same order (those of all
//! producers), and every update counts in the interval its producer counted the packet in, as
//! with one thread.
//!
//! **Closing** is a swap: the owner hands its filled set of views to the combiner and goes on
//! with its spare set (a pointer swap, nothing copied). It waits only if the combiner still
//! holds both its sets, a whole interval behind. A producer closing an interval tells the
//! combiner whether it would report it, then reads on; the report it returns carries only its
//! own part (interval, totals, and the capture statistics the live loop adds), which its loop
//! sends to the combiner as it would to the sinks.
//!
//! **The combiner** takes every owner's set of the next interval, in order, and the parts of
//! the producers that report it. Keys are disjoint across owners, so the global top `n` is among
//! the owners' top `n`s ([`largest`] over their concatenation, with the ranking of the
//! one-thread path), and the union of their HLLs has exactly the registers of the one-thread
//! HLL; totals and capture statistics are summed over the parts, cumulative counts over the
//! intervals. It clears the sets, hands them back to their owners and sends the report on to
//! the sinks. Reports leave in interval order; an interval is reported when any producer would
//! have reported it on its own.
//!
//! **Memory** (N owners, P producers): each owner has at most two sets, the one it fills and the
//! one the combiner ranks or hands back. A set has the six heavy-hitter sketches at
//! `sketch_bytes / N` each, two interval HLLs and full-size fan tables (its share of the keys
//! then competes for as many tracked slots as one thread's), so the sketches take
//! `2 × 6 × sketch_bytes` in all (twice one thread's), the fan tables `4 N` times one table's
//! bound and the HLLs `4 N × 2^lg_k` bytes; the batches take `P × N ×` [`BATCHES_PER_LANE`]
//! `×` [`BATCH`] updates of 64 bytes (1 MiB per producer and owner).
//!
//! Knows nothing of where packets come from or where reports go.

use super::{address_coupon, fan_lg_k, rounded, tracked_keys, HeavyHitters, MonitorConfig};
use crate::decode::FlowKey;
use crate::report::{
    largest, AddressEntry, CaptureCounts, CaptureStats, FlowEntry, IntervalReport, ReaderCapture,
    Sketches, Totals, WindowCounts,
};
use crate::sketch::hll::{coupon_of_bytes, Coupon, DistinctCounter, DistinctUnion};
use crate::sketch::keyed::KeyedDistinct;
use crate::window::SlidingDistinct;
use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread;

/// Most worker threads `--workers` accepts.
pub const MAX_WORKERS: usize = 64;

/// Updates per batch: large enough that a queue hand-off (an atomic or two) is spread over
/// hundreds of updates, small enough (about 32 KiB of updates) to stay in a core's L2 cache.
const BATCH: usize = 512;

/// Batches one producer has for one owner: the one being filled and those queued, being applied
/// or on their way back (1 MiB of updates). Threads that share cores with others run in turns;
/// the deeper the queues, the longer each turn and the fewer the hand-overs: on 2 shared cores
/// 16 replayed the benchmark trace with 2 workers about 10% slower than 32, and 64 only a few
/// percent faster than 32 for twice the memory.
const BATCHES_PER_LANE: usize = 32;

/// One flow's packets' contribution to one view, for the key's owner.
enum Update {
    Flow {
        key: FlowKey,
        hash: u64,
        packets: u64,
        bytes: u64,
    },
    /// `own` is the address's coupon (interval distinct count), `peer` the other end's.
    Source {
        address: IpAddr,
        hash: u64,
        packets: u64,
        bytes: u64,
        own: Coupon,
        peer: Coupon,
    },
    Destination {
        address: IpAddr,
        hash: u64,
        packets: u64,
        bytes: u64,
        own: Coupon,
        peer: Coupon,
    },
}

/// What a producer sends an owner, in order.
enum Message {
    Batch(Vec<Update>),
    /// The producer has closed the interval it counted in, if any, and counts in the interval
    /// starting at this second.
    Open(u64),
    /// The producer has closed its interval and counts in none (end of its input, or gone).
    Finish,
}

/// A producer's word to the combiner that it closed an interval.
struct Closed {
    start: u64,
    /// Whether it reports the interval (it had packets, or the clock closed it): its part of
    /// the report follows through its loop.
    reported: bool,
}

/// The distinct counts an owner keeps for its keys.
struct OwnedDistinct {
    sources: DistinctCounter,
    destinations: DistinctCounter,
    fan_in: KeyedDistinct<IpAddr>,
    fan_out: KeyedDistinct<IpAddr>,
}

/// One set of the views of an owner's keys: the set being filled, or the one being ranked.
struct Views {
    flows: HeavyHitters<FlowKey>,
    sources: HeavyHitters<IpAddr>,
    destinations: HeavyHitters<IpAddr>,
    distinct: Option<OwnedDistinct>,
}

/// A top-list entry of an address view with its fan-in or fan-out.
type Ranked = (IpAddr, u64, u64, Option<u64>);

/// One owner's top lists of an interval.
struct Partial {
    /// Top flows by packets, by bytes.
    flows: [Vec<(FlowKey, u64, u64)>; 2],
    /// Top sources by packets, by bytes, with their fan-out.
    sources: [Vec<Ranked>; 2],
    /// Top destinations by packets, by bytes, with their fan-in.
    destinations: [Vec<Ranked>; 2],
}

impl Views {
    fn new(config: &MonitorConfig, owners: usize) -> Self {
        let share = MonitorConfig {
            sketch_bytes: config.sketch_bytes / owners,
            ..config.clone()
        };
        Self {
            flows: HeavyHitters::new(&share),
            sources: HeavyHitters::new(&share),
            destinations: HeavyHitters::new(&share),
            distinct: config.distinct.then(|| OwnedDistinct {
                sources: DistinctCounter::new(config.hll_lg_k),
                destinations: DistinctCounter::new(config.hll_lg_k),
                fan_in: KeyedDistinct::new(tracked_keys(config.top), fan_lg_k(config.hll_lg_k)),
                fan_out: KeyedDistinct::new(tracked_keys(config.top), fan_lg_k(config.hll_lg_k)),
            }),
        }
    }

    /// The one-thread path's per-view steps ([`super::DistinctViews::observe`]), for one key.
    #[inline]
    fn apply(&mut self, update: Update) {
        match update {
            Update::Flow {
                key,
                hash,
                packets,
                bytes,
            } => {
                self.flows.add(&key, hash, packets, bytes);
            }
            Update::Source {
                address,
                hash,
                packets,
                bytes,
                own,
                peer,
            } => {
                let count = self.sources.add(&address, hash, packets, bytes);
                if let Some(distinct) = &mut self.distinct {
                    distinct.sources.insert_coupon(own);
                    distinct
                        .fan_out
                        .insert(&address, hash, peer, packets, || count);
                }
            }
            Update::Destination {
                address,
                hash,
                packets,
                bytes,
                own,
                peer,
            } => {
                let count = self.destinations.add(&address, hash, packets, bytes);
                if let Some(distinct) = &mut self.distinct {
                    distinct.destinations.insert_coupon(own);
                    distinct
                        .fan_in
                        .insert(&address, hash, peer, packets, || count);
                }
            }
        }
    }

    /// The top lists of these views (both counts, fan-in or fan-out attached).
    fn partial(&self, top: usize) -> Partial {
        let with_fan = |view: &HeavyHitters<IpAddr>, fans: Option<&KeyedDistinct<IpAddr>>| {
            [false, true].map(|by_bytes| {
                view.top(top, by_bytes)
                    .into_iter()
                    .map(|(address, packets, bytes)| {
                        let fan = fans.and_then(|fans| {
                            fans.estimate(&address, view.hash(&address)).map(rounded)
                        });
                        (address, packets, bytes, fan)
                    })
                    .collect()
            })
        };
        Partial {
            flows: [false, true].map(|by_bytes| self.flows.top(top, by_bytes)),
            sources: with_fan(&self.sources, self.distinct.as_ref().map(|d| &d.fan_out)),
            destinations: with_fan(
                &self.destinations,
                self.distinct.as_ref().map(|d| &d.fan_in),
            ),
        }
    }

    /// Empties every view, keeping its memory.
    fn clear(&mut self) {
        self.flows.clear();
        self.sources.clear();
        self.destinations.clear();
        if let Some(distinct) = &mut self.distinct {
            distinct.sources.reset();
            distinct.destinations.reset();
            distinct.fan_in.clear();
            distinct.fan_out.clear();
        }
    }
}

/// An owner's filled set of views, for the combiner.
struct Filled {
    start: u64,
    views: Box<Views>,
}

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
struct Owner {
    views: Box<Views>,
    /// The set the combiner hands back (one is there from the start).
    spares: Receiver<Box<Views>>,
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
    fn new(
        views: Box<Views>,
        spares: Receiver<Box<Views>>,
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
    fn run(mut self, inbox: Receiver<(usize, Message)>) {
        for (producer, message) in inbox {
            self.receive(producer, message);
        }
    }

    /// Takes one message of `producer`: holds it back if the producer is ahead (or has
    /// messages held back), else handles it and closes and opens intervals as it allows.
    fn receive(&mut self, producer: usize, message: Message) {
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
                    self.views.apply(update);
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

/// The combiner thread: owners' sets and producers' parts in, reports out.
struct Combiner {
    top: usize,
    hll_lg_k: u8,
    distinct: bool,
    /// Per owner: its filled sets, and where they go back.
    owners: Vec<(Receiver<Filled>, SyncSender<Box<Views>>)>,
    closed: Receiver<Closed>,
    parts: Receiver<IntervalReport>,
    reports: Sender<IntervalReport>,
    /// Per interval start: producers that said they report it, whose parts are still due.
    announced: BTreeMap<u64, usize>,
    /// Parts that came before their interval's sets.
    early: Vec<IntervalReport>,
    cumulative: Totals,
    capture_cumulative: Option<CaptureCounts>,
    /// Per reader of a shared interface, its capture statistics since the capture opened.
    reader_cumulative: BTreeMap<u32, CaptureCounts>,
    window: Option<SlidingDistinct>,
}

impl Combiner {
    /// Combines intervals until the owners end.
    fn run(mut self) {
        let mut sets = Vec::with_capacity(self.owners.len());
        loop {
            let mut start = None;
            for (index, (filled, _)) in self.owners.iter().enumerate() {
                match filled.recv() {
                    Ok(Filled { start: at, views }) => {
                        start = Some(at);
                        sets.push(views);
                    }
                    Err(_) => {
                        if index > 0 {
                            tracing::error!(
                                worker = index,
                                "A worker thread ended before the others; no more reports."
                            );
                        }
                        return;
                    }
                }
            }
            let Some(start) = start else {
                return;
            };
            // Every producer told this before telling the owners it moved past `start`.
            while let Ok(closed) = self.closed.try_recv() {
                if closed.reported {
                    *self.announced.entry(closed.start).or_default() += 1;
                }
            }
            let due = self.announced.remove(&start).unwrap_or(0);
            let parts = self.parts_of(start, due);
            if let Some(report) = self.combine(parts, &sets) {
                // Fails only once the sinks are gone; the owners still need their sets.
                let _ = self.reports.send(report);
            }
            for (mut views, (_, spares)) in sets.drain(..).zip(&self.owners) {
                views.clear();
                let _ = spares.send(views);
            }
        }
    }

    /// The `due` parts of interval `start`, waiting for those still on their way (a loop sends
    /// its part right after the producer closed the interval).
    fn parts_of(&mut self, start: u64, due: usize) -> Vec<IntervalReport> {
        let (mut parts, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.early)
            .into_iter()
            .partition(|part| part.interval.start_unix == start);
        self.early = later;
        while parts.len() < due {
            match self.parts.recv() {
                Ok(part) if part.interval.start_unix == start => parts.push(part),
                Ok(part) => self.early.push(part),
                // Every loop has hung up: what is missing will not come.
                Err(_) => break,
            }
        }
        parts
    }

    /// The report of one interval from its producers' parts and its owners' sets; `None`
    /// without parts (no producer reports the interval).
    fn combine(
        &mut self,
        parts: Vec<IntervalReport>,
        sets: &[Box<Views>],
    ) -> Option<IntervalReport> {
        let mut parts = parts.into_iter();
        let mut report = parts.next()?;
        for part in parts {
            report.totals.add(&part.totals);
            match (&mut report.capture, part.capture) {
                (Some(sum), Some(capture)) => {
                    sum.interval.add(&capture.interval);
                    sum.readers.extend(capture.readers);
                }
                (sum @ None, capture) => *sum = capture,
                (Some(_), None) => {}
            }
        }
        self.cumulative.add(&report.totals);
        report.cumulative = self.cumulative.clone();
        if let Some(capture) = &mut report.capture {
            let cumulative = self.capture_cumulative.get_or_insert_default();
            cumulative.add(&capture.interval);
            capture.cumulative = *cumulative;
            self.per_reader(capture);
        }
        self.rank(&mut report, sets);
        Some(report)
    }

    /// Lists every reader that has reported since the capture opened in `capture`, by number:
    /// its interval counts from this interval's parts (none if it sent none), its cumulative
    /// counts summed here like the capture's.
    fn per_reader(&mut self, capture: &mut CaptureStats) {
        let mut interval = BTreeMap::new();
        for reader in capture.readers.drain(..) {
            interval
                .entry(reader.reader)
                .or_insert_with(CaptureCounts::default)
                .add(&reader.interval);
        }
        for (&reader, counts) in &interval {
            self.reader_cumulative
                .entry(reader)
                .or_default()
                .add(counts);
        }
        capture.readers = self
            .reader_cumulative
            .iter()
            .map(|(&reader, &cumulative)| ReaderCapture {
                reader,
                interval: interval.get(&reader).copied().unwrap_or_default(),
                cumulative,
            })
            .collect();
    }

    /// Fills `report`'s top lists and distinct counts from the owners' sets.
    fn rank(&mut self, report: &mut IntervalReport, sets: &[Box<Views>]) {
        let top = self.top;
        let partials: Vec<Partial> = sets.iter().map(|views| views.partial(top)).collect();
        let flows = |by: usize| -> Vec<FlowEntry> {
            let all = partials.iter().flat_map(|p| p.flows[by].iter());
            largest(all, top, |&(key, packets, bytes)| {
                (if by == 1 { *bytes } else { *packets }, key)
            })
            .into_iter()
            .map(|&(key, packets, bytes)| FlowEntry::new(key, packets, bytes))
            .collect()
        };
        // `fan_out`: the fan figure is distinct destinations (sources' view), else sources.
        let addresses = |view: fn(&Partial) -> &[Vec<Ranked>; 2], by: usize, fan_out: bool| {
            let all = partials.iter().flat_map(|p| view(p)[by].iter());
            largest(all, top, |&(address, packets, bytes, _)| {
                (if by == 1 { *bytes } else { *packets }, address)
            })
            .into_iter()
            .map(|&(address, packets, bytes, fan)| AddressEntry {
                address,
                packets,
                bytes,
                distinct_sources: if fan_out { None } else { fan },
                distinct_destinations: if fan_out { fan } else { None },
            })
            .collect()
        };
        report.top_flows = flows(0);
        report.top_flows_by_bytes = flows(1);
        report.top_sources = addresses(|p| &p.sources, 0, true);
        report.top_sources_by_bytes = addresses(|p| &p.sources, 1, true);
        report.top_destinations = addresses(|p| &p.destinations, 0, false);
        report.top_destinations_by_bytes = addresses(|p| &p.destinations, 1, false);
        if !self.distinct {
            return;
        }
        let mut sources = DistinctUnion::new(self.hll_lg_k);
        let mut destinations = DistinctUnion::new(self.hll_lg_k);
        for distinct in sets.iter().filter_map(|views| views.distinct.as_ref()) {
            sources.add(&distinct.sources);
            destinations.add(&distinct.destinations);
        }
        report.distinct_sources = rounded(sources.estimate());
        report.distinct_destinations = rounded(destinations.estimate());
        let interval_sources = sources.to_counter();
        report.sketches = Some(Sketches {
            sources: interval_sources.to_base64(),
            destinations: destinations.to_counter().to_base64(),
        });
        if let Some(window) = &mut self.window {
            let count = window.push(report.interval.start_unix, interval_sources);
            report.window = Some(WindowCounts {
                seconds: window.window_secs(),
                intervals: count.intervals as u64,
                distinct_sources: rounded(count.estimate),
            });
        }
    }
}

/// A producer's end of one owner.
struct Lane {
    /// The batch being filled.
    batch: Vec<Update>,
    /// Batches of this lane in existence, `batch` included (at most [`BATCHES_PER_LANE`]).
    batches: usize,
    recycled: Receiver<Vec<Update>>,
    inbox: SyncSender<(usize, Message)>,
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
pub(super) struct Producer {
    /// Its index among the producers, which the owners know it by.
    id: usize,
    lanes: Vec<Lane>,
    closed: Sender<Closed>,
    distinct: bool,
    /// Stands in for coupons when distinct counting is off.
    no_coupon: Coupon,
    /// Whether the owners were last told `Finish`.
    finished: bool,
}

impl Producer {
    /// The owner of a key of hash `hash`: bits 16..32, which neither the sketches (low 16
    /// bits for fingerprints, high 32 for buckets) nor the fan tables (high 32) use, so each
    /// owner's keys still spread over all of its buckets.
    #[inline]
    fn owner(&self, hash: u64) -> usize {
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
    /// views' hashes of its keys.
    #[inline]
    pub(super) fn dispatch(
        &mut self,
        key: &FlowKey,
        packets: u64,
        bytes: u64,
        (flow_hash, src_hash, dst_hash): (u64, u64, u64),
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
    }

    /// Tells the combiner that this producer closed the interval starting at `start`, and
    /// whether it reports it (then its loop sends the report it got to the combiner). Call
    /// before [`open`](Self::open) or [`finish`](Self::finish) tells the owners.
    pub(super) fn closed(&mut self, start: u64, reported: bool) {
        // Fails only if the combiner is gone, and with it every report.
        let _ = self.closed.send(Closed { start, reported });
    }

    /// Tells every owner that the updates from now on count in the interval starting at
    /// `start` (later than any this producer opened before, except after a
    /// [`finish`](Self::finish) when it is the only producer).
    pub(super) fn open(&mut self, start: u64) {
        self.finished = false;
        self.tell(|| Message::Open(start));
    }

    /// Tells every owner that this producer counts in no interval until it opens one.
    pub(super) fn finish(&mut self) {
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

/// Starts `config.workers` owner threads (at most [`MAX_WORKERS`]) and the combiner for
/// `producers` packet threads. The combiner sends finished reports to `reports`; the returned
/// sender is where every producer's loop sends the reports its aggregator returns. The threads
/// end once every producer and that sender are dropped, after the last report is sent.
pub(super) fn start(
    config: &MonitorConfig,
    producers: usize,
    reports: Sender<IntervalReport>,
) -> std::io::Result<(Vec<Producer>, Sender<IntervalReport>)> {
    let owners = config.workers.clamp(1, MAX_WORKERS);
    let producers = producers.max(1);
    // Per producer, per owner: where that lane's batches come back.
    let mut recycled: Vec<Vec<Receiver<Vec<Update>>>> =
        (0..producers).map(|_| Vec::with_capacity(owners)).collect();
    let mut inboxes = Vec::with_capacity(owners);
    let mut sets = Vec::with_capacity(owners);
    for index in 0..owners {
        // Batches and markers of every producer; the owner always reads on, holding back
        // what must wait, so this fills only for a moment.
        let (inbox, inbox_rx) = mpsc::sync_channel(producers * (BATCHES_PER_LANE + 2));
        let (filled, filled_rx) = mpsc::sync_channel(1);
        let (spares, spares_rx) = mpsc::sync_channel(2);
        let _ = spares.send(Box::new(Views::new(config, owners)));
        let mut returns = Vec::with_capacity(producers);
        for lanes in &mut recycled {
            let (back, back_rx) = mpsc::sync_channel(BATCHES_PER_LANE);
            returns.push(back);
            lanes.push(back_rx);
        }
        let owner = Owner::new(
            Box::new(Views::new(config, owners)),
            spares_rx,
            filled,
            returns,
        );
        thread::Builder::new()
            .name(format!("hhmon-worker-{index}"))
            .spawn(move || owner.run(inbox_rx))?;
        inboxes.push(inbox);
        sets.push((filled_rx, spares));
    }
    let (closed, closed_rx) = mpsc::channel();
    let (parts, parts_rx) = mpsc::channel();
    let combiner = Combiner {
        top: config.top,
        hll_lg_k: config.hll_lg_k,
        distinct: config.distinct,
        owners: sets,
        closed: closed_rx,
        parts: parts_rx,
        reports,
        announced: BTreeMap::new(),
        early: Vec::new(),
        cumulative: Totals::default(),
        capture_cumulative: None,
        reader_cumulative: BTreeMap::new(),
        window: config
            .window_secs
            .filter(|_| config.distinct)
            .map(|window| SlidingDistinct::new(window, config.interval_secs, config.hll_lg_k)),
    };
    thread::Builder::new()
        .name("hhmon-combiner".into())
        .spawn(move || combiner.run())?;
    let producers = recycled
        .into_iter()
        .enumerate()
        .map(|(id, recycled)| Producer {
            id,
            lanes: recycled
                .into_iter()
                .zip(&inboxes)
                .map(|(recycled, inbox)| Lane {
                    batch: Vec::with_capacity(BATCH),
                    batches: 1,
                    recycled,
                    inbox: inbox.clone(),
                })
                .collect(),
            closed: closed.clone(),
            distinct: config.distinct,
            no_coupon: coupon_of_bytes(&[]),
            finished: false,
        })
        .collect();
    Ok((producers, parts))
}

#[cfg(test)]
mod tests {
    use super::super::IntervalAggregator;
    use super::*;
    use crate::decode::Decoded;
    use std::net::Ipv4Addr;

    const SECOND: u64 = 1_000_000_000;

    fn key(src: u32, dst: u32, port: u16) -> FlowKey {
        FlowKey {
            src: IpAddr::V4(Ipv4Addr::from(src)),
            dst: IpAddr::V4(Ipv4Addr::from(dst)),
            src_port: port,
            dst_port: 80,
            protocol: 6,
        }
    }

    fn packet(src: u32, dst: u32, port: u16) -> Result<Decoded, crate::decode::UnparsedReason> {
        Ok(Decoded {
            key: key(src, dst, port),
            transport_truncated: false,
            decap_fallback: None,
        })
    }

    /// What a loop does with what its aggregator returns.
    type Publish<'a> = dyn FnMut(Option<IntervalReport>) + 'a;

    /// The aggregators of `producers` packet threads with workers, each fed by `feed` (given
    /// its index) on a thread of its own that sends the reports it gets on as a loop does;
    /// returns the reports the sinks get.
    fn with_workers(
        config: MonitorConfig,
        producers: usize,
        feed: impl Fn(usize, &mut IntervalAggregator, &mut Publish) + Sync,
    ) -> Vec<IntervalReport> {
        let (sink, reports) = mpsc::channel();
        let (aggregators, parts) =
            IntervalAggregator::start_producers(config, producers, sink).unwrap();
        assert_eq!(aggregators.len(), producers);
        thread::scope(|scope| {
            for (index, mut aggregator) in aggregators.into_iter().enumerate() {
                let (parts, feed) = (parts.clone(), &feed);
                scope.spawn(move || {
                    feed(index, &mut aggregator, &mut |report| {
                        if let Some(report) = report {
                            parts.send(report).unwrap();
                        }
                    });
                });
            }
        });
        drop(parts);
        reports.iter().collect()
    }

    #[test]
    fn owners_split_hashes_evenly_whatever_the_bits_the_sketches_use() {
        let config = MonitorConfig {
            workers: 3,
            ..MonitorConfig::default()
        };
        let (producers, _parts) = start(&config, 1, mpsc::channel().0).unwrap();
        let producer = &producers[0];
        let mut seen = [0u32; 3];
        // Hashes that differ only in bits 16..32 must still reach every owner evenly.
        for i in 0..30_000u64 {
            seen[producer.owner((i * 2_654_435_761 % 65_536) << 16)] += 1;
        }
        assert!(
            seen.iter().all(|&n| (9_000..11_000).contains(&n)),
            "{seen:?}"
        );
        assert_eq!(producer.owner(u64::MAX), 2);
        assert_eq!(producer.owner(0), 0);
    }

    #[test]
    fn an_update_takes_the_64_bytes_the_memory_bound_counts() {
        assert!(std::mem::size_of::<Update>() <= 64);
    }

    fn exact(workers: usize) -> MonitorConfig {
        MonitorConfig {
            exact: true,
            top: 5,
            window_secs: Some(20),
            workers,
            ..MonitorConfig::default()
        }
    }

    /// Three intervals of more updates than a lane has batches, a late packet, the clock
    /// closing the last interval with packets and then an empty one: with workers, the reports
    /// of one thread.
    fn feed_one_stream(aggregator: &mut IntervalAggregator, out: &mut Publish) {
        for i in 0..30_000u32 {
            let at = u64::from(i / 12_000) * 10 * SECOND + u64::from(i);
            let decoded = packet(i % 97, 0xc633_6407 - i % 5, (i % 13) as u16);
            out(aggregator.observe(at, 60 + i % 1400, decoded));
        }
        out(aggregator.observe(SECOND, 60, packet(1, 2, 3)));
        out(aggregator.tick(40 * SECOND));
        out(aggregator.tick(50 * SECOND));
        out(aggregator.finish());
    }

    fn assert_same(one: &[IntervalReport], parallel: &[IntervalReport]) {
        assert_eq!(one.len(), parallel.len());
        for (a, b) in one.iter().zip(parallel) {
            assert_eq!(a.interval, b.interval);
            assert_eq!(a.totals, b.totals);
            assert_eq!(a.cumulative, b.cumulative);
            assert_eq!(a.top_flows, b.top_flows);
            assert_eq!(a.top_flows_by_bytes, b.top_flows_by_bytes);
            assert_eq!(a.top_sources_by_bytes, b.top_sources_by_bytes);
            // Below a few hundred values the counters keep exact coupons: equal figures.
            assert_eq!(a.top_destinations, b.top_destinations);
            assert_eq!(a.distinct_sources, b.distinct_sources);
            assert_eq!(a.distinct_destinations, b.distinct_destinations);
            assert_eq!(a.window, b.window);
        }
    }

    #[test]
    fn exact_reports_with_workers_equal_one_threads_across_intervals_and_the_window() {
        let mut one = Vec::new();
        let mut alone = IntervalAggregator::new(exact(1));
        feed_one_stream(&mut alone, &mut |report| one.extend(report));
        // [0, 10), [10, 20), [20, 30) by packets, the same closed by the clock, the empty
        // [40, 50) by the clock.
        let starts: Vec<u64> = one.iter().map(|r| r.interval.start_unix).collect();
        assert_eq!(starts, [0, 10, 20, 40]);
        assert_eq!(one[3].totals.packets, 0);
        assert_eq!(one[3].cumulative.packets, 30_001);
        let four = with_workers(exact(4), 1, |_, aggregator, out| {
            feed_one_stream(aggregator, out)
        });
        assert_same(&one, &four);
    }

    /// Packet `i` of a stream of three intervals, the third with no packet for producer 1 of
    /// two.
    fn split(i: u32) -> (u64, usize, u32) {
        let at = u64::from(i / 12_000) * 10 * SECOND + u64::from(i);
        let producer = if i / 12_000 == 2 {
            0
        } else {
            (i % 7 % 2) as usize
        };
        (at, producer, 60 + i % 1400)
    }

    #[test]
    fn two_producers_give_the_reports_of_one_thread_reading_both() {
        let mut one = Vec::new();
        let mut alone = IntervalAggregator::new(exact(1));
        for i in 0..36_000u32 {
            let (at, _, length) = split(i);
            one.extend(alone.observe(at, length, packet(i % 97, 0xc633_6407 - i % 5, i as u16)));
        }
        one.extend(alone.finish());
        assert_eq!(one.len(), 3);
        for workers in [1, 2] {
            let two = with_workers(exact(workers), 2, |producer, aggregator, out| {
                // The second producer starts late: the first runs ahead, out of batches, and
                // waits for it.
                if producer == 1 {
                    thread::sleep(std::time::Duration::from_millis(50));
                }
                for i in (0..36_000u32).filter(|&i| split(i).1 == producer) {
                    let (at, _, length) = split(i);
                    let decoded = packet(i % 97, 0xc633_6407 - i % 5, i as u16);
                    out(aggregator.observe(at, length, decoded));
                }
                out(aggregator.finish());
            });
            assert_same(&one, &two);
        }
    }

    /// An owner with exact views for two producers, and where its sets go.
    fn owner() -> (Owner, Receiver<Filled>, SyncSender<Box<Views>>) {
        let config = exact(1);
        let (spares, spares_rx) = mpsc::sync_channel(2);
        spares.send(Box::new(Views::new(&config, 1))).unwrap();
        let (filled, filled_rx) = mpsc::sync_channel(2);
        let recycled = (0..2).map(|_| mpsc::sync_channel(4).0).collect();
        let views = Box::new(Views::new(&config, 1));
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
    fn hand_back(spares: &SyncSender<Box<Views>>, mut filled: Filled) {
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
