//! Unit tests of the NetFlow v5, v9 and IPFIX decoder, on hand-built datagrams.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Limits, NetflowDecoder};
use crate::telemetry::{DatagramSummary, FlowRecord};

const EXPORTER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const SECS: u32 = 1_700_000_000;
const UPTIME_MS: u32 = 100_000;
const NOW: u64 = SECS as u64 * 1_000_000_000;
const SEC: u64 = 1_000_000_000;

fn run(
    decoder: &mut NetflowDecoder,
    datagram: &[u8],
    now: u64,
) -> (Vec<FlowRecord>, DatagramSummary) {
    run_from(decoder, EXPORTER, datagram, now)
}

fn run_from(
    decoder: &mut NetflowDecoder,
    exporter: IpAddr,
    datagram: &[u8],
    now: u64,
) -> (Vec<FlowRecord>, DatagramSummary) {
    let mut records = Vec::new();
    let summary = decoder.decode(exporter, datagram, now, &mut |r| records.push(*r));
    assert!(summary.records == records.len() as u64, "{summary:?}");
    (records, summary)
}

fn decoder() -> NetflowDecoder {
    NetflowDecoder::new(Limits::default())
}

fn ip4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

/// A v5 record: source, destination, ports, protocol, packets, bytes, LAST uptime.
type V5 = ([u8; 4], [u8; 4], u16, u16, u8, u32, u32, u32);

fn v5(sequence: u32, sampling: u16, records: &[V5]) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend(5u16.to_be_bytes());
    d.extend((records.len() as u16).to_be_bytes());
    d.extend(UPTIME_MS.to_be_bytes());
    d.extend(SECS.to_be_bytes());
    d.extend(0u32.to_be_bytes());
    d.extend(sequence.to_be_bytes());
    d.extend([0, 1]);
    d.extend(sampling.to_be_bytes());
    for &(src, dst, sport, dport, proto, packets, bytes, last) in records {
        d.extend(src);
        d.extend(dst);
        d.extend([0; 4]); // next hop
        d.extend([0; 4]); // input, output
        d.extend(packets.to_be_bytes());
        d.extend(bytes.to_be_bytes());
        d.extend(last.saturating_sub(1000).to_be_bytes());
        d.extend(last.to_be_bytes());
        d.extend(sport.to_be_bytes());
        d.extend(dport.to_be_bytes());
        d.extend([0, 0x10, proto, 0]);
        d.extend([0; 4]); // AS numbers
        d.extend([24, 24, 0, 0]);
    }
    d
}

fn set(id: u16, body: &[u8]) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend(id.to_be_bytes());
    s.extend(((body.len() + 4) as u16).to_be_bytes());
    s.extend(body);
    s
}

fn v9(sequence: u32, source: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend(9u16.to_be_bytes());
    d.extend((sets.len() as u16).to_be_bytes());
    d.extend(UPTIME_MS.to_be_bytes());
    d.extend(SECS.to_be_bytes());
    d.extend(sequence.to_be_bytes());
    d.extend(source.to_be_bytes());
    for s in sets {
        d.extend(s);
    }
    d
}

fn ipfix(sequence: u32, domain: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let len: usize = 16 + sets.iter().map(Vec::len).sum::<usize>();
    let mut d = Vec::new();
    d.extend(10u16.to_be_bytes());
    d.extend((len as u16).to_be_bytes());
    d.extend(SECS.to_be_bytes());
    d.extend(sequence.to_be_bytes());
    d.extend(domain.to_be_bytes());
    for s in sets {
        d.extend(s);
    }
    d
}

/// A template record: ID, then (field id, length) pairs; an id with the high bit set takes
/// the enterprise number 9 after it.
fn template(id: u16, fields: &[(u16, u16)]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend(id.to_be_bytes());
    t.extend((fields.len() as u16).to_be_bytes());
    for &(field, len) in fields {
        t.extend(field.to_be_bytes());
        t.extend(len.to_be_bytes());
        if field & 0x8000 != 0 {
            t.extend(9u32.to_be_bytes());
        }
    }
    t
}

/// The IPv4 flow template: src, dst, sport, dport, protocol, packets (4), bytes (8), LAST.
const FLOW4: &[(u16, u16)] = &[
    (8, 4),
    (12, 4),
    (7, 2),
    (11, 2),
    (4, 1),
    (2, 4),
    (1, 8),
    (21, 4),
];

