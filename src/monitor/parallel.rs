//! Parallel aggregation (`--workers N`, after the mCHK-I framework of the CHK paper): every key
//! of every view has one owner thread, chosen by its hash, and only the owner counts it.
//!
//! The packet thread keeps reading, decoding and the plain totals; per packet it hashes the
//! flow, the source and the destination once and appends one update per view to the batch of
//! that key's owner. Full batches go through a bounded queue (`std::sync::mpsc::sync_channel`,
//! crossbeam's lock-free array channel inside) and come back empty for reuse, so nothing is
//! allocated per packet once the batches are warm; a full queue makes the packet thread wait
//! rather than drop. A source update carries the destination's coupon (for the source's
//! fan-out) and a destination update the source's (fan-in), so each worker holds the
//! heavy-hitter sketches, interval HyperLogLogs and fan tables of its own keys only.
//!
//! Closing an interval is one more queue entry: after its last batch every worker gets a
//! close marker, answers with its top lists (both counts, fan-in or fan-out attached) and its
//! interval HLLs, and goes on with the next interval's batches. Keys are disjoint across
//! workers, so the global top `n` is among the workers' top `n`s ([`largest`] over their
//! concatenation, with the ranking of the one-thread path), and the union of their HLLs has
//! exactly the registers of the one-thread HLL. The packet thread waits for the answers (a
//! top-list scan per worker, milliseconds per interval) before it reads on.
//!
//! Memory: each worker's sketches get `sketch_bytes / N`, so the six heavy-hitter sketches
//! take the same memory in all; each worker has full-size fan tables (its share of keys then
//! competes for as many tracked slots as one thread's), so the fan-table bound is N times
//! the one-thread one. Knows nothing of where packets come from or where reports go.

use super::{
    address_coupon, fan_lg_k, largest, rounded, tracked_keys, HeavyHitters, MonitorConfig,
};
use crate::decode::FlowKey;
use crate::report::{AddressEntry, FlowEntry, IntervalReport, Sketches, WindowCounts};
use crate::sketch::hll::{coupon_of_bytes, Coupon, DistinctCounter, DistinctUnion};
use crate::sketch::keyed::KeyedDistinct;
use crate::window::SlidingDistinct;
use std::net::IpAddr;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::{self, JoinHandle};

/// Most worker threads `--workers` accepts.
pub const MAX_WORKERS: usize = 64;

/// Updates per batch: large enough that a queue hand-off (an atomic or two) is spread over
/// hundreds of updates, small enough (about 32 KiB of updates) to stay in a core's L2 cache.
const BATCH: usize = 512;

/// Batches in flight per worker before the packet thread waits.
const QUEUE_DEPTH: usize = 16;

/// One packet's contribution to one view, for the key's owner.
enum Update {
    Flow {
        key: FlowKey,
        hash: u64,
        bytes: u64,
    },
    /// `own` is the address's coupon (interval distinct count), `peer` the other end's.
    Source {
        address: IpAddr,
        hash: u64,
        bytes: u64,
        own: Coupon,
        peer: Coupon,
    },
    Destination {
        address: IpAddr,
        hash: u64,
        bytes: u64,
        own: Coupon,
        peer: Coupon,
    },
}

enum Message {
    Batch(Vec<Update>),
    /// End of the interval: answer with a [`Partial`] and start the next one.
    Close,
}

/// A top-list entry of an address view with its fan-in or fan-out.
type Ranked = (IpAddr, u64, u64, Option<u64>);

/// One worker's share of an interval's report.
struct Partial {
    /// Top flows by packets, by bytes.
    flows: [Vec<(FlowKey, u64, u64)>; 2],
    /// Top sources by packets, by bytes, with their fan-out.
    sources: [Vec<Ranked>; 2],
    /// Top destinations by packets, by bytes, with their fan-in.
    destinations: [Vec<Ranked>; 2],
    /// Distinct sources and destinations of its keys, when counted.
    distinct: Option<(DistinctCounter, DistinctCounter)>,
}

