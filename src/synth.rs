//! Deterministic synthetic traffic for benchmarks, accuracy and memory tests: Zipf-distributed
//! flows over a client/server address plan, a frame-size mix per flow class, a share of IPv6,
//! an optional fan-in attack (spoofed sources, one victim) and an optional scanner (one source,
//! many destinations), with evenly advancing timestamps. [`write_capture`] writes a pcap and,
//! on request, an exact [`Truth`] file counted while generating.
//!
//! The same configuration always gives the same bytes (on one platform: the Zipf sampler uses
//! `f64` logarithms and exponentials). Frames are built here from the header layouts
//! themselves: this module must not know how hhmon decodes, counts or sketches; it shares only
//! the plain key and report entry types so that its truth reads like a report.

use crate::decode::FlowKey;
use crate::report::{AddressEntry, FlowEntry};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::hash::Hash;
use std::io::{BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// Smallest snap length: holds the largest header stack generated (Ethernet 14 + IPv6 40 +
/// TCP 20), so every captured record still carries its ports.
pub const MIN_SNAPLEN: u32 = 74;
/// Destination of the fan-in attack (TEST-NET-3), port 80.
pub const ATTACK_VICTIM: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
/// Source of the scan (TEST-NET-2); its targets are taken in order from 100.64.0.0/10.
pub const SCANNER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

/// Ethernet frames shorter than this (without FCS) are padded on the wire.
const MIN_FRAME: u32 = 60;
const ETHERNET_HEADER: usize = 14;
const MAX_HEADERS: usize = MIN_SNAPLEN as usize;
const TCP: u8 = 6;
const UDP: u8 = 17;
const TCP_SYN: u8 = 0x02;
const TCP_PSH_ACK: u8 = 0x18;
const TCP_PORTS: [u16; 6] = [443, 80, 22, 8080, 25, 993];
const UDP_PORTS: [u16; 4] = [53, 443, 123, 5353];
const SCAN_PORTS: [u16; 6] = [22, 23, 80, 443, 3389, 8080];
/// Scan targets: 100.64.0.0/10 (2^22 addresses), then the next port.
const SCAN_SPACE: u64 = 1 << 22;
/// Per flow class, twelve equally likely IP packet lengths: interactive flows (mostly
/// 40-byte segments), IMIX flows (the simple IMIX, 7:4:1 of 40, 576 and 1500 bytes) and bulk
/// transfers (mostly full-size). Byte and packet rankings then differ, as on real links.
const CLASS_MIX: [[u16; 12]; 3] = [
    [40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 576, 576],
    [40, 40, 40, 40, 40, 40, 40, 576, 576, 576, 576, 1500],
    [
        40, 40, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500,
    ],
];

/// What to generate. [`Default`] is the benchmark trace of `docs/BENCHMARKS.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthConfig {
    /// Frames to write.
    pub packets: u64,
    /// Distinct Zipf-ranked flows the normal traffic is drawn from.
    pub flows: u64,
    /// Zipf exponent of flow popularity (0 = uniform; 1 = the classic law).
    pub zipf: f64,
    /// Seed of every random choice (flow identities included).
    pub seed: u64,
    /// Share of flows that are IPv6 (decided per flow).
    pub ipv6_share: f64,
    /// Share of packets in the fan-in attack: TCP SYNs to [`ATTACK_VICTIM`], each from a
    /// different spoofed IPv4 source (a bijection of the attack packet's number, so up to 2^32
    /// attack packets are all distinct flows and distinct sources).
    pub attack_share: f64,
    /// Share of packets from the scanner: TCP SYNs from [`SCANNER`], each to the next address.
    pub scan_share: f64,
    /// Trace time advances by `1 / rate` seconds per packet.
    pub rate: u64,
    /// Timestamp of the first packet, Unix seconds.
    pub start_unix: u64,
    /// Bytes captured of each frame (the wire length stays the full frame).
    pub snaplen: u32,
    /// Entries in each top list of the truth.
    pub top: usize,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            packets: 5_000_000,
            flows: 100_000,
            zipf: 1.0,
            seed: 1,
            ipv6_share: 0.1,
            attack_share: 0.0,
            scan_share: 0.0,
            rate: 100_000,
            start_unix: 1_700_000_000,
            snaplen: 128,
            top: 100,
        }
    }
}

