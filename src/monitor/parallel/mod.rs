//! Parallel aggregation (`--workers N`, after the mCHK-I framework of the CHK paper): every key
//! of every view has one owner thread, chosen by its hash, and only the owner counts it; a
//! combiner thread turns the owners' sketches into reports, so that neither the threads that
//! read packets nor the owners wait for a report.
//!
//! **Producers** (the threads that read packets: one for a replay, one per reader of a live
//! capture) keep reading, decoding, the plain totals and their flow cache; per flow chunk the
//! cache hands on (up to 16 packets of one flow, or a single packet under a flood) a producer
//! hashes the flow, the source and the destination once and appends one weighted update per
//! view to its batch for that key's owner (and one per prefix of each address at every
//! prefix length: a prefix is a key of its own, with its own owner, so it is counted whole in
//! one place and the owners' prefix top lists combine as disjoint ones). Full batches go to the
//! owner through a bounded queue (`std::sync::mpsc::sync_channel`, crossbeam's lock-free array
//! channel inside) and come back empty through another. A producer has at most
//! [`BATCHES_PER_LANE`] batches per owner and
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
//! holds both its sets, a whole interval behind. A producer closing an interval hands the
//! combiner its own part of the report if it would report it (totals, and the capture
//! statistics its packet loop gave), then reads on.
//!
//! **The combiner** ([`combiner`]) takes every owner's set of the next interval, in order,
//! and the parts of the producers that report it, and has the one report assembly
//! ([`crate::monitor::assemble`]) rank the owners' top lists and sum the parts into the report.
//! It clears the sets, hands them back to their owners and sends the report on to the sinks.
//!
//! **Memory** (N owners, P producers): each owner has at most two sets, the one it fills and the
//! one the combiner ranks or hands back. A set has the six heavy-hitter sketches (ten with
//! prefix views) at `sketch_bytes / N` each, two interval HLLs and full-size fan and prefix
//! distinct tables (its share of the keys then competes for as many tracked slots as one
//! thread's), so the sketches take `2 × 10 × sketch_bytes` in all (twice one thread's), the
//! tables `2 N` times one thread's bound and the HLLs `4 N × 2^lg_k` bytes; the batches take `P × N ×` [`BATCHES_PER_LANE`]
//! `×` [`BATCH`] updates of 64 bytes (1 MiB per producer and owner).
//!
//! The rooms: [`protocol`] (what the threads tell each other), [`producer`], [`owner`],
//! [`combiner`]; this module starts them. Knows nothing of where packets come from or where
//! reports go.

mod combiner;
mod owner;
mod producer;
mod protocol;

pub(crate) use producer::Producer;

use super::assemble::Assembler;
use super::config::MonitorConfig;
use super::views::ViewSet;
use crate::report::IntervalReport;
use crate::sketch::hll::coupon_of_bytes;
use combiner::Combiner;
use owner::Owner;
use producer::Lane;
use protocol::Update;
use std::collections::BTreeMap;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;

/// Most worker threads `--workers` accepts.
pub const MAX_WORKERS: usize = 64;

/// Updates per batch: large enough that a queue hand-off (an atomic or two) is spread over
/// hundreds of updates, small enough (about 32 KiB of updates) to stay in a core's L2 cache.
pub(super) const BATCH: usize = 512;

/// Batches one producer has for one owner: the one being filled and those queued, being applied
/// or on their way back (1 MiB of updates). Threads that share cores with others run in turns;
/// the deeper the queues, the longer each turn and the fewer the hand-overs: on 2 shared cores
/// 16 replayed the benchmark trace with 2 workers about 10% slower than 32, and 64 only a few
/// percent faster than 32 for twice the memory.
pub(super) const BATCHES_PER_LANE: usize = 32;