fn flow4(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    packets: u32,
    bytes: u64,
    last: u32,
) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend(src);
    r.extend(dst);
    r.extend(sport.to_be_bytes());
    r.extend(dport.to_be_bytes());
    r.push(6);
    r.extend(packets.to_be_bytes());
    r.extend(bytes.to_be_bytes());
    r.extend(last.to_be_bytes());
    r
}

#[test]
fn v5_records_are_scaled_by_the_14_bit_interval_and_timed_by_uptime() {
    let mut d = decoder();
    // Mode 1 (two high bits), interval 100.
    let datagram = v5(
        0,
        0x4000 | 100,
        &[
            (
                [10, 0, 0, 1],
                [10, 0, 0, 2],
                1234,
                80,
                6,
                3,
                300,
                UPTIME_MS - 10_000,
            ),
            ([10, 0, 0, 3], [10, 0, 0, 4], 7, 8, 1, 1, 64, UPTIME_MS),
        ],
    );
    let (records, summary) = run(&mut d, &datagram, NOW);
    assert_eq!(summary.malformed, None);
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].key.src, ip4(10, 0, 0, 1));
    assert_eq!(records[0].key.src_port, 1234);
    assert_eq!(records[0].key.dst_port, 80);
    assert_eq!((records[0].packets, records[0].bytes), (300, 30_000));
    assert_eq!(records[0].sampling_rate, 100);
    assert_eq!(records[0].time_nanos, NOW - 10 * SEC);
    // ICMP: no ports in the key.
    assert_eq!((records[1].key.src_port, records[1].key.dst_port), (0, 0));
    assert_eq!(records[1].time_nanos, NOW);
}

#[test]
fn v5_sequence_counts_records_and_survives_restart_and_reordering() {
    let mut d = decoder();
    let one = [([1, 1, 1, 1], [2, 2, 2, 2], 1, 2, 17, 1, 10, UPTIME_MS)];
    let lost = |d: &mut NetflowDecoder, seq: u32| run(d, &v5(seq, 0, &one), NOW).1.lost_records;
    assert_eq!(lost(&mut d, 1000), 0); // first: no state
    assert_eq!(lost(&mut d, 1001), 0);
    assert_eq!(lost(&mut d, 1012), 10);
    assert_eq!(lost(&mut d, 1005), 0); // late: state unchanged
    assert_eq!(lost(&mut d, 1013), 0);
    assert_eq!(lost(&mut d, 3), 0); // restart
    assert_eq!(lost(&mut d, 4), 0);
    assert_eq!(lost(&mut d, 4_000_000_000), 0); // jump beyond the gap limit
    assert_eq!(lost(&mut d, 4_000_000_001), 0);
    // Wrapping past 2^32.
    assert_eq!(lost(&mut d, u32::MAX), 0);
    assert_eq!(lost(&mut d, 1), 1);
}

#[test]
fn v5_truncated_keeps_the_records_read() {
    let mut d = decoder();
    let r = ([1, 1, 1, 1], [2, 2, 2, 2], 1, 2, 17, 1, 10, UPTIME_MS);
    let datagram = v5(0, 0, &[r, r, r]);
    let (records, summary) = run(&mut d, &datagram[..datagram.len() - 1], NOW);
    assert_eq!(records.len(), 2);
    assert_eq!(summary.malformed, Some("truncated"));
}

