//! The flow-telemetry loop (`hhmon collect`): export datagrams, read from capture files or
//! received on UDP sockets, through the sFlow and NetFlow/IPFIX decoders into the same
//! aggregator the packet loop feeds.
//!
//! A datagram is told apart by its first bytes, whatever its port: sFlow v5 starts with the
//! 32-bit version 5, NetFlow v5 with the 16-bit version 5 followed by a record count that is
//! never 0, NetFlow v9 with 9 and IPFIX with 10. Each flow record counts in the interval of its
//! flow end time, but never later than the datagram's arrival (an exporter cannot report the
//! future; a clock ahead of ours would otherwise close intervals early), and at the arrival
//! time when it claims to have ended more than [`MAX_RECORD_AGE_NANOS`] before it (a clock far
//! behind). A record older than the open interval counts in the open one, as a late packet
//! does: closed intervals are never reopened. A long flow whose exporter reports it once
//! counts whole in the interval of its end; exporters with an active timeout (softflowd,
//! pmacct, routers: typically one to five minutes) report long flows in pieces, each in its
//! own interval.
//!
//! Knows nothing of sketches, sinks or file formats: it touches sources, the decoders and the
//! aggregator only. Nothing is allocated or logged per datagram.

use super::pump::each_source;
use super::LoopContext;
use crate::capture::{self, PacketSource};
use crate::decode::DecodeOptions;
use crate::monitor::IntervalAggregator;
use crate::report::{ExporterCounts, ExporterStats, TelemetryStats};
use crate::telemetry::interfaces::InterfaceTable;
use crate::telemetry::netflow::{Limits, NetflowDecoder};
use crate::telemetry::sflow::SflowDecoder;
use crate::telemetry::{udp_payload, DatagramSummary, FlowRecord, InterfaceCounters};
use nix::sys::socket::{
    recvmmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage,
};
use std::collections::HashMap;
use std::io;
use std::io::IoSliceMut;
use std::net::{IpAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A record claiming to have ended longer than this before its datagram arrived counts at the
/// arrival: its exporter's clock is wrong.
pub const MAX_RECORD_AGE_NANOS: u64 = 3_600 * 1_000_000_000;

/// How long the live loop waits for a datagram before it looks at the clock and the stop flag.
const WAKE: Duration = Duration::from_millis(200);

/// Datagrams one `recvmmsg` call takes at most.
const BATCH: usize = 32;

/// Batches read from one socket before the others get their turn.
const BURST: usize = 4;

/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;

/// What the collector saw, over the whole run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TelemetryTally {
    /// sFlow datagrams decoded.
    pub sflow_datagrams: u64,
    /// NetFlow v5, v9 and IPFIX datagrams decoded.
    pub netflow_datagrams: u64,
    /// UDP payloads that are none of those (not counted further).
    pub not_telemetry: u64,
    /// sFlow interface counter records received.
    pub interface_counters: u64,
    /// Datagrams the sockets dropped with their receive buffers full; `None` when reading
    /// files.
    pub socket_drops: Option<u64>,
    /// Every exporter's records, losses, template misses and malformed datagrams, summed.
    pub exporters: ExporterCounts,
}

impl TelemetryTally {
    /// Datagrams of either kind.
    pub fn datagrams(&self) -> u64 {
        self.sflow_datagrams + self.netflow_datagrams
    }

    /// Datagrams that were malformed in whole or part, whatever the reason.
    pub fn malformed(&self) -> u64 {
        self.exporters.malformed.values().sum()
    }
}

/// Exporters counted one by one; datagrams of any beyond count in `other` only, so that a
/// flood of spoofed sources cannot grow memory.
pub const MAX_EXPORTERS: usize = 4096;

/// Each exporter's counts since the start.
#[derive(Default)]
struct Exporters {
    by_address: HashMap<IpAddr, ExporterCounts>,
    /// Exporters beyond [`MAX_EXPORTERS`].
    beyond: ExporterCounts,
}

