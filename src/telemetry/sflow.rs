//! sFlow v5 datagrams to flow records: the datagram header, flow samples and expanded flow
//! samples (one [`FlowRecord`] each, scaled by the sampling rate), counter samples and
//! expanded counter samples (generic interface counters, one [`InterfaceCounters`] each), and
//! the sequence numbers that say how many datagrams and samples were lost on the way.
//!
//! The wire format is sflow.org's `sflow_version_5.txt`: XDR, every field big-endian and
//! 4-byte aligned, samples and records each framed by a format and a length, so that the ones
//! hhmon does not read are skipped by their (padded) length. The packet header a flow sample
//! carries goes through [`decode_with`], so a sampled packet gets the same flow key a captured
//! one would.
//!
//! This module must not know sockets, capture files, intervals or sketches: it reads one
//! datagram, calls back with what it found and returns a [`DatagramSummary`]. It never
//! panics, logs or allocates per sample: every read is checked, every length is bounded by the
//! bytes actually there, and the per-agent sequence state lives in a table allocated once, at
//! construction, with a fixed number of entries.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{DatagramSummary, FlowRecord, InterfaceCounters};
use crate::decode::{decode_with, DecodeOptions, FlowKey, LinkType, UnparsedReason};

/// Sequence streams tracked at most by default: one per (exporter, agent, sub-agent) for the
/// datagram sequence and one per sampled source (an interface, usually) of each for the flow
/// sample sequence. About 80 bytes each.
pub const DEFAULT_STREAMS: usize = 8192;

/// The most sequence streams a decoder may be asked to track (about 1.3 GB): larger requests
/// are cut to this.
pub const MAX_STREAMS: usize = 1 << 24;

/// Entries per set of the stream table: a new stream evicts the least recently seen entry of
/// its set, so a hostile exporter spraying agent addresses pushes out only what it collides
/// with, and never makes the table grow.
const WAYS: usize = 8;

/// The largest sequence-number jump counted as loss. A larger jump forward (or a sequence
/// number going back by more than [`REORDER_WINDOW`]) means the agent restarted or the stream
/// is not the one we knew: the state is reset and nothing is counted, rather than billions of
/// lost datagrams.
pub const MAX_SEQUENCE_GAP: u32 = 1 << 20;

/// How far back a sequence number may go and still be a datagram (or sample) that arrived
/// late, out of order: it is ignored, and the state stays where it was.
pub const REORDER_WINDOW: u32 = 1024;

/// How far back the agent's uptime may go before the agent is taken to have restarted (which
/// resets the sequence state, counting nothing). Datagrams reordered in flight differ by
/// milliseconds; a restart sets uptime back near zero. The uptime wraps after 49.7 days, which
/// looks like a restart: one datagram's gap is then not counted.
pub const RESTART_UPTIME_SLACK_MS: u32 = 10_000;

/// The Ethernet frame check sequence, which sFlow's `frame_length` counts and libpcap's `len`
/// does not.
const FCS_LEN: u32 = 4;

/// The fewest datagram bytes a counted flow sample takes: sample header (8), compact flow
/// sample fields (32), a record header (8) and the smallest record that gives a flow (the
/// sampled IPv4 record, 32 bytes; a raw header with a 20-byte IPv4 header takes 36). So a
/// datagram of `n` bytes yields at most `n / MIN_FLOW_SAMPLE_LEN` flows.
pub const MIN_FLOW_SAMPLE_LEN: usize = 80;

/// The fewest datagram bytes an [`InterfaceCounters`] takes: sample header (8), compact
/// counter sample fields (12), a record header (8) and the 88-byte generic interface record.
pub const MIN_COUNTERS_LEN: usize = 116;

/// Why a datagram, a sample or a record could not be read; its label goes into
/// [`DatagramSummary::malformed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// The datagram ends inside a field or a sample, or has fewer samples than it says.
    Truncated,
    /// Not sFlow version 5.
    BadVersion,
    /// The agent address type is neither IPv4 (1), IPv6 (2) nor unknown (0).
    BadAddressType,
    /// A sample or record is shorter than its fields, or holds fewer records than it says.
    BadLength,
    /// A flow sample with sampling rate 0.
    BadSamplingRate,
    /// A sampled IPv4/IPv6 record with a protocol above 255 or a port above 65535.
    BadField,
    /// A raw packet header of a protocol hhmon does not decode (not Ethernet, IPv4 or IPv6),
    /// and no sampled IPv4/IPv6 record in the same sample.
    UnsupportedHeaderProtocol,
    /// A flow sample with neither a raw packet header nor a sampled IPv4/IPv6 record.
    NoPacketRecord,
    /// A raw packet header that `decode` rejected, and no sampled IPv4/IPv6 record.
    Header(UnparsedReason),
}

impl Fault {
    /// The snake_case label.
    fn label(self) -> &'static str {
        match self {
            Fault::Truncated => "truncated",
            Fault::BadVersion => "bad_version",
            Fault::BadAddressType => "bad_address_type",
            Fault::BadLength => "bad_length",
            Fault::BadSamplingRate => "bad_sampling_rate",
            Fault::BadField => "bad_field",
            Fault::UnsupportedHeaderProtocol => "unsupported_header_protocol",
            Fault::NoPacketRecord => "no_packet_record",
            Fault::Header(reason) => match reason {
                UnparsedReason::NotIp => "header_not_ip",
                UnparsedReason::UnsupportedLinkType => "header_unsupported_link_type",
                UnparsedReason::Truncated => "header_truncated",
                UnparsedReason::Malformed => "header_malformed",
                UnparsedReason::UnsupportedEncapsulation => "header_unsupported_encapsulation",
            },
        }
    }
}

/// Every label [`SflowDecoder::decode`] may put in [`DatagramSummary::malformed`].
pub const MALFORMED_LABELS: &[&str] = &[
    "truncated",
    "bad_version",
    "bad_address_type",
    "bad_length",
    "bad_sampling_rate",
    "bad_field",
    "unsupported_header_protocol",
    "no_packet_record",
    "header_not_ip",
    "header_unsupported_link_type",
    "header_truncated",
    "header_malformed",
    "header_unsupported_encapsulation",
];

/// A checked XDR reader over a datagram, a sample or a record: every read says `short` when
/// the bytes run out, and nothing can read past the slice it was given.
struct Xdr<'a> {
    bytes: &'a [u8],
    /// The fault of running out: `Truncated` for the datagram, `BadLength` inside a sample or
    /// record whose length was declared.
    short: Fault,
}

impl<'a> Xdr<'a> {
    fn new(bytes: &'a [u8], short: Fault) -> Self {
        Xdr { bytes, short }
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], Fault> {
        let (head, rest) = self.bytes.split_first_chunk::<N>().ok_or(self.short)?;
        self.bytes = rest;
        Ok(*head)
    }

    fn u32(&mut self) -> Result<u32, Fault> {
        self.take::<4>().map(u32::from_be_bytes)
    }

    fn u64(&mut self) -> Result<u64, Fault> {
        self.take::<8>().map(u64::from_be_bytes)
    }