#[test]
fn v9_data_before_its_template_is_a_miss_then_decodes() {
    let mut d = decoder();
    let data = set(
        256,
        &flow4(
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            1000,
            443,
            5,
            5000,
            UPTIME_MS - 2000,
        ),
    );
    let (records, summary) = run(&mut d, &v9(0, 7, std::slice::from_ref(&data)), NOW);
    assert!(records.is_empty());
    assert_eq!(summary.template_misses, 1);
    assert_eq!(summary.malformed, None);
    let (records, summary) = run(
        &mut d,
        &v9(1, 7, &[set(0, &template(256, FLOW4)), data]),
        NOW,
    );
    assert_eq!(summary.template_misses, 0);
    assert_eq!(summary.lost_datagrams, 0);
    assert_eq!(records.len(), 1);
    let r = records[0];
    assert_eq!((r.key.src, r.key.dst), (ip4(10, 0, 0, 1), ip4(10, 0, 0, 2)));
    assert_eq!(
        (r.key.src_port, r.key.dst_port, r.key.protocol),
        (1000, 443, 6)
    );
    assert_eq!((r.packets, r.bytes, r.sampling_rate), (5, 5000, 1));
    assert_eq!(r.time_nanos, NOW - 2 * SEC);
    // Another source ID of the same exporter has its own templates.
    let data = set(256, &flow4([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 1, 1, 0));
    assert_eq!(run(&mut d, &v9(0, 8, &[data]), NOW).1.template_misses, 1);
}

#[test]
fn v9_sequence_counts_datagrams_per_source_id() {
    let mut d = decoder();
    let tpl = set(0, &template(256, FLOW4));
    assert_eq!(
        run(&mut d, &v9(10, 1, std::slice::from_ref(&tpl)), NOW)
            .1
            .lost_datagrams,
        0
    );
    assert_eq!(
        run(&mut d, &v9(11, 1, std::slice::from_ref(&tpl)), NOW)
            .1
            .lost_datagrams,
        0
    );
    assert_eq!(
        run(&mut d, &v9(500, 2, std::slice::from_ref(&tpl)), NOW)
            .1
            .lost_datagrams,
        0
    );
    assert_eq!(
        run(&mut d, &v9(15, 1, std::slice::from_ref(&tpl)), NOW)
            .1
            .lost_datagrams,
        3
    );
    assert_eq!(run(&mut d, &v9(501, 2, &[tpl]), NOW).1.lost_datagrams, 0);
}

/// A v9 options template (ID 300): System scope, FLOW_SAMPLER_ID, SAMPLING_INTERVAL.
fn v9_options_template() -> Vec<u8> {
    let mut t = Vec::new();
    t.extend(300u16.to_be_bytes());
    t.extend(4u16.to_be_bytes()); // scope length
    t.extend(8u16.to_be_bytes()); // option length
    t.extend([0, 1, 0, 4]); // System, 4 bytes
    t.extend([0, 48, 0, 2]);
    t.extend([0, 34, 0, 4]);
    set(1, &t)
}

fn v9_options(samplers: &[(u16, u32)]) -> Vec<u8> {
    let mut body = Vec::new();
    for &(id, rate) in samplers {
        // A scope value that would read as 2^32 - 1 bytes if it were taken for IN_BYTES.
        body.extend([0xff; 4]);
        body.extend(id.to_be_bytes());
        body.extend(rate.to_be_bytes());
    }
    body.extend([0, 0]); // padding
    set(300, &body)
}

#[test]
fn v9_options_give_each_sampler_its_rate_and_a_default() {
    let mut d = decoder();
    let fields: Vec<(u16, u16)> = FLOW4.iter().copied().chain([(48, 1)]).collect();
    let record = |sampler: u8, src: u8| {
        let mut r = flow4([10, 0, 0, src], [10, 0, 0, 9], 1, 2, 2, 100, UPTIME_MS);
        r.push(sampler);
        r
    };
    let datagram = v9(
        0,
        0,
        &[
            v9_options_template(),
            set(0, &template(256, &fields)),
            v9_options(&[(1, 2000), (2, 4000)]),
            set(
                256,
                &[record(1, 1), record(2, 2), record(3, 3), record(0, 4)].concat(),
            ),
        ],
    );
    let (records, summary) = run(&mut d, &datagram, NOW);
    assert_eq!(summary.malformed, None);
    let rates: Vec<(u32, u64, u64)> = records
        .iter()
        .map(|r| (r.sampling_rate, r.packets, r.bytes))
        .collect();
    assert_eq!(
        rates,
        [
            (2000, 4000, 200_000),
            (4000, 8000, 400_000),
            (1, 2, 100),
            (1, 2, 100)
        ]
    );
    // An options record naming no sampler sets the default for the others.
    let datagram = v9(
        1,
        0,
        &[
            v9_options(&[(0, 50)]),
            set(256, &[record(1, 1), record(3, 3)].concat()),
        ],
    );
    let (records, _) = run(&mut d, &datagram, NOW);
    let rates: Vec<u32> = records.iter().map(|r| r.sampling_rate).collect();
    assert_eq!(rates, [2000, 50]);
}

#[test]
fn a_sampling_interval_in_the_data_record_applies_to_it() {
    let mut d = decoder();
    let fields: Vec<(u16, u16)> = FLOW4.iter().copied().chain([(34, 4), (35, 1)]).collect();
    let mut r = flow4([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 1, 160, UPTIME_MS);
    r.extend(2048u32.to_be_bytes());
    r.push(2);
    let datagram = v9(0, 0, &[set(0, &template(256, &fields)), set(256, &r)]);
    let (records, _) = run(&mut d, &datagram, NOW);
    assert_eq!(
        (records[0].sampling_rate, records[0].bytes),
        (2048, 160 * 2048)
    );
}

/// IPFIX template 400: IPv6 addresses, ports, protocol, octetTotalCount, packetTotalCount,
/// flowEndMilliseconds.
const FLOW6: &[(u16, u16)] = &[
    (27, 16),
    (28, 16),
    (7, 2),
    (11, 2),
    (4, 1),
    (85, 8),
    (86, 8),
    (153, 8),
];

fn flow6(src: u16, bytes: u64, end_ms: u64) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, src).octets());
    r.extend(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xffff).octets());
    r.extend(53u16.to_be_bytes());
    r.extend(5353u16.to_be_bytes());
    r.push(17);
    r.extend(bytes.to_be_bytes());
    r.extend(1u64.to_be_bytes());
    r.extend(end_ms.to_be_bytes());
    r
}