/// The distinct counts a worker keeps for its keys.
struct WorkerDistinct {
    sources: DistinctCounter,
    destinations: DistinctCounter,
    fan_in: KeyedDistinct<IpAddr>,
    fan_out: KeyedDistinct<IpAddr>,
}

/// The views of the keys one worker owns.
struct Worker {
    top: usize,
    flows: HeavyHitters<FlowKey>,
    sources: HeavyHitters<IpAddr>,
    destinations: HeavyHitters<IpAddr>,
    distinct: Option<WorkerDistinct>,
}

impl Worker {
    fn new(config: &MonitorConfig, workers: usize) -> Self {
        let share = MonitorConfig {
            sketch_bytes: config.sketch_bytes / workers,
            ..config.clone()
        };
        Self {
            top: config.top,
            flows: HeavyHitters::new(&share),
            sources: HeavyHitters::new(&share),
            destinations: HeavyHitters::new(&share),
            distinct: config.distinct.then(|| WorkerDistinct {
                sources: DistinctCounter::new(config.hll_lg_k),
                destinations: DistinctCounter::new(config.hll_lg_k),
                fan_in: KeyedDistinct::new(tracked_keys(config.top), fan_lg_k(config.hll_lg_k)),
                fan_out: KeyedDistinct::new(tracked_keys(config.top), fan_lg_k(config.hll_lg_k)),
            }),
        }
    }

    /// Serves batches and close markers until the packet thread hangs up.
    fn run(
        mut self,
        batches: Receiver<Message>,
        recycled: SyncSender<Vec<Update>>,
        partials: SyncSender<Partial>,
    ) {
        for message in batches {
            match message {
                Message::Batch(mut batch) => {
                    for update in batch.drain(..) {
                        self.apply(update);
                    }
                    // A full return queue only means the packet thread has spares enough.
                    let _ = recycled.try_send(batch);
                }
                Message::Close => {
                    if partials.send(self.close()).is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// The one-thread path's per-view steps ([`super::DistinctViews::observe`]), for one key.
    #[inline]
    fn apply(&mut self, update: Update) {
        match update {
            Update::Flow { key, hash, bytes } => self.flows.add_hashed(&key, hash, bytes),
            Update::Source {
                address,
                hash,
                bytes,
                own,
                peer,
            } => {
                self.sources.add_hashed(&address, hash, bytes);
                if let Some(distinct) = &mut self.distinct {
                    distinct.sources.insert_coupon(own);
                    let sources = &self.sources;
                    distinct
                        .fan_out
                        .insert(&address, hash, peer, || sources.packets(&address, hash));
                }
            }
            Update::Destination {
                address,
                hash,
                bytes,
                own,
                peer,
            } => {
                self.destinations.add_hashed(&address, hash, bytes);
                if let Some(distinct) = &mut self.distinct {
                    distinct.destinations.insert_coupon(own);
                    let destinations = &self.destinations;
                    distinct.fan_in.insert(&address, hash, peer, || {
                        destinations.packets(&address, hash)
                    });
                }
            }
        }
    }

    /// This worker's top lists and sketches of the interval, then a reset.
    fn close(&mut self) -> Partial {
        let top = self.top;
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
        let partial = Partial {
            flows: [false, true].map(|by_bytes| self.flows.top(top, by_bytes)),
            sources: with_fan(&self.sources, self.distinct.as_ref().map(|d| &d.fan_out)),
            destinations: with_fan(
                &self.destinations,
                self.distinct.as_ref().map(|d| &d.fan_in),
            ),
            distinct: self.distinct.as_mut().map(|distinct| {
                distinct.fan_in.clear();
                distinct.fan_out.clear();
                let lg_k = distinct.sources.lg_k();
                (
                    std::mem::replace(&mut distinct.sources, DistinctCounter::new(lg_k)),
                    std::mem::replace(&mut distinct.destinations, DistinctCounter::new(lg_k)),
                )
            }),
        };
        self.flows.clear();
        self.sources.clear();
        self.destinations.clear();
        partial
    }
}

/// The packet thread's end of one worker.
struct Lane {
    /// The batch being filled.
    batch: Vec<Update>,
    /// `None` once the worker is told to stop.
    batches: Option<SyncSender<Message>>,
    recycled: Receiver<Vec<Update>>,
    partials: Receiver<Partial>,
    handle: Option<JoinHandle<()>>,
}

impl Lane {
    #[inline]
    fn push(&mut self, update: Update) {
        self.batch.push(update);
        if self.batch.len() >= BATCH {
            self.flush();
        }
    }

    /// Hands the batch to the worker (waiting while its queue is full) and takes a recycled
    /// one, or a new one while fewer than the queue holds exist.
    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let spare = self
            .recycled
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH));
        let full = std::mem::replace(&mut self.batch, spare);
        if let Some(batches) = &self.batches {
            // Fails only if the worker died; its keys are then lost, which `close` reports.
            let _ = batches.send(Message::Batch(full));
        }
    }
}

/// The owner threads and the packet thread's side of them.
pub(super) struct Workers {
    lanes: Vec<Lane>,
    top: usize,
    hll_lg_k: u8,
    distinct: bool,
    /// Stands in for coupons when distinct counting is off.
    no_coupon: Coupon,
    window: Option<SlidingDistinct>,
}

impl Workers {
    /// Starts `config.workers` (at most [`MAX_WORKERS`]) owner threads.
    pub(super) fn start(config: &MonitorConfig) -> std::io::Result<Self> {
        let count = config.workers.clamp(1, MAX_WORKERS);
        let mut lanes = Vec::with_capacity(count);
        for index in 0..count {
            let (batches, batch_rx) = mpsc::sync_channel(QUEUE_DEPTH);
            let (recycle_tx, recycled) = mpsc::sync_channel(QUEUE_DEPTH + 2);
            let (partial_tx, partials) = mpsc::sync_channel(1);
            let worker = Worker::new(config, count);
            let handle = thread::Builder::new()
                .name(format!("hhmon-worker-{index}"))
                .spawn(move || worker.run(batch_rx, recycle_tx, partial_tx))?;
            lanes.push(Lane {
                batch: Vec::with_capacity(BATCH),
                batches: Some(batches),
                recycled,
                partials,
                handle: Some(handle),
            });
        }
        Ok(Self {
            lanes,
            top: config.top,
            hll_lg_k: config.hll_lg_k,
            distinct: config.distinct,
            no_coupon: coupon_of_bytes(&[]),
            window: config
                .window_secs
                .filter(|_| config.distinct)
                .map(|window| SlidingDistinct::new(window, config.interval_secs, config.hll_lg_k)),
        })
    }

