//! Writes seed inputs from the shipped captures:
//! `seed_corpus <captures dir> <decode corpus dir> <pcap_file corpus dir> <netflow corpus dir>`.
//!
//! For `decode`, each input is the link-type selector byte the target reads, then one frame,
//! read with hhmon's own capture reader (libpcap, gzip included), so no other tool is needed.
//! For `pcap_file`, each input is the header selector byte, then the records of one
//! uncompressed classic pcap file as they are on disk, damage included. For `netflow`, each
//! input is the datagrams of one NetFlow/IPFIX export in `captures/flow-telemetry/`
//! (templates, then options, then data), framed as the target reads them.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use hhmon::capture::{FileSource, PacketSource};

/// The large captures repeat a few packet shapes thousands of times; their first frames
/// cover those shapes, and a smaller corpus keeps the fuzzer's start fast.
const MAX_PER_CAPTURE: usize = 1000;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [captures, decode, pcap_file, netflow] = &args[..] else {
        eprintln!(
            "usage: seed_corpus <captures dir> <decode corpus dir> <pcap_file corpus dir> \
             <netflow corpus dir>"
        );
        return ExitCode::FAILURE;
    };
    let seeded = seed(captures, decode)
        .and_then(|frames| {
            eprintln!("{frames} seed inputs in {}", decode.display());
            seed_records(captures, pcap_file)
        })
        .and_then(|files| {
            eprintln!("{files} seed inputs in {}", pcap_file.display());
            seed_netflow(&captures.join("flow-telemetry"), netflow)
        });
    match seeded {
        Ok(exports) => {
            eprintln!("{exports} seed inputs in {}", netflow.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("seed_corpus: {error}");
            ExitCode::FAILURE
        }
    }
}

fn seed(captures: &Path, corpus: &Path) -> Result<usize, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(corpus)?;
    let paths = capture_paths(captures)?;
    let mut seen = HashSet::new();
    for path in &paths {
        // Files libpcap refuses have no frames to give.
        let Ok(mut source) = FileSource::open(path) else {
            continue;
        };
        let Some(selector) = hhmon_fuzz::selector(source.link_type()) else {
            continue;
        };
        let stem = path.file_name().unwrap_or_default().to_string_lossy();
        for index in 0..MAX_PER_CAPTURE {
            let Ok(Some(packet)) = source.next_packet() else {
                break;
            };
            let input = [&[selector][..], packet.data].concat();
            if seen.insert(input.clone()) {
                std::fs::write(corpus.join(format!("{stem}-{index}")), input)?;
            }
        }
    }
    Ok(seen.len())
}

/// One `netflow` input per export: the `netflow-*.pcap` files that share a stem once their
/// `-template`, `-options-template`, `-options-data` and `-data` suffixes are taken off,
/// templates first, each datagram framed as `[exporter 1, arrival step 1, length, bytes]`.
fn seed_netflow(flows: &Path, corpus: &Path) -> Result<usize, Box<dyn std::error::Error>> {
    use std::collections::BTreeMap;
    std::fs::create_dir_all(corpus)?;
    const ORDER: [&str; 4] = ["-template", "-options-template", "-options-data", "-data"];
    let mut exports: BTreeMap<String, Vec<(usize, PathBuf)>> = BTreeMap::new();
    for path in capture_paths(flows)? {
        let name = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        if !name.starts_with("netflow-") {
            continue;
        }
        // The longest suffix that matches: "-options-template" before "-template".
        let (rank, stem) = ORDER
            .iter()
            .enumerate()
            .filter_map(|(rank, suffix)| Some((rank, name.strip_suffix(suffix)?)))
            .max_by_key(|(_, stem)| std::cmp::Reverse(stem.len()))
            .map_or((0, name.as_str()), |(rank, stem)| (rank, stem));
        exports.entry(stem.to_owned()).or_default().push((rank, path.clone()));
    }
    for (stem, mut files) in exports.iter_mut().map(|(s, f)| (s, std::mem::take(f))) {
        files.sort();
        let mut input = Vec::new();
        for (_, path) in files {
            let mut source = FileSource::open(&path)?;
            let link = source.link_type();
            while let Ok(Some(packet)) = source.next_packet() {
                let Some((_, payload)) = hhmon::telemetry::udp_payload(link, packet.data) else {
                    continue;
                };
                let len = u16::try_from(payload.len())?;
                input.extend([1, 1]);
                input.extend(len.to_be_bytes());
                input.extend(payload);
            }
        }
        std::fs::write(corpus.join(stem), input)?;
    }
    Ok(exports.len())
}