impl SynthConfig {
    /// Checks that the configuration describes a trace.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first field out of range.
    pub fn validate(&self) -> Result<(), Error> {
        let share = |value: f64| (0.0..=1.0).contains(&value);
        let problem = if self.flows == 0 && self.attack_share + self.scan_share < 1.0 {
            Some("flows must be at least 1 unless attack and scan make up all packets")
        } else if !(self.zipf.is_finite() && self.zipf >= 0.0) {
            Some("the Zipf exponent must be a finite number >= 0")
        } else if !share(self.ipv6_share) {
            Some("the IPv6 share must lie in [0, 1]")
        } else if !share(self.attack_share) || !share(self.scan_share) {
            Some("the attack and scan shares must lie in [0, 1]")
        } else if self.attack_share + self.scan_share > 1.0 {
            Some("the attack and scan shares must add up to at most 1")
        } else if self.rate == 0 {
            Some("the rate must be at least 1 packet per second")
        } else if !(MIN_SNAPLEN..=65_535).contains(&self.snaplen) {
            Some("the snap length must lie in 74..=65535")
        } else {
            None
        };
        match problem {
            Some(reason) => Err(Error::Config(reason)),
            None => Ok(()),
        }
    }
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is out of range.
    #[error("invalid trace configuration: {0}")]
    Config(&'static str),
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Which part of the traffic a packet belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Traffic {
    /// A Zipf-ranked client/server flow.
    Flow,
    /// The fan-in attack.
    Attack,
    /// The scanner.
    Scan,
}

/// One generated frame, borrowed from the generator until the next one.
#[derive(Debug, Clone, Copy)]
pub struct SynthPacket<'a> {
    /// Capture time, nanoseconds since the Unix epoch.
    pub timestamp_nanos: u64,
    /// Frame length on the wire.
    pub wire_len: u32,
    /// The captured bytes (at most the snap length).
    pub data: &'a [u8],
    /// The five-tuple the frame was built from.
    pub key: FlowKey,
    /// Which part of the traffic it belongs to.
    pub traffic: Traffic,
}

/// The frame generator: a deterministic sequence of [`SynthPacket`]s.
pub struct Generator {
    config: SynthConfig,
    rng: SplitMix64,
    zipf: Zipf,
    /// Mixed into every flow rank, so that the seed also picks the flows' identities.
    salt: u64,
    clients: u64,
    servers: u64,
    emitted: u64,
    attacks: u64,
    scans: u64,
    frame: Vec<u8>,
}

/// A flow's addresses, ports and frame-size class, all derived from its rank.
struct FlowSpec {
    key: FlowKey,
    class: usize,
}

impl Generator {
    /// A generator for `config`.
    ///
    /// # Errors
    /// [`Error::Config`] when the configuration is out of range.
    pub fn new(config: SynthConfig) -> Result<Self, Error> {
        config.validate()?;
        let mut seeds = SplitMix64(config.seed);
        let salt = seeds.next_u64();
        let flows = config.flows.max(1);
        Ok(Self {
            zipf: Zipf::new(flows, config.zipf),
            rng: SplitMix64(seeds.next_u64()),
            salt,
            // A few flows per client, many per server: servers become the top destinations.
            clients: (flows / 4).clamp(1, (1 << 24) - 2),
            servers: (flows / 50).clamp(1, (1 << 20) - 2),
            emitted: 0,
            attacks: 0,
            scans: 0,
            frame: vec![0; config.snaplen as usize],
            config,
        })
    }

    /// The configuration it generates.
    pub fn config(&self) -> &SynthConfig {
        &self.config
    }

