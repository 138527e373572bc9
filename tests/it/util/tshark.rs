//! tshark as the independent reference for whole-program and decode tests: runs tshark with
//! reassembly off on a capture and keys every frame by its outermost IP five-tuple, the way
//! hhmon's flow key is defined. Knows nothing of hhmon's decoder; only its `FlowKey` type is
//! borrowed to hold the answer. What `--decap` needs (the innermost key) is in `tunnels`,
//! which reads the same rows.
//!
//! tshark is the slow part of the suite, so its output is cached under the build's temporary
//! directory, keyed by the bytes of the capture, tshark's arguments and the tshark executable:
//! each capture is dissected once per build directory, not once per test. Shared by both test
//! binaries.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::Hasher;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use hhmon::decode::FlowKey;

/// One packet as tshark dissected it: its wire length, and the row of fields its keys are read
/// from when asked. The keys are not stored: the system tests need only the outermost one, and
/// a field one of the two binaries never read would be dead code there.
#[derive(Debug)]
pub struct TsharkPacket {
    /// `frame.len`: the length on the wire.
    pub wire_len: u32,
    columns: Vec<String>,
}

impl TsharkPacket {
    /// The row's layers and fields.
    pub fn row(&self) -> Row<'_> {
        let protocols = first(&self.columns[field_index("frame.protocols")]);
        Row {
            layers: protocols.split(':').collect(),
            columns: &self.columns,
        }
    }

    /// The outermost IP five-tuple; `None` when the frame has no IP layer.
    pub fn key(&self) -> Option<FlowKey> {
        let row = self.row();
        row.ip_layers().first().and_then(|&at| row.key(at))
    }
}

/// The tshark fields read, in column order.
const FIELDS: &[&str] = &[
    "frame.len",
    "frame.protocols",
    "ip.src",
    "ip.dst",
    "ip.proto",
    "ip.frag_offset",
    "ah.next_header",
    "ipv6.src",
    "ipv6.dst",
    "ipv6.nxt",
    "ipv6.hopopts.nxt",
    "ipv6.routing.nxt",
    "ipv6.dstopts.nxt",
    "ipv6.fraghdr.nxt",
    "ipv6.fraghdr.offset",
    "tcp.srcport",
    "tcp.dstport",
    "udp.srcport",
    "udp.dstport",
    "sctp.srcport",
    "sctp.dstport",
    "dccp.srcport",
    "dccp.dstport",
];

/// The `-o` preferences that turn reassembly off, so that tshark shows frames as captured.
const NO_REASSEMBLY: &[&str] = &[
    "ip.defragment:FALSE",
    "ipv6.defragment:FALSE",
    "tcp.desegment_tcp_streams:FALSE",
];

/// What tshark printed for one capture.
pub struct Dissection {
    /// tshark exited 0.
    pub success: bool,
    /// Its standard output.
    pub stdout: String,
}

/// `tshark -n -r <path> <args>`, from the cache when this capture's bytes were dissected with
/// the same arguments by the same tshark before; fails the test if tshark cannot run.
pub fn dissect(path: &Path, args: &[&str]) -> Dissection {
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    // SipHash with fixed keys: stable for one toolchain, and a new toolchain only dissects anew.
    let mut hasher = DefaultHasher::new();
    hasher.write(&bytes);
    for arg in args {
        hasher.write(arg.as_bytes());
        hasher.write_u8(0);
    }
    hasher.write(tshark_identity().as_bytes());
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tshark-cache");
    let entry = dir.join(format!("{:016x}-{}.txt", hasher.finish(), bytes.len()));
    if let Ok(text) = std::fs::read_to_string(&entry) {
        if let Some((status, stdout)) = text.split_once('\n') {
            return Dissection {
                success: status == "ok",
                stdout: stdout.to_owned(),
            };
        }
    }
    let output = Command::new("tshark")
        .arg("-n")
        .arg("-r")
        .arg(path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("tshark must be installed to run this test: {e}"));
    let dissection = Dissection {
        success: output.status.success(),
        stdout: String::from_utf8(output.stdout).unwrap(),
    };
    // Written aside and renamed into place: tests running at once never read half an entry.
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    std::fs::create_dir_all(&dir).unwrap();
    let aside = dir.join(format!(
        ".{}-{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let status = if dissection.success { "ok" } else { "failed" };
    std::fs::write(&aside, format!("{status}\n{}", dissection.stdout)).unwrap();
    std::fs::rename(&aside, &entry).unwrap();
    dissection
}

/// The tshark executable first on `PATH`, by path, size and modification time, so that an
/// upgraded tshark dissects again.
fn tshark_identity() -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("tshark"))
        .find_map(|candidate| {
            let meta = std::fs::metadata(&candidate).ok()?;
            Some(format!(
                "{} {} {:?}",
                candidate.display(),
                meta.len(),
                meta.modified().ok()
            ))
        })
        .unwrap_or_default()
}