impl Exporters {
    fn add(&mut self, exporter: IpAddr, summary: &DatagramSummary) {
        let full = self.by_address.len() >= MAX_EXPORTERS;
        let counts = match self.by_address.get_mut(&exporter) {
            Some(counts) => counts,
            None if full => &mut self.beyond,
            None => self.by_address.entry(exporter).or_default(),
        };
        counts.datagrams += 1;
        counts.records += summary.records;
        counts.lost_datagrams += summary.lost_datagrams;
        counts.lost_records += summary.lost_records;
        counts.template_misses += summary.template_misses;
        if let Some(reason) = summary.malformed {
            match counts.malformed.get_mut(reason) {
                Some(count) => *count += 1,
                None => {
                    counts.malformed.insert(reason.to_owned(), 1);
                }
            }
        }
    }

    /// The busiest [`TelemetryStats::LISTED`] exporters by datagrams, and the rest summed,
    /// with the busiest `interfaces` and the `socket_drops` so far.
    fn stats(&self, interfaces: &InterfaceTable, socket_drops: Option<u64>) -> TelemetryStats {
        let mut exporters: Vec<ExporterStats> = self
            .by_address
            .iter()
            .map(|(&exporter, counts)| ExporterStats {
                exporter,
                counts: counts.clone(),
            })
            .collect();
        exporters.sort_by(|a, b| {
            b.counts
                .datagrams
                .cmp(&a.counts.datagrams)
                .then(a.exporter.cmp(&b.exporter))
        });
        let mut other = self.beyond.clone();
        for rest in exporters.iter().skip(TelemetryStats::LISTED) {
            other.add(&rest.counts);
        }
        exporters.truncate(TelemetryStats::LISTED);
        TelemetryStats {
            exporters,
            other,
            exporters_seen: self.by_address.len() as u64 + u64::from(self.beyond.datagrams > 0),
            interfaces: interfaces.listed(),
            interfaces_untracked_records: interfaces.untracked_records(),
            socket_drops,
        }
    }
}

/// Which decoder a datagram is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Sflow,
    Netflow,
}

fn protocol_of(datagram: &[u8]) -> Option<Protocol> {
    match datagram {
        [0, 0, 0, 5, ..] => Some(Protocol::Sflow),
        [0, 5 | 9 | 10, ..] => Some(Protocol::Netflow),
        _ => None,
    }
}

/// The decoders and what they saw.
pub(crate) struct Collector {
    sflow: SflowDecoder,
    netflow: NetflowDecoder,
    exporters: Exporters,
    interfaces: InterfaceTable,
    /// The interface counters of the datagram being decoded, kept once its flows are counted
    /// (a buffer reused from one datagram to the next).
    datagram_counters: Vec<InterfaceCounters>,
    /// Datagrams the sockets' receive buffers dropped, summed; `None` when reading files.
    socket_drops: Option<u64>,
    /// Its datagrams by kind, with no exporter counts: [`Collector::tally`] adds them up.
    tally: TelemetryTally,
}

impl Collector {
    pub(crate) fn new(decode: DecodeOptions) -> Self {
        Self {
            sflow: SflowDecoder::new(decode),
            netflow: NetflowDecoder::new(Limits::default()),
            exporters: Exporters::default(),
            interfaces: InterfaceTable::default(),
            datagram_counters: Vec::new(),
            socket_drops: None,
            tally: TelemetryTally::default(),
        }
    }

    /// Decodes one datagram from `exporter` that arrived at `arrival_nanos` and counts its
    /// records into `aggregator`.
    fn datagram(
        &mut self,
        exporter: IpAddr,
        datagram: &[u8],
        arrival_nanos: u64,
        aggregator: &mut IntervalAggregator,
    ) {
        let (exporters, interfaces, drops) = (&self.exporters, &self.interfaces, self.socket_drops);
        let mut count = |record: &FlowRecord| {
            let time = if arrival_nanos.saturating_sub(record.time_nanos) > MAX_RECORD_AGE_NANOS {
                arrival_nanos
            } else {
                record.time_nanos.min(arrival_nanos)
            };
            if aggregator.closes_at(time) {
                aggregator.set_telemetry(exporters.stats(interfaces, drops));
            }
            aggregator.observe_flow(time, record.key, record.packets, record.bytes, || None);
        };
        let summary = match protocol_of(datagram) {
            Some(Protocol::Sflow) => {
                self.tally.sflow_datagrams += 1;
                let counters = &mut self.datagram_counters;
                counters.clear();
                let summary = self.sflow.decode(
                    exporter,
                    datagram,
                    arrival_nanos,
                    &mut count,
                    &mut |interface| counters.push(*interface),
                );
                self.tally.interface_counters += counters.len() as u64;
                for interface in &self.datagram_counters {
                    self.interfaces.observe(exporter, interface);
                }
                summary
            }
            Some(Protocol::Netflow) => {
                self.tally.netflow_datagrams += 1;
                self.netflow
                    .decode(exporter, datagram, arrival_nanos, &mut count)
            }
            None => {
                self.tally.not_telemetry += 1;
                return;
            }
        };
        self.exporters.add(exporter, &summary);
    }