    /// The next frame, `None` after [`SynthConfig::packets`] of them.
    pub fn next_packet(&mut self) -> Option<SynthPacket<'_>> {
        if self.emitted >= self.config.packets {
            return None;
        }
        let index = self.emitted;
        self.emitted += 1;
        let draw = self.rng.uniform();
        let (traffic, key, ip_len, flags) = if draw < self.config.attack_share {
            self.attacks += 1;
            let (key, ip_len) = self.attack(self.attacks - 1);
            (Traffic::Attack, key, ip_len, TCP_SYN)
        } else if draw < self.config.attack_share + self.config.scan_share {
            self.scans += 1;
            let (key, ip_len) = self.scan(self.scans - 1);
            (Traffic::Scan, key, ip_len, TCP_SYN)
        } else {
            let rank = self.zipf.sample(&mut self.rng);
            let flow = self.flow(rank);
            let pick = (self.rng.next_u64() >> 32).wrapping_mul(12) >> 32;
            let ip_len = CLASS_MIX[flow.class][pick as usize];
            (Traffic::Flow, flow.key, ip_len, TCP_PSH_ACK)
        };
        let ip_len = ip_len.max(min_ip_len(&key));
        let wire_len = (ETHERNET_HEADER as u32 + u32::from(ip_len)).max(MIN_FRAME);
        let captured = wire_len.min(self.config.snaplen) as usize;
        write_headers(&mut self.frame, &key, ip_len, flags, index);
        let nanos = u128::from(index) * 1_000_000_000 / u128::from(self.config.rate);
        let timestamp_nanos = self
            .config
            .start_unix
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::try_from(nanos).unwrap_or(u64::MAX));
        Some(SynthPacket {
            timestamp_nanos,
            wire_len,
            data: &self.frame[..captured],
            key,
            traffic,
        })
    }

    /// Flow `rank` (1 = the most popular): a client and a server, half of the flows in each
    /// direction, one in five UDP. Each property comes from its own mix of the flow's hash, so
    /// none is correlated with another.
    fn flow(&self, rank: u64) -> FlowSpec {
        let h = mix(rank ^ self.salt);
        let pick = |property: u64, choices: u64| mix(h ^ property) % choices;
        let ipv6 = unit(mix(h ^ 1)) < self.config.ipv6_share;
        let client = pick(2, self.clients) + 1;
        let server = pick(3, self.servers) + 1;
        let address = |v4_base: u32, v6_prefix: u16, host: u64| {
            if ipv6 {
                let (high, low) = ((host >> 16) as u16, host as u16);
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, v6_prefix, 0, 0, 0, high, low))
            } else {
                IpAddr::V4(Ipv4Addr::from(v4_base | host as u32))
            }
        };
        let (client, server) = (
            address(0x0a00_0000, 0xc, client),
            address(0xac10_0000, 0x5, server),
        );
        let (protocol, ports): (u8, &[u16]) = if pick(4, 5) == 0 {
            (UDP, &UDP_PORTS)
        } else {
            (TCP, &TCP_PORTS)
        };
        let server_port = ports[pick(5, ports.len() as u64) as usize];
        let client_port = 1024 + pick(6, 64_512) as u16;
        let key = if pick(7, 2) == 0 {
            FlowKey {
                src: client,
                dst: server,
                src_port: client_port,
                dst_port: server_port,
                protocol,
            }
        } else {
            FlowKey {
                src: server,
                dst: client,
                src_port: server_port,
                dst_port: client_port,
                protocol,
            }
        };
        // 30% interactive, 50% IMIX, 20% bulk.
        let class = match pick(8, 10) {
            0..=2 => 0,
            3..=7 => 1,
            _ => 2,
        };
        FlowSpec { key, class }
    }

    /// Attack packet `n`: a SYN from the `n`-th spoofed source to the victim.
    fn attack(&self, n: u64) -> (FlowKey, u16) {
        let source = permute32(n as u32 ^ self.salt as u32);
        let key = FlowKey {
            src: IpAddr::V4(Ipv4Addr::from(source)),
            dst: IpAddr::V4(ATTACK_VICTIM),
            src_port: 1024 + (source >> 16) as u16 % 64_512,
            dst_port: 80,
            protocol: TCP,
        };
        (key, 40)
    }

    /// Scan packet `n`: a SYN to the `n`-th address of 100.64.0.0/10, on the next port after
    /// each sweep.
    fn scan(&self, n: u64) -> (FlowKey, u16) {
        let target = 0x6440_0000 | (n % SCAN_SPACE) as u32;
        let port = SCAN_PORTS[((n / SCAN_SPACE) % SCAN_PORTS.len() as u64) as usize];
        let key = FlowKey {
            src: IpAddr::V4(SCANNER),
            dst: IpAddr::V4(Ipv4Addr::from(target)),
            src_port: 40_000,
            dst_port: port,
            protocol: TCP,
        };
        (key, 40)
    }
}

/// The smallest IP packet that holds the key's IP and transport headers.
fn min_ip_len(key: &FlowKey) -> u16 {
    let ip = if key.src.is_ipv6() { 40 } else { 20 };
    let transport = if key.protocol == UDP { 8 } else { 20 };
    ip + transport
}

