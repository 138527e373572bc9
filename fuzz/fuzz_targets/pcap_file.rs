//! Fuzzes hhmon's own reader of classic pcap records (`src/capture/pcap_file.rs`) through the
//! public API: the input's first byte picks a valid file header (`hhmon_fuzz::pcap_header`),
//! the rest are the records. The file goes to disk because `FileSource` reads only files, and
//! libpcap must accept the header before hhmon's reader takes over; a fixed header keeps the
//! fuzzer in the record parser rather than in libpcap's header check.
//!
//! Beyond not panicking, the reader must terminate (every record consumes at least its
//! 16-byte header, and after an error it hands out nothing more) and hand out exactly what
//! libpcap reads from the same file, record for record, ending where libpcap ends and failing
//! where it fails.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use hhmon::capture::{FileSource, PacketSource};
use libfuzzer_sys::fuzz_target;
use pcap::{Capture, Precision};

/// The smallest record: its header alone.
const RECORD_HEADER_BYTES: usize = 16;

/// One file per fuzzing process, rewritten for every input: in /dev/shm when there is one,
/// so the runs stay off the disk.
fn input_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let shm = PathBuf::from("/dev/shm");
        let base = if shm.is_dir() {
            shm
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("hhmon-fuzz-pcap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the fuzz input directory");
        dir.join("input.pcap")
    })
}

/// What libpcap reads from the file: (timestamp ns as hhmon computes it, wire length, bytes)
/// per record, and whether it stopped with an error rather than at the end.
fn libpcap_records(path: &PathBuf) -> (Vec<(u64, u32, Vec<u8>)>, bool) {
    let mut capture =
        Capture::from_file_with_precision(path, Precision::Nano).expect("libpcap opens the file");
    let mut records = Vec::new();
    loop {
        match capture.next_packet() {
            Ok(packet) => {
                let header = packet.header;
                let seconds = u64::try_from(header.ts.tv_sec).unwrap_or(0);
                let nanos = u64::try_from(header.ts.tv_usec).unwrap_or(0);
                let timestamp = seconds.saturating_mul(1_000_000_000).saturating_add(nanos);
                records.push((timestamp, header.len, packet.data.to_vec()));
            }
            Err(pcap::Error::NoMorePackets) => return (records, false),
            Err(_) => return (records, true),
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, records)) = input.split_first() else {
        return;
    };
    let path = input_path();
    let file = [&hhmon_fuzz::pcap_header(selector)[..], records].concat();
    std::fs::write(path, file).expect("write the fuzz input");

    let mut source = FileSource::open(path).expect("the header is valid");
    let mut read = Vec::new();
    let failed = loop {
        match source.next_packet() {
            Ok(Some(packet)) => {
                read.push((
                    packet.timestamp_nanos,
                    packet.wire_len,
                    packet.data.to_vec(),
                ));
                assert!(
                    read.len() <= records.len() / RECORD_HEADER_BYTES,
                    "more records than the input holds"
                );
            }
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    assert!(
        matches!(source.next_packet(), Ok(None)),
        "the reader goes on after it stopped"
    );

    let (expected, libpcap_failed) = libpcap_records(path);
    assert_eq!(
        read.len(),
        expected.len(),
        "record count differs from libpcap"
    );
    for (index, (ours, theirs)) in read.iter().zip(&expected).enumerate() {
        assert_eq!(ours, theirs, "record {index} differs from libpcap");
    }
    assert_eq!(failed, libpcap_failed, "libpcap ended differently");
});