    fn skip_words(&mut self, words: usize) -> Result<(), Fault> {
        for _ in 0..words {
            self.u32()?;
        }
        Ok(())
    }

    /// `len` bytes and the XDR padding after them (to a multiple of 4; padding missing at the
    /// very end is forgiven, as the next read fails anyway if anything was expected).
    fn bytes(&mut self, len: u32) -> Result<&'a [u8], Fault> {
        let len = usize::try_from(len).map_err(|_| self.short)?;
        if len > self.bytes.len() {
            return Err(self.short);
        }
        let (head, rest) = self.bytes.split_at(len);
        let padding = (4 - len % 4) % 4;
        self.bytes = rest.get(padding..).unwrap_or_default();
        Ok(head)
    }

    /// A length-prefixed opaque: a sample or a record, as a reader of its own whose running
    /// out is `BadLength`.
    fn framed(&mut self) -> Result<Xdr<'a>, Fault> {
        let len = self.u32()?;
        Ok(Xdr::new(self.bytes(len)?, Fault::BadLength))
    }

    fn ipv4(&mut self) -> Result<Ipv4Addr, Fault> {
        self.take::<4>().map(Ipv4Addr::from)
    }

    fn ipv6(&mut self) -> Result<Ipv6Addr, Fault> {
        self.take::<16>().map(Ipv6Addr::from)
    }
}

/// Which sequence a stream numbers: an agent's datagrams, or one source's flow samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct StreamKey {
    /// The datagram's IP source. Part of the key because agents misconfigured with the same
    /// agent address (127.0.0.1, 0.0.0.0) are common, and their sequences must not mix.
    exporter: IpAddr,
    /// The agent address in the datagram; `None` when its type is "unknown".
    agent: Option<IpAddr>,
    sub_agent: u32,
    /// `None` for the datagram sequence, the source id (type, index) for its flow samples.
    source: Option<(u32, u32)>,
}

/// Where a stream's sequence was last.
#[derive(Clone, Copy, Debug)]
struct Sequence {
    last: u32,
    uptime_ms: u32,
    /// The flow samples' cumulative `drops` (0 for the datagram sequence).
    drops: u32,
}

impl Sequence {
    /// Moves to `next` and says how many were lost since the last one, as the rules on
    /// [`MAX_SEQUENCE_GAP`], [`REORDER_WINDOW`] and [`RESTART_UPTIME_SLACK_MS`] say. The lost
    /// ones include the growth of `drops`, a counter since the source started.
    fn advance(&mut self, next: Sequence) -> u64 {
        let restarted = next.uptime_ms.saturating_add(RESTART_UPTIME_SLACK_MS) < self.uptime_ms;
        let ahead = next.last.wrapping_sub(self.last);
        let behind = self.last.wrapping_sub(next.last);
        if restarted {
            *self = next;
            0
        } else if (1..=MAX_SEQUENCE_GAP).contains(&ahead) {
            let dropped = next.drops.wrapping_sub(self.drops);
            let dropped = if dropped <= MAX_SEQUENCE_GAP {
                dropped
            } else {
                0
            };
            *self = next;
            u64::from(ahead - 1) + u64::from(dropped)
        } else if behind <= REORDER_WINDOW {
            // A duplicate, or one that arrived late: it was counted lost when the gap was seen.
            0
        } else {
            *self = next;
            0
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    key: StreamKey,
    sequence: Sequence,
    /// The table's clock when the stream was last seen, for eviction.
    seen: u64,
}

/// The sequence streams, in a set-associative table of fixed size.
struct Streams {
    slots: Vec<Option<Slot>>,
    /// A power of two.
    sets: usize,
    hasher: RandomState,
    clock: u64,
}

impl Streams {
    fn new(streams: usize) -> Self {
        let sets = streams
            .clamp(1, MAX_STREAMS)
            .div_ceil(WAYS)
            .next_power_of_two();
        Streams {
            slots: vec![None; sets * WAYS],
            sets,
            hasher: RandomState::new(),
            clock: 0,
        }
    }

    /// Advances `key`'s stream to `next`, starting it (evicting the least recently seen
    /// stream of its set if need be) when it is new; returns the number lost.
    fn advance(&mut self, key: StreamKey, next: Sequence) -> u64 {
        self.clock = self.clock.wrapping_add(1);
        let clock = self.clock;
        // `sets` is a power of two: the mask keeps the index in range, and truncating the
        // hash to usize first loses only bits the mask drops anyway.
        let set = (self.hasher.hash_one(key) as usize) & (self.sets - 1);
        let Some(ways) = self.slots.get_mut(set * WAYS..(set + 1) * WAYS) else {
            return 0;
        };
        if let Some(slot) = ways.iter_mut().flatten().find(|slot| slot.key == key) {
            slot.seen = clock;
            return slot.sequence.advance(next);
        }
        let victim = ways
            .iter_mut()
            .min_by_key(|slot| slot.as_ref().map_or(0, |slot| slot.seen.max(1)));
        if let Some(victim) = victim {
            *victim = Some(Slot {
                key,
                sequence: next,
                seen: clock,
            });
        }
        0
    }

    fn tracked(&self) -> usize {
        self.slots.iter().flatten().count()
    }
}

/// The header of an sFlow v5 datagram, for collectors that account per agent and for tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatagramHeader {
    /// The agent address; `None` when the datagram gives its type as unknown (0).
    pub agent: Option<IpAddr>,
    /// The sub-agent id: one agent may send several independently numbered streams.
    pub sub_agent: u32,
    /// The datagram sequence number of this (agent, sub-agent).
    pub sequence: u32,
    /// The agent's uptime when it sent the datagram, milliseconds.
    pub uptime_ms: u32,
    /// The number of samples the datagram says it carries (it may lie: the decoder stops
    /// where the bytes end).
    pub samples: u32,
}

impl DatagramHeader {
    /// Reads the header at the start of `datagram`.
    ///
    /// # Errors
    ///
    /// The [`DatagramSummary::malformed`] label saying why it cannot be read: `truncated`,
    /// `bad_version` or `bad_address_type`.
    pub fn read(datagram: &[u8]) -> Result<DatagramHeader, &'static str> {
        Self::parse(&mut Xdr::new(datagram, Fault::Truncated)).map_err(Fault::label)
    }

    fn parse(xdr: &mut Xdr<'_>) -> Result<DatagramHeader, Fault> {
        if xdr.u32()? != 5 {
            return Err(Fault::BadVersion);
        }
        let agent = match xdr.u32()? {
            0 => None,
            1 => Some(IpAddr::V4(xdr.ipv4()?)),
            2 => Some(IpAddr::V6(xdr.ipv6()?)),
            _ => return Err(Fault::BadAddressType),
        };
        Ok(DatagramHeader {
            agent,
            sub_agent: xdr.u32()?,
            sequence: xdr.u32()?,
            uptime_ms: xdr.u32()?,
            samples: xdr.u32()?,
        })
    }
}