/// The records of a large capture are cut to about this many bytes (at a record boundary):
/// their first records show its shapes, and small inputs keep the fuzzer fast.
const MAX_RECORD_BYTES: usize = 16 * 1024;

/// One input per classic pcap file (not compressed, not the modified formats): the selector
/// of a header with the file's byte order and precision, and with its snapshot length and
/// link type when the table holds them (else the maximum and Ethernet, which change nothing
/// in how its records are read), then its records.
fn seed_records(captures: &Path, corpus: &Path) -> Result<usize, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(corpus)?;
    let mut written = 0;
    for path in capture_paths(captures)? {
        let bytes = std::fs::read(&path)?;
        let Some((header, records)) =
            bytes.split_first_chunk::<{ hhmon_fuzz::PCAP_HEADER_BYTES }>()
        else {
            continue;
        };
        let (big_endian, nanosecond) = match header[..4] {
            [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
            [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
            [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
            [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
            _ => continue,
        };
        let word = |at: usize| {
            let bytes = [header[at], header[at + 1], header[at + 2], header[at + 3]];
            if big_endian {
                u32::from_be_bytes(bytes)
            } else {
                u32::from_le_bytes(bytes)
            }
        };
        let (snaplen, link) = (word(16), word(20));
        let snaplen = if hhmon_fuzz::SNAPLENS.contains(&snaplen) {
            snaplen
        } else {
            262_144
        };
        let link = if hhmon_fuzz::PCAP_LINK_TYPES.contains(&link) {
            link
        } else {
            1
        };
        let selector = hhmon_fuzz::pcap_selector(big_endian, nanosecond, snaplen, link)
            .ok_or("the header table lacks the maximum snapshot length or Ethernet")?;
        let records = &records[..record_prefix(records, big_endian)];
        let stem = path.file_name().unwrap_or_default().to_string_lossy();
        std::fs::write(
            corpus.join(stem.as_ref()),
            [&[selector][..], records].concat(),
        )?;
        written += 1;
    }
    Ok(written)
}

/// How many bytes of `records` to keep: all of them when they fit [`MAX_RECORD_BYTES`], else
/// the whole records that do, so the cut adds no damage the capture does not have.
fn record_prefix(records: &[u8], big_endian: bool) -> usize {
    if records.len() <= MAX_RECORD_BYTES {
        return records.len();
    }
    let mut at = 0;
    while let Some(header) = records.get(at..).and_then(<[u8]>::first_chunk::<16>) {
        let captured = [header[8], header[9], header[10], header[11]];
        let captured = if big_endian {
            u32::from_be_bytes(captured)
        } else {
            u32::from_le_bytes(captured)
        };
        let next = at + 16 + captured as usize;
        if next > MAX_RECORD_BYTES.min(records.len()) {
            break;
        }
        at = next;
    }
    at
}

fn capture_paths(captures: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(captures)?
        .map(|entry| entry.map(|e| e.path()))
        .filter(|path| path.as_ref().map_or(true, |p| is_capture(p)))
        .collect::<Result<_, _>>()?;
    paths.sort();
    Ok(paths)
}

fn is_capture(path: &Path) -> bool {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    [".pcap", ".pcapng", ".pcap.gz", ".pcapng.gz"]
        .iter()
        .any(|suffix| name.ends_with(suffix))
}
