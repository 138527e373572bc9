//! Fuzzes `hhmon::telemetry::netflow` with several datagrams in a row through one decoder, so
//! that templates and options learned from one are used by the next. The input is a list of
//! datagrams, each `[exporter selector, arrival step, length (2 bytes, big-endian), bytes]`
//! (the last one takes what is left). Beyond not panicking: the summary counts exactly the
//! records handed out, every record carries a rate of at least 1 and counters that are
//! multiples of it, ports only for the protocols that have them, a `malformed` label from the
//! fixed set, and the decoder stays within its caps.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use hhmon::telemetry::netflow::{Limits, NetflowDecoder};
use libfuzzer_sys::fuzz_target;

/// Small caps, so that inputs reach them.
const LIMITS: Limits = Limits {
    exporters: 3,
    templates: 8,
    templates_per_exporter: 5,
    fields_per_template: 32,
    samplers_per_exporter: 4,
    domains_per_exporter: 3,
    template_lifetime_nanos: 60_000_000_000,
};

const LABELS: &[&str] = &[
    "truncated",
    "bad_version",
    "bad_length",
    "bad_set_length",
    "bad_template",
    "exporter_table_full",
    "template_table_full",
];

fuzz_target!(|input: &[u8]| {
    let mut decoder = NetflowDecoder::new(LIMITS);
    let mut now: u64 = 1_700_000_000_000_000_000;
    let mut rest = input;
    while let [selector, step, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (datagram, next) = tail.split_at(len);
        rest = next;
        let exporter = IpAddr::V4(Ipv4Addr::new(192, 0, 2, selector % 5));
        // Steps of up to 255 s: the 60 s template lifetime and the sweeps are reached.
        now += u64::from(*step) * 1_000_000_000;
        let mut records = 0u64;
        let summary = decoder.decode(exporter, datagram, now, &mut |record| {
            records += 1;
            let rate = u64::from(record.sampling_rate);
            assert!(rate >= 1);
            assert!(record.packets % rate == 0 || record.packets == u64::MAX);
            assert!(record.bytes % rate == 0 || record.bytes == u64::MAX);
            if !matches!(record.key.protocol, 6 | 17 | 33 | 132 | 136) {
                assert_eq!((record.key.src_port, record.key.dst_port), (0, 0));
            }
        });
        assert_eq!(summary.records, records);
        if let Some(label) = summary.malformed {
            assert!(LABELS.contains(&label), "{label}");
        }
        assert!(decoder.templates() <= LIMITS.templates);
        assert!(decoder.exporters() <= LIMITS.exporters);
    }
});