/// What the datagram header says, for the samples.
#[derive(Clone, Copy)]
struct Datagram {
    exporter: IpAddr,
    agent: Option<IpAddr>,
    sub_agent: u32,
    uptime_ms: u32,
    arrival_nanos: u64,
}

/// The flow one sample gives: its key and the length of one packet.
type SampledFlow = (FlowKey, u32);

/// Decodes sFlow v5 datagrams, keeping each agent's sequence numbers between them.
///
/// One decoder per collector socket (or capture file); it is a plain value, fed datagrams
/// and their arrival time, so it can be tested without either.
///
/// What a flow sample counts: `packets` = the sampling rate, `bytes` = one packet's length ×
/// the sampling rate, at the datagram's arrival time. The packet and its length come from the
/// sample's raw packet header record when it has one hhmon decodes, else from its sampled
/// IPv4 or IPv6 record; a sample is counted once whatever records it carries. The length:
///
/// - raw header of an Ethernet frame: `frame_length` less the 4-byte FCS, which the sFlow
///   spec counts in `frame_length` and libpcap's wire length (which hhmon counts) does not;
/// - raw header of an IPv4 or IPv6 packet: `frame_length` as is (what exporters put there
///   varies: the IP length, or the frame that carried it);
/// - sampled IPv4/IPv6 record: its `length`, the IP packet's.
///
/// `stripped` is not used: exporters fill it inconsistently (one shipped capture puts there
/// the bytes cut after the header, 1262 of a 1390-byte frame).
pub struct SflowDecoder {
    options: DecodeOptions,
    streams: Streams,
}

impl SflowDecoder {
    /// A decoder that reads sampled packet headers as `options` say (decapsulation or not),
    /// tracking up to [`DEFAULT_STREAMS`] sequence streams.
    #[must_use]
    pub fn new(options: DecodeOptions) -> Self {
        Self::with_capacity(options, DEFAULT_STREAMS)
    }

    /// A decoder tracking up to `streams` sequence streams (rounded up to a power of two
    /// times 8, at least 8, at most [`MAX_STREAMS`]), allocated now; the table never grows.
    #[must_use]
    pub fn with_capacity(options: DecodeOptions, streams: usize) -> Self {
        SflowDecoder {
            options,
            streams: Streams::new(streams),
        }
    }

    /// The number of sequence streams the table holds at most.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.streams.slots.len()
    }

    /// The number of sequence streams tracked now; it walks the whole table, so it is for
    /// tests and occasional metrics, not for every datagram.
    #[must_use]
    pub fn tracked_streams(&self) -> usize {
        self.streams.tracked()
    }

    /// Decodes one datagram (a UDP payload) that arrived from `exporter` at `arrival_nanos`
    /// (Unix nanoseconds): calls `flows` with the flow of every flow sample and `counters`
    /// with every generic interface counters record, in datagram order, and returns what
    /// else it found.
    ///
    /// Sequence numbers are tracked per (exporter, agent address, sub-agent id) for
    /// datagrams, and per (exporter, agent address, sub-agent id, source id) for flow
    /// samples: a gap of up to [`MAX_SEQUENCE_GAP`] counts as lost datagrams or samples, as
    /// does the growth of a flow sample's `drops`. A sequence number that goes back by up to
    /// [`REORDER_WINDOW`] is a late arrival and changes nothing; one that goes back further,
    /// or jumps further ahead, or an uptime that goes back by more than
    /// [`RESTART_UPTIME_SLACK_MS`] (the agent restarted), resets the stream without counting
    /// anything. The first datagram of a stream counts nothing.
    ///
    /// A malformed datagram sets [`DatagramSummary::malformed`] to one of
    /// [`MALFORMED_LABELS`]; the samples read before the fault still count. A fault inside a
    /// sample skips that sample only (its length says where the next one starts); a fault in
    /// the datagram header or in a sample's framing stops the datagram there. When a
    /// datagram has several faults, one in the framing wins over those of single samples,
    /// else the first is reported. Samples and records of other formats or enterprises are
    /// skipped by their length.
    pub fn decode(
        &mut self,
        exporter: IpAddr,
        datagram: &[u8],
        arrival_nanos: u64,
        flows: &mut impl FnMut(&FlowRecord),
        counters: &mut impl FnMut(&InterfaceCounters),
    ) -> DatagramSummary {
        let mut summary = DatagramSummary::default();
        let mut xdr = Xdr::new(datagram, Fault::Truncated);
        if let Err(fault) = self.datagram(
            exporter,
            &mut xdr,
            arrival_nanos,
            flows,
            counters,
            &mut summary,
        ) {
            summary.malformed = Some(fault.label());
        }
        summary
    }

    fn datagram(
        &mut self,
        exporter: IpAddr,
        xdr: &mut Xdr<'_>,
        arrival_nanos: u64,
        flows: &mut impl FnMut(&FlowRecord),
        counters: &mut impl FnMut(&InterfaceCounters),
        summary: &mut DatagramSummary,
    ) -> Result<(), Fault> {
        let DatagramHeader {
            agent,
            sub_agent,
            sequence,
            uptime_ms,
            samples,
        } = DatagramHeader::parse(xdr)?;
        let header = Datagram {
            exporter,
            agent,
            sub_agent,
            uptime_ms,
            arrival_nanos,
        };
        summary.lost_datagrams += self.streams.advance(
            header.stream(None),
            Sequence {
                last: sequence,
                uptime_ms,
                drops: 0,
            },
        );
        // Each sample takes at least 8 bytes, so a lying count ends with the bytes.
        for _ in 0..samples {
            if xdr.is_empty() {
                return Err(Fault::Truncated);
            }
            let format = xdr.u32()?;
            let mut sample = xdr.framed()?;
            let read = match format {
                1 => self.flow_sample(&header, &mut sample, false, flows, summary),
                3 => self.flow_sample(&header, &mut sample, true, flows, summary),
                2 => counter_sample(&header, &mut sample, false, counters),
                4 => counter_sample(&header, &mut sample, true, counters),
                _ => Ok(()),
            };
            if let Err(fault) = read {
                summary.malformed.get_or_insert(fault.label());
            }
        }
        Ok(())
    }

    /// One flow sample (`expanded`: format 3, else 1): tracks its sequence, then counts its
    /// flow if it has one.
    fn flow_sample(
        &mut self,
        header: &Datagram,
        sample: &mut Xdr<'_>,
        expanded: bool,
        flows: &mut impl FnMut(&FlowRecord),
        summary: &mut DatagramSummary,
    ) -> Result<(), Fault> {
        let sequence = sample.u32()?;
        let source = if expanded {
            (sample.u32()?, sample.u32()?)
        } else {
            let id = sample.u32()?;
            (id >> 24, id & 0x00ff_ffff)
        };
        let sampling_rate = sample.u32()?;
        let _sample_pool = sample.u32()?;
        let drops = sample.u32()?;
        // Input and output interfaces: one word each, two when expanded.
        sample.skip_words(if expanded { 4 } else { 2 })?;
        let records = sample.u32()?;
        summary.lost_records += self.streams.advance(
            header.stream(Some(source)),
            Sequence {
                last: sequence,
                uptime_ms: header.uptime_ms,
                drops,
            },
        );
        if sampling_rate == 0 {
            return Err(Fault::BadSamplingRate);
        }
        let mut raw: Option<Result<SampledFlow, Fault>> = None;
        let mut sampled: Option<SampledFlow> = None;
        for _ in 0..records {
            if sample.is_empty() {
                return Err(Fault::BadLength);
            }
            let format = sample.u32()?;
            let mut record = sample.framed()?;
            match format {
                1 if raw.is_none() => raw = Some(self.raw_header(&mut record)?),
                3 if sampled.is_none() => sampled = Some(sampled_ipv4(&mut record)?),
                4 if sampled.is_none() => sampled = Some(sampled_ipv6(&mut record)?),
                _ => {}
            }
        }
        let (key, length) = match (raw, sampled) {
            (Some(Ok(flow)), _) | (_, Some(flow)) => flow,
            (Some(Err(fault)), None) => return Err(fault),
            (None, None) => return Err(Fault::NoPacketRecord),
        };
        summary.records += 1;
        flows(&FlowRecord {
            key,
            packets: u64::from(sampling_rate),
            bytes: u64::from(length) * u64::from(sampling_rate),
            sampling_rate,
            time_nanos: header.arrival_nanos,
        });
        Ok(())
    }

    /// A raw packet header record: `Err` when the record is shorter than its fields, `Ok(Err)`
    /// when they are there but give no flow.
    fn raw_header(&self, record: &mut Xdr<'_>) -> Result<Result<SampledFlow, Fault>, Fault> {
        let protocol = record.u32()?;
        let frame_length = record.u32()?;
        let _stripped = record.u32()?;
        let header_length = record.u32()?;
        let header = record.bytes(header_length)?;
        let (link_type, length) = match protocol {
            1 => (LinkType::ETHERNET, frame_length.saturating_sub(FCS_LEN)),
            11 => (LinkType::IPV4, frame_length),
            12 => (LinkType::IPV6, frame_length),
            _ => return Ok(Err(Fault::UnsupportedHeaderProtocol)),
        };
        Ok(decode_with(self.options, link_type, header)
            .map(|decoded| (decoded.key, length))
            .map_err(Fault::Header))
    }
}