    /// What the collector saw so far, every exporter's counts summed.
    pub(crate) fn tally(&self) -> TelemetryTally {
        let mut exporters = self.exporters.beyond.clone();
        for counts in self.exporters.by_address.values() {
            exporters.add(counts);
        }
        TelemetryTally {
            exporters,
            socket_drops: self.socket_drops,
            ..self.tally.clone()
        }
    }

    /// Hands the counts so far to `aggregator` for the next report, when `now_nanos` would
    /// close its interval (or always, at the end).
    fn report_to(&self, aggregator: &mut IntervalAggregator, now_nanos: Option<u64>) {
        if now_nanos.is_none_or(|now| aggregator.closes_at(now)) {
            aggregator.set_telemetry(self.exporters.stats(&self.interfaces, self.socket_drops));
        }
    }
}

/// Reads the UDP payloads of `sources` one after another as export datagrams (the exporter is
/// each one's IP source, the arrival its capture time), until they end or a stop is
/// requested, then closes the last interval. A source that cannot be opened or fails part-way
/// is logged and counted as failed. Returns the frames read and the failed sources.
pub(crate) fn collect_files<S: PacketSource>(
    sources: impl IntoIterator<Item = Result<S, capture::Error>>,
    collector: &mut Collector,
    mut aggregator: IntervalAggregator,
    context: LoopContext,
) -> (u64, usize) {
    let (mut frames, mut failed) = (0, 0);
    let unopened = each_source(sources, context, |mut source| {
        let link_type = source.link_type();
        loop {
            match source.next_packet() {
                Ok(Some(packet)) => {
                    frames += 1;
                    match udp_payload(link_type, packet.data) {
                        Some((exporter, datagram)) => {
                            collector.datagram(
                                exporter,
                                datagram,
                                packet.timestamp_nanos,
                                &mut aggregator,
                            );
                        }
                        None => collector.tally.not_telemetry += 1,
                    }
                    if frames % 8192 == 0 {
                        context.health.heartbeat();
                        if context.stop.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    tracing::error!(error = %error, "Capture file ended with an error; its datagrams up to it are counted.");
                    failed += 1;
                    break;
                }
            }
        }
    });
    collector.report_to(&mut aggregator, None);
    aggregator.finish(|| None);
    (frames, failed + unopened)
}

/// Receives datagrams on `sockets` until a stop is requested, counting each at the wall-clock
/// time `clock` gives when it is read, and closing intervals on that clock even when nothing
/// arrives. Then closes the last interval. Datagrams are read in batches (`recvmmsg`), and
/// each socket's count of datagrams dropped with its receive buffer full (`SO_RXQ_OVFL`)
/// comes with them.
///
/// # Errors
///
/// When a socket cannot be set up or polling fails (a receive error on one socket is logged
/// and the others go on).
pub(crate) fn collect_live(
    sockets: &[UdpSocket],
    collector: &mut Collector,
    mut aggregator: IntervalAggregator,
    context: LoopContext,
    clock: fn() -> u64,
) -> io::Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut batch = Batch::new();
    for socket in sockets {
        socket.set_nonblocking(true)?;
        setsockopt(socket, sockopt::RxqOvfl, &1).map_err(io::Error::from)?;
    }
    // The drop counter each socket reported last.
    let mut drops = vec![0u64; sockets.len()];
    collector.socket_drops = Some(0);
    let timeout = PollTimeout::try_from(WAKE).unwrap_or(PollTimeout::NONE);
    aggregator.tick(clock(), || None);
    while !context.stop.load(Ordering::Relaxed) {
        context.health.heartbeat();
        let mut fds: Vec<PollFd> = sockets
            .iter()
            .map(|socket| PollFd::new(socket.as_fd(), PollFlags::POLLIN))
            .collect();
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(error) => return Err(error.into()),
        }
        drop(fds);
        for (socket, dropped) in sockets.iter().zip(drops.iter_mut()) {
            for _ in 0..BURST {
                match batch.receive(socket, dropped, |from, datagram| {
                    collector.datagram(from, datagram, clock(), &mut aggregator);
                }) {
                    Ok(received) if received < BATCH => break,
                    Ok(_) => {}
                    Err(nix::errno::Errno::EAGAIN) => break,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(error) => {
                        tracing::warn!(error = %error, "Cannot receive a datagram; collection goes on.");
                        break;
                    }
                }
            }
        }
        collector.socket_drops = Some(drops.iter().sum());
        let now = clock();
        collector.report_to(&mut aggregator, Some(now));
        aggregator.tick(now, || None);
    }
    collector.report_to(&mut aggregator, None);
    aggregator.finish(|| None);
    Ok(())
}