/// Writes Ethernet, IP and TCP/UDP headers for `key` into the start of `frame` (at least
/// [`MIN_SNAPLEN`] long) and zeroes the rest of the header area. Payload bytes stay zero.
fn write_headers(frame: &mut [u8], key: &FlowKey, ip_len: u16, tcp_flags: u8, index: u64) {
    let frame = &mut frame[..MAX_HEADERS];
    frame.fill(0);
    frame[..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02]);
    let transport_len = match (key.src, key.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            frame[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
            let ip = &mut frame[ETHERNET_HEADER..ETHERNET_HEADER + 20];
            ip[0] = 0x45;
            ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
            ip[4..6].copy_from_slice(&(index as u16).to_be_bytes());
            ip[6] = 0x40; // don't fragment
            ip[8] = 64;
            ip[9] = key.protocol;
            ip[12..16].copy_from_slice(&src.octets());
            ip[16..20].copy_from_slice(&dst.octets());
            let checksum = ipv4_checksum(ip);
            ip[10..12].copy_from_slice(&checksum.to_be_bytes());
            ip_len - 20
        }
        (src, dst) => {
            frame[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
            let ip = &mut frame[ETHERNET_HEADER..ETHERNET_HEADER + 40];
            ip[0] = 0x60;
            ip[4..6].copy_from_slice(&(ip_len - 40).to_be_bytes());
            ip[6] = key.protocol;
            ip[7] = 64;
            ip[8..24].copy_from_slice(&ipv6_octets(src));
            ip[24..40].copy_from_slice(&ipv6_octets(dst));
            ip_len - 40
        }
    };
    let at = ETHERNET_HEADER + if key.src.is_ipv6() { 40 } else { 20 };
    let transport = &mut frame[at..];
    transport[0..2].copy_from_slice(&key.src_port.to_be_bytes());
    transport[2..4].copy_from_slice(&key.dst_port.to_be_bytes());
    if key.protocol == UDP {
        transport[4..6].copy_from_slice(&transport_len.to_be_bytes());
    } else {
        transport[4..8].copy_from_slice(&(index as u32).to_be_bytes());
        transport[12] = 0x50; // data offset: 5 words
        transport[13] = tcp_flags;
        transport[14..16].copy_from_slice(&0xffffu16.to_be_bytes());
    }
}

fn ipv6_octets(address: IpAddr) -> [u8; 16] {
    match address {
        IpAddr::V6(v6) => v6.octets(),
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
    }
}

/// The IPv4 header checksum (RFC 791) of a header whose checksum field is zero.
fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks_exact(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], pair[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Writes every packet of `generator` as a little-endian nanosecond pcap (Ethernet) to `out`,
/// counting each into `truth` when given. Returns the number of packets written.
///
/// # Errors
/// Whatever `out` returns.
pub fn write_pcap(
    generator: &mut Generator,
    out: &mut impl Write,
    mut truth: Option<&mut TruthCounter>,
) -> std::io::Result<u64> {
    let mut header = [0u8; 24];
    header[0..4].copy_from_slice(&0xa1b2_3c4du32.to_le_bytes()); // nanosecond timestamps
    header[4..6].copy_from_slice(&2u16.to_le_bytes());
    header[6..8].copy_from_slice(&4u16.to_le_bytes());
    header[16..20].copy_from_slice(&generator.config().snaplen.to_le_bytes());
    header[20..24].copy_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    out.write_all(&header)?;
    let mut written = 0;
    while let Some(packet) = generator.next_packet() {
        let seconds = packet.timestamp_nanos / 1_000_000_000;
        let mut record = [0u8; 16];
        record[0..4].copy_from_slice(&(seconds as u32).to_le_bytes());
        record[4..8]
            .copy_from_slice(&((packet.timestamp_nanos % 1_000_000_000) as u32).to_le_bytes());
        record[8..12].copy_from_slice(&(packet.data.len() as u32).to_le_bytes());
        record[12..16].copy_from_slice(&packet.wire_len.to_le_bytes());
        out.write_all(&record)?;
        out.write_all(packet.data)?;
        if let Some(truth) = truth.as_deref_mut() {
            truth.add(&packet);
        }
        written += 1;
    }
    Ok(written)
}

/// What [`write_capture`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Frames in the capture.
    pub packets: u64,
    /// Size of the capture file.
    pub file_bytes: u64,
}