/// tshark's dissection of `path`. Every value of a field is kept (occurrence=a), outermost
/// first, so that the IPv6 extension chain can be followed; the single-valued fields use the
/// first.
pub fn tshark(path: &Path) -> Vec<TsharkPacket> {
    let mut args = Vec::new();
    for pref in NO_REASSEMBLY {
        args.extend(["-o", pref]);
    }
    args.extend(["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a"]);
    args.extend(["-E", "aggregator=,"]);
    for field in FIELDS {
        args.extend(["-e", field]);
    }
    // tshark exits non-zero on a damaged file after printing what it could read; the row
    // counts are checked against libpcap's instead.
    dissect(path, &args)
        .stdout
        .lines()
        .map(parse_tshark_row)
        .collect()
}

fn parse_tshark_row(line: &str) -> TsharkPacket {
    let columns: Vec<String> = line.split('\t').map(str::to_owned).collect();
    assert_eq!(columns.len(), FIELDS.len(), "tshark row {line:?}");
    TsharkPacket {
        wire_len: first(&columns[field_index("frame.len")]).parse().unwrap(),
        columns,
    }
}

fn field_index(field: &str) -> usize {
    FIELDS.iter().position(|f| *f == field).unwrap()
}

/// The first of a column's comma-separated occurrences.
fn first(column: &str) -> &str {
    column.split(',').find(|v| !v.is_empty()).unwrap_or("")
}

/// One tshark row: its layers (`frame.protocols`) and every occurrence of every field.
/// Occurrences come in dissection order, so the n-th occurrence of a field belongs to the
/// n-th layer that carries it.
pub struct Row<'a> {
    /// The layers tshark dissected, outermost first.
    pub layers: Vec<&'a str>,
    columns: &'a [String],
}

impl<'a> Row<'a> {
    /// Every occurrence of `field`, outermost first.
    fn all(&self, field: &str) -> Vec<&'a str> {
        self.columns[field_index(field)]
            .split(',')
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// The indices in `layers` of the IP layers before any ICMP layer (an ICMP error quotes a
    /// packet, it does not carry one).
    pub fn ip_layers(&self) -> Vec<usize> {
        self.layers
            .iter()
            .take_while(|layer| !layer.starts_with("icmp"))
            .enumerate()
            .filter(|(_, layer)| **layer == "ip" || **layer == "ipv6")
            .map(|(at, _)| at)
            .collect()
    }