    /// The worker owning a key of hash `hash`: bits 16..32, which neither the sketches (low 16
    /// bits for fingerprints, high 32 for buckets) nor the fan tables (high 32) use, so each
    /// worker's keys still spread over all of its buckets.
    #[inline]
    fn owner(&self, hash: u64) -> usize {
        ((((hash >> 16) & 0xffff) * self.lanes.len() as u64) >> 16) as usize
    }

    /// Queues one decoded packet's updates, given the views' hashes of its keys.
    #[inline]
    pub(super) fn dispatch(
        &mut self,
        key: &FlowKey,
        bytes: u64,
        (flow_hash, src_hash, dst_hash): (u64, u64, u64),
    ) {
        let (src, dst) = if self.distinct {
            (address_coupon(&key.src), address_coupon(&key.dst))
        } else {
            (self.no_coupon, self.no_coupon)
        };
        let lane = self.owner(flow_hash);
        self.lanes[lane].push(Update::Flow {
            key: *key,
            hash: flow_hash,
            bytes,
        });
        let lane = self.owner(src_hash);
        self.lanes[lane].push(Update::Source {
            address: key.src,
            hash: src_hash,
            bytes,
            own: src,
            peer: dst,
        });
        let lane = self.owner(dst_hash);
        self.lanes[lane].push(Update::Destination {
            address: key.dst,
            hash: dst_hash,
            bytes,
            own: dst,
            peer: src,
        });
    }