/// Starts `config.workers` owner threads (at most [`MAX_WORKERS`]) and the combiner for
/// `producers` packet threads. The combiner sends finished reports to `reports`. The threads
/// end once every producer is dropped, after the last report is sent.
pub(super) fn start(
    config: &MonitorConfig,
    producers: usize,
    reports: Sender<IntervalReport>,
) -> std::io::Result<Vec<Producer>> {
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
        let _ = spares.send(Box::new(ViewSet::new(
            config,
            config.sketch_bytes / owners,
            true,
        )));
        let mut returns = Vec::with_capacity(producers);
        for lanes in &mut recycled {
            let (back, back_rx) = mpsc::sync_channel(BATCHES_PER_LANE);
            returns.push(back);
            lanes.push(back_rx);
        }
        let owner = Owner::new(
            Box::new(ViewSet::new(config, config.sketch_bytes / owners, true)),
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
    let combiner = Combiner {
        top: config.top,
        hll_lg_k: config.hll_lg_k,
        distinct: config.distinct,
        owners: sets,
        closed: closed_rx,
        reports,
        parts: BTreeMap::new(),
        assembler: Assembler::new(config),
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
    Ok(producers)
}

#[cfg(test)]
mod tests {
    use super::super::IntervalAggregator;
    use super::*;
    use crate::decode::Decoded;
    use crate::monitor::testing::{exact_with_workers as exact, tcp as key};

    const SECOND: u64 = 1_000_000_000;

    fn packet(src: u32, dst: u32, port: u16) -> Result<Decoded, crate::decode::UnparsedReason> {
        Ok(Decoded {
            key: key(src, dst, port),
            transport_truncated: false,
            decap_fallback: None,
        })
    }

    /// The aggregators of `producers` packet threads (with workers unless `config.workers`
    /// and `producers` are 1), each fed by `feed` (given its index) on a thread of its own;
    /// returns the reports the sinks get.
    fn reports_of(
        config: MonitorConfig,
        producers: usize,
        feed: impl Fn(usize, &mut IntervalAggregator) + Sync,
    ) -> Vec<IntervalReport> {
        let (sink, reports) = mpsc::channel();
        let aggregators = IntervalAggregator::start(config, producers, sink).unwrap();
        assert_eq!(aggregators.len(), producers);
        thread::scope(|scope| {
            for (index, mut aggregator) in aggregators.into_iter().enumerate() {
                let feed = &feed;
                scope.spawn(move || feed(index, &mut aggregator));
            }
        });
        reports.iter().collect()
    }

    #[test]
    fn owners_split_hashes_evenly_whatever_the_bits_the_sketches_use() {
        let config = MonitorConfig {
            workers: 3,
            ..MonitorConfig::default()
        };
        let producers = start(&config, 1, mpsc::channel().0).unwrap();
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

    /// Three intervals of more updates than a lane has batches, a late packet, the clock
    /// closing the last interval with packets and then an empty one: with workers, the reports
    /// of one thread.
    fn feed_one_stream(aggregator: &mut IntervalAggregator) {
        for i in 0..30_000u32 {
            let at = u64::from(i / 12_000) * 10 * SECOND + u64::from(i);
            let decoded = packet(i % 97, 0xc633_6407 - i % 5, (i % 13) as u16);
            aggregator.observe(at, 60 + i % 1400, decoded, || None);
        }
        aggregator.observe(SECOND, 60, packet(1, 2, 3), || None);
        aggregator.tick(40 * SECOND, || None);
        aggregator.tick(50 * SECOND, || None);
        aggregator.finish(|| None);
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
            assert_eq!(a.top_source_prefixes.is_empty(), a.totals.packets == 0);
            assert_eq!(a.top_source_prefixes, b.top_source_prefixes);
            assert_eq!(
                a.top_source_prefixes_by_bytes,
                b.top_source_prefixes_by_bytes
            );
            assert_eq!(a.top_destination_prefixes, b.top_destination_prefixes);
            assert_eq!(
                a.top_destination_prefixes_by_bytes,
                b.top_destination_prefixes_by_bytes
            );
        }
    }

    #[test]
    fn exact_reports_with_workers_equal_one_threads_across_intervals_and_the_window() {
        let one = reports_of(exact(1), 1, |_, aggregator| feed_one_stream(aggregator));
        // [0, 10), [10, 20), [20, 30) by packets, the same closed by the clock, the empty
        // [40, 50) by the clock.
        let starts: Vec<u64> = one.iter().map(|r| r.interval.start_unix).collect();
        assert_eq!(starts, [0, 10, 20, 40]);
        assert_eq!(one[3].totals.packets, 0);
        assert_eq!(one[3].cumulative.packets, 30_001);
        let four = reports_of(exact(4), 1, |_, aggregator| feed_one_stream(aggregator));
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
        let one = reports_of(exact(1), 1, |_, alone| {
            for i in 0..36_000u32 {
                let (at, _, length) = split(i);
                let decoded = packet(i % 97, 0xc633_6407 - i % 5, i as u16);
                alone.observe(at, length, decoded, || None);
            }
            alone.finish(|| None);
        });
        assert_eq!(one.len(), 3);
        for workers in [1, 2] {
            let two = reports_of(exact(workers), 2, |producer, aggregator| {
                // The second producer starts late: the first runs ahead, out of batches, and
                // waits for it.
                if producer == 1 {
                    thread::sleep(std::time::Duration::from_millis(50));
                }
                for i in (0..36_000u32).filter(|&i| split(i).1 == producer) {
                    let (at, _, length) = split(i);
                    let decoded = packet(i % 97, 0xc633_6407 - i % 5, i as u16);
                    aggregator.observe(at, length, decoded, || None);
                }
                aggregator.finish(|| None);
            });
            assert_same(&one, &two);
        }
    }
}
