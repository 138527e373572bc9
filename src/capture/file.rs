//! Capture files: pcap (micro- or nanosecond, either byte order), pcapng, either of them
//! gzip-compressed, and standard input (`-`). libpcap opens every one of them; the records of an
//! uncompressed classic pcap file are then read by [`PcapReader`], the rest by libpcap. Knows
//! nothing of what the frames contain.

use super::gzip::{self, Inflater};
use super::pcap_file::{self, Format, PcapReader};
use super::{Error, Packet, PacketSource, Progress};
use crate::decode::LinkType;
use pcap::{Capture, Offline, Precision};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// pcapng's Section Header Block type, the first four bytes of every pcapng file.
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Sizes used to estimate the bytes consumed: (file header, per-record header).
/// pcap: 24-byte file header, 16-byte record header. pcapng: Section Header and Interface
/// Description Blocks without options, and an Enhanced Packet Block without options (its
/// padding is ignored): a slight underestimate.
const PCAP_LAYOUT: (u64, u64) = (24, 16);
const PCAPNG_LAYOUT: (u64, u64) = (28 + 20, 32);

/// A capture file, or standard input when the path is `-`.
///
/// Gzip-compressed files are recognised by their magic bytes (or, for a pipe or other
/// non-regular file that cannot be peeked at, by a `.gz` name) and inflated on the fly.
/// Compressed standard input is not recognised: `zcat file.gz | hhmon -` does that.
///
/// The link type is libpcap's DLT value, not the file's LINKTYPE: a LINKTYPE_RAW (101) file
/// reports DLT_RAW, which is 12 on Linux (14 on OpenBSD).
pub struct FileSource {
    /// The path as given, for error messages.
    path: PathBuf,
    link_type: LinkType,
    records: Records,
    /// Set after the end of the input or a read error: every later read returns `Ok(None)`.
    done: bool,
    total_bytes: Option<u64>,
}

/// Who reads the records.
enum Records {
    /// A regular, uncompressed classic pcap file, read from its own buffer.
    Plain(PcapReader<File>),
    /// Everything else, through libpcap.
    Libpcap {
        capture: Capture<Offline>,
        /// Keeps the decompressor's failure report; `None` for uncompressed input.
        inflater: Option<Inflater>,
        record_header_bytes: u64,
        bytes_read: u64,
    },
}

impl FileSource {
    /// Opens a pcap or pcapng file, gzip-compressed or not; `-` reads standard input.
    /// Timestamps come out in nanoseconds whatever the file's precision.
    ///
    /// # Errors
    ///
    /// [`Error::Open`] with the path and the reason when the file is missing or unreadable, or
    /// is not a capture libpcap accepts (bad magic number, pcapng without an interface
    /// description block, corrupt gzip header).
    pub fn open(path: &Path) -> Result<Self, Error> {
        let open_error = |reason: String| Error::Open {
            path: path.to_path_buf(),
            reason,
        };
        if path == Path::new("-") {
            // libpcap itself reads standard input for the name "-".
            return Self::open_with_libpcap(path, path, None, PCAP_LAYOUT, None);
        }
        // The pcap crate passes a null name to libpcap for a path that is not UTF-8.
        if path.to_str().is_none() {
            return Err(open_error("the path is not valid UTF-8".into()));
        }
        let mut file = File::open(path).map_err(|error| open_error(error.to_string()))?;
        let metadata = file
            .metadata()
            .map_err(|error| open_error(error.to_string()))?;
        if !metadata.is_file() {
            // A pipe or device: peeking would eat bytes libpcap needs, so trust the name.
            if path.extension().is_some_and(|extension| extension == "gz") {
                return Self::open_gzip(path, file);
            }
            return Self::open_with_libpcap(path, path, None, PCAP_LAYOUT, None);
        }
        let mut header = Vec::with_capacity(pcap_file::FILE_HEADER_BYTES);
        (&mut file)
            .take(pcap_file::FILE_HEADER_BYTES as u64)
            .read_to_end(&mut header)
            .map_err(|error| open_error(error.to_string()))?;
        if header.starts_with(&gzip::MAGIC) {
            file.seek(SeekFrom::Start(0))
                .map_err(|error| open_error(error.to_string()))?;
            return Self::open_gzip(path, file);
        }
        let layout = if header.starts_with(&PCAPNG_MAGIC) {
            PCAPNG_LAYOUT
        } else {
            PCAP_LAYOUT
        };
        // libpcap opens the file even when its records are read here: its header checks and
        // LINKTYPE to DLT mapping stay the only ones.
        let mut source = Self::open_with_libpcap(path, path, None, layout, Some(metadata.len()))?;
        if let Some(format) = Format::parse(&header) {
            if pcap_file::reads_like_libpcap(format, source.link_type) {
                // `file` is positioned at the first record, just after the header read above.
                source.records =
                    Records::Plain(PcapReader::new(file, format, pcap_file::BUFFER_BYTES));
            }
        }
        Ok(source)
    }

