//! The traffic model: which packet comes next (a Zipf-ranked client/server flow, the fan-in
//! attack or the scanner), each flow's addresses, ports and frame-size class, and the packet's
//! time. Knows nothing of files: frames come from `frame`, draws from `random`, and the pcap
//! writer and the truth counter consume the packets.

use super::frame::{
    min_ip_len, write_headers, ETHERNET_HEADER, MIN_FRAME, TCP, TCP_PSH_ACK, TCP_SYN, UDP,
};
use super::random::{mix, permute32, unit, SplitMix64, Zipf};
use super::{botnet_prefix, Error, SynthConfig, ATTACK_VICTIM, BOTNET_TARGET, SCANNER};
use crate::decode::FlowKey;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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

/// Which part of the traffic a packet belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Traffic {
    /// A Zipf-ranked client/server flow.
    Flow,
    /// The fan-in attack.
    Attack,
    /// The scanner.
    Scan,
    /// The carpet bombing.
    Carpet,
    /// The botnet.
    Botnet,
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
    carpets: u64,
    bots: u64,
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
            carpets: 0,
            bots: 0,
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
        let scans_below = self.config.attack_share + self.config.scan_share;
        let carpets_below = scans_below + self.config.carpet_share;
        let bots_below = carpets_below + self.config.botnet_share;
        let (traffic, key, ip_len, flags) = if draw < self.config.attack_share {
            self.attacks += 1;
            let (key, ip_len) = self.attack(self.attacks - 1);
            (Traffic::Attack, key, ip_len, TCP_SYN)
        } else if draw < scans_below {
            self.scans += 1;
            let (key, ip_len) = self.scan(self.scans - 1);
            (Traffic::Scan, key, ip_len, TCP_SYN)
        } else if draw < carpets_below {
            self.carpets += 1;
            let (key, ip_len) = self.carpet(self.carpets - 1);
            (Traffic::Carpet, key, ip_len, TCP_PSH_ACK)
        } else if draw < bots_below {
            self.bots += 1;
            let (key, ip_len) = self.bot(self.bots - 1);
            (Traffic::Botnet, key, ip_len, TCP_PSH_ACK)
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

    /// Carpet bombing packet `n`: an NTP-sized UDP reply from the `n`-th spoofed reflector to
    /// the `n`-th address of the bombed prefix (cycling), so that every address of a prefix of
    /// up to `2^k` addresses gets one packet in every `2^k`. IPv6 prefixes get IPv6 reflectors
    /// from 2001:db8:ffff::/48.
    fn carpet(&self, n: u64) -> (FlowKey, u16) {
        let Some(prefix) = self.config.carpet_bomb else {
            // `validate` refuses a carpet share without a prefix.
            return self.scan(n);
        };
        let reflector = permute32(n as u32 ^ (self.salt >> 32) as u32 ^ 0x5a5a_5a5a);
        let src = match prefix.address() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(reflector)),
            IpAddr::V6(_) => {
                let base = u128::from(Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 0));
                IpAddr::V6(Ipv6Addr::from(base | u128::from(reflector)))
            }
        };
        let key = FlowKey {
            src,
            dst: prefix.nth(u128::from(n)),
            src_port: 123,
            dst_port: 1024 + (reflector >> 16) as u16 % 64_512,
            protocol: UDP,
        };
        (key, 468)
    }

    /// Botnet packet `n`: a 576-byte segment to [`BOTNET_TARGET`] from host 1..=254 of one of
    /// the botnet's /24s, both drawn from the packet's number.
    fn bot(&self, n: u64) -> (FlowKey, u16) {
        let h = mix(n ^ self.salt ^ 0xb07);
        let prefixes = u64::from(self.config.botnet_prefixes.max(1));
        let prefix = botnet_prefix((h % prefixes) as u32);
        let host = 1 + (h >> 32) % 254;
        let key = FlowKey {
            src: prefix.nth(u128::from(host)),
            dst: IpAddr::V4(BOTNET_TARGET),
            src_port: 1024 + (h >> 16) as u16 % 64_512,
            dst_port: 443,
            protocol: TCP,
        };
        (key, 576)
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

#[cfg(test)]
mod tests {
    use super::super::frame::ipv4_checksum;
    use super::super::tests::config;
    use super::*;
    use crate::prefix::Prefix;
    use std::collections::HashSet;

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
                Traffic::Carpet | Traffic::Botnet => panic!("neither was asked for"),
            }
        }
        // Shares within 1% of the stream.
        assert!(sources.len().abs_diff(100_000) < 2_000, "{}", sources.len());
        assert!(targets.len().abs_diff(60_000) < 2_000, "{}", targets.len());
        assert!(flows.abs_diff(40_000) < 2_000, "{flows}");
    }

    #[test]
    fn a_carpet_bombing_hits_every_address_evenly_and_bots_stay_in_their_prefixes() {
        let carpet: Prefix = "203.0.113.0/24".parse().unwrap();
        let mut generator = Generator::new(SynthConfig {
            carpet_bomb: Some(carpet),
            carpet_share: 0.3,
            botnet_prefixes: 3,
            botnet_share: 0.2,
            ..config(100_000)
        })
        .unwrap();
        let mut per_target = std::collections::HashMap::new();
        let mut bots = std::collections::HashMap::<Prefix, HashSet<IpAddr>>::new();
        let (mut carpets, mut flows) = (0u64, 0u64);
        while let Some(packet) = generator.next_packet() {
            match packet.traffic {
                Traffic::Carpet => {
                    assert!(carpet.contains(&packet.key.dst), "{:?}", packet.key);
                    assert_eq!((packet.key.src_port, packet.key.protocol), (123, UDP));
                    assert_eq!(packet.wire_len, 14 + 468);
                    *per_target.entry(packet.key.dst).or_insert(0u64) += 1;
                    carpets += 1;
                }
                Traffic::Botnet => {
                    assert_eq!(packet.key.dst, IpAddr::V4(BOTNET_TARGET));
                    let prefix = Prefix::of(&packet.key.src, 24);
                    assert!((0..3).any(|i| botnet_prefix(i) == prefix), "{prefix}");
                    let IpAddr::V4(src) = packet.key.src else {
                        panic!("an IPv6 bot");
                    };
                    assert!((1..=254).contains(&src.octets()[3]));
                    bots.entry(prefix).or_default().insert(packet.key.src);
                }
                Traffic::Flow => flows += 1,
                Traffic::Attack | Traffic::Scan => panic!("not asked for"),
            }
        }
        // Every address of the /24, each within one packet of the others.
        assert_eq!(per_target.len(), 256);
        let (least, most) = (
            per_target.values().min().unwrap(),
            per_target.values().max().unwrap(),
        );
        assert!(most - least <= 1, "{least} to {most}");
        assert!(carpets.abs_diff(30_000) < 1_000, "{carpets}");
        // Three prefixes, each with (nearly) all of its 254 hosts.
        assert_eq!(bots.len(), 3);
        for (prefix, hosts) in &bots {
            assert!(hosts.len() > 250, "{prefix}: {}", hosts.len());
        }
        assert!(flows.abs_diff(50_000) < 1_500, "{flows}");
        assert_eq!(botnet_prefix(1).to_string(), "198.18.1.0/24");
        assert_eq!(botnet_prefix(511).to_string(), "198.19.255.0/24");
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
}