impl Datagram {
    fn stream(&self, source: Option<(u32, u32)>) -> StreamKey {
        StreamKey {
            exporter: self.exporter,
            agent: self.agent,
            sub_agent: self.sub_agent,
            source,
        }
    }
}

/// The flow key of a sampled IPv4/IPv6 record, with the ports zeroed for protocols without
/// ports as `decode` does (exporters put ICMP type and code there).
fn sampled_key(
    src: IpAddr,
    dst: IpAddr,
    protocol: u32,
    ports: (u32, u32),
) -> Result<FlowKey, Fault> {
    let protocol = u8::try_from(protocol).map_err(|_| Fault::BadField)?;
    let src_port = u16::try_from(ports.0).map_err(|_| Fault::BadField)?;
    let dst_port = u16::try_from(ports.1).map_err(|_| Fault::BadField)?;
    // TCP, UDP, DCCP, SCTP, UDP-Lite.
    let has_ports = matches!(protocol, 6 | 17 | 33 | 132 | 136);
    Ok(FlowKey {
        src,
        dst,
        src_port: if has_ports { src_port } else { 0 },
        dst_port: if has_ports { dst_port } else { 0 },
        protocol,
    })
}

/// A sampled IPv4 record (format 3).
fn sampled_ipv4(record: &mut Xdr<'_>) -> Result<SampledFlow, Fault> {
    let length = record.u32()?;
    let protocol = record.u32()?;
    let src = record.ipv4()?;
    let dst = record.ipv4()?;
    let ports = (record.u32()?, record.u32()?);
    // TCP flags and ToS.
    record.skip_words(2)?;
    Ok((
        sampled_key(src.into(), dst.into(), protocol, ports)?,
        length,
    ))
}

/// A sampled IPv6 record (format 4).
fn sampled_ipv6(record: &mut Xdr<'_>) -> Result<SampledFlow, Fault> {
    let length = record.u32()?;
    let protocol = record.u32()?;
    let src = record.ipv6()?;
    let dst = record.ipv6()?;
    let ports = (record.u32()?, record.u32()?);
    // TCP flags and priority.
    record.skip_words(2)?;
    Ok((
        sampled_key(src.into(), dst.into(), protocol, ports)?,
        length,
    ))
}

/// One counter sample (`expanded`: format 4, else 2): calls back with its generic interface
/// counters records. Counter samples' sequence numbers are not tracked.
fn counter_sample(
    header: &Datagram,
    sample: &mut Xdr<'_>,
    expanded: bool,
    counters: &mut impl FnMut(&InterfaceCounters),
) -> Result<(), Fault> {
    // Sequence number and source id (one word, two when expanded).
    sample.skip_words(if expanded { 3 } else { 2 })?;
    let records = sample.u32()?;
    for _ in 0..records {
        if sample.is_empty() {
            return Err(Fault::BadLength);
        }
        let format = sample.u32()?;
        let mut record = sample.framed()?;
        if format == 1 {
            counters(&generic_interface(header, &mut record)?);
        }
    }
    Ok(())
}