    fn open_gzip(path: &Path, file: File) -> Result<Self, Error> {
        let inflater = Inflater::spawn(file).map_err(|error| Error::Open {
            path: path.to_path_buf(),
            reason: format!("cannot start the decompressor: {error}"),
        })?;
        let pipe = inflater.pipe_path();
        Self::open_with_libpcap(path, &pipe, Some(inflater), PCAP_LAYOUT, None)
    }

    /// Opens `source` with libpcap; `path` is the name the user gave, for messages.
    fn open_with_libpcap(
        path: &Path,
        source: &Path,
        inflater: Option<Inflater>,
        (file_header_bytes, record_header_bytes): (u64, u64),
        total_bytes: Option<u64>,
    ) -> Result<Self, Error> {
        let capture =
            Capture::from_file_with_precision(source, Precision::Nano).map_err(|error| {
                Error::Open {
                    path: path.to_path_buf(),
                    // A corrupt gzip stream shows to libpcap as a short file; the real cause is better.
                    reason: inflater
                        .as_ref()
                        .and_then(Inflater::failure)
                        .map_or_else(|| error.to_string(), str::to_owned),
                }
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            link_type: LinkType(capture.get_datalink().0),
            records: Records::Libpcap {
                capture,
                inflater,
                record_header_bytes,
                bytes_read: file_header_bytes,
            },
            done: false,
            total_bytes,
        })
    }
}

impl PacketSource for FileSource {
    fn link_type(&self) -> LinkType {
        self.link_type
    }

    fn next_packet(&mut self) -> Result<Option<Packet<'_>>, Error> {
        if self.done {
            return Ok(None);
        }
        let reason = match &mut self.records {
            Records::Plain(reader) => match reader.next_packet() {
                Ok(Some(packet)) => return Ok(Some(packet)),
                Ok(None) => None,
                Err(error) => Some(error.to_string()),
            },
            Records::Libpcap {
                capture,
                inflater,
                record_header_bytes,
                bytes_read,
            } => match next_from_libpcap(
                capture,
                inflater.as_ref(),
                *record_header_bytes,
                bytes_read,
                self.total_bytes,
            ) {
                Ok(Some(packet)) => return Ok(Some(packet)),
                Ok(None) => None,
                Err(reason) => Some(reason),
            },
        };
        self.done = true;
        match reason {
            None => Ok(None),
            Some(reason) => Err(Error::Read {
                path: self.path.clone(),
                reason,
            }),
        }
    }

    fn progress(&self) -> Progress {
        let bytes_read = match &self.records {
            Records::Plain(reader) => reader.offset(),
            Records::Libpcap { bytes_read, .. } => *bytes_read,
        };
        Progress {
            bytes_read: self
                .total_bytes
                .map_or(bytes_read, |total| bytes_read.min(total)),
            total_bytes: self.total_bytes,
        }
    }
}