#[test]
fn ipfix_totals_end_time_and_record_sequence() {
    let mut d = decoder();
    let end_ms = NOW / 1_000_000 - 1500;
    let datagram = ipfix(
        100,
        3,
        &[
            set(2, &template(400, FLOW6)),
            set(400, &[flow6(1, 80, end_ms), flow6(2, 90, end_ms)].concat()),
        ],
    );
    let (records, summary) = run(&mut d, &datagram, NOW);
    assert_eq!(summary.malformed, None);
    assert_eq!(records.len(), 2);
    assert_eq!(
        records[0].key.src,
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))
    );
    assert_eq!((records[0].packets, records[0].bytes), (1, 80));
    assert_eq!(records[0].time_nanos, NOW - 1_500_000_000);
    // The sequence counts data records: the next message should say 102.
    let data = set(400, &flow6(3, 1, end_ms));
    assert_eq!(
        run(&mut d, &ipfix(102, 3, std::slice::from_ref(&data)), NOW)
            .1
            .lost_records,
        0
    );
    assert_eq!(
        run(&mut d, &ipfix(110, 3, std::slice::from_ref(&data)), NOW)
            .1
            .lost_records,
        7
    );
    // A data set without its template makes the count unknown: the next one resyncs.
    let unknown = set(999, &[0; 8]);
    assert_eq!(
        run(&mut d, &ipfix(111, 3, &[unknown, data.clone()]), NOW)
            .1
            .template_misses,
        1
    );
    assert_eq!(run(&mut d, &ipfix(500, 3, &[data]), NOW).1.lost_records, 0);
}

#[test]
fn an_exporter_numbering_messages_after_their_own_records_loses_nothing_in_order() {
    // softflowd's IPFIX: each message carries the records sent up to and including its own.
    let mut d = decoder();
    let end_ms = NOW / 1_000_000;
    let records = |n: u16| {
        set(
            400,
            &(0..n)
                .map(|i| flow6(i, 1, end_ms))
                .collect::<Vec<_>>()
                .concat(),
        )
    };
    let first = ipfix(3, 3, &[set(2, &template(400, FLOW6)), records(3)]);
    assert_eq!(run(&mut d, &first, NOW).1.lost_records, 0);
    let mut sequence = 3;
    for n in [5, 2, 5, 5, 1] {
        sequence += u32::from(n);
        let (_, summary) = run(&mut d, &ipfix(sequence, 3, &[records(n)]), NOW);
        assert_eq!(summary.lost_records, 0, "message of {n} at {sequence}");
    }
    // A lost message of 4 records shows as a gap of 4.
    sequence += 4 + 2;
    assert_eq!(
        run(&mut d, &ipfix(sequence, 3, &[records(2)]), NOW)
            .1
            .lost_records,
        4
    );
}

