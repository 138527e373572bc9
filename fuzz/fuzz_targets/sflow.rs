//! Fuzzes `hhmon::telemetry::sflow`: the input's first byte picks the decode options, the
//! exporter and how many pieces the rest is cut into; the decoder (with a small stream table,
//! so eviction happens) is fed the whole rest, then each piece, then the whole rest again, so
//! the sequence state one datagram leaves is what the next one meets.
//!
//! Beyond not panicking (or looping: each input must finish), every datagram must keep the
//! decoder's bounds: no more flows or counters than its length allows, as many records as
//! flows, each flow scaled by a non-zero sampling rate, losses bounded by the sequence-gap
//! rule, a label from the fixed set, the stream table within its capacity, and a header that
//! `DatagramHeader::read` rejects giving nothing at all.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hhmon::decode::DecodeOptions;
use hhmon::telemetry::sflow::{
    DatagramHeader, SflowDecoder, MALFORMED_LABELS, MAX_SEQUENCE_GAP, MIN_COUNTERS_LEN,
    MIN_FLOW_SAMPLE_LEN,
};
use hhmon::telemetry::{FlowRecord, InterfaceCounters};
use libfuzzer_sys::fuzz_target;

/// Streams the fuzzed decoder tracks: small, so that a few agents and sources evict.
const STREAMS: usize = 16;

/// The fewest bytes a flow sample whose sequence number is read takes: its format and length
/// (8) and the compact fields up to the record count (32).
const MIN_SEQUENCED_SAMPLE_LEN: u64 = 40;

const EXPORTERS: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
];

fuzz_target!(|input: &[u8]| {
    let Some((&selector, rest)) = input.split_first() else {
        return;
    };
    let options = DecodeOptions {
        decap: selector & 1 == 1,
    };
    let exporter = EXPORTERS[usize::from(selector >> 1 & 1)];
    let pieces = usize::from(selector >> 2 & 3) + 1;
    let piece_len = rest.len().div_ceil(pieces).max(1);
    let mut decoder = SflowDecoder::with_capacity(options, STREAMS);
    let datagrams = std::iter::once(rest)
        .chain(rest.chunks(piece_len))
        .chain(std::iter::once(rest));
    for (arrival, datagram) in (1u64..).zip(datagrams) {
        let mut flows = 0usize;
        let mut counters = 0usize;
        let summary = decoder.decode(
            exporter,
            datagram,
            arrival,
            &mut |flow: &FlowRecord| {
                flows += 1;
                assert!(flow.sampling_rate > 0);
                assert_eq!(flow.packets, u64::from(flow.sampling_rate));
                assert_eq!(flow.bytes % u64::from(flow.sampling_rate), 0);
                assert_eq!(flow.time_nanos, arrival);
            },
            &mut |_: &InterfaceCounters| counters += 1,
        );
        let len = datagram.len();
        assert!(flows * MIN_FLOW_SAMPLE_LEN <= len);
        assert!(counters * MIN_COUNTERS_LEN <= len);
        assert_eq!(summary.records, flows as u64);
        assert_eq!(summary.template_misses, 0);
        if let Some(label) = summary.malformed {
            assert!(MALFORMED_LABELS.contains(&label), "{label}");
        }
        assert!(summary.lost_datagrams < u64::from(MAX_SEQUENCE_GAP));
        let sequenced = len as u64 / MIN_SEQUENCED_SAMPLE_LEN;
        assert!(summary.lost_records <= sequenced * 2 * u64::from(MAX_SEQUENCE_GAP));
        assert!(decoder.tracked_streams() <= decoder.capacity());
        if let Err(label) = DatagramHeader::read(datagram) {
            assert_eq!(summary.malformed, Some(label));
            assert_eq!((flows, counters, summary.lost_datagrams), (0, 0, 0));
        }
    }
});