/// The next record from libpcap, or the reason it stopped. `bytes_read` grows by the
/// estimated size of each record and jumps to `total_bytes` (when known) at the end.
fn next_from_libpcap<'a>(
    capture: &'a mut Capture<Offline>,
    inflater: Option<&Inflater>,
    record_header_bytes: u64,
    bytes_read: &mut u64,
    total_bytes: Option<u64>,
) -> Result<Option<Packet<'a>>, String> {
    match capture.next_packet() {
        Ok(packet) => {
            let header = packet.header;
            *bytes_read = bytes_read
                .saturating_add(record_header_bytes)
                .saturating_add(u64::from(header.caplen));
            Ok(Some(Packet {
                timestamp_nanos: nanos_since_epoch(
                    u64::try_from(header.ts.tv_sec).unwrap_or(0),
                    u64::try_from(header.ts.tv_usec).unwrap_or(0),
                ),
                wire_len: header.len,
                data: packet.data,
            }))
        }
        Err(pcap::Error::NoMorePackets) => {
            if let Some(total) = total_bytes {
                *bytes_read = total;
            }
            // The pipe from the decompressor also ends cleanly when it gave up between two
            // records.
            match inflater.and_then(Inflater::failure) {
                Some(reason) => Err(reason.to_owned()),
                None => Ok(None),
            }
        }
        Err(error) => Err(match inflater.and_then(Inflater::failure) {
            Some(reason) => reason.to_owned(),
            None => error.to_string(),
        }),
    }
}