    /// Closes the interval in every worker and fills `report`'s top lists and distinct counts
    /// from their answers.
    pub(super) fn close(&mut self, report: &mut IntervalReport) {
        for lane in &mut self.lanes {
            lane.flush();
            if let Some(batches) = &lane.batches {
                let _ = batches.send(Message::Close);
            }
        }
        let mut partials = Vec::with_capacity(self.lanes.len());
        for (index, lane) in self.lanes.iter().enumerate() {
            match lane.partials.recv() {
                Ok(partial) => partials.push(partial),
                Err(_) => {
                    tracing::error!(
                        worker = index,
                        "A worker thread ended; its keys are missing from the report."
                    );
                }
            }
        }
        let top = self.top;
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
        for (s, d) in partials.iter().filter_map(|p| p.distinct.as_ref()) {
            sources.add(s);
            destinations.add(d);
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

impl Drop for Workers {
    /// Hangs up on every worker, then waits for them to end.
    fn drop(&mut self) {
        for lane in &mut self.lanes {
            lane.batches = None;
        }
        for lane in &mut self.lanes {
            if let Some(handle) = lane.handle.take() {
                let _ = handle.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::IntervalAggregator;
    use super::*;
    use crate::decode::Decoded;
    use std::net::Ipv4Addr;

    const SECOND: u64 = 1_000_000_000;

    fn packet(src: u32, dst: u32, port: u16) -> Result<Decoded, crate::decode::UnparsedReason> {
        Ok(Decoded {
            key: FlowKey {
                src: IpAddr::V4(Ipv4Addr::from(src)),
                dst: IpAddr::V4(Ipv4Addr::from(dst)),
                src_port: port,
                dst_port: 80,
                protocol: 6,
            },
            transport_truncated: false,
            decap_fallback: None,
        })
    }

    #[test]
    fn owners_split_hashes_evenly_whatever_the_bits_the_sketches_use() {
        let workers = Workers::start(&MonitorConfig {
            workers: 3,
            ..MonitorConfig::default()
        })
        .unwrap();
        let mut seen = [0u32; 3];
        // Hashes that differ only in bits 16..32 must still reach every owner evenly.
        for i in 0..30_000u64 {
            seen[workers.owner((i * 2_654_435_761 % 65_536) << 16)] += 1;
        }
        assert!(
            seen.iter().all(|&n| (9_000..11_000).contains(&n)),
            "{seen:?}"
        );
        assert_eq!(workers.owner(u64::MAX), 2);
        assert_eq!(workers.owner(0), 0);
    }

    #[test]
    fn exact_reports_with_workers_equal_one_threads_across_intervals_and_the_window() {
        let config = |workers| MonitorConfig {
            exact: true,
            top: 5,
            window_secs: Some(20),
            workers,
            ..MonitorConfig::default()
        };
        let mut one = IntervalAggregator::new(config(1));
        let mut four = IntervalAggregator::new(config(4));
        assert!(four.workers.is_some());
        let mut reports = (Vec::new(), Vec::new());
        // Three intervals of more updates than a batch each, the clock closing the last.
        for i in 0..5_000u32 {
            let at = u64::from(i / 2_000) * 10 * SECOND + u64::from(i);
            let decoded = packet(i % 97, 0xc633_6407 - i % 5, (i % 13) as u16);
            let length = 60 + i % 1400;
            reports.0.extend(one.observe(at, length, decoded));
            reports.1.extend(four.observe(at, length, decoded));
        }
        reports.0.extend(one.tick(40 * SECOND));
        reports.1.extend(four.tick(40 * SECOND));
        reports.0.extend(one.finish());
        reports.1.extend(four.finish());
        assert_eq!(reports.0.len(), 3);
        for (a, b) in reports.0.iter().zip(&reports.1) {
            assert_eq!(a.totals, b.totals);
            assert_eq!(a.top_flows, b.top_flows);
            assert_eq!(a.top_sources_by_bytes, b.top_sources_by_bytes);
            // Below a few hundred values the counters keep exact coupons: equal figures.
            assert_eq!(a.top_destinations, b.top_destinations);
            assert_eq!(a.distinct_sources, b.distinct_sources);
            assert_eq!(a.window, b.window);
        }
    }
}
