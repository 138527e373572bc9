//! What the monitor's unit tests share: keys, configurations, and an aggregator whose reports
//! are at hand.

use super::{IntervalAggregator, MonitorConfig};
use crate::decode::{Decoded, FlowKey, UnparsedReason};
use crate::report::IntervalReport;
use std::net::{IpAddr, Ipv4Addr};

/// A TCP flow from `src` port `src_port` to `dst` port 80, addresses given as integers.
pub(crate) fn tcp(src: u32, dst: u32, src_port: u16) -> FlowKey {
    FlowKey {
        src: IpAddr::V4(Ipv4Addr::from(src)),
        dst: IpAddr::V4(Ipv4Addr::from(dst)),
        src_port,
        dst_port: 80,
        protocol: 6,
    }
}

/// Ten-second intervals, top 3, 64 KiB sketches.
pub(crate) fn small_config(exact: bool) -> MonitorConfig {
    MonitorConfig {
        interval_secs: 10,
        top: 3,
        exact,
        sketch_bytes: 64 << 10,
        ..MonitorConfig::default()
    }
}

/// Exact counting on `workers` workers, top 5, a 20-second window.
pub(crate) fn exact_with_workers(workers: usize) -> MonitorConfig {
    MonitorConfig {
        exact: true,
        top: 5,
        window_secs: Some(20),
        workers,
        ..MonitorConfig::default()
    }
}

/// The aggregator with its reports at hand: each call returns the report it closed, as a
/// one-thread aggregator sends it before returning.
pub(crate) struct Collecting {
    pub(crate) aggregator: IntervalAggregator,
    reports: std::sync::mpsc::Receiver<IntervalReport>,
}

impl Collecting {
    pub(crate) fn new(config: MonitorConfig) -> Self {
        let (reports, received) = std::sync::mpsc::channel();
        Self {
            aggregator: IntervalAggregator::new(config, reports),
            reports: received,
        }
    }

    pub(crate) fn observe(
        &mut self,
        timestamp_nanos: u64,
        wire_len: u32,
        decoded: Result<Decoded, UnparsedReason>,
    ) -> Option<IntervalReport> {
        self.aggregator
            .observe(timestamp_nanos, wire_len, decoded, || None);
        self.reports.try_recv().ok()
    }

    pub(crate) fn tick(&mut self, now_nanos: u64) -> Option<IntervalReport> {
        self.aggregator.tick(now_nanos, || None);
        self.reports.try_recv().ok()
    }

    pub(crate) fn finish(&mut self) -> Option<IntervalReport> {
        self.aggregator.finish(|| None);
        self.reports.try_recv().ok()
    }
}