/// Generates `config`'s trace into the pcap file `out` and, when `truth` is given, its exact
/// counts as JSON into that file.
///
/// # Errors
/// [`Error::Config`] for a configuration out of range, [`Error::Write`] naming the file that
/// could not be written.
pub fn write_capture(
    config: &SynthConfig,
    out: &Path,
    truth: Option<&Path>,
) -> Result<Written, Error> {
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Write { path, source }
    };
    let mut generator = Generator::new(config.clone())?;
    let mut counter = truth.map(|_| TruthCounter::default());
    let file = File::create(out).map_err(write_error(out))?;
    let mut writer = BufWriter::with_capacity(1 << 20, file);
    let packets = write_pcap(&mut generator, &mut writer, counter.as_mut())
        .and_then(|packets| writer.flush().map(|()| packets))
        .map_err(write_error(out))?;
    let file_bytes = writer.get_ref().metadata().map_err(write_error(out))?.len();
    if let (Some(path), Some(counter)) = (truth, counter) {
        let truth = counter.finish(config);
        let text = serde_json::to_string_pretty(&truth)
            .map_err(|error| write_error(path)(error.into()))?;
        std::fs::write(path, text + "\n").map_err(write_error(path))?;
    }
    Ok(Written {
        packets,
        file_bytes,
    })
}

/// Exact counts of a generated trace: totals, distinct counts, and the top entries of every
/// view by packets and by bytes (ties broken by ascending key, as hhmon's reports do).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// The configuration that generated the trace.
    pub config: SynthConfig,
    /// Frames.
    pub packets: u64,
    /// Wire bytes of all frames.
    pub bytes: u64,
    /// Frames carrying IPv6.
    pub ipv6_packets: u64,
    /// Frames of the fan-in attack.
    pub attack_packets: u64,
    /// Frames of the scanner.
    pub scan_packets: u64,
    /// Timestamp of the first frame (0 for an empty trace).
    pub first_timestamp_nanos: u64,
    /// Timestamp of the last frame (0 for an empty trace).
    pub last_timestamp_nanos: u64,
    /// Distinct five-tuples.
    pub distinct_flows: u64,
    /// Distinct source addresses.
    pub distinct_sources: u64,
    /// Distinct destination addresses.
    pub distinct_destinations: u64,
    /// Top flows by packets.
    pub top_flows: Vec<FlowEntry>,
    /// Top flows by bytes.
    pub top_flows_by_bytes: Vec<FlowEntry>,
    /// Top sources by packets.
    pub top_sources: Vec<AddressEntry>,
    /// Top sources by bytes.
    pub top_sources_by_bytes: Vec<AddressEntry>,
    /// Top destinations by packets.
    pub top_destinations: Vec<AddressEntry>,
    /// Top destinations by bytes.
    pub top_destinations_by_bytes: Vec<AddressEntry>,
}

type Counts<K> = HashMap<K, (u64, u64), ahash::RandomState>;

/// Accumulates the [`Truth`] of packets as they are generated. Its memory grows with the
/// number of distinct flows and addresses.
#[derive(Default)]
pub struct TruthCounter {
    packets: u64,
    bytes: u64,
    ipv6_packets: u64,
    attack_packets: u64,
    scan_packets: u64,
    first_timestamp_nanos: Option<u64>,
    last_timestamp_nanos: u64,
    flows: Counts<FlowKey>,
    sources: Counts<IpAddr>,
    destinations: Counts<IpAddr>,
}

impl TruthCounter {
    /// Counts one packet.
    pub fn add(&mut self, packet: &SynthPacket<'_>) {
        let bytes = u64::from(packet.wire_len);
        self.packets += 1;
        self.bytes += bytes;
        self.ipv6_packets += u64::from(packet.key.src.is_ipv6());
        match packet.traffic {
            Traffic::Flow => {}
            Traffic::Attack => self.attack_packets += 1,
            Traffic::Scan => self.scan_packets += 1,
        }
        self.first_timestamp_nanos
            .get_or_insert(packet.timestamp_nanos);
        self.last_timestamp_nanos = packet.timestamp_nanos;
        for (map, key) in [
            (&mut self.sources, packet.key.src),
            (&mut self.destinations, packet.key.dst),
        ] {
            let counts = map.entry(key).or_default();
            counts.0 += 1;
            counts.1 += bytes;
        }
        let counts = self.flows.entry(packet.key).or_default();
        counts.0 += 1;
        counts.1 += bytes;
    }