/// With nanosecond precision libpcap puts nanoseconds in the `tv_usec` field. A time past the
/// year 2554 saturates rather than wraps (negative times were mapped to 0 by the caller).
pub(super) fn nanos_since_epoch(seconds: u64, nanos: u64) -> u64 {
    seconds.saturating_mul(1_000_000_000).saturating_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;
    use std::process::{Command, Stdio};

    fn capture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("captures")
            .join(name)
    }

    /// (timestamp ns, wire length, captured length) of one record.
    type Record = (u64, u32, u32);

    /// Reads a source to its end: the records, and the error that stopped it, if any.
    fn read_all(source: &mut impl PacketSource) -> (Vec<Record>, Option<Error>) {
        let mut records = Vec::new();
        loop {
            match source.next_packet() {
                Ok(Some(p)) => records.push((p.timestamp_nanos, p.wire_len, p.data.len() as u32)),
                Ok(None) => return (records, None),
                Err(error) => {
                    // After an error the source must behave as ended.
                    assert!(source.next_packet().unwrap().is_none());
                    return (records, Some(error));
                }
            }
        }
    }

    /// What tshark (Wireshark's own reader, not libpcap) sees: the records, and whether it
    /// found the file cut short. A record without a timestamp (pcapng Simple Packet Block)
    /// shows as 0, which is what libpcap reports for it.
    fn tshark(path: &Path) -> (Vec<Record>, bool) {
        let output = Command::new("tshark")
            .arg("-r")
            .arg(path)
            .args(["-T", "fields", "-e", "frame.time_epoch"])
            .args(["-e", "frame.len", "-e", "frame.cap_len"])
            .output()
            .expect("tshark is installed (scripts/install-deps.sh)");
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let records = stdout
            .lines()
            .map(|line| {
                let fields: Vec<&str> = line.split('\t').collect();
                let nanos = match fields[0].split_once('.') {
                    None => 0,
                    Some((seconds, fraction)) => {
                        seconds.parse::<u64>().unwrap() * 1_000_000_000
                            + format!("{fraction:0<9}")[..9].parse::<u64>().unwrap()
                    }
                };
                (
                    nanos,
                    fields[1].parse().unwrap(),
                    fields[2].parse().unwrap(),
                )
            })
            .collect();
        (records, stderr.contains("cut short"))
    }

    #[test]
    fn reads_what_tshark_reads_from_well_formed_captures() {
        // Both byte orders, micro- and nanosecond pcap, big-endian pcapng, and a large
        // multi-section pcapng.
        for name in [
            "big-endian-micro.pcap",
            "nanosecond-big-endian.pcap",
            "dhcp-nanosecond.pcap",
            "pcapng-big-endian.pcapng",
            "wireshark-samples-mixed.pcapng",
            "dlt-null-loopback.pcap",
        ] {
            let path = capture(name);
            let (expected, cut_short) = tshark(&path);
            assert!(!cut_short && !expected.is_empty(), "{name}");
            let (records, error) = read_all(&mut FileSource::open(&path).unwrap());
            assert!(error.is_none(), "{name}: {error:?}");
            assert_eq!(records, expected, "{name}");
        }
    }

    #[test]
    fn reports_the_data_link_type_of_the_file() {
        // Link types from captures/README.md; libpcap reports LINKTYPE_RAW (101) as DLT_RAW,
        // which is 12 on Linux.
        for (name, link_type) in [
            ("many-protocols.pcap", 1),
            ("dlt-null-loopback.pcap", 0),
            ("linux-sll-smb.pcap", 113),
            ("linux-sll2.pcap", 276),
            ("dlt-ipv4-tcp-badsegments.pcap", 228),
            ("raw-ip-tencent-games.pcap", 12),
            ("wifi-radiotap.pcap.gz", 127),
        ] {
            let source = FileSource::open(&capture(name)).unwrap();
            assert_eq!(source.link_type(), LinkType(link_type), "{name}");
        }
    }

    #[test]
    fn damaged_captures_give_their_good_packets_then_one_read_error() {
        // Expected counts from capinfos and tshark ("cut short in the middle of a packet"
        // after 1 packet each). captures/README.md lists damaged-records.pcap with 2 packets,
        // the count after pcapfix repairs it; unrepaired, only the first record is readable.
        for name in ["truncated-last-record.pcap", "damaged-records.pcap"] {
            let path = capture(name);
            let (expected, cut_short) = tshark(&path);
            assert!(cut_short, "{name}");
            assert_eq!(expected.len(), 1, "{name}");
            let (records, error) = read_all(&mut FileSource::open(&path).unwrap());
            assert_eq!(records, expected, "{name}");
            match error {
                Some(Error::Read { path: at, reason }) => {
                    assert_eq!(at, path);
                    assert!(reason.contains("truncated dump file"), "{name}: {reason}");
                }
                other => panic!("{name}: expected a read error, got {other:?}"),
            }
        }
        // The truncated record is the second: the first keeps its snap length (tshark: 282 on
        // the wire, 200 captured).
        let (records, _) =
            read_all(&mut FileSource::open(&capture("truncated-last-record.pcap")).unwrap());
        assert_eq!((records[0].1, records[0].2), (282, 200));
    }

    #[test]
    fn odd_but_valid_captures_read_like_tshark() {
        // A Kuznetzov-magic pcap (libpcap and tshark both read its one packet) and a pcapng of
        // Simple Packet Blocks without timestamps (capinfos: 4 packets; captures/README.md says
        // 0, which no reader agrees with).
        for (name, packets) in [
            ("modified-pcap-magic.pcap", 1),
            ("pcapng-le-multiblock.pcapng", 4),
        ] {
            let path = capture(name);
            let (expected, cut_short) = tshark(&path);
            assert!(!cut_short);
            assert_eq!(expected.len(), packets, "{name}");
            let (records, error) = read_all(&mut FileSource::open(&path).unwrap());
            assert!(error.is_none(), "{name}: {error:?}");
            assert_eq!(records, expected, "{name}");
        }
    }

    fn open_error(path: &Path) -> String {
        match FileSource::open(path) {
            Err(Error::Open { path: at, reason }) => {
                assert_eq!(at, path);
                reason
            }
            Err(other) => panic!("{}: expected an open error, got {other}", path.display()),
            Ok(_) => panic!("{}: opened", path.display()),
        }
    }

    #[test]
    fn unreadable_captures_fail_to_open_with_path_and_reason() {
        // capinfos: 0 packets, encapsulation unknown; libpcap needs an IDB to know the link type.
        let reason = open_error(&capture("pcapng-no-idb.pcapng"));
        assert!(reason.contains("Interface Description"), "{reason}");
        let reason = open_error(&capture("no-such-file.pcap"));
        assert!(reason.contains("No such file"), "{reason}");

        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pcap");
        std::fs::write(&empty, b"").unwrap();
        open_error(&empty);
        let text = dir.path().join("text.pcap");
        std::fs::write(&text, b"this is not a capture file at all\n").unwrap();
        let reason = open_error(&text);
        assert!(reason.contains("unknown file format"), "{reason}");
        open_error(dir.path());
    }

    #[test]
    fn gzip_captures_are_inflated_on_the_fly() {
        let path = capture("wifi-radiotap.pcap.gz");
        // tshark reads gzip itself; captures/README.md says 4274 packets.
        let (expected, _) = tshark(&path);
        assert_eq!(expected.len(), 4274);
        let mut source = FileSource::open(&path).unwrap();
        let (records, error) = read_all(&mut source);
        assert!(error.is_none(), "{error:?}");
        assert_eq!(records, expected);
        assert_eq!(source.progress().total_bytes, None);
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn gzip_is_recognised_by_magic_whatever_the_name() {
        let plain = std::fs::read(capture("dhcp-nanosecond.pcap")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("compressed.pcap");
        std::fs::write(&path, gzip(&plain)).unwrap();
        let (records, error) = read_all(&mut FileSource::open(&path).unwrap());
        assert!(error.is_none(), "{error:?}");
        assert_eq!(records, tshark(&capture("dhcp-nanosecond.pcap")).0);
    }

    #[test]
    fn a_corrupt_gzip_stream_is_a_read_error_naming_gzip() {
        let plain = std::fs::read(capture("many-protocols.pcap")).unwrap();
        let compressed = gzip(&plain);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.pcap.gz");
        std::fs::write(&path, &compressed[..compressed.len() / 2]).unwrap();
        let (records, error) = read_all(&mut FileSource::open(&path).unwrap());
        // Half the compressed bytes hold some, not all, of the 4709 packets.
        assert!(
            !records.is_empty() && records.len() < 4709,
            "{}",
            records.len()
        );
        match error {
            Some(Error::Read { reason, .. }) => assert!(reason.starts_with("gzip:"), "{reason}"),
            other => panic!("expected a read error, got {other:?}"),
        }
    }

    #[test]
    fn a_gzip_file_that_is_not_a_capture_fails_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let not_capture = dir.path().join("notes.txt.gz");
        std::fs::write(&not_capture, gzip(b"hello, this is not a capture")).unwrap();
        let reason = open_error(&not_capture);
        assert!(reason.contains("unknown file format"), "{reason}");
        let bad_header = dir.path().join("bad.pcap.gz");
        std::fs::write(
            &bad_header,
            [0x1f, 0x8b, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0],
        )
        .unwrap();
        let reason = open_error(&bad_header);
        assert!(reason.starts_with("gzip:"), "{reason}");
    }

    #[test]
    fn progress_counts_pcap_headers_and_captured_bytes_up_to_the_file_size() {
        let path = capture("dhcp-nanosecond.pcap");
        let size = std::fs::metadata(&path).unwrap().len();
        let mut source = FileSource::open(&path).unwrap();
        assert_eq!(
            source.progress(),
            Progress {
                bytes_read: 24,
                total_bytes: Some(size)
            }
        );
        let mut previous = 24;
        while let Some(packet) = source.next_packet().unwrap() {
            let caplen = packet.data.len() as u64;
            // pcap format: a 16-byte record header before each record's captured bytes.
            assert_eq!(source.progress().bytes_read, previous + 16 + caplen);
            previous = source.progress().bytes_read;
        }
        // An intact pcap file is exactly its headers and records.
        assert_eq!(previous, size);
        assert_eq!(source.progress().bytes_read, size);
    }

    #[test]
    fn progress_reaches_the_total_for_pcapng_too() {
        let path = capture("wireshark-samples-mixed.pcapng");
        let size = std::fs::metadata(&path).unwrap().len();
        let mut source = FileSource::open(&path).unwrap();
        let _ = source.next_packet().unwrap();
        let early = source.progress();
        assert!(early.bytes_read > 0 && early.bytes_read < size, "{early:?}");
        let _ = read_all(&mut source);
        assert_eq!(source.progress().bytes_read, size);
    }

    /// Run by `reads_standard_input_from_a_pipe` as a child process with a pipe on its standard
    /// input; prints what it read.
    #[test]
    #[ignore = "runs in a child process of reads_standard_input_from_a_pipe"]
    fn stdin_child() {
        let mut source = FileSource::open(Path::new("-")).unwrap();
        let (records, error) = read_all(&mut source);
        assert!(error.is_none(), "{error:?}");
        assert_eq!(source.progress().total_bytes, None);
        println!("stdin records: {records:?}");
    }

    #[test]
    fn reads_standard_input_from_a_pipe() {
        let path = capture("nanosecond-big-endian.pcap");
        let mut cat = Command::new("cat")
            .arg(&path)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "capture::file::tests::stdin_child"])
            .args(["--include-ignored", "--nocapture", "--test-threads=1"])
            .stdin(cat.stdout.take().unwrap())
            .output()
            .unwrap();
        assert!(cat.wait().unwrap().success());
        let stdout = String::from_utf8_lossy(&child.stdout);
        assert!(child.status.success(), "{stdout}");
        let expected = format!("stdin records: {:?}", tshark(&path).0);
        assert!(stdout.contains(&expected), "{stdout}");
    }

    #[test]
    fn every_shipped_capture_reads_as_libpcap_reads_it() {
        use crate::capture::pcap_file::tests::{assert_same, libpcap, Outcome};
        let dir = tempfile::tempdir().unwrap();
        let mut plain_files = 0;
        for entry in std::fs::read_dir(capture("")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            // Subdirectories (flow-telemetry/) hold captures of other kinds.
            if name == "README.md" || path.is_dir() {
                continue;
            }
            let Ok(mut source) = FileSource::open(&path) else {
                // pcapng-no-idb.pcapng, which libpcap refuses too.
                assert!(pcap::Capture::from_file(&path).is_err(), "{name}");
                continue;
            };
            // libpcap reads no gzip: it gets the inflated file.
            let libpcap_path = if name.ends_with(".gz") {
                let mut inflated = Vec::new();
                flate2::read::GzDecoder::new(File::open(&path).unwrap())
                    .read_to_end(&mut inflated)
                    .unwrap();
                let inflated_path = dir.path().join(name.trim_end_matches(".gz"));
                std::fs::write(&inflated_path, inflated).unwrap();
                inflated_path
            } else {
                path.clone()
            };
            // Every classic pcap file but the modified-magic one is read without libpcap.
            let plain = matches!(source.records, Records::Plain(_));
            assert_eq!(
                plain,
                name.ends_with(".pcap") && name != "modified-pcap-magic.pcap",
                "{name}"
            );
            plain_files += usize::from(plain);
            let mut ours: Outcome = (Vec::new(), None);
            loop {
                match source.next_packet() {
                    Ok(Some(p)) => ours
                        .0
                        .push((p.timestamp_nanos, p.wire_len, p.data.to_vec())),
                    Ok(None) => break,
                    Err(error) => {
                        ours.1 = Some(error.to_string());
                        break;
                    }
                }
            }
            assert_same(&ours, &libpcap(&libpcap_path), &name);
        }
        assert!(plain_files > 30, "{plain_files}");
    }

    #[test]
    fn byte_swapped_files_of_link_types_libpcap_byte_swaps_are_left_to_it() {
        // linux-sll-smb.pcap (little-endian, LINUX_SLL) rewritten big-endian: libpcap then
        // byte-swaps SocketCAN identifiers in its frames, which the plain reader does not.
        let little = std::fs::read(capture("linux-sll-smb.pcap")).unwrap();
        let swap = |bytes: &[u8]| bytes.iter().rev().copied().collect::<Vec<u8>>();
        let mut big = Vec::new();
        big.extend(swap(&little[0..4]));
        big.extend(swap(&little[4..6]));
        big.extend(swap(&little[6..8]));
        for field in little[8..24].chunks(4) {
            big.extend(swap(field));
        }
        let mut at = 24;
        while at < little.len() {
            for field in little[at..at + 16].chunks(4) {
                big.extend(swap(field));
            }
            let captured = u32::from_le_bytes(little[at + 8..at + 12].try_into().unwrap());
            big.extend(&little[at + 16..at + 16 + captured as usize]);
            at += 16 + captured as usize;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sll-big-endian.pcap");
        std::fs::write(&path, &big).unwrap();
        let mut source = FileSource::open(&path).unwrap();
        assert!(matches!(source.records, Records::Libpcap { .. }));
        assert_eq!(source.link_type(), LinkType(113));
        let (records, error) = read_all(&mut source);
        assert!(error.is_none(), "{error:?}");
        let (little_records, _) =
            read_all(&mut FileSource::open(&capture("linux-sll-smb.pcap")).unwrap());
        assert_eq!(records, little_records);
    }

    #[test]
    fn file_sources_can_move_to_a_capture_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<FileSource>();
    }
}