/// A generic interface counters record (format 1).
fn generic_interface(header: &Datagram, record: &mut Xdr<'_>) -> Result<InterfaceCounters, Fault> {
    let if_index = record.u32()?;
    // ifType, ifSpeed (two words), ifDirection, ifStatus.
    record.skip_words(5)?;
    let in_octets = record.u64()?;
    let in_packets = [record.u32()?, record.u32()?, record.u32()?];
    // ifInDiscards, ifInErrors, ifInUnknownProtos.
    record.skip_words(3)?;
    let out_octets = record.u64()?;
    let out_packets = [record.u32()?, record.u32()?, record.u32()?];
    // ifOutDiscards, ifOutErrors, ifPromiscuousMode.
    record.skip_words(3)?;
    // An agent sends all ones for a counter its interface does not keep.
    let sum = |packets: [u32; 3]| {
        packets
            .iter()
            .filter(|&&p| p != u32::MAX)
            .map(|&p| u64::from(p))
            .sum()
    };
    let known = |octets: u64| if octets == u64::MAX { 0 } else { octets };
    Ok(InterfaceCounters {
        agent: header.agent.or(Some(header.exporter)),
        if_index,
        in_octets: known(in_octets),
        in_packets: sum(in_packets),
        out_octets: known(out_octets),
        out_packets: sum(out_packets),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;
    use proptest::prelude::*;

    const EXPORTER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const AGENT: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 254));
    const SRC: [u8; 4] = [10, 0, 0, 1];
    const DST: [u8; 4] = [192, 168, 1, 2];
    const ARRIVAL: u64 = 1_700_000_000_000_000_000;

    /// XDR words of a test datagram, built up field by field.
    #[derive(Default)]
    struct Xdr(Vec<u8>);

    impl Xdr {
        fn u32(mut self, value: u32) -> Self {
            self.0.extend_from_slice(&value.to_be_bytes());
            self
        }
        fn u64(mut self, value: u64) -> Self {
            self.0.extend_from_slice(&value.to_be_bytes());
            self
        }
        fn raw(mut self, bytes: &[u8]) -> Self {
            self.0.extend_from_slice(bytes);
            self
        }
        /// Length-prefixed opaque with its padding.
        fn opaque(self, bytes: &[u8]) -> Self {
            let padding = [0u8; 3];
            let pad = (4 - bytes.len() % 4) % 4;
            self.u32(u32::try_from(bytes.len()).unwrap())
                .raw(bytes)
                .raw(&padding[..pad])
        }
        /// A sample or record: its format, then its body as an opaque.
        fn framed(self, format: u32, body: &[u8]) -> Self {
            self.u32(format).opaque(body)
        }
    }

    fn datagram(agent: IpAddr, sequence: u32, uptime_ms: u32, samples: &[Vec<u8>]) -> Vec<u8> {
        let xdr = Xdr::default().u32(5);
        let xdr = match agent {
            IpAddr::V4(a) => xdr.u32(1).raw(&a.octets()),
            IpAddr::V6(a) => xdr.u32(2).raw(&a.octets()),
        };
        let xdr = xdr
            .u32(7)
            .u32(sequence)
            .u32(uptime_ms)
            .u32(u32::try_from(samples.len()).unwrap());
        samples.iter().fold(xdr, |xdr, s| xdr.raw(s)).0
    }

    /// A compact flow sample (format 1) of source `(0, index)`, framed.
    fn flow_sample(
        sequence: u32,
        index: u32,
        rate: u32,
        drops: u32,
        records: &[Vec<u8>],
    ) -> Vec<u8> {
        let body = Xdr::default()
            .u32(sequence)
            .u32(index)
            .u32(rate)
            .u32(sequence.wrapping_mul(rate))
            .u32(drops)
            .u32(3)
            .u32(4)
            .u32(u32::try_from(records.len()).unwrap());
        let body = records.iter().fold(body, |xdr, r| xdr.raw(r));
        Xdr::default().framed(1, &body.0).0
    }

    /// An expanded flow sample (format 3) of source `(type, index)`, framed.
    fn expanded_flow_sample(
        sequence: u32,
        source: (u32, u32),
        rate: u32,
        records: &[Vec<u8>],
    ) -> Vec<u8> {
        let body = Xdr::default()
            .u32(sequence)
            .u32(source.0)
            .u32(source.1)
            .u32(rate)
            .u32(0)
            .u32(0)
            .u32(0)
            .u32(3)
            .u32(0)
            .u32(4)
            .u32(u32::try_from(records.len()).unwrap());
        let body = records.iter().fold(body, |xdr, r| xdr.raw(r));
        Xdr::default().framed(3, &body.0).0
    }

    fn raw_header(protocol: u32, frame_length: u32, stripped: u32, header: &[u8]) -> Vec<u8> {
        let body = Xdr::default()
            .u32(protocol)
            .u32(frame_length)
            .u32(stripped)
            .opaque(header);
        Xdr::default().framed(1, &body.0).0
    }

    fn sampled_ipv4(
        length: u32,
        protocol: u32,
        src: [u8; 4],
        dst: [u8; 4],
        ports: (u32, u32),
    ) -> Vec<u8> {
        let body = Xdr::default()
            .u32(length)
            .u32(protocol)
            .raw(&src)
            .raw(&dst)
            .u32(ports.0)
            .u32(ports.1)
            .u32(0x18)
            .u32(0);
        Xdr::default().framed(3, &body.0).0
    }

    fn sampled_ipv6(
        length: u32,
        protocol: u32,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        ports: (u32, u32),
    ) -> Vec<u8> {
        let body = Xdr::default()
            .u32(length)
            .u32(protocol)
            .raw(&src.octets())
            .raw(&dst.octets())
            .u32(ports.0)
            .u32(ports.1)
            .u32(0)
            .u32(0);
        Xdr::default().framed(4, &body.0).0
    }

    /// A generic interface counters record, framed: ifIndex, then octets and the packets by
    /// kind (unicast, multicast, broadcast) each way.
    fn generic_interface(
        if_index: u32,
        inbound: (u64, [u32; 3]),
        outbound: (u64, [u32; 3]),
    ) -> Vec<u8> {
        let body = Xdr::default()
            .u32(if_index)
            .u32(6)
            .u64(10_000_000_000)
            .u32(1)
            .u32(3)
            .u64(inbound.0)
            .u32(inbound.1[0])
            .u32(inbound.1[1])
            .u32(inbound.1[2])
            .u32(11)
            .u32(12)
            .u32(13)
            .u64(outbound.0)
            .u32(outbound.1[0])
            .u32(outbound.1[1])
            .u32(outbound.1[2])
            .u32(14)
            .u32(15)
            .u32(0);
        assert_eq!(body.0.len(), 88);
        Xdr::default().framed(1, &body.0).0
    }

    fn counter_sample(expanded: bool, records: &[Vec<u8>]) -> Vec<u8> {
        let body = Xdr::default().u32(1);
        let body = if expanded {
            body.u32(0).u32(3)
        } else {
            body.u32(3)
        };
        let body = body.u32(u32::try_from(records.len()).unwrap());
        let body = records.iter().fold(body, |xdr, r| xdr.raw(r));
        Xdr::default()
            .framed(if expanded { 4 } else { 2 }, &body.0)
            .0
    }

    fn ethernet_udp() -> Vec<u8> {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4(SRC, DST, 64)
            .udp(5353, 53)
            .write(&mut frame, b"hello")
            .unwrap();
        frame
    }

    fn ipv6_tcp() -> Vec<u8> {
        let mut packet = Vec::new();
        PacketBuilder::ipv6([0x20; 16], [0x30; 16], 64)
            .tcp(443, 50000, 1, 1000)
            .write(&mut packet, b"")
            .unwrap();
        packet
    }

    fn udp_key() -> FlowKey {
        FlowKey {
            src: SRC.into(),
            dst: DST.into(),
            src_port: 5353,
            dst_port: 53,
            protocol: 17,
        }
    }

    /// Decodes `datagram` with `decoder`, collecting what it calls back with.
    fn run(
        decoder: &mut SflowDecoder,
        exporter: IpAddr,
        datagram: &[u8],
    ) -> (Vec<FlowRecord>, Vec<InterfaceCounters>, DatagramSummary) {
        let mut flows = Vec::new();
        let mut counters = Vec::new();
        let summary = decoder.decode(
            exporter,
            datagram,
            ARRIVAL,
            &mut |f: &FlowRecord| flows.push(*f),
            &mut |c: &InterfaceCounters| counters.push(*c),
        );
        (flows, counters, summary)
    }

    fn once(datagram: &[u8]) -> (Vec<FlowRecord>, Vec<InterfaceCounters>, DatagramSummary) {
        run(
            &mut SflowDecoder::new(DecodeOptions::default()),
            EXPORTER,
            datagram,
        )
    }

    /// A datagram with one of everything hhmon reads, and things it skips in between.
    fn everything() -> Vec<u8> {
        let frame = ethernet_udp();
        let v6 = ipv6_tcp();
        datagram(
            AGENT,
            1,
            1000,
            &[
                flow_sample(1, 3, 512, 0, &[raw_header(1, 1518, 4, &frame)]),
                Xdr::default()
                    .framed(0x0000_7005, &[1, 2, 3, 4, 5, 6, 7, 8])
                    .0,
                counter_sample(
                    false,
                    &[generic_interface(3, (1000, [1, 2, 3]), (2000, [4, 5, 6]))],
                ),
                expanded_flow_sample(
                    9,
                    (0, 70000),
                    100,
                    &[
                        Xdr::default().framed(1001, &[0; 16]).0,
                        raw_header(12, 60, 0, &v6),
                    ],
                ),
                flow_sample(
                    2,
                    3,
                    512,
                    0,
                    &[sampled_ipv4(
                        1400,
                        6,
                        [1, 1, 1, 1],
                        [2, 2, 2, 2],
                        (80, 1234),
                    )],
                ),
                counter_sample(
                    true,
                    &[generic_interface(4, (1, [1, 0, 0]), (2, [0, 1, 0]))],
                ),
            ],
        )
    }

    #[test]
    fn labels_are_the_listed_snake_case_ones() {
        let faults = [
            Fault::Truncated,
            Fault::BadVersion,
            Fault::BadAddressType,
            Fault::BadLength,
            Fault::BadSamplingRate,
            Fault::BadField,
            Fault::UnsupportedHeaderProtocol,
            Fault::NoPacketRecord,
        ];
        let all = faults
            .into_iter()
            .chain(UnparsedReason::ALL.into_iter().map(Fault::Header));
        let labels: Vec<_> = all.map(Fault::label).collect();
        assert_eq!(labels, MALFORMED_LABELS);
        for label in labels {
            assert!(label.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        }
    }

    #[test]
    fn reads_every_kind_of_sample_and_skips_the_rest() {
        let (flows, counters, summary) = once(&everything());
        assert_eq!(
            summary,
            DatagramSummary {
                records: 3,
                ..Default::default()
            }
        );
        let expected = [
            FlowRecord {
                key: udp_key(),
                packets: 512,
                bytes: (1518 - 4) * 512,
                sampling_rate: 512,
                time_nanos: ARRIVAL,
            },
            FlowRecord {
                key: FlowKey {
                    src: Ipv6Addr::from([0x20; 16]).into(),
                    dst: Ipv6Addr::from([0x30; 16]).into(),
                    src_port: 443,
                    dst_port: 50000,
                    protocol: 6,
                },
                packets: 100,
                bytes: 6000,
                sampling_rate: 100,
                time_nanos: ARRIVAL,
            },
            FlowRecord {
                key: FlowKey {
                    src: [1, 1, 1, 1].into(),
                    dst: [2, 2, 2, 2].into(),
                    src_port: 80,
                    dst_port: 1234,
                    protocol: 6,
                },
                packets: 512,
                bytes: 1400 * 512,
                sampling_rate: 512,
                time_nanos: ARRIVAL,
            },
        ];
        assert_eq!(flows, expected);
        let expected = [
            InterfaceCounters {
                agent: Some(AGENT),
                if_index: 3,
                in_octets: 1000,
                in_packets: 6,
                out_octets: 2000,
                out_packets: 15,
            },
            InterfaceCounters {
                agent: Some(AGENT),
                if_index: 4,
                in_octets: 1,
                in_packets: 1,
                out_octets: 2,
                out_packets: 1,
            },
        ];
        assert_eq!(counters, expected);
    }

    #[test]
    fn counters_an_interface_does_not_keep_count_as_nothing() {
        let unknown = u32::MAX;
        let bytes = datagram(
            AGENT,
            1,
            1,
            &[counter_sample(
                false,
                &[generic_interface(
                    9,
                    (u64::MAX, [5, unknown, unknown]),
                    (700, [unknown, 2, 1]),
                )],
            )],
        );
        let (_, counters, summary) = once(&bytes);
        assert_eq!(summary.malformed, None);
        assert_eq!(
            counters,
            [InterfaceCounters {
                agent: Some(AGENT),
                if_index: 9,
                in_octets: 0,
                in_packets: 5,
                out_octets: 700,
                out_packets: 3,
            }]
        );
    }

    #[test]
    fn ipv6_agents_and_raw_ipv4_headers() {
        let agent: IpAddr = "2001:db8::1".parse().unwrap();
        let ip = &ethernet_udp()[14..];
        let bytes = datagram(
            agent,
            1,
            1,
            &[flow_sample(1, 1, 10, 0, &[raw_header(11, 50, 18, ip)])],
        );
        let (flows, _, summary) = once(&bytes);
        assert_eq!(summary.records, 1);
        assert_eq!(flows[0].key, udp_key());
        assert_eq!(flows[0].bytes, 500, "frame_length as is for an IP header");
    }

    #[test]
    fn the_datagram_header_reads_alone() {
        let agent: IpAddr = "2001:db8::1".parse().unwrap();
        let bytes = datagram(agent, 42, 9000, &[flow_sample(1, 1, 1, 0, &[])]);
        let header = DatagramHeader {
            agent: Some(agent),
            sub_agent: 7,
            sequence: 42,
            uptime_ms: 9000,
            samples: 1,
        };
        assert_eq!(DatagramHeader::read(&bytes), Ok(header));
        assert_eq!(DatagramHeader::read(&bytes[..39]), Err("truncated"));
        let unknown = Xdr::default().u32(5).u32(0).u32(1).u32(2).u32(3).u32(0).0;
        let (_, _, summary) = once(&unknown);
        assert_eq!(summary, DatagramSummary::default());
        assert_eq!(DatagramHeader::read(&unknown).map(|h| h.agent), Ok(None));
    }

    #[test]
    fn a_sample_with_a_header_and_a_sampled_ipv4_record_counts_once_by_the_header() {
        let other = sampled_ipv4(999, 17, [9, 9, 9, 9], [8, 8, 8, 8], (1, 2));
        let header = raw_header(1, 104, 4, &ethernet_udp());
        for records in [[other.clone(), header.clone()], [header, other]] {
            let (flows, _, summary) =
                once(&datagram(AGENT, 1, 1, &[flow_sample(1, 1, 2, 0, &records)]));
            assert_eq!(
                summary,
                DatagramSummary {
                    records: 1,
                    ..Default::default()
                }
            );
            assert_eq!((flows[0].key, flows[0].bytes), (udp_key(), 200));
        }
    }

    #[test]
    fn a_header_hhmon_cannot_read_falls_back_to_the_sampled_record_or_is_labelled() {
        let sampled = sampled_ipv6(
            80,
            58,
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
            (128, 0),
        );
        let cases = [
            (
                raw_header(2, 100, 4, &[0; 40]),
                "unsupported_header_protocol",
            ),
            (
                raw_header(1, 100, 4, &ethernet_udp()[..20]),
                "header_truncated",
            ),
            (raw_header(1, 64, 4, &[0; 14]), "header_not_ip"),
        ];
        for (header, label) in cases {
            let alone = datagram(
                AGENT,
                1,
                1,
                &[flow_sample(1, 1, 2, 0, std::slice::from_ref(&header))],
            );
            let (flows, _, summary) = once(&alone);
            assert!(flows.is_empty());
            assert_eq!(summary.malformed, Some(label));
            let both = datagram(
                AGENT,
                1,
                1,
                &[flow_sample(1, 1, 2, 0, &[header, sampled.clone()])],
            );
            let (flows, _, summary) = once(&both);
            assert_eq!(
                summary,
                DatagramSummary {
                    records: 1,
                    ..Default::default()
                }
            );
            // ICMPv6 type 128 in the source port is not a port.
            assert_eq!(
                (flows[0].key.src_port, flows[0].key.protocol, flows[0].bytes),
                (0, 58, 160)
            );
        }
        let (_, _, summary) = once(&datagram(AGENT, 1, 1, &[flow_sample(1, 1, 2, 0, &[])]));
        assert_eq!(summary.malformed, Some("no_packet_record"));
        let zero_rate = flow_sample(1, 1, 0, 0, &[raw_header(1, 104, 4, &ethernet_udp())]);
        let (flows, _, summary) = once(&datagram(AGENT, 1, 1, &[zero_rate]));
        assert!(flows.is_empty());
        assert_eq!(summary.malformed, Some("bad_sampling_rate"));
    }

    #[test]
    fn unknown_records_and_samples_of_any_length_are_skipped_with_their_padding() {
        for len in 0..9 {
            let odd = Xdr::default().framed(0x0000_1234, &vec![0xff; len]).0;
            assert_eq!(odd.len(), 8 + len.div_ceil(4) * 4);
            let sample = flow_sample(
                1,
                1,
                2,
                0,
                &[odd.clone(), raw_header(1, 104, 4, &ethernet_udp())],
            );
            let (flows, _, summary) = once(&datagram(AGENT, 1, 1, &[odd, sample]));
            assert_eq!(
                summary,
                DatagramSummary {
                    records: 1,
                    ..Default::default()
                },
                "{len}"
            );
            assert_eq!(flows[0].key, udp_key());
        }
        // An odd-length header: the record after it starts past the padding.
        let short_ip = &ethernet_udp()[..14 + 20 + 4 + 1];
        let sample = flow_sample(
            1,
            1,
            1,
            0,
            &[
                raw_header(1, 100, 4, short_ip),
                Xdr::default().framed(1001, &[0; 16]).0,
            ],
        );
        let (_, _, summary) = once(&datagram(AGENT, 1, 1, &[sample]));
        assert_eq!(
            summary,
            DatagramSummary {
                records: 1,
                ..Default::default()
            }
        );
    }

    #[test]
    fn header_faults_stop_the_datagram() {
        let good = everything();
        let mut bad_version = good.clone();
        bad_version[3] = 4;
        let mut bad_address = good.clone();
        bad_address[7] = 3;
        for (bytes, label) in [
            (bad_version, "bad_version"),
            (bad_address, "bad_address_type"),
        ] {
            let (flows, counters, summary) = once(&bytes);
            assert!(flows.is_empty() && counters.is_empty());
            assert_eq!(summary.malformed, Some(label));
        }
    }

    #[test]
    fn a_lying_sample_count_ends_with_the_bytes() {
        let mut bytes = everything();
        // The sample count: after version, address type, address, sub-agent, sequence, uptime.
        bytes[24..28].copy_from_slice(&1000u32.to_be_bytes());
        let (flows, counters, summary) = once(&bytes);
        assert_eq!((flows.len(), counters.len(), summary.records), (3, 2, 3));
        assert_eq!(summary.malformed, Some("truncated"));
        // Samples and records of length zero, by the billion, cost nothing.
        let empty = Xdr::default().framed(99, &[]).0;
        let lots = Xdr::default().u32(1).u32(12).u32(0).u32(0).u32(u32::MAX).0;
        let bytes = datagram(AGENT, 1, 1, &[empty.clone(), empty, lots]);
        let mut bytes_lying = bytes.clone();
        bytes_lying[24..28].copy_from_slice(&u32::MAX.to_be_bytes());
        let (_, _, summary) = once(&bytes_lying);
        assert_eq!(summary.malformed, Some("truncated"));
    }

    #[test]
    fn a_sample_with_a_bad_inner_length_is_skipped_and_the_next_still_counts() {
        let mut inner = raw_header(1, 104, 4, &ethernet_udp());
        // The header length field (after format, record length, protocol, frame length,
        // stripped): one more than the record holds.
        let claimed = u32::from_be_bytes(inner[20..24].try_into().unwrap());
        inner[20..24].copy_from_slice(&(claimed + 100).to_be_bytes());
        let bytes = datagram(
            AGENT,
            1,
            1,
            &[
                flow_sample(1, 1, 2, 0, &[inner]),
                flow_sample(2, 1, 2, 0, &[raw_header(1, 104, 4, &ethernet_udp())]),
            ],
        );
        let (flows, _, summary) = once(&bytes);
        assert_eq!(flows.len(), 1);
        assert_eq!(summary.malformed, Some("bad_length"));
    }

    #[test]
    fn every_cut_never_panics_and_never_counts_more() {
        let full = everything();
        let (all_flows, all_counters, _) = once(&full);
        let mut shared = SflowDecoder::new(DecodeOptions::default());
        for len in 0..full.len() {
            let cut = &full[..len];
            for decoder in [
                &mut SflowDecoder::new(DecodeOptions::default()),
                &mut shared,
            ] {
                let (flows, counters, summary) = run(decoder, EXPORTER, cut);
                assert!(flows.len() <= all_flows.len() && counters.len() <= all_counters.len());
                assert_eq!(&all_flows[..flows.len()], &flows[..], "cut at {len}");
                assert_eq!(
                    &all_counters[..counters.len()],
                    &counters[..],
                    "cut at {len}"
                );
                assert_eq!(summary.records, u64::try_from(flows.len()).unwrap());
                assert!(summary.malformed.is_some(), "cut at {len}");
                assert!(flows.len() * MIN_FLOW_SAMPLE_LEN <= len);
                assert!(counters.len() * MIN_COUNTERS_LEN <= len);
            }
        }
    }

    /// The datagram and flow sample sequence numbers of one agent, and what it lost.
    fn step(
        decoder: &mut SflowDecoder,
        sequence: u32,
        uptime_ms: u32,
        sample: (u32, u32),
    ) -> (u64, u64) {
        let frame = ethernet_udp();
        let bytes = datagram(
            AGENT,
            sequence,
            uptime_ms,
            &[flow_sample(
                sample.0,
                5,
                100,
                sample.1,
                &[raw_header(1, 104, 4, &frame)],
            )],
        );
        let (_, _, summary) = run(decoder, EXPORTER, &bytes);
        assert_eq!(summary.malformed, None);
        (summary.lost_datagrams, summary.lost_records)
    }

    #[test]
    fn sequence_gaps_and_drops_count_as_lost() {
        let mut decoder = SflowDecoder::new(DecodeOptions::default());
        assert_eq!(
            step(&mut decoder, 100, 5000, (7, 0)),
            (0, 0),
            "first: nothing"
        );
        assert_eq!(step(&mut decoder, 101, 5001, (8, 0)), (0, 0));
        assert_eq!(step(&mut decoder, 104, 5002, (12, 0)), (2, 3));
        assert_eq!(
            step(&mut decoder, 105, 5003, (13, 10)),
            (0, 10),
            "drops grew by 10"
        );
        assert_eq!(step(&mut decoder, 106, 5004, (14, 10)), (0, 0));
        // Late arrivals and duplicates count nothing and leave the state.
        assert_eq!(step(&mut decoder, 103, 5002, (11, 0)), (0, 0));
        assert_eq!(step(&mut decoder, 106, 5004, (14, 10)), (0, 0));
        assert_eq!(step(&mut decoder, 107, 5005, (15, 10)), (0, 0));
        // Wrapping around is a gap like any other.
        let mut decoder = SflowDecoder::new(DecodeOptions::default());
        assert_eq!(
            step(&mut decoder, u32::MAX - 1, 5000, (u32::MAX, 0)),
            (0, 0)
        );
        assert_eq!(step(&mut decoder, 1, 5001, (2, 0)), (2, 2));
    }

    #[test]
    fn an_agent_restart_resets_without_counting() {
        let mut decoder = SflowDecoder::new(DecodeOptions::default());
        step(&mut decoder, 5_000_000, 900_000_000, (40_000_000, 70));
        // Uptime back near zero: sequences start again.
        assert_eq!(step(&mut decoder, 1, 2000, (1, 0)), (0, 0));
        assert_eq!(
            step(&mut decoder, 3, 3000, (3, 0)),
            (1, 1),
            "counting again"
        );
        // Uptime back by less than the slack, sequence far back: a restart too.
        assert_eq!(
            step(&mut decoder, 3_000_000, 3000, (3_000_000, 0)),
            (0, 0),
            "jump ahead"
        );
        assert_eq!(step(&mut decoder, 10, 2500, (10, 0)), (0, 0), "far back");
        assert_eq!(step(&mut decoder, 11, 2600, (11, 0)), (0, 0));
        // A restarted agent whose new sequence happens to be ahead: the uptime tells.
        step(&mut decoder, 12, 900_000, (12, 0));
        assert_eq!(step(&mut decoder, 50, 100, (50, 0)), (0, 0));
    }

    #[test]
    fn streams_are_per_exporter_agent_sub_agent_and_source() {
        let mut decoder = SflowDecoder::new(DecodeOptions::default());
        let frame = ethernet_udp();
        let bytes = |sequence: u32, source: u32| {
            datagram(
                AGENT,
                sequence,
                1,
                &[flow_sample(
                    sequence,
                    source,
                    1,
                    0,
                    &[raw_header(1, 104, 4, &frame)],
                )],
            )
        };
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        run(&mut decoder, EXPORTER, &bytes(10, 1));
        let (_, _, summary) = run(&mut decoder, other, &bytes(20, 2));
        assert_eq!((summary.lost_datagrams, summary.lost_records), (0, 0));
        let (_, _, summary) = run(&mut decoder, EXPORTER, &bytes(12, 2));
        assert_eq!(
            (summary.lost_datagrams, summary.lost_records),
            (1, 0),
            "source 2 is new here"
        );
        assert_eq!(decoder.tracked_streams(), 5);
    }

    #[test]
    fn the_stream_table_never_grows_and_keeps_the_recent_agents() {
        let mut decoder = SflowDecoder::with_capacity(DecodeOptions::default(), 8);
        assert_eq!(decoder.capacity(), 8);
        let at = |n: u32| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n));
        let bytes = |agent: IpAddr, sequence: u32| datagram(agent, sequence, 1, &[]);
        for n in 0..100 {
            run(&mut decoder, EXPORTER, &bytes(at(n), 1));
            assert!(decoder.tracked_streams() <= 8);
        }
        // The most recent agents are still known: their gaps count.
        for n in 92..100 {
            let (_, _, summary) = run(&mut decoder, EXPORTER, &bytes(at(n), 3));
            assert_eq!(summary.lost_datagrams, 1);
        }
        // An evicted one starts afresh.
        let (_, _, summary) = run(&mut decoder, EXPORTER, &bytes(at(0), 3));
        assert_eq!(summary.lost_datagrams, 0);
        assert_eq!(decoder.tracked_streams(), 8);
        let big = SflowDecoder::new(DecodeOptions::default());
        assert_eq!(big.capacity(), DEFAULT_STREAMS);
        for (asked, got) in [(0, 8), (9, 16), (100, 128)] {
            assert_eq!(
                SflowDecoder::with_capacity(DecodeOptions::default(), asked).capacity(),
                got
            );
        }
        // What DEFAULT_STREAMS and MAX_STREAMS say an entry costs.
        assert!(
            std::mem::size_of::<Option<Slot>>() <= 80,
            "{}",
            std::mem::size_of::<Option<Slot>>()
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn random_bytes_never_panic(
            datagrams in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..4),
        ) {
            let mut decoder = SflowDecoder::with_capacity(DecodeOptions { decap: true }, 8);
            for bytes in datagrams {
                let (flows, counters, summary) = run(&mut decoder, EXPORTER, &bytes);
                prop_assert!(flows.len() * MIN_FLOW_SAMPLE_LEN <= bytes.len());
                prop_assert!(counters.len() * MIN_COUNTERS_LEN <= bytes.len());
                prop_assert!(summary.malformed.is_none_or(|l| MALFORMED_LABELS.contains(&l)));
            }
        }

        /// A valid datagram with a few words overwritten and a random cut reaches every
        /// branch, where purely random bytes stop at the version.
        #[test]
        fn damaged_valid_datagrams_never_panic(
            edits in prop::collection::vec((0usize..600, any::<u32>()), 0..6),
            cut in 0usize..700,
        ) {
            let mut bytes = everything();
            for (at, word) in edits {
                let at = at / 4 * 4;
                if let Some(slot) = bytes.get_mut(at..at + 4) {
                    slot.copy_from_slice(&word.to_be_bytes());
                }
            }
            bytes.truncate(cut);
            let mut decoder = SflowDecoder::with_capacity(DecodeOptions::default(), 8);
            for _ in 0..2 {
                let (flows, counters, summary) = run(&mut decoder, EXPORTER, &bytes);
                prop_assert!(flows.len() <= 3 && counters.len() * MIN_COUNTERS_LEN <= bytes.len());
                prop_assert!(flows.len() * MIN_FLOW_SAMPLE_LEN <= bytes.len());
                prop_assert_eq!(summary.records, flows.len() as u64);
            }
        }
    }
}