    /// The truth of everything counted, with `config.top` entries per list.
    pub fn finish(self, config: &SynthConfig) -> Truth {
        let top = config.top;
        let flow = |(key, packets, bytes): (FlowKey, u64, u64)| FlowEntry::new(key, packets, bytes);
        // The truth holds no per-address distinct counts.
        let address = |(address, packets, bytes): (IpAddr, u64, u64)| AddressEntry {
            address,
            packets,
            bytes,
            distinct_sources: None,
            distinct_destinations: None,
        };
        Truth {
            config: config.clone(),
            packets: self.packets,
            bytes: self.bytes,
            ipv6_packets: self.ipv6_packets,
            attack_packets: self.attack_packets,
            scan_packets: self.scan_packets,
            first_timestamp_nanos: self.first_timestamp_nanos.unwrap_or(0),
            last_timestamp_nanos: self.last_timestamp_nanos,
            distinct_flows: self.flows.len() as u64,
            distinct_sources: self.sources.len() as u64,
            distinct_destinations: self.destinations.len() as u64,
            top_flows: largest(&self.flows, top, false)
                .into_iter()
                .map(flow)
                .collect(),
            top_flows_by_bytes: largest(&self.flows, top, true)
                .into_iter()
                .map(flow)
                .collect(),
            top_sources: largest(&self.sources, top, false)
                .into_iter()
                .map(address)
                .collect(),
            top_sources_by_bytes: largest(&self.sources, top, true)
                .into_iter()
                .map(address)
                .collect(),
            top_destinations: largest(&self.destinations, top, false)
                .into_iter()
                .map(address)
                .collect(),
            top_destinations_by_bytes: largest(&self.destinations, top, true)
                .into_iter()
                .map(address)
                .collect(),
        }
    }
}

/// The `n` keys with the largest packet (or byte) counts, largest first, ties by ascending key.
fn largest<K: Ord + Hash + Copy>(
    counts: &Counts<K>,
    n: usize,
    by_bytes: bool,
) -> Vec<(K, u64, u64)> {
    let mut entries: Vec<(K, u64, u64)> = counts
        .iter()
        .map(|(&key, &(packets, bytes))| (key, packets, bytes))
        .collect();
    let rank = |e: &(K, u64, u64)| if by_bytes { e.2 } else { e.1 };
    let order = |a: &(K, u64, u64), b: &(K, u64, u64)| rank(b).cmp(&rank(a)).then(a.0.cmp(&b.0));
    if n < entries.len() {
        entries.select_nth_unstable_by(n, order);
        entries.truncate(n);
    }
    entries.sort_unstable_by(order);
    entries
}

/// Zipf sampling over ranks `1..=n` with exponent `s` by rejection-inversion (W. Hörmann,
/// G. Derflinger, "Rejection-inversion to generate variates from monotone discrete
/// distributions", 1996): O(1) time and memory per draw whatever `n`, which a table of `n`
/// cumulative weights would not be for ten million flows.
struct Zipf {
    n: f64,
    s: f64,
    /// `H(1.5) - 1` and `H(n + 0.5)`: the ends of the inverted integral's range.
    h_x1: f64,
    h_n: f64,
    /// Draws closer than this to their rounded rank are accepted without the exact test.
    squeeze: f64,
}

impl Zipf {
    fn new(n: u64, s: f64) -> Self {
        let mut zipf = Self {
            n: n as f64,
            s,
            h_x1: 0.0,
            h_n: 0.0,
            squeeze: 0.0,
        };
        zipf.h_x1 = zipf.integral(1.5) - 1.0;
        zipf.h_n = zipf.integral(n as f64 + 0.5);
        zipf.squeeze = 2.0 - zipf.integral_inverse(zipf.integral(2.5) - zipf.density(2.0));
        zipf
    }

    fn sample(&self, rng: &mut SplitMix64) -> u64 {
        loop {
            let u = self.h_n + rng.uniform() * (self.h_x1 - self.h_n);
            let x = self.integral_inverse(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.squeeze || u >= self.integral(k + 0.5) - self.density(k) {
                return k as u64;
            }
        }
    }

    /// `h(x) = x^-s`.
    fn density(&self, x: f64) -> f64 {
        (-self.s * x.ln()).exp()
    }

    /// `H(x) = (x^(1-s) - 1) / (1 - s)`, `ln x` at `s = 1`: an antiderivative of `h`.
    fn integral(&self, x: f64) -> f64 {
        let log_x = x.ln();
        expm1_over_x((1.0 - self.s) * log_x) * log_x
    }

    fn integral_inverse(&self, y: f64) -> f64 {
        let t = (y * (1.0 - self.s)).max(-1.0);
        (ln1p_over_x(t) * y).exp()
    }
}

/// `(e^x - 1) / x`, continuous at 0.
fn expm1_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + x * 0.25))
    }
}