/// Buffers for reading [`BATCH`] datagrams with one system call.
struct Batch {
    buffers: Vec<u8>,
}

impl Batch {
    fn new() -> Self {
        Self {
            buffers: vec![0; BATCH * MAX_DATAGRAM],
        }
    }

    /// Reads what `socket` has waiting, up to a batch, handing each datagram and its sender to
    /// `each`, and keeps the socket's drop counter in `dropped`. Returns how many were read.
    fn receive(
        &mut self,
        socket: &UdpSocket,
        dropped: &mut u64,
        mut each: impl FnMut(IpAddr, &[u8]),
    ) -> nix::Result<usize> {
        let mut chunks = self.buffers.chunks_exact_mut(MAX_DATAGRAM);
        let mut slices: [[IoSliceMut<'_>; 1]; BATCH] =
            std::array::from_fn(|_| [IoSliceMut::new(chunks.next().unwrap_or_default())]);
        // The kernel shrinks each header's control-buffer length to what it wrote, 0 when a
        // datagram carries no drop count, and nix does not restore it (nix-rust/nix#2813): reused
        // headers would lose every later drop count. So each batch gets new ones, one small
        // allocation per batch of up to 32 datagrams.
        let mut headers =
            MultiHeaders::<SockaddrStorage>::preallocate(BATCH, Some(nix::cmsg_space!(u32)));
        let received = recvmmsg(
            socket.as_raw_fd(),
            &mut headers,
            slices.iter_mut(),
            MsgFlags::MSG_DONTWAIT,
            None,
        )?;
        let mut count = 0;
        for message in received {
            count += 1;
            if let Ok(cmsgs) = message.cmsgs() {
                for cmsg in cmsgs {
                    if let ControlMessageOwned::RxqOvfl(counter) = cmsg {
                        *dropped = u64::from(counter);
                    }
                }
            }
            let from = message.address.as_ref().and_then(|address| {
                address
                    .as_sockaddr_in()
                    .map(|v4| IpAddr::V4(v4.ip()))
                    .or_else(|| address.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
            });
            let datagram = message.iovs().next().unwrap_or_default();
            if let Some(from) = from {
                each(from.to_canonical(), datagram);
            }
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_are_told_apart_by_their_first_bytes() {
        assert_eq!(
            protocol_of(&[0, 0, 0, 5, 0, 0, 0, 1]),
            Some(Protocol::Sflow)
        );
        assert_eq!(protocol_of(&[0, 5, 0, 1]), Some(Protocol::Netflow));
        assert_eq!(protocol_of(&[0, 9, 0, 1]), Some(Protocol::Netflow));
        assert_eq!(protocol_of(&[0, 10, 0, 16]), Some(Protocol::Netflow));
        assert_eq!(protocol_of(&[0, 0, 0, 4]), None);
        assert_eq!(protocol_of(&[0, 7]), None);
        assert_eq!(protocol_of(&[]), None);
    }
}