#[test]
fn ipfix_withdrawal_of_one_and_of_all() {
    let mut d = decoder();
    let defs = set(2, &[template(400, FLOW6), template(401, FLOW6)].concat());
    run(&mut d, &ipfix(0, 1, std::slice::from_ref(&defs)), NOW);
    assert_eq!(d.templates(), 2);
    let data = |id| set(id, &flow6(1, 1, 0));
    // Withdraw 400: field count 0.
    let (_, summary) = run(
        &mut d,
        &ipfix(0, 1, &[set(2, &template(400, &[])), data(400), data(401)]),
        NOW,
    );
    assert_eq!((summary.template_misses, summary.records), (1, 1));
    assert_eq!(d.templates(), 1);
    // Withdraw all data templates of the domain: ID 2.
    run(&mut d, &ipfix(0, 1, &[defs]), NOW);
    let (_, summary) = run(
        &mut d,
        &ipfix(0, 1, &[set(2, &template(2, &[])), data(400), data(401)]),
        NOW,
    );
    assert_eq!(summary.template_misses, 2);
    assert_eq!(d.templates(), 0);
    assert_eq!(summary.malformed, None);
}

#[test]
fn templates_expire_unless_refreshed() {
    let mut d = decoder();
    let def = ipfix(0, 1, &[set(2, &template(400, FLOW6))]);
    let data = ipfix(0, 1, &[set(400, &flow6(1, 1, 0))]);
    run(&mut d, &def, NOW);
    assert_eq!(run(&mut d, &data, NOW + 29 * 60 * SEC).1.records, 1);
    run(&mut d, &def, NOW + 20 * 60 * SEC);
    assert_eq!(run(&mut d, &data, NOW + 49 * 60 * SEC).1.records, 1);
    let (_, summary) = run(&mut d, &data, NOW + 51 * 60 * SEC);
    assert_eq!((summary.records, summary.template_misses), (0, 1));
    assert_eq!(d.templates(), 0);
}