/// `ln(1 + x) / x`, continuous at 0.
fn ln1p_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - x * 0.25))
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): fast, seeded, good enough for traffic mixes.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// A uniform draw in `[0, 1)`.
    fn uniform(&mut self) -> f64 {
        unit(self.next_u64())
    }
}

/// The SplitMix64 finaliser: a bijection of `u64` that spreads every input bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The top 53 bits of `bits` as a number in `[0, 1)`.
fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A bijection of `u32` (odd multiplications and xor-shifts are each invertible), so distinct
/// attack packet numbers give distinct spoofed sources.
fn permute32(mut x: u32) -> u32 {
    x = x.wrapping_mul(0x9e37_79b1);
    x ^= x >> 15;
    x = x.wrapping_mul(0x85eb_ca77);
    x ^ (x >> 13)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn config(packets: u64) -> SynthConfig {
        SynthConfig {
            packets,
            flows: 1_000,
            ..SynthConfig::default()
        }
    }

    /// Total variation distance between `draws` of the sampler and the Zipf law itself,
    /// computed from `k^-s / sum_j j^-s`.
    fn zipf_distance(n: u64, s: f64, draws: usize) -> f64 {
        let zipf = Zipf::new(n, s);
        let mut rng = SplitMix64(42);
        let mut seen = vec![0usize; n as usize + 1];
        for _ in 0..draws {
            let k = zipf.sample(&mut rng);
            assert!((1..=n).contains(&k), "rank {k} outside 1..={n}");
            seen[k as usize] += 1;
        }
        let norm: f64 = (1..=n).map(|k| (k as f64).powf(-s)).sum();
        (1..=n)
            .map(|k| (seen[k as usize] as f64 / draws as f64 - (k as f64).powf(-s) / norm).abs())
            .sum::<f64>()
            / 2.0
    }

    #[test]
    fn zipf_draws_follow_the_law_for_every_exponent() {
        // Sampling noise for 20 ranks and 400k draws is about 0.003.
        for s in [0.0, 0.5, 1.0, 1.2, 2.0] {
            let distance = zipf_distance(20, s, 400_000);
            assert!(distance < 0.01, "s = {s}: total variation {distance}");
        }
        assert!(zipf_distance(1, 1.0, 1_000) == 0.0);
    }

    #[test]
    fn zipf_head_is_right_over_ten_million_ranks() {
        // P(rank 1) = 1 / H(10^7) = 1 / 16.695 for s = 1.
        let zipf = Zipf::new(10_000_000, 1.0);
        let mut rng = SplitMix64(7);
        let draws = 400_000;
        let ones = (0..draws).filter(|_| zipf.sample(&mut rng) == 1).count();
        let share = ones as f64 / draws as f64;
        assert!((share - 1.0 / 16.695).abs() < 0.002, "{share}");
    }

    #[test]
    fn frames_hold_their_key_and_time_advances_evenly() {
        let mut generator = Generator::new(SynthConfig {
            rate: 1_000,
            snaplen: 100,
            ..config(5_000)
        })
        .unwrap();
        let mut index = 0u64;
        while let Some(packet) = generator.next_packet() {
            assert_eq!(
                packet.timestamp_nanos,
                1_700_000_000 * 1_000_000_000 + index * 1_000_000
            );
            assert!(packet.wire_len >= MIN_FRAME);
            assert_eq!(packet.data.len() as u32, packet.wire_len.min(100));
            let ports_at = match packet.key.src {
                IpAddr::V4(src) => {
                    assert_eq!(&packet.data[12..14], &[0x08, 0x00]);
                    assert_eq!(&packet.data[26..30], &src.octets());
                    assert_eq!(ipv4_checksum(&packet.data[14..34]), 0, "valid checksum");
                    let ip_len = u16::from_be_bytes([packet.data[16], packet.data[17]]);
                    assert_eq!(packet.wire_len, u32::from(ip_len + 14).max(MIN_FRAME));
                    34
                }
                IpAddr::V6(src) => {
                    assert_eq!(&packet.data[12..14], &[0x86, 0xdd]);
                    assert_eq!(&packet.data[22..38], &src.octets());
                    54
                }
            };
            assert_eq!(
                &packet.data[ports_at..ports_at + 2],
                &packet.key.src_port.to_be_bytes()
            );
            index += 1;
        }
        assert_eq!(index, 5_000);
    }

    #[test]
    fn attack_sources_and_scan_targets_are_all_distinct() {
        let mut generator = Generator::new(SynthConfig {
            attack_share: 0.5,
            scan_share: 0.3,
            ..config(200_000)
        })
        .unwrap();
        let (mut sources, mut targets) = (HashSet::new(), HashSet::new());
        let mut flows = 0usize;
        while let Some(packet) = generator.next_packet() {
            match packet.traffic {
                Traffic::Attack => {
                    assert_eq!(packet.key.dst, IpAddr::V4(ATTACK_VICTIM));
                    assert!(sources.insert(packet.key.src), "{:?} repeated", packet.key);
                }
                Traffic::Scan => {
                    assert_eq!(packet.key.src, IpAddr::V4(SCANNER));
                    assert!(targets.insert(packet.key.dst), "{:?} repeated", packet.key);
                }
                Traffic::Flow => flows += 1,
            }
        }
        // Shares within 1% of the stream.
        assert!(sources.len().abs_diff(100_000) < 2_000, "{}", sources.len());
        assert!(targets.len().abs_diff(60_000) < 2_000, "{}", targets.len());
        assert!(flows.abs_diff(40_000) < 2_000, "{flows}");
    }

    #[test]
    fn flow_properties_have_their_shares_independently() {
        let generator = Generator::new(SynthConfig {
            ipv6_share: 0.3,
            ..config(0)
        })
        .unwrap();
        let flows: Vec<FlowSpec> = (1..=40_000).map(|rank| generator.flow(rank)).collect();
        let share = |of: &[&FlowSpec], test: &dyn Fn(&FlowSpec) -> bool| {
            of.iter().filter(|f| test(f)).count() as f64 / of.len() as f64
        };
        let all: Vec<&FlowSpec> = flows.iter().collect();
        let udp: Vec<&FlowSpec> = flows.iter().filter(|f| f.key.protocol == UDP).collect();
        let ipv6 = |f: &FlowSpec| f.key.src.is_ipv6();
        let bulk = |f: &FlowSpec| f.class == 2;
        let client_first = |f: &FlowSpec| match f.key.src {
            IpAddr::V4(src) => src.octets()[0] == 10,
            IpAddr::V6(src) => src.segments()[2] == 0xc,
        };
        // Shares as configured, and the same within UDP flows: no property leaks into another.
        for (what, test, expected) in [
            ("IPv6", &ipv6 as &dyn Fn(&FlowSpec) -> bool, 0.3),
            ("bulk", &bulk, 0.2),
            ("client to server", &client_first, 0.5),
        ] {
            for (among, of) in [("all", &all), ("UDP", &udp)] {
                let observed = share(of, test);
                assert!(
                    (observed - expected).abs() < 0.02,
                    "{what} among {among}: {observed}"
                );
            }
        }
        assert!((share(&all, &|f| f.key.protocol == UDP) - 0.2).abs() < 0.01);
    }

    #[test]
    fn the_seed_decides_everything() {
        let run = |seed| {
            let mut bytes = Vec::new();
            let mut generator = Generator::new(SynthConfig {
                seed,
                ..config(1_000)
            })
            .unwrap();
            write_pcap(&mut generator, &mut bytes, None).unwrap();
            bytes
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }

    #[test]
    fn out_of_range_configurations_are_refused() {
        let base = config(1);
        for (bad, field) in [
            (
                SynthConfig {
                    flows: 0,
                    ..base.clone()
                },
                "flows",
            ),
            (
                SynthConfig {
                    zipf: f64::NAN,
                    ..base.clone()
                },
                "Zipf",
            ),
            (
                SynthConfig {
                    zipf: -0.5,
                    ..base.clone()
                },
                "Zipf",
            ),
            (
                SynthConfig {
                    ipv6_share: 1.5,
                    ..base.clone()
                },
                "IPv6",
            ),
            (
                SynthConfig {
                    attack_share: -0.1,
                    ..base.clone()
                },
                "attack",
            ),
            (
                SynthConfig {
                    attack_share: 0.6,
                    scan_share: 0.6,
                    ..base.clone()
                },
                "add up",
            ),
            (
                SynthConfig {
                    rate: 0,
                    ..base.clone()
                },
                "rate",
            ),
            (
                SynthConfig {
                    snaplen: 60,
                    ..base.clone()
                },
                "snap",
            ),
        ] {
            let error = Generator::new(bad).err().expect(field).to_string();
            assert!(error.contains(field), "{field}: {error}");
        }
        let all_attack = SynthConfig {
            flows: 0,
            attack_share: 1.0,
            ..base
        };
        assert!(Generator::new(all_attack).is_ok());
    }
}
