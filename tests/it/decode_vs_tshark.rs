//! `hhmon::decode` against tshark, packet by packet, on every capture in `captures/`, in both
//! modes: the outermost IP flow (the default) and the innermost one (`--decap`).
//!
//! libpcap reads the frames and `decode` keys them; tshark dissects the same file with
//! reassembly off and its outermost IP fields, or the innermost ones its own dissectors reach
//! through tunnels, become the reference key. The two must agree on every packet (key, or
//! "no IP"), on the flow tables and on the number of packets without IP, except for the few
//! packets listed in `ALLOWED` and `SYNTHETIC_ALLOWED`, each with the reason tshark and hhmon
//! legitimately differ. A second test writes synthetic frames for the encapsulations and
//! tunnels the real captures lack into pcap files and compares them the same way. Which files
//! libpcap reads only part of, or none of, and the error it gives, comes from the manifest of
//! the shipped captures (`util::captures`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use hhmon::decode::{decapsulate, decode, FlowKey, LinkType, UnparsedReason};

use crate::util::captures;
use crate::util::repo;
use crate::util::tshark::{add, tshark, Counts, TsharkPacket};

/// Which flow a packet is keyed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The outermost IP header: `decode`, tshark's first IP layer.
    Outer,
    /// The innermost IP header: `decapsulate`, tshark's last IP layer before any ICMP.
    Decap,
}

const MODES: [Mode; 2] = [Mode::Outer, Mode::Decap];

impl Mode {
    fn reference(self, packet: &TsharkPacket) -> Option<FlowKey> {
        match self {
            Mode::Outer => packet.key(),
            Mode::Decap => packet.inner_key(),
        }
    }
}

/// How one packet came out on each side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Disagreement {
    /// Both found IP but built different keys.
    KeyDiffers,
    /// tshark found an IP layer, `decode` rejected the frame.
    OnlyTshark,
    /// `decode` produced a key, tshark found no IP layer.
    OnlyDecode,
}

/// Packets on which hhmon and tshark are allowed to differ, per file, mode and kind, with the
/// count.
struct Allowance {
    file: &'static str,
    mode: Mode,
    kind: Disagreement,
    packets: usize,
    why: &'static str,
}

/// Real captures: none differ.
const ALLOWED: &[Allowance] = &[];

/// One packet as libpcap read it and hhmon keyed it in each mode.
#[derive(Debug)]
struct HhmonPacket {
    wire_len: u32,
    outer: Result<FlowKey, UnparsedReason>,
    decap: Result<FlowKey, UnparsedReason>,
    /// Tunnels `decapsulate` opened.
    decap_tunnels: u8,
    /// `decapsulate` stopped at a tunnel it could not open.
    decap_fell_back: bool,
}

impl HhmonPacket {
    fn key(&self, mode: Mode) -> Result<FlowKey, UnparsedReason> {
        match mode {
            Mode::Outer => self.outer,
            Mode::Decap => self.decap,
        }
    }
}

/// What libpcap gave for one file: the packets read, and the error that stopped it, if any.
struct HhmonRead {
    packets: Vec<HhmonPacket>,
    error: Option<String>,
}

/// Reads `path` with libpcap and decodes every frame both ways.
fn hhmon(path: &Path) -> Result<HhmonRead, pcap::Error> {
    let mut capture = pcap::Capture::from_file(path)?;
    let link = LinkType(capture.get_datalink().0);
    let mut packets = Vec::new();
    let error = loop {
        match capture.next_packet() {
            Ok(packet) => {
                let decapsulated = decapsulate(link, packet.data);
                packets.push(HhmonPacket {
                    wire_len: packet.header.len,
                    outer: decode(link, packet.data).map(|d| d.key),
                    decap: decapsulated.map(|d| d.decoded.key),
                    decap_tunnels: decapsulated.map_or(0, |d| d.tunnels),
                    decap_fell_back: decapsulated.is_ok_and(|d| d.decoded.decap_fallback.is_some()),
                })
            }
            Err(pcap::Error::NoMorePackets) => break None,
            Err(e) => break Some(e.to_string()),
        }
    };
    Ok(HhmonRead { packets, error })
}

/// A flow table: key -> (packets, wire bytes).
type Flows = Counts<FlowKey>;

/// Per-file figures of one mode, printed as a table (`cargo test -- --nocapture` shows it).
#[derive(Debug, Default)]
struct Figures {
    packets: usize,
    /// Flows in hhmon's table.
    flows: usize,
    /// Packets `decode` rejected.
    rejected: usize,
    /// Packets decapsulation opened at least one tunnel of.
    opened: usize,
    /// Packets decapsulation kept under an outer flow because it could not open their tunnel.
    fell_back: usize,
    disagreements: BTreeMap<Disagreement, usize>,
}