    /// Occurrences of `field` from the one the layer at `at` owns on, given the names of the
    /// layers that carry the field.
    fn from(&self, field: &str, carriers: &[&str], at: usize) -> Vec<&'a str> {
        let before = self.layers[..at]
            .iter()
            .filter(|l| carriers.contains(l))
            .count();
        self.all(field).into_iter().skip(before).collect()
    }

    fn nth(&self, field: &str, carriers: &[&str], at: usize) -> Option<&'a str> {
        self.from(field, carriers, at).first().copied()
    }

    /// The five-tuple of the IP layer at index `at` of `frame.protocols`.
    pub fn key(&self, at: usize) -> Option<FlowKey> {
        let byte = |v: &str| v.parse::<u8>().unwrap();
        let (src, dst, protocol, later_fragment) = if self.layers[at] == "ip" {
            let ip = |field| self.nth(field, &["ip"], at);
            let mut protocol = byte(ip("ip.proto")?);
            let later_fragment = ip("ip.frag_offset").is_some_and(|v| v != "0");
            if self.layers.get(at + 1) == Some(&"ah") {
                protocol = byte(self.nth("ah.next_header", &["ah"], at + 1)?);
            }
            (ip("ip.src")?, ip("ip.dst")?, protocol, later_fragment)
        } else {
            let (protocol, later_fragment) = self.ipv6_protocol(at)?;
            let ip = |field| self.nth(field, &["ipv6"], at);
            (ip("ipv6.src")?, ip("ipv6.dst")?, protocol, later_fragment)
        };
        // The transport is the first layer after the IP header and its extension headers; a
        // tunnel or an ICMP error quoting a packet puts other layers (and other ports) there.
        let transport = (at + 1..self.layers.len())
            .find(|&t| !self.layers[t].starts_with("ipv6.") && self.layers[t] != "ah");
        let port_fields = match transport.map(|t| (t, self.layers[t])) {
            _ if later_fragment => None,
            Some((t, "tcp")) => Some((t, "tcp.srcport", "tcp.dstport", &["tcp"][..])),
            Some((t, "udp" | "udplite")) => {
                Some((t, "udp.srcport", "udp.dstport", &["udp", "udplite"][..]))
            }
            Some((t, "sctp")) => Some((t, "sctp.srcport", "sctp.dstport", &["sctp"][..])),
            Some((t, "dccp")) => Some((t, "dccp.srcport", "dccp.dstport", &["dccp"][..])),
            _ => None,
        };
        let (src_port, dst_port) = port_fields.map_or((0, 0), |(t, src, dst, carriers)| {
            let port = |field| {
                self.nth(field, carriers, t)
                    .map_or(0, |v: &str| v.parse::<u16>().unwrap())
            };
            (port(src), port(dst))
        });
        Some(FlowKey {
            src: src.parse::<IpAddr>().unwrap(),
            dst: dst.parse::<IpAddr>().unwrap(),
            src_port,
            dst_port,
            protocol,
        })
    }

    /// Follows the extension chain of the IPv6 layer at `at` through tshark's per-header
    /// next-header fields: each header type consumes its own occurrences, starting after
    /// those of the layers before. Returns the final protocol and whether this is a later
    /// fragment.
    fn ipv6_protocol(&self, at: usize) -> Option<(u8, bool)> {
        let byte = |v: &str| v.parse::<u8>().unwrap();
        let mut next = byte(self.nth("ipv6.nxt", &["ipv6"], at)?);
        let mut consumed: BTreeMap<&str, usize> = BTreeMap::new();
        let mut take = |field: &'static str, carrier: &'static str| {
            let taken = consumed.entry(field).or_insert(0);
            *taken += 1;
            self.from(field, &[carrier], at).get(*taken - 1).copied()
        };
        loop {
            let (field, carrier) = match next {
                0 => ("ipv6.hopopts.nxt", "ipv6.hopopts"),
                43 => ("ipv6.routing.nxt", "ipv6.routing"),
                60 => ("ipv6.dstopts.nxt", "ipv6.dstopts"),
                51 => ("ah.next_header", "ah"),
                44 => {
                    let offset = take("ipv6.fraghdr.offset", "ipv6.fraghdr");
                    let Some(after) = take("ipv6.fraghdr.nxt", "ipv6.fraghdr") else {
                        return Some((next, false));
                    };
                    next = byte(after);
                    if offset.is_some_and(|o| o != "0") {
                        return Some((next, true));
                    }
                    continue;
                }
                _ => return Some((next, false)),
            };
            match take(field, carrier) {
                Some(after) => next = byte(after),
                // tshark stopped inside the chain (cut capture): the last header is the protocol.
                None => return Some((next, false)),
            }
        }
    }
}

/// A table of (packets, wire bytes) per key.
pub type Counts<K> = BTreeMap<K, (u64, u64)>;

/// Counts one frame of `wire_len` bytes for `key`.
pub fn add<K: Ord>(counts: &mut Counts<K>, key: K, wire_len: u32) {
    let entry = counts.entry(key).or_default();
    entry.0 += 1;
    entry.1 += u64::from(wire_len);
}

/// Frame timestamps in seconds since the epoch, from tshark, in frame order.
pub fn frame_times(path: &Path) -> Vec<f64> {
    let dissection = dissect(path, &["-T", "fields", "-e", "frame.time_epoch"]);
    assert!(dissection.success, "tshark -r {}", path.display());
    dissection
        .stdout
        .lines()
        .map(|line| line.parse().unwrap())
        .collect()
}
