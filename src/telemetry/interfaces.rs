//! The latest sFlow interface counters of every agent's interfaces, for per-interface traffic
//! figures beside the sampled flows: an agent polls each interface's counters (every 20 to 30
//! seconds, typically) and sends their running totals, which a collector only has to keep.
//!
//! The table holds at most [`MAX_INTERFACES`] interfaces: those of agents heard from after it
//! is full are counted, not kept, so a flood of forged agents cannot grow memory. A report
//! lists the busiest [`LISTED_INTERFACES`], by the octets they moved since the collector first
//! heard of them, so that metric labels stay bounded.
//!
//! Knows nothing of sockets, intervals or reports' formats.

use super::InterfaceCounters;
use crate::report::InterfaceStats;
use std::collections::HashMap;
use std::net::IpAddr;

/// Interfaces kept at most.
pub const MAX_INTERFACES: usize = 4096;

/// Interfaces listed in a report.
pub const LISTED_INTERFACES: usize = 256;

#[derive(Clone, Copy, Debug)]
struct Interface {
    latest: InterfaceCounters,
    /// Octets in and out since first heard of, summed over the growth of each reading, so
    /// that an agent restarting (its counters going back to 0) does not rank its interface
    /// first.
    moved: u64,
}

/// The latest counters of each agent's interfaces.
#[derive(Debug, Default)]
pub struct InterfaceTable {
    by_interface: HashMap<(IpAddr, u32), Interface>,
    /// Counter records of interfaces not kept because the table was full.
    untracked_records: u64,
}

impl InterfaceTable {
    /// Keeps `counters` as the latest reading of its interface (of `exporter` when the record
    /// names no agent).
    pub fn observe(&mut self, exporter: IpAddr, counters: &InterfaceCounters) {
        let key = (counters.agent.unwrap_or(exporter), counters.if_index);
        let full = self.by_interface.len() >= MAX_INTERFACES;
        match self.by_interface.get_mut(&key) {
            Some(interface) => {
                let growth = |now: u64, before: u64| now.checked_sub(before).unwrap_or(now);
                let before = &interface.latest;
                interface.moved = interface
                    .moved
                    .saturating_add(growth(counters.in_octets, before.in_octets))
                    .saturating_add(growth(counters.out_octets, before.out_octets));
                interface.latest = *counters;
            }
            None if full => self.untracked_records += 1,
            None => {
                self.by_interface.insert(
                    key,
                    Interface {
                        latest: *counters,
                        moved: 0,
                    },
                );
            }
        }
    }

    /// Interfaces heard from and kept.
    pub fn len(&self) -> usize {
        self.by_interface.len()
    }

    /// Whether no interface was heard from.
    pub fn is_empty(&self) -> bool {
        self.by_interface.is_empty()
    }

    /// Counter records of interfaces the table had no room for.
    pub fn untracked_records(&self) -> u64 {
        self.untracked_records
    }

    /// The busiest [`LISTED_INTERFACES`] interfaces by octets moved since first heard of
    /// (ties by agent and ifIndex), each with its latest counters.
    pub fn listed(&self) -> Vec<InterfaceStats> {
        let mut interfaces: Vec<(&(IpAddr, u32), &Interface)> = self.by_interface.iter().collect();
        interfaces.sort_by(|(a_key, a), (b_key, b)| b.moved.cmp(&a.moved).then(a_key.cmp(b_key)));
        interfaces
            .into_iter()
            .take(LISTED_INTERFACES)
            .map(|(&(agent, if_index), interface)| InterfaceStats {
                agent,
                if_index,
                in_octets: interface.latest.in_octets,
                in_packets: interface.latest.in_packets,
                out_octets: interface.latest.out_octets,
                out_packets: interface.latest.out_packets,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const EXPORTER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

    fn reading(agent: u8, if_index: u32, in_octets: u64, out_octets: u64) -> InterfaceCounters {
        InterfaceCounters {
            agent: Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, agent))),
            if_index,
            in_octets,
            in_packets: in_octets / 100,
            out_octets,
            out_packets: out_octets / 100,
        }
    }

    #[test]
    fn keeps_the_latest_reading_and_ranks_by_octets_moved() {
        let mut table = InterfaceTable::default();
        // Interface 1 has the larger totals but moves less while we listen.
        table.observe(EXPORTER, &reading(1, 1, 1_000_000, 0));
        table.observe(EXPORTER, &reading(1, 2, 10, 10));
        table.observe(EXPORTER, &reading(1, 1, 1_000_100, 0));
        table.observe(EXPORTER, &reading(1, 2, 5_000, 10));
        let listed = table.listed();
        assert_eq!(
            listed.iter().map(|i| i.if_index).collect::<Vec<_>>(),
            [2, 1]
        );
        assert_eq!(listed[0].in_octets, 5_000);
        assert_eq!(listed[0].in_packets, 50);
        assert_eq!(listed[1].in_octets, 1_000_100);
    }

    #[test]
    fn an_agent_restarting_counts_its_new_totals_as_growth() {
        let mut table = InterfaceTable::default();
        table.observe(EXPORTER, &reading(1, 1, 1_000_000, 0));
        table.observe(EXPORTER, &reading(1, 1, 300, 200));
        table.observe(EXPORTER, &reading(2, 1, 0, 0));
        table.observe(EXPORTER, &reading(2, 1, 400, 0));
        let listed = table.listed();
        // 300 + 200 after the restart beat the other agent's 400.
        assert_eq!(listed[0].agent, reading(1, 1, 0, 0).agent.unwrap());
        assert_eq!((listed[0].in_octets, listed[0].out_octets), (300, 200));
    }

    #[test]
    fn a_record_without_agent_is_the_exporters_and_the_table_is_capped() {
        let mut table = InterfaceTable::default();
        let anonymous = InterfaceCounters {
            agent: None,
            ..reading(0, 7, 1, 1)
        };
        table.observe(EXPORTER, &anonymous);
        assert_eq!(table.listed()[0].agent, EXPORTER);
        for if_index in 0..MAX_INTERFACES as u32 + 10 {
            table.observe(EXPORTER, &reading(1, if_index, 1, 1));
        }
        assert_eq!(table.len(), MAX_INTERFACES);
        assert_eq!(table.untracked_records(), 11);
        assert_eq!(table.listed().len(), LISTED_INTERFACES);
        // A kept interface is still updated when the table is full.
        table.observe(EXPORTER, &reading(1, 0, 1 << 40, 1));
        assert_eq!(table.listed()[0].in_octets, 1 << 40);
    }
}