/// Compares one file in both modes; returns the figures of each or the problems found.
fn compare(name: &str, path: &Path, allowances: &[Allowance]) -> Result<[Figures; 2], Vec<String>> {
    let mut problems = Vec::new();
    // Synthetic files are not in the manifest: libpcap reads them whole.
    let expected_error = captures::reading(name).and_then(captures::Reading::error);
    let tshark_packets = tshark(path);
    let read = match hhmon(path) {
        Ok(read) => read,
        Err(e) => {
            // libpcap refused the whole file: that must be expected, reported as an error, and
            // lose nothing tshark would have keyed.
            if expected_error.is_none_or(|what| !e.to_string().contains(what)) {
                problems.push(format!("libpcap refused the file unexpectedly: {e}"));
            }
            if tshark_packets.iter().any(|p| p.key().is_some()) {
                problems.push("libpcap refused a file in which tshark finds IP".to_string());
            }
            return if problems.is_empty() {
                Ok(Default::default())
            } else {
                Err(problems)
            };
        }
    };
    match (&read.error, expected_error) {
        (None, None) => {}
        (Some(e), Some(what)) if e.contains(what) => {}
        (got, expected) => {
            problems.push(format!("libpcap read error {got:?}, expected {expected:?}"))
        }
    }
    if read.packets.len() != tshark_packets.len() {
        problems.push(format!(
            "libpcap read {} packets, tshark {}",
            read.packets.len(),
            tshark_packets.len()
        ));
        return Err(problems);
    }
    for (number, (hh, ts)) in read.packets.iter().zip(&tshark_packets).enumerate() {
        if hh.wire_len != ts.wire_len {
            problems.push(format!(
                "packet {}: libpcap wire length {}, tshark {}",
                number + 1,
                hh.wire_len,
                ts.wire_len
            ));
        }
    }
    let figures = MODES.map(|mode| {
        compare_mode(
            name,
            mode,
            &read.packets,
            &tshark_packets,
            allowances,
            &mut problems,
        )
    });
    if problems.is_empty() {
        Ok(figures)
    } else {
        Err(problems)
    }
}

/// Compares the keys of one mode, adding what differs beyond the allowances to `problems`.
fn compare_mode(
    name: &str,
    mode: Mode,
    packets: &[HhmonPacket],
    tshark_packets: &[TsharkPacket],
    allowances: &[Allowance],
    problems: &mut Vec<String>,
) -> Figures {
    let mut figures = Figures {
        packets: packets.len(),
        ..Figures::default()
    };
    // Each side's flow table and rejection count are built from all of its own packets; the
    // per-packet classification then says how far they may differ.
    let mut ours = Flows::new();
    let mut theirs = Flows::new();
    let mut tshark_without_ip = 0;
    let mut disputed_keys = BTreeSet::new();
    for (number, (hh, ts)) in packets.iter().zip(tshark_packets).enumerate() {
        let decoded = hh.key(mode);
        let reference = mode.reference(ts);
        match decoded {
            Ok(key) => add(&mut ours, key, hh.wire_len),
            Err(_) => figures.rejected += 1,
        }
        if mode == Mode::Decap {
            figures.opened += usize::from(hh.decap_tunnels > 0);
            figures.fell_back += usize::from(hh.decap_fell_back);
        }
        match reference {
            Some(key) => add(&mut theirs, key, ts.wire_len),
            None => tshark_without_ip += 1,
        }
        let kind = match (&decoded, &reference) {
            (Ok(a), Some(b)) if a == b => continue,
            (Err(_), None) => continue,
            (Ok(_), Some(_)) => Disagreement::KeyDiffers,
            (Err(_), Some(_)) => Disagreement::OnlyTshark,
            (Ok(_), None) => Disagreement::OnlyDecode,
        };
        *figures.disagreements.entry(kind).or_default() += 1;
        disputed_keys.extend(decoded.iter().chain(&reference).copied());
        eprintln!(
            "{name} {mode:?} packet {}: {kind:?}: hhmon {decoded:?}, tshark {reference:?}",
            number + 1,
        );
    }
    figures.flows = ours.len();

    let mine = || {
        allowances
            .iter()
            .filter(move |a| a.file == name && a.mode == mode)
    };
    let allowed: BTreeMap<Disagreement, usize> = mine().map(|a| (a.kind, a.packets)).collect();
    if figures.disagreements != allowed {
        problems.push(format!(
            "{mode:?}: disagreements {:?}, allowed {allowed:?}",
            figures.disagreements
        ));
    }
    for allowance in mine() {
        eprintln!(
            "{name} {mode:?}: {} {:?} allowed: {}",
            allowance.packets, allowance.kind, allowance.why
        );
    }
    let differing: BTreeSet<FlowKey> = ours
        .keys()
        .chain(theirs.keys())
        .filter(|key| ours.get(key) != theirs.get(key))
        .copied()
        .collect();
    if let Some(key) = differing.difference(&disputed_keys).next() {
        problems.push(format!(
            "{mode:?}: flow {key:?}: hhmon (packets, bytes) {:?}, tshark {:?}",
            ours.get(key),
            theirs.get(key)
        ));
    }
    let allowed_count = |kind| allowed.get(&kind).copied().unwrap_or(0);
    let expected_rejected = tshark_without_ip + allowed_count(Disagreement::OnlyTshark)
        - allowed_count(Disagreement::OnlyDecode);
    if figures.rejected != expected_rejected {
        problems.push(format!(
            "{mode:?}: hhmon rejected {} packets, tshark found no IP in {tshark_without_ip}",
            figures.rejected
        ));
    }
    figures
}

