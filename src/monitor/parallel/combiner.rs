//! The combiner thread: takes every owner's filled set of the next interval, in order, and the
//! parts of the producers that report it, has the one report assembly make the report, and
//! hands the sets back to their owners. Reports leave in interval order; an interval is
//! reported when any producer would have reported it on its own. Knows nothing of packets or
//! where reports go beyond the channel it sends them on.
//!
//! The union of the owners' HLLs has exactly the registers of the one-thread HLL: it is the
//! interval's sketch in the snapshot. The reported distinct counts are the sums of the owners'
//! own (HIP) estimates instead: every address has one owner, so the owners count disjoint sets
//! and the sum is an unbiased estimate of the whole, with a relative standard error of
//! `0.8326 / sqrt(N K)` for N owners of equal shares where the union's composite estimate has
//! `1.039 / sqrt(K)`.

use super::protocol::{Closed, Filled};
use crate::monitor::assemble::{Assembler, IntervalPart};
use crate::monitor::views::{rounded, IntervalDistinct, ViewSet};
use crate::report::{IntervalReport, Sketches};
use crate::sketch::hll::DistinctUnion;
use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, Sender, SyncSender};

/// The combiner thread's state.
pub(super) struct Combiner {
    pub(super) top: usize,
    pub(super) hll_lg_k: u8,
    pub(super) distinct: bool,
    /// Per owner: its filled sets, and where they go back.
    pub(super) owners: Vec<(Receiver<Filled>, SyncSender<Box<ViewSet>>)>,
    pub(super) closed: Receiver<Closed>,
    pub(super) reports: Sender<IntervalReport>,
    /// Per interval start: the parts of the producers that closed it and report it.
    pub(super) parts: BTreeMap<u64, Vec<IntervalPart>>,
    pub(super) assembler: Assembler,
}

impl Combiner {
    /// Combines intervals until the owners end.
    pub(super) fn run(mut self) {
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
            while let Ok(Closed { start, part }) = self.closed.try_recv() {
                let parts = self.parts.entry(start).or_default();
                parts.extend(part);
            }
            let parts = self.parts.remove(&start).unwrap_or_default();
            if let Some(report) = self.combine(start, parts, &sets) {
                // Fails only once the sinks are gone; the owners still need their sets.
                let _ = self.reports.send(report);
            }
            for (mut views, (_, spares)) in sets.drain(..).zip(&self.owners) {
                views.clear();
                let _ = spares.send(views);
            }
        }
    }

    /// The report of the interval starting at `start` from its producers' parts and its
    /// owners' sets; `None` without parts (no producer reports the interval).
    fn combine(
        &mut self,
        start: u64,
        parts: Vec<IntervalPart>,
        sets: &[Box<ViewSet>],
    ) -> Option<IntervalReport> {
        if parts.is_empty() {
            return None;
        }
        let lists: Vec<_> = sets.iter().map(|views| views.top_lists(self.top)).collect();
        let distinct = self.distinct.then(|| {
            let mut sources = DistinctUnion::new(self.hll_lg_k);
            let mut destinations = DistinctUnion::new(self.hll_lg_k);
            let (mut sources_sum, mut destinations_sum) = (0.0, 0.0);
            for distinct in sets.iter().filter_map(|views| views.distinct.as_ref()) {
                sources.add(&distinct.sources);
                destinations.add(&distinct.destinations);
                sources_sum += distinct.sources.estimate();
                destinations_sum += distinct.destinations.estimate();
            }
            let interval_sources = sources.to_counter();
            IntervalDistinct {
                sources: rounded(sources_sum),
                destinations: rounded(destinations_sum),
                sketches: Sketches {
                    sources: interval_sources.to_base64(),
                    destinations: destinations.to_counter().to_base64(),
                },
                window_sources: self.assembler.keeps_window().then_some(interval_sources),
            }
        });
        self.assembler.report(start, parts, &lists, distinct)
    }
}