#[test]
fn a_new_definition_replaces_the_old() {
    let mut d = decoder();
    run(&mut d, &ipfix(0, 1, &[set(2, &template(400, FLOW6))]), NOW);
    // The same ID, now IPv4 with a variable-length field first.
    let fields: Vec<(u16, u16)> = [(82, 65535)]
        .into_iter()
        .chain(FLOW4.iter().copied())
        .collect();
    let mut r = vec![3, b'e', b't', b'h'];
    r.extend(flow4([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 7, 700, 0));
    let (records, summary) = run(
        &mut d,
        &ipfix(0, 1, &[set(2, &template(400, &fields)), set(400, &r)]),
        NOW,
    );
    assert_eq!(summary.malformed, None);
    assert_eq!(records[0].key.src, ip4(10, 0, 0, 1));
    assert_eq!(records[0].packets, 7);
    assert_eq!(d.templates(), 1);
}

#[test]
fn variable_length_and_enterprise_fields_are_skipped() {
    let mut d = decoder();
    // An enterprise field of 4 bytes, a short and a long variable-length field, a variable
    // enterprise field, then the flow.
    let fields: Vec<(u16, u16)> = [
        (0x8000 | 8, 4),
        (82, 65535),
        (83, 65535),
        (0x8000 | 12, 65535),
    ]
    .into_iter()
    .chain(FLOW4.iter().copied())
    .collect();
    let mut r = vec![9, 9, 9, 9];
    r.extend([2, b'x', b'y']);
    r.push(255);
    r.extend(300u16.to_be_bytes());
    r.extend([b'z'; 300]);
    r.extend([0]);
    r.extend(flow4([10, 1, 1, 1], [10, 2, 2, 2], 5, 6, 1, 42, 0));
    let datagram = ipfix(
        0,
        1,
        &[
            set(2, &template(500, &fields)),
            set(500, &[r.clone(), r].concat()),
        ],
    );
    let (records, summary) = run(&mut d, &datagram, NOW);
    assert_eq!(summary.malformed, None);
    assert_eq!(records.len(), 2);
    assert_eq!(
        (records[1].key.src, records[1].key.dst),
        (ip4(10, 1, 1, 1), ip4(10, 2, 2, 2))
    );
    assert_eq!(records[1].bytes, 42);
}

/// IPFIX options template 600: scope selectorId (302), then the given fields.
fn ipfix_options_template(fields: &[(u16, u16)]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend(600u16.to_be_bytes());
    t.extend((fields.len() as u16 + 1).to_be_bytes());
    t.extend(1u16.to_be_bytes());
    t.extend([1, 46, 0, 2]); // 302, 2 bytes
    for &(id, len) in fields {
        t.extend(id.to_be_bytes());
        t.extend(len.to_be_bytes());
    }
    set(3, &t)
}

#[test]
fn ipfix_packet_interval_space_and_size_population_rates() {
    let mut d = decoder();
    let fields: Vec<(u16, u16)> = FLOW4.iter().copied().chain([(302, 2)]).collect();
    let options = ipfix_options_template(&[(305, 4), (306, 4), (309, 4), (310, 4)]);
    let mut opts = Vec::new();
    // Selector 1: 1 packet in every 10 (interval 1, space 9).
    opts.extend([0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0]);
    // Selector 2: 2 of every 512.
    opts.extend([0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 2, 0]);
    let rec = |sel: u8| {
        let mut r = flow4([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 1, 100, 0);
        r.extend([0, sel]);
        r
    };
    let datagram = ipfix(
        0,
        1,
        &[
            options,
            set(2, &template(400, &fields)),
            set(600, &opts),
            set(400, &[rec(1), rec(2)].concat()),
        ],
    );
    let (records, summary) = run(&mut d, &datagram, NOW);
    assert_eq!(summary.malformed, None);
    let rates: Vec<u32> = records.iter().map(|r| r.sampling_rate).collect();
    assert_eq!(rates, [10, 256]);
    assert_eq!(records[1].bytes, 25_600);
}

#[test]
fn ipfix_uptime_times_use_system_init_time() {
    let mut d = decoder();
    let init_ms = NOW / 1_000_000 - 3_600_000;
    let fields = [(8, 4), (12, 4), (1, 4), (21, 4), (160, 8)];
    let mut r = vec![1, 1, 1, 1, 2, 2, 2, 2, 0, 0, 0, 9];
    r.extend(1_000u32.to_be_bytes());
    r.extend(init_ms.to_be_bytes());
    let (records, _) = run(
        &mut d,
        &ipfix(0, 1, &[set(2, &template(400, &fields)), set(400, &r)]),
        NOW,
    );
    assert_eq!(records[0].time_nanos, (init_ms + 1000) * 1_000_000);
    assert_eq!((records[0].packets, records[0].bytes), (0, 9));
}

#[test]
fn malformed_sets_and_templates_are_labelled_and_stop_safely() {
    let mut d = decoder();
    // A set of length 0 would loop forever if taken at its word.
    let mut bad = ipfix(0, 1, &[]);
    bad.extend([1, 0, 0, 0]);
    bad[3] = 20;
    assert_eq!(run(&mut d, &bad, NOW).1.malformed, Some("bad_set_length"));
    // A template whose records would be empty.
    let zero = set(2, &template(400, &[(8, 0), (12, 0)]));
    assert_eq!(
        run(&mut d, &ipfix(0, 1, &[zero]), NOW).1.malformed,
        Some("bad_template")
    );
    // More fields than the cap.
    let many: Vec<(u16, u16)> = (0..300).map(|_| (1, 1)).collect();
    let long = set(2, &template(400, &many));
    assert_eq!(
        run(&mut d, &ipfix(0, 1, &[long]), NOW).1.malformed,
        Some("bad_template")
    );
    assert_eq!(
        run(&mut d, &[0, 7, 1, 2], NOW).1.malformed,
        Some("bad_version")
    );
    assert_eq!(run(&mut d, &[0], NOW).1.malformed, Some("truncated"));
    let mut short = ipfix(0, 1, &[]);
    short[3] = 8;
    assert_eq!(run(&mut d, &short, NOW).1.malformed, Some("bad_length"));
    assert_eq!(d.templates(), 0);
}

/// Datagrams that exercise every path: templates, options, data, v5.
fn corpus() -> Vec<Vec<u8>> {
    let fields: Vec<(u16, u16)> = [(0x8000 | 8, 65535), (82, 65535)]
        .into_iter()
        .chain(FLOW4.iter().copied())
        .chain([(302, 2)])
        .collect();
    let mut r = vec![2, 0, 0, 1, b'x'];
    r.extend(flow4([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 1, 100, 0));
    r.extend([0, 1]);
    let options = ipfix_options_template(&[(305, 4), (306, 4)]);
    let opts = [0, 1, 0, 0, 0, 1, 0, 0, 0, 9];
    vec![
        v5(
            0,
            10,
            &[([1, 1, 1, 1], [2, 2, 2, 2], 1, 2, 17, 1, 10, UPTIME_MS); 3],
        ),
        v9(
            0,
            0,
            &[
                v9_options_template(),
                set(0, &template(256, FLOW4)),
                v9_options(&[(1, 2000)]),
                set(
                    256,
                    &flow4([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 2, 100, UPTIME_MS),
                ),
            ],
        ),
        ipfix(
            0,
            1,
            &[
                options,
                set(2, &template(400, &fields)),
                set(600, &opts),
                set(400, &[r.clone(), r].concat()),
            ],
        ),
    ]
}

#[test]
fn truncation_at_every_byte_never_panics_and_keeps_earlier_records() {
    for datagram in corpus() {
        let mut full = decoder();
        let whole = run(&mut full, &datagram, NOW).0.len();
        assert!(whole > 0);
        for cut in 0..datagram.len() {
            // Once on a fresh decoder, once with the templates known.
            for warm in [false, true] {
                let mut d = decoder();
                if warm {
                    run(&mut d, &datagram, NOW);
                }
                let (records, summary) = run(&mut d, &datagram[..cut], NOW);
                assert!(records.len() <= whole, "cut {cut}");
                // A v9 datagram cut between flowsets looks whole: its header has no length, and
                // its record count is not trusted (exporters get it wrong).
                let v9 = datagram[1] == 9;
                if !v9 && records.len() < whole && summary.template_misses == 0 {
                    assert!(summary.malformed.is_some(), "cut {cut}: {summary:?}");
                }
            }
        }
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    use proptest::prelude::*;
    proptest!(ProptestConfig::with_cases(2000), |(tail in proptest::collection::vec(any::<u8>(), 0..200), version in 0usize..3)| {
        let mut d = decoder();
        let corpus = corpus();
        let mut datagram = corpus[version][..20.min(corpus[version].len())].to_vec();
        datagram.extend(&tail);
        run(&mut d, &corpus[version], NOW);
        run(&mut d, &datagram, NOW);
    });
}

#[test]
fn exporters_beyond_the_cap_are_refused_until_one_goes_idle() {
    let limits = Limits {
        exporters: 2,
        ..Limits::default()
    };
    let mut d = NetflowDecoder::new(limits);
    let datagram = &corpus()[0];
    for last in 1..=2 {
        assert_eq!(
            run_from(&mut d, ip4(10, 9, 9, last), datagram, NOW)
                .1
                .malformed,
            None
        );
    }
    let (records, summary) = run_from(&mut d, ip4(10, 9, 9, 3), datagram, NOW);
    assert_eq!(
        (records.len(), summary.malformed),
        (0, Some("exporter_table_full"))
    );
    assert_eq!(d.exporters(), 2);
    // An hour later the two are idle and have no templates: the newcomer gets a place.
    let later = NOW + 3600 * SEC;
    assert_eq!(
        run_from(&mut d, ip4(10, 9, 9, 3), datagram, later)
            .1
            .malformed,
        None
    );
}

#[test]
fn an_exporter_only_evicts_its_own_templates() {
    let limits = Limits {
        templates: 4,
        templates_per_exporter: 3,
        ..Limits::default()
    };
    let mut d = NetflowDecoder::new(limits);
    let hostile = ip4(10, 6, 6, 6);
    let victim = ip4(10, 1, 1, 1);
    run_from(
        &mut d,
        victim,
        &ipfix(0, 1, &[set(2, &template(400, FLOW6))]),
        NOW,
    );
    for id in 500..520u16 {
        let (_, summary) = run_from(
            &mut d,
            hostile,
            &ipfix(0, 1, &[set(2, &template(id, FLOW6))]),
            NOW + u64::from(id),
        );
        assert_eq!(summary.malformed, None);
    }
    assert_eq!(d.templates(), 4);
    // The hostile exporter's last three templates are the ones it kept.
    let data = |id| ipfix(0, 1, &[set(id, &flow6(1, 1, 0))]);
    assert_eq!(run_from(&mut d, hostile, &data(519), NOW).1.records, 1);
    assert_eq!(
        run_from(&mut d, hostile, &data(516), NOW).1.template_misses,
        1
    );
    assert_eq!(run_from(&mut d, victim, &data(400), NOW).1.records, 1);
    // A third exporter with no templates finds the table full.
    let (_, summary) = run_from(
        &mut d,
        ip4(10, 2, 2, 2),
        &ipfix(0, 1, &[set(2, &template(400, FLOW6))]),
        NOW,
    );
    assert_eq!(summary.malformed, Some("template_table_full"));
    // The victim can still refresh its own.
    let (_, summary) = run_from(
        &mut d,
        victim,
        &ipfix(0, 1, &[set(2, &template(400, FLOW6))]),
        NOW,
    );
    assert_eq!(summary.malformed, None);
}