/// libpcap cannot read gzip; the file is decompressed next to the test's other temporary files.
fn readable_copy(path: &Path, dir: &Path) -> PathBuf {
    let Some(stem) = path
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .strip_suffix(".gz")
    else {
        return path.to_path_buf();
    };
    let output = Command::new("gzip").arg("-dc").arg(path).output().unwrap();
    assert!(output.status.success(), "gzip -dc {}", path.display());
    let copy = dir.join(stem);
    std::fs::write(&copy, output.stdout).unwrap();
    copy
}

#[test]
fn decode_agrees_with_tshark_on_every_capture() {
    let temp = tempfile::tempdir().unwrap();
    let shipped = captures::all();
    for name in ALLOWED.iter().map(|a| a.file) {
        assert!(
            shipped.iter().any(|c| c.name == name),
            "allow-list names missing file {name}"
        );
    }

    let mut failures = Vec::new();
    eprintln!(
        "{:<36} {:>5} {:>7} {:>6} {:>8} {:>6} {:>9}  disagreements",
        "file", "mode", "packets", "flows", "rejected", "opened", "fell back"
    );
    for name in shipped.iter().map(|c| c.name) {
        let path = readable_copy(&repo::capture(name), temp.path());
        match compare(name, &path, ALLOWED) {
            Ok(figures) => {
                for (mode, f) in MODES.iter().zip(figures) {
                    eprintln!(
                        "{name:<36} {:>5} {:>7} {:>6} {:>8} {:>6} {:>9}  {:?}",
                        format!("{mode:?}"),
                        f.packets,
                        f.flows,
                        f.rejected,
                        f.opened,
                        f.fell_back,
                        f.disagreements
                    );
                }
            }
            Err(problems) => failures.push(format!("{name}: {}", problems.join("; "))),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Synthetic frames: where the real captures differ from tshark. Each is written into a pcap
/// of its own link type and goes through the same comparison as the real captures.
const SYNTHETIC_ALLOWED: &[Allowance] = &[
    Allowance {
        file: "synthetic-ethernet",
        mode: Mode::Outer,
        kind: Disagreement::OnlyTshark,
        packets: 1,
        why: LLC_SNAP,
    },
    Allowance {
        file: "synthetic-ethernet",
        mode: Mode::Decap,
        kind: Disagreement::OnlyTshark,
        packets: 1,
        why: LLC_SNAP,
    },
    Allowance {
        file: "synthetic-tunnels",
        mode: Mode::Decap,
        kind: Disagreement::KeyDiffers,
        packets: 1,
        why: "ERSPAN type III with frame type 2 (IP packet, draft-foschiano-erspan-03): tshark \
              4.0 reads the header but hands only Ethernet frames on, showing the IPv6 packet \
              as data; hhmon keys the IPv6 packet",
    },
];

const LLC_SNAP: &str = "IPv4 in an 802.3 frame with an LLC/SNAP header: tshark follows SNAP \
    to IP, hhmon counts every 802.3/LLC frame as not_ip by design (IP over SNAP is rare on \
    Ethernet)";

mod synthetic {
    //! Frames for the encapsulations and headers the real captures lack, built with
    //! etherparse's `PacketBuilder` plus hand-made link and extension headers.

    use etherparse::{IpNumber, PacketBuilder};
    use hhmon::decode::LinkType;

    const V4_SRC: [u8; 4] = [198, 51, 100, 7];
    const V4_DST: [u8; 4] = [203, 0, 113, 9];
    const V6_SRC: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
    const V6_DST: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
    const IPV4_PROTOCOL: usize = 9;
    const IPV4_FRAGMENT: usize = 6;
    const IPV4_TOTAL_LEN: usize = 2;
    const IPV6_NEXT_HEADER: usize = 6;
    const IPV6_PAYLOAD_LEN: usize = 4;
    const IPV6_HEADER_LEN: usize = 40;

    /// A captured frame and its length on the wire.
    pub struct Frame {
        pub bytes: Vec<u8>,
        pub wire_len: u32,
    }

    fn whole(bytes: Vec<u8>) -> Frame {
        let wire_len = u32::try_from(bytes.len()).unwrap();
        Frame { bytes, wire_len }
    }

    pub fn ipv4_tcp() -> Vec<u8> {
        let mut packet = Vec::new();
        PacketBuilder::ipv4(V4_SRC, V4_DST, 64)
            .tcp(49152, 443, 7, 64240)
            .write(&mut packet, b"GET / HTTP/1.1\r\n\r\n")
            .unwrap();
        packet
    }

    pub fn ipv4_udp() -> Vec<u8> {
        let mut packet = Vec::new();
        PacketBuilder::ipv4(V4_SRC, V4_DST, 64)
            .udp(33000, 5000)
            .write(&mut packet, &[0x11; 32])
            .unwrap();
        packet
    }

    fn ipv6_udp() -> Vec<u8> {
        let mut packet = Vec::new();
        PacketBuilder::ipv6(V6_SRC, V6_DST, 64)
            .udp(34000, 5001)
            .write(&mut packet, &[0x22; 32])
            .unwrap();
        packet
    }

    fn ipv6_tcp() -> Vec<u8> {
        let mut packet = Vec::new();
        PacketBuilder::ipv6(V6_SRC, V6_DST, 64)
            .tcp(50000, 22, 1, 1024)
            .write(&mut packet, b"SSH-2.0-x\r\n")
            .unwrap();
        packet
    }

    /// An IPv4 UDP packet relabelled as another protocol with ports in the same place; the
    /// payload is long enough for each protocol's fixed header.
    fn ipv4_as(protocol: u8) -> Vec<u8> {
        let mut packet = ipv4_udp();
        packet[IPV4_PROTOCOL] = protocol;
        packet
    }

    fn ipv4_fragment(offset_units: u16, more: bool) -> Vec<u8> {
        let mut packet = ipv4_udp();
        let field = offset_units | if more { 0x2000 } else { 0 };
        packet[IPV4_FRAGMENT..IPV4_FRAGMENT + 2].copy_from_slice(&field.to_be_bytes());
        packet
    }

    /// IPv4 with an AH header (12 bytes of ICV) between it and the TCP header.
    fn ipv4_ah_tcp() -> Vec<u8> {
        let plain = ipv4_tcp();
        let mut packet = plain[..20].to_vec();
        packet[IPV4_PROTOCOL] = 51;
        let total = u16::try_from(plain.len() + 24).unwrap();
        packet[IPV4_TOTAL_LEN..IPV4_TOTAL_LEN + 2].copy_from_slice(&total.to_be_bytes());
        packet.extend([6, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
        packet.extend([0xab; 12]);
        packet.extend(&plain[20..]);
        packet
    }

    #[derive(Clone, Copy)]
    enum Ext {
        HopByHop,
        DestOptions,
        Routing,
        Fragment { offset_units: u16, more: bool },
        Auth,
    }

    impl Ext {
        fn number(self) -> u8 {
            match self {
                Ext::HopByHop => 0,
                Ext::DestOptions => 60,
                Ext::Routing => 43,
                Ext::Fragment { .. } => 44,
                Ext::Auth => 51,
            }
        }

        /// The header with a 0 next-header byte, filled in by `ipv6_with`.
        fn bytes(self) -> Vec<u8> {
            match self {
                // PadN over the remaining six bytes.
                Ext::HopByHop | Ext::DestOptions => vec![0, 0, 1, 4, 0, 0, 0, 0],
                // An experimental routing type with no segments left.
                Ext::Routing => vec![0, 0, 253, 0, 0, 0, 0, 0],
                Ext::Fragment { offset_units, more } => {
                    let field = offset_units << 3 | u16::from(more);
                    let [high, low] = field.to_be_bytes();
                    vec![0, 0, high, low, 0, 0, 0x43, 0x21]
                }
                Ext::Auth => {
                    let mut bytes = vec![0, 4, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1];
                    bytes.extend([0xcd; 12]);
                    bytes
                }
            }
        }
    }

    /// `plain` (an IPv6 packet without extensions) with `exts` inserted after its header.
    fn ipv6_with(plain: &[u8], exts: &[Ext]) -> Vec<u8> {
        let protocol = plain[IPV6_NEXT_HEADER];
        let mut packet = plain[..IPV6_HEADER_LEN].to_vec();
        let mut next_slot = IPV6_NEXT_HEADER;
        for ext in exts {
            packet[next_slot] = ext.number();
            next_slot = packet.len();
            packet.extend(ext.bytes());
        }
        packet[next_slot] = protocol;
        packet.extend(&plain[IPV6_HEADER_LEN..]);
        let payload_len = u16::try_from(packet.len() - IPV6_HEADER_LEN).unwrap();
        packet[IPV6_PAYLOAD_LEN..IPV6_PAYLOAD_LEN + 2].copy_from_slice(&payload_len.to_be_bytes());
        packet
    }

    fn ethernet(ethertype: u16) -> Vec<u8> {
        let mut header = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
        header.extend(ethertype.to_be_bytes());
        header
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    fn mpls(label: u32, bottom: bool) -> [u8; 4] {
        (label << 12 | u32::from(bottom) << 8 | 255).to_be_bytes()
    }

    /// A PPPoE session header whose length covers the PPP protocol and `payload`.
    fn pppoe(ppp_protocol: u16, payload: &[u8]) -> Vec<u8> {
        let len = u16::try_from(payload.len() + 2).unwrap().to_be_bytes();
        let header: &[u8] = &[0x11, 0x00, 0xbe, 0xef, len[0], len[1]];
        cat(&[header, &ppp_protocol.to_be_bytes(), payload])
    }

    fn ethernet_frames() -> Vec<Frame> {
        let v4 = ipv4_tcp();
        let v6 = ipv6_udp();
        let first_fragment = Ext::Fragment {
            offset_units: 0,
            more: true,
        };
        let later_fragment = Ext::Fragment {
            offset_units: 181,
            more: false,
        };
        let ip_frames = [
            ipv4_udp(),
            ipv6_tcp(),
            ipv4_as(132),
            ipv4_as(33),
            ipv4_as(136),
            ipv4_as(47),
            ipv4_fragment(0, true),
            ipv4_fragment(185, true),
            ipv4_fragment(370, false),
            ipv4_ah_tcp(),
            ipv6_with(
                &ipv6_udp(),
                &[Ext::HopByHop, Ext::DestOptions, Ext::Routing],
            ),
            ipv6_with(&ipv6_udp(), &[Ext::HopByHop, first_fragment]),
            ipv6_with(&ipv6_udp(), &[later_fragment]),
            ipv6_with(&ipv6_tcp(), &[Ext::Auth]),
            ipv6_with(&ipv6_tcp(), &[Ext::DestOptions, first_fragment, Ext::Auth]),
        ];
        let mut frames: Vec<Frame> = ip_frames
            .iter()
            .map(|ip| {
                let ethertype = if ip[0] >> 4 == 4 { 0x0800 } else { 0x86dd };
                whole(cat(&[&ethernet(ethertype), ip]))
            })
            .collect();
        frames.extend(
            [
                cat(&[&ethernet(0x8100), &[0, 10, 0x08, 0x00], &v4]),
                cat(&[
                    &ethernet(0x88a8),
                    &[0, 10, 0x81, 0x00],
                    &[0, 20, 0x86, 0xdd],
                    &v6,
                ]),
                cat(&[
                    &ethernet(0x9100),
                    &[0, 10, 0x81, 0x00],
                    &[0, 20, 0x08, 0x00],
                    &v4,
                ]),
                cat(&[&ethernet(0x8847), &mpls(100, true), &v4]),
                cat(&[
                    &ethernet(0x8847),
                    &mpls(100, false),
                    &mpls(200, false),
                    &mpls(300, true),
                    &v6,
                ]),
                cat(&[
                    &ethernet(0x8100),
                    &[0, 10, 0x88, 0x47],
                    &mpls(16, true),
                    &v4,
                ]),
                cat(&[&ethernet(0x8864), &pppoe(0x0021, &v4)]),
                cat(&[&ethernet(0x8100), &[0, 7, 0x88, 0x64], &pppoe(0x0057, &v6)]),
                cat(&[&ethernet(0x8864), &pppoe(0xc021, &[1, 1, 0, 4])]),
                cat(&[&ethernet(0x8863), &[0x11, 0x09, 0, 0, 0, 0]]),
                cat(&[&ethernet(0x0806), &[0, 1, 8, 0, 6, 4, 0, 1], &[0; 20]]),
                cat(&[&ethernet(0x88cc), &[0x02, 0x07, 0x04, 0, 0, 0, 0, 0, 1]]),
                // The EtherType promises IPv4, the packet is IPv6.
                cat(&[&ethernet(0x0800), &v6]),
                // An Ethernet pseudowire with a control word under MPLS.
                cat(&[
                    &ethernet(0x8847),
                    &mpls(500, true),
                    &[0; 4],
                    &ethernet(0x0800),
                    &v4,
                ]),
                // 802.3 length field, LLC/SNAP header, IPv4.
                cat(&[
                    &ethernet(u16::try_from(8 + v4.len()).unwrap()),
                    &[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00],
                    &v4,
                ]),
            ]
            .into_iter()
            .map(whole),
        );
        // Snaplen cuts: inside the TCP ports, right after them, inside the IPv6 header.
        let full = cat(&[&ethernet(0x0800), &v4]);
        for captured in [14 + 20 + 2, 14 + 20 + 4, 14 + 10] {
            frames.push(Frame {
                bytes: full[..captured].to_vec(),
                wire_len: u32::try_from(full.len()).unwrap(),
            });
        }
        frames
    }

    fn outer_ipv4(protocol: u8, payload: &[u8]) -> Vec<u8> {
        let mut packet = Vec::new();
        PacketBuilder::ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
            .write(&mut packet, IpNumber(protocol), payload)
            .unwrap();
        packet
    }

    fn outer_ipv6(protocol: u8, payload: &[u8]) -> Vec<u8> {
        let mut packet = Vec::new();
        let (src, dst) = (
            [0x20, 1, 0xd, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0x20, 1, 0xd, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        );
        PacketBuilder::ipv6(src, dst, 64)
            .write(&mut packet, IpNumber(protocol), payload)
            .unwrap();
        packet
    }

    fn outer_udp(dst_port: u16, payload: &[u8]) -> Vec<u8> {
        let mut packet = Vec::new();
        PacketBuilder::ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
            .udp(50000, dst_port)
            .write(&mut packet, payload)
            .unwrap();
        packet
    }

    fn in_ethernet(ip: &[u8]) -> Frame {
        let ethertype = if ip[0] >> 4 == 4 { 0x0800 } else { 0x86dd };
        whole(cat(&[&ethernet(ethertype), ip]))
    }

    /// GRE: flags, version, protocol type, then the optional fields the flags announce.
    fn gre(flags: u8, version: u8, protocol: u16, optional: &[u8]) -> Vec<u8> {
        cat(&[&[flags, version], &protocol.to_be_bytes(), optional])
    }

    /// A GTP-U header (version 1, protocol type GTP, plus `flags`) whose length covers
    /// `optional` and `rest`, followed by `optional`.
    fn gtp_u(flags: u8, message_type: u8, optional: &[u8], rest: &[u8]) -> Vec<u8> {
        let len = u16::try_from(optional.len() + rest.len()).unwrap();
        cat(&[
            &[0x30 | flags, message_type],
            &len.to_be_bytes(),
            &[0, 0, 0, 7],
            optional,
        ])
    }

    /// An L2TPv2 data message with the length, sequence numbers and a 2-byte offset pad.
    fn l2tp_data(ppp: &[u8]) -> Vec<u8> {
        const HEADER_LEN: usize = 16;
        let [high, low] = u16::try_from(HEADER_LEN + ppp.len()).unwrap().to_be_bytes();
        let header = [0x4a, 0x02, high, low, 0, 1, 0, 2, 0, 3, 0, 4, 0, 2, 0, 0];
        cat(&[&header, ppp])
    }

    /// Tunnelled frames tshark dissects to their inner packets, and how many of them
    /// decapsulation must open (the others carry no IP inside and keep their outer flow).
    pub fn tunnel_frames() -> (Vec<Frame>, usize) {
        let v4 = ipv4_udp();
        let v6 = ipv6_tcp();
        let eth_v4 = cat(&[&ethernet(0x0800), &v4]);
        let eth_v6 = cat(&[&ethernet(0x86dd), &v6]);
        let ppp_v4 = cat(&[&[0xff, 0x03, 0x00, 0x21], &v4]);
        let arp = cat(&[&ethernet(0x0806), &[0, 1, 8, 0, 6, 4, 0, 1], &[0; 20]]);
        let opened = [
            outer_ipv4(4, &v4),
            outer_ipv4(41, &v6),
            outer_ipv6(41, &v6),
            outer_ipv6(4, &v4),
            outer_ipv4(47, &cat(&[&gre(0, 0, 0x0800, &[]), &v4])),
            // Checksum, key and sequence number.
            outer_ipv4(
                47,
                &cat(&[
                    &gre(0xb0, 0, 0x86dd, &[0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 1]),
                    &v6,
                ]),
            ),
            // Transparent Ethernet bridging with a VLAN tag inside.
            outer_ipv4(
                47,
                &cat(&[
                    &gre(0x20, 0, 0x6558, &[0, 0, 0, 9]),
                    &ethernet(0x8100),
                    &[0, 100, 0x08, 0x00],
                    &v4,
                ]),
            ),
            outer_ipv4(47, &cat(&[&gre(0, 0, 0x8847, &[]), &mpls(16, true), &v4])),
            // PPTP: enhanced GRE with key, sequence and acknowledgment numbers.
            outer_ipv4(
                47,
                &cat(&[
                    &gre(0x30, 0x81, 0x880b, &[0, 60, 0, 5, 0, 0, 0, 3, 0, 0, 0, 2]),
                    &ppp_v4,
                ]),
            ),
            // ERSPAN I, II, III (with the optional subheader), III carrying IP.
            outer_ipv4(47, &cat(&[&gre(0, 0, 0x88be, &[]), &eth_v4])),
            outer_ipv4(
                47,
                &cat(&[
                    &gre(0x10, 0, 0x88be, &[0, 0, 0, 1]),
                    &[0x10, 0x05, 0x00, 0x07, 0, 0, 0, 1],
                    &eth_v6,
                ]),
            ),
            outer_ipv4(
                47,
                &cat(&[
                    &gre(0x10, 0, 0x22eb, &[0, 0, 0, 1]),
                    &[0x20, 0x05, 0x00, 0x07, 1, 2, 3, 4, 0, 0, 0x00, 0x01],
                    &[0; 8],
                    &eth_v4,
                ]),
            ),
            outer_ipv4(
                47,
                &cat(&[
                    &gre(0x10, 0, 0x22eb, &[0, 0, 0, 1]),
                    &[0x20, 0x05, 0x00, 0x07, 1, 2, 3, 4, 0, 0, 0x08, 0x00],
                    &v6,
                ]),
            ),
            outer_udp(4789, &cat(&[&[0x08, 0, 0, 0, 0, 0, 5, 0], &eth_v6])),
            // GENEVE with one 8-byte option, carrying Ethernet; and carrying IPv4.
            outer_udp(
                6081,
                &cat(&[
                    &[0x02, 0x00, 0x65, 0x58, 0, 0, 5, 0],
                    &[0x01, 0x02, 0x03, 0x01, 0, 0, 0, 1],
                    &eth_v4,
                ]),
            ),
            outer_udp(6081, &cat(&[&[0, 0, 0x86, 0xdd, 0, 0, 5, 0], &v6])),
            outer_udp(2152, &cat(&[&gtp_u(0, 255, &[], &v4), &v4])),
            // Sequence number and a PDU session container extension header.
            outer_udp(
                2152,
                &cat(&[
                    &gtp_u(0x06, 255, &[0, 9, 0, 0x85, 1, 0x10, 0x09, 0], &v6),
                    &v6,
                ]),
            ),
            // L2TPv2 data with length, sequence numbers and a 2-byte offset pad.
            outer_udp(1701, &l2tp_data(&ppp_v4)),
            // Teredo with authentication and origin indicators.
            outer_udp(
                3544,
                &cat(&[
                    &[0, 1, 2, 3, 0xa, 0xb, 1, 2, 3],
                    &[0; 9],
                    &[0, 0, 0x12, 0x34, 1, 2, 3, 4],
                    &v6,
                ]),
            ),
            // IPv4 in IPv6 carrying PPTP.
            outer_ipv6(
                4,
                &outer_ipv4(
                    47,
                    &cat(&[&gre(0x20, 0x01, 0x880b, &[0, 60, 0, 5]), &ppp_v4]),
                ),
            ),
        ];
        let kept = [
            outer_udp(4789, &cat(&[&[0x08, 0, 0, 0, 0, 0, 5, 0], &arp])),
            outer_udp(2152, &gtp_u(0x02, 1, &[0, 1, 0, 0], &[])),
            outer_udp(1701, &[0xc8, 0x02, 0, 12, 0, 1, 0, 0, 0, 0, 0, 0]),
        ];
        let frames = opened
            .iter()
            .chain(&kept)
            .map(|ip| in_ethernet(ip))
            .collect();
        (frames, opened.len())
    }

    /// Every synthetic capture: its file name, link type, frames, and how many of them
    /// `decode` rejects (so that agreeing on a rejection cannot hide a badly built frame).
    pub fn captures() -> Vec<(&'static str, LinkType, Vec<Frame>, usize)> {
        let v4 = ipv4_tcp();
        let v6 = ipv6_udp();
        let null = |family: [u8; 4], ip: &[u8]| whole(cat(&[&family, ip]));
        let sll = |protocol: u16, payload: &[u8]| {
            whole(cat(&[
                &[0, 0, 0, 1, 0, 6],
                &[2, 0, 0, 0, 0, 1, 0, 0],
                &protocol.to_be_bytes(),
                payload,
            ]))
        };
        let sll2 = |protocol: u16, payload: &[u8]| {
            let header: &[u8] = &[0, 0, 0, 0, 0, 2, 0, 1, 0, 6];
            whole(cat(&[
                &protocol.to_be_bytes(),
                header,
                &[2, 0, 0, 0, 0, 1, 0, 0],
                payload,
            ]))
        };
        vec![
            (
                "synthetic-ethernet",
                LinkType::ETHERNET,
                ethernet_frames(),
                8,
            ),
            (
                "synthetic-sll",
                LinkType::LINUX_SLL,
                vec![
                    sll(0x0800, &v4),
                    sll(0x86dd, &v6),
                    sll(0x8100, &cat(&[&[0, 5, 0x08, 0x00], &v4])),
                    sll(0x0806, &[0, 1, 8, 0, 6, 4, 0, 1]),
                ],
                1,
            ),
            (
                "synthetic-sll2",
                LinkType::LINUX_SLL2,
                vec![
                    sll2(0x0800, &v4),
                    sll2(0x86dd, &v6),
                    sll2(0x0806, &[0, 1, 8, 0]),
                ],
                1,
            ),
            (
                "synthetic-null",
                LinkType::NULL,
                vec![
                    null(2u32.to_le_bytes(), &v4),
                    null(2u32.to_be_bytes(), &v4),
                    null(24u32.to_le_bytes(), &v6),
                    null(28u32.to_be_bytes(), &v6),
                    null(30u32.to_le_bytes(), &v6),
                    null(7u32.to_le_bytes(), &v4),
                ],
                1,
            ),
            (
                "synthetic-loop",
                LinkType::LOOP,
                vec![
                    null(2u32.to_be_bytes(), &v4),
                    null(24u32.to_be_bytes(), &v6),
                ],
                0,
            ),
            (
                "synthetic-ppp",
                LinkType::PPP,
                vec![
                    whole(cat(&[&[0xff, 0x03, 0x00, 0x21], &v4])),
                    whole(cat(&[&[0xff, 0x03, 0x00, 0x57], &v6])),
                    whole(cat(&[&[0xff, 0x03, 0xc0, 0x21], &[1, 1, 0, 4]])),
                ],
                1,
            ),
            (
                "synthetic-ppp-hdlc",
                LinkType::PPP_HDLC,
                vec![
                    whole(cat(&[&[0xff, 0x03, 0x00, 0x21], &v4])),
                    whole(cat(&[&[0xff, 0x03, 0x00, 0x57], &v6])),
                ],
                0,
            ),
            (
                "synthetic-raw",
                LinkType::RAW,
                vec![whole(v4.clone()), whole(v6.clone()), whole(vec![0x55; 24])],
                1,
            ),
            ("synthetic-ipv4", LinkType::IPV4, vec![whole(v4.clone())], 0),
            ("synthetic-ipv6", LinkType::IPV6, vec![whole(v6.clone())], 0),
        ]
    }
}

/// Writes a classic little-endian pcap file by hand (its format is two fixed headers).
fn write_pcap(path: &Path, link: LinkType, frames: &[synthetic::Frame]) {
    const MAGIC: u32 = 0xa1b2_c3d4;
    const SNAPLEN: u32 = 65535;
    let mut file = Vec::new();
    file.extend(MAGIC.to_le_bytes());
    file.extend(2u16.to_le_bytes());
    file.extend(4u16.to_le_bytes());
    file.extend([0; 8]);
    file.extend(SNAPLEN.to_le_bytes());
    file.extend(u32::try_from(link.0).unwrap().to_le_bytes());
    for (second, frame) in (1u32..).zip(frames) {
        file.extend(second.to_le_bytes());
        file.extend(0u32.to_le_bytes());
        file.extend(u32::try_from(frame.bytes.len()).unwrap().to_le_bytes());
        file.extend(frame.wire_len.to_le_bytes());
        file.extend(&frame.bytes);
    }
    std::fs::write(path, file).unwrap();
}

#[test]
fn decode_agrees_with_tshark_on_synthetic_encapsulations() {
    let temp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (name, link, frames, rejected) in synthetic::captures() {
        let path = temp.path().join(format!("{name}.pcap"));
        write_pcap(&path, link, &frames);
        match compare(name, &path, SYNTHETIC_ALLOWED) {
            Ok(figures) => {
                for (mode, f) in MODES.iter().zip(figures) {
                    eprintln!(
                        "{name:<24} {mode:?}: {:>3} packets, {:>3} rejected",
                        f.packets, f.rejected
                    );
                    assert_eq!(f.packets, frames.len(), "{name}");
                    assert_eq!(f.rejected, rejected, "{name}: frames decode rejects");
                }
            }
            Err(problems) => failures.push(format!("{name}: {}", problems.join("; "))),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn decap_agrees_with_tshark_on_synthetic_tunnels() {
    let temp = tempfile::tempdir().unwrap();
    let (frames, opened) = synthetic::tunnel_frames();
    let path = temp.path().join("synthetic-tunnels.pcap");
    write_pcap(&path, LinkType::ETHERNET, &frames);
    let figures =
        compare("synthetic-tunnels", &path, SYNTHETIC_ALLOWED).unwrap_or_else(|problems| {
            panic!("synthetic-tunnels: {}", problems.join("; "));
        });
    let [outer, decap] = figures;
    assert_eq!((outer.rejected, decap.rejected), (0, 0));
    // Agreeing with tshark's innermost layer means something only where it is not the outer.
    assert_eq!(decap.opened, opened, "frames decapsulation opened");
    assert_eq!(decap.fell_back, frames.len() - opened);
}
