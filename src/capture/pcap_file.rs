//! Classic pcap records read straight from a large buffer, without libpcap's two `fread`s and
//! copy per record: for uncompressed regular files, where a record costs about 540 instructions
//! read through libpcap and about 90 read here (docs/BENCHMARKS.md, "Hot path: cost per
//! packet"). It reproduces what libpcap 1.10 hands out for such a
//! file (timestamps, lengths, the snapshot-length cut, where damage stops the reading), so the
//! choice of reader changes nothing a user can see but the speed.
//!
//! Knows nothing of what the frames contain, nor of pcapng, gzip or pipes: `file.rs` lets libpcap
//! open and validate the file first, and uses this reader only when [`Format::parse`] and
//! [`reads_like_libpcap`] say the records need nothing libpcap does beyond reading them.

use super::Packet;
use crate::decode::LinkType;
use std::io::{self, Read};

/// Bytes of the file header; the first record starts here.
pub(super) const FILE_HEADER_BYTES: usize = 24;

/// Bytes of a record header: seconds, fraction, captured length, wire length.
const RECORD_HEADER_BYTES: usize = 16;

/// The read buffer: a refill costs one `read` per 256 KiB (a larger record, up to 16 +
/// [`MAX_CAPTURED_BYTES`], grows it), and the buffer is small
/// enough that the kernel's copy into it does not push the sketches out of a core's L2 cache:
/// replay of the benchmark trace took 4-5% less time than with 1 MiB (512 KiB: 2%; 64 and
/// 128 KiB: as 256).
pub(super) const BUFFER_BYTES: usize = 256 << 10;

/// libpcap's `MAXIMUM_SNAPLEN`: a larger captured length is refused as damage. (A few link
/// types allow more; [`reads_like_libpcap`] leaves those to libpcap.)
const MAX_CAPTURED_BYTES: u32 = 262_144;

/// Link types whose records libpcap rewrites whatever the byte order: USB_LINUX_MMAPPED (220,
/// the wire length is recomputed), and the three with a larger captured-length limit than
/// [`MAX_CAPTURED_BYTES`]: DBUS (231), USBPCAP (249), EBHSCR (279).
const LIBPCAP_ALWAYS: [i32; 4] = [220, 231, 249, 279];

/// Link types whose pseudo-headers libpcap byte-swaps in a file of the other byte order:
/// LINUX_SLL (113, SocketCAN identifiers), PFLOG (117), USB_LINUX (189), NFLOG (239),
/// LINUX_SLL2 (276).
const LIBPCAP_WHEN_SWAPPED: [i32; 5] = [113, 117, 189, 239, 276];

/// What a classic pcap file header says about the records after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Format {
    /// The file was written in the other byte order than this machine's.
    swapped: bool,
    /// Timestamps carry nanoseconds (magic a1b23c4d) rather than microseconds (a1b2c3d4).
    nanosecond: bool,
    /// The snapshot length from the header.
    snaplen: u32,
}

impl Format {
    /// Reads a file header: `Some` for a classic pcap file of version 2.4 with the micro- or
    /// nanosecond magic in either byte order, `None` for anything else (pcapng, the modified
    /// formats, versions before 2.4 whose length fields may be swapped, a short header), which
    /// is libpcap's to read.
    pub(super) fn parse(header: &[u8]) -> Option<Self> {
        let header = header.first_chunk::<FILE_HEADER_BYTES>()?;
        let (magic, rest) = header.split_first_chunk::<4>()?;
        let (major, rest) = rest.split_first_chunk::<2>()?;
        let (minor, rest) = rest.split_first_chunk::<2>()?;
        // Time zone and significant figures: always 0, and libpcap ignores them.
        let (_, rest) = rest.split_first_chunk::<8>()?;
        // The link type after it is libpcap's to map.
        let (snaplen, _) = rest.split_first_chunk::<4>()?;
        let (swapped, nanosecond) = match u32::from_ne_bytes(*magic) {
            0xa1b2_c3d4 => (false, false),
            0xa1b2_3c4d => (false, true),
            0xd4c3_b2a1 => (true, false),
            0x4d3c_b2a1 => (true, true),
            _ => return None,
        };
        let half = |bytes: [u8; 2]| {
            let value = u16::from_ne_bytes(bytes);
            if swapped {
                value.swap_bytes()
            } else {
                value
            }
        };
        let snaplen = u32::from_ne_bytes(*snaplen);
        ((half(*major), half(*minor)) == (2, 4)).then_some(Self {
            swapped,
            nanosecond,
            snaplen: if swapped {
                snaplen.swap_bytes()
            } else {
                snaplen
            },
        })
    }
}

/// Whether this reader hands out exactly what libpcap would for a file of `format` whose link
/// type libpcap reported as `link_type`: false for the link types libpcap rewrites or limits
/// differently.
pub(super) fn reads_like_libpcap(format: Format, link_type: LinkType) -> bool {
    !(LIBPCAP_ALWAYS.contains(&link_type.0)
        || format.swapped && LIBPCAP_WHEN_SWAPPED.contains(&link_type.0))
}

/// Why reading stopped part-way. The words follow libpcap's ("truncated dump file", "invalid
/// packet capture length"), with the byte offset of the record at fault.
#[derive(Debug, thiserror::Error)]
pub(super) enum RecordError {
    /// The file ends inside a record header.
    #[error(
        "truncated dump file: the record header at byte offset {offset} has {available} of \
         {RECORD_HEADER_BYTES} bytes"
    )]
    TruncatedHeader {
        /// Where the record starts.
        offset: u64,
        /// The bytes left in the file.
        available: usize,
    },
    /// The file ends inside a record's captured bytes.
    #[error(
        "truncated dump file: the record at byte offset {offset} has {available} of its \
         {captured} captured bytes"
    )]
    TruncatedData {
        /// Where the record starts.
        offset: u64,
        /// The captured length in its header.
        captured: u32,
        /// The bytes left in the file after the record header.
        available: usize,
    },
    /// A captured length no capture writes: the header is damaged.
    #[error(
        "invalid packet capture length {captured} in the record at byte offset {offset}, \
         bigger than the maximum of {MAX_CAPTURED_BYTES}"
    )]
    CaptureTooLong {
        /// Where the record starts.
        offset: u64,
        /// The captured length in its header.
        captured: u32,
    },
    /// The operating system failed the read.
    #[error("error reading dump file at byte offset {offset}: {source}")]
    Io {
        /// Where the record being read starts.
        offset: u64,
        /// The operating system's error.
        source: io::Error,
    },
}

/// Reads the records of a classic pcap file from `R`, positioned at the first record.
///
/// Records are handed out as slices of one buffer: a refill moves the unread part (the start
/// of a record cut by the previous read) to the front and reads as much as fits behind it.
pub(super) struct PcapReader<R> {
    input: R,
    format: Format,
    /// libpcap's snapshot length: a longer record is cut to it.
    snapshot: usize,
    /// Always at least one record header long, and grown to hold any record that needs more.
    buffer: Vec<u8>,
    /// The unread bytes are `buffer[start..end]`.
    start: usize,
    end: usize,
    /// The file offset of `buffer[0]`.
    buffer_offset: u64,
}

impl<R: Read> PcapReader<R> {
    /// A reader of `input`, which is positioned at the first record of a file of `format`.
    /// `buffer_bytes` is the size of the read buffer (at least one record header).
    pub(super) fn new(input: R, format: Format, buffer_bytes: usize) -> Self {
        // libpcap (pcap_adjust_snapshot) takes a zero snapshot length for the maximum. (It
        // does so for one above i32::MAX too, but any above the maximum cuts nothing.)
        let snapshot = match format.snaplen {
            0 => MAX_CAPTURED_BYTES,
            snaplen => snaplen,
        };
        Self {
            input,
            format,
            snapshot: usize::try_from(snapshot).unwrap_or(usize::MAX),
            buffer: vec![0; buffer_bytes.max(RECORD_HEADER_BYTES)],
            start: 0,
            end: 0,
            buffer_offset: FILE_HEADER_BYTES as u64,
        }
    }

    /// The file offset of the next unread byte: the bytes consumed so far.
    pub(super) fn offset(&self) -> u64 {
        self.buffer_offset + self.start as u64
    }

    /// The next record, `Ok(None)` when the file ends at a record boundary.
    ///
    /// A captured length above the snapshot length is cut to it, as libpcap does, and its
    /// bytes beyond it skipped.
    ///
    /// # Errors
    ///
    /// [`RecordError`] when the file ends inside a record, a captured length is impossible, or
    /// the read fails. Nothing is consumed: asked again, the reader fails again.
    // Inlined into `FileSource::next_packet`: the call and the copy of its result cost a
    // third of the reading (callgrind: 121 instructions per record as a call, 91 inlined).
    #[inline(always)]
    pub(super) fn next_packet(&mut self) -> Result<Option<Packet<'_>>, RecordError> {
        // Twice at most: the second time after a refill brought the whole record in.
        loop {
            let start = self.start;
            let header = self
                .buffer
                .get(start..self.end)
                .and_then(<[u8]>::first_chunk::<RECORD_HEADER_BYTES>)
                .copied();
            let Some(header) = header else {
                if self.refill(RECORD_HEADER_BYTES, None)? {
                    continue;
                }
                return Ok(None);
            };
            let [s0, s1, s2, s3, f0, f1, f2, f3, c0, c1, c2, c3, w0, w1, w2, w3] = header;
            let fields = [
                [s0, s1, s2, s3],
                [f0, f1, f2, f3],
                [c0, c1, c2, c3],
                [w0, w1, w2, w3],
            ]
            .map(u32::from_ne_bytes);
            let [seconds, fraction, captured, wire_len] = if self.format.swapped {
                fields.map(u32::swap_bytes)
            } else {
                fields
            };
            if captured > MAX_CAPTURED_BYTES {
                return Err(RecordError::CaptureTooLong {
                    offset: self.offset(),
                    captured,
                });
            }
            // At most MAX_CAPTURED_BYTES, so it fits any usize this code builds for.
            let data_start = start + RECORD_HEADER_BYTES;
            let data_end = data_start + captured as usize;
            if data_end > self.end {
                self.refill(data_end - start, Some(captured))?;
                continue;
            }
            let timestamp_nanos = self.timestamp_nanos(seconds, fraction);
            let snapshot = self.snapshot;
            self.start = data_end;
            // Within `..self.end`, checked above.
            let data = self.buffer.get(data_start..data_end).unwrap_or_default();
            return Ok(Some(Packet {
                timestamp_nanos,
                wire_len,
                data: data.get(..snapshot).unwrap_or(data),
            }));
        }
    }

    /// Brings `needed` unread bytes into the buffer for the record at the read position,
    /// whose header gives `captured` bytes (`None` while the header itself is incomplete).
    /// `Ok(false)` when the input ends exactly at the record, an error when it ends inside.
    #[cold]
    fn refill(&mut self, needed: usize, captured: Option<u32>) -> Result<bool, RecordError> {
        let offset = self.offset();
        self.fill(needed)
            .map_err(|source| RecordError::Io { offset, source })?;
        let available = self.end - self.start;
        if available >= needed {
            return Ok(true);
        }
        match captured {
            None if available == 0 => Ok(false),
            None => Err(RecordError::TruncatedHeader { offset, available }),
            Some(captured) => Err(RecordError::TruncatedData {
                offset,
                captured,
                available: available.saturating_sub(RECORD_HEADER_BYTES),
            }),
        }
    }

    /// Moves the unread bytes to the front of the buffer (growing it if `n` bytes would not
    /// fit) and reads until `n` bytes are unread or the input ends.
    fn fill(&mut self, n: usize) -> io::Result<()> {
        self.buffer.copy_within(self.start..self.end, 0);
        self.buffer_offset += self.start as u64;
        self.end -= self.start;
        self.start = 0;
        if self.buffer.len() < n {
            self.buffer.resize(n, 0);
        }
        while self.end < n {
            let Some(space) = self.buffer.get_mut(self.end..) else {
                break;
            };
            match self.input.read(space) {
                Ok(0) => break,
                Ok(read) => self.end += read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// The timestamp hhmon reads from libpcap for a record's raw time fields. libpcap widens
    /// them to its 64-bit `timeval` as signed values when the file is in this machine's byte
    /// order but as unsigned ones when it swaps them, and multiplies microseconds by 1000 in
    /// 64 bits; `file.rs` then counts a negative field as 0. (No overflow: below 2^32
    /// seconds and 2^42 nanoseconds.)
    fn timestamp_nanos(&self, seconds: u32, fraction: u32) -> u64 {
        let widen = |raw: u32| match raw {
            0x8000_0000.. if !self.format.swapped => 0,
            raw => u64::from(raw),
        };
        let scale = if self.format.nanosecond { 1 } else { 1000 };
        widen(seconds) * 1_000_000_000 + widen(fraction) * scale
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::capture::file::nanos_since_epoch;
    use proptest::prelude::*;
    use std::io::Cursor;
    use std::path::{Path, PathBuf};

    /// (timestamp ns, wire length, captured bytes) of one record.
    type Record = (u64, u32, Vec<u8>);

    /// What a reader gave: the records, and the reason it stopped early, if it did.
    pub(in crate::capture) type Outcome = (Vec<Record>, Option<String>);

    /// What libpcap itself gives for `path`, read with nanosecond precision, converted to a
    /// timestamp as `file.rs` converts libpcap's.
    pub(in crate::capture) fn libpcap(path: &Path) -> Outcome {
        let mut capture =
            pcap::Capture::from_file_with_precision(path, pcap::Precision::Nano).unwrap();
        let mut records = Vec::new();
        loop {
            match capture.next_packet() {
                Ok(packet) => records.push((
                    nanos_since_epoch(
                        u64::try_from(packet.header.ts.tv_sec).unwrap_or(0),
                        u64::try_from(packet.header.ts.tv_usec).unwrap_or(0),
                    ),
                    packet.header.len,
                    packet.data.to_vec(),
                )),
                Err(pcap::Error::NoMorePackets) => return (records, None),
                Err(error) => return (records, Some(error.to_string())),
            }
        }
    }

    /// What [`PcapReader`] gives for the file `bytes` with a read buffer of `buffer_bytes`.
    fn plain(bytes: &[u8], buffer_bytes: usize) -> Outcome {
        let format = Format::parse(bytes).unwrap();
        let mut input = Cursor::new(bytes);
        input.set_position(FILE_HEADER_BYTES as u64);
        read_all(PcapReader::new(input, format, buffer_bytes))
    }

    fn read_all(mut reader: PcapReader<impl Read>) -> Outcome {
        let mut records = Vec::new();
        loop {
            match reader.next_packet() {
                Ok(Some(packet)) => {
                    records.push((
                        packet.timestamp_nanos,
                        packet.wire_len,
                        packet.data.to_vec(),
                    ));
                }
                Ok(None) => return (records, None),
                Err(error) => return (records, Some(error.to_string())),
            }
        }
    }

    /// Asserts that both readers gave the same records and that both stopped early or neither.
    pub(in crate::capture) fn assert_same(plain: &Outcome, libpcap: &Outcome, what: &str) {
        assert_eq!(plain.0.len(), libpcap.0.len(), "{what}: record count");
        assert_eq!(plain.0, libpcap.0, "{what}");
        assert_eq!(
            plain.1.is_some(),
            libpcap.1.is_some(),
            "{what}: ours {:?}, libpcap {:?}",
            plain.1,
            libpcap.1
        );
    }

    #[test]
    fn every_shipped_classic_capture_reads_as_libpcap_reads_it_through_a_tiny_buffer() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            // Subdirectories (flow-telemetry/) hold captures of other kinds.
            .filter(|path| path.is_file())
            .collect();
        names.sort();
        // Every classic pcap file in captures/ (captures/README.md) but the one with the
        // modified (Kuznetzov) magic, which is libpcap's to read.
        let expected_plain: Vec<String> = names
            .iter()
            .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".pcap") && name != "modified-pcap-magic.pcap")
            .collect();
        assert!(expected_plain.len() > 30);
        let mut plain_files = Vec::new();
        for path in names {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&path).unwrap();
            let Some(format) = Format::parse(&bytes) else {
                continue;
            };
            let expected = libpcap(&path);
            let link_type = pcap::Capture::from_file(&path).unwrap().get_datalink().0;
            assert!(reads_like_libpcap(format, LinkType(link_type)), "{name}");
            // A tiny buffer, which cuts nearly every record (file.rs's tests read them all with
            // the production buffer).
            assert_same(&plain(&bytes, 40), &expected, &name);
            plain_files.push(name);
        }
        assert_eq!(plain_files, expected_plain);
    }

    #[test]
    fn damaged_captures_stop_where_libpcap_stops_with_the_record_offset() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
        // libpcap: "tried to read 16896 captured bytes, only got 8756" for the second record
        // (24 + 16 + 74 bytes in) and "tried to read 16 header bytes, only got 7" for the
        // second record (24 + 16 + 200 bytes in).
        for (name, reason) in [
            (
                "damaged-records.pcap",
                "truncated dump file: the record at byte offset 114 has 8756 of its 16896 \
                 captured bytes",
            ),
            (
                "truncated-last-record.pcap",
                "truncated dump file: the record header at byte offset 240 has 7 of 16 bytes",
            ),
        ] {
            let bytes = std::fs::read(dir.join(name)).unwrap();
            let (records, error) = plain(&bytes, BUFFER_BYTES);
            assert_eq!(records.len(), 1, "{name}");
            assert_eq!(error.as_deref(), Some(reason), "{name}");
        }
    }

    /// A classic pcap file: the header, then each record with its captured length taken from
    /// its data. `captured_override` replaces the captured length field of every record.
    fn pcap_file(
        big_endian: bool,
        nanosecond: bool,
        snaplen: u32,
        records: &[(u32, u32, u32, Vec<u8>)],
    ) -> Vec<u8> {
        let put16 = |out: &mut Vec<u8>, value: u16| {
            out.extend(if big_endian {
                value.to_be_bytes()
            } else {
                value.to_le_bytes()
            });
        };
        let put32 = |out: &mut Vec<u8>, value: u32| {
            out.extend(if big_endian {
                value.to_be_bytes()
            } else {
                value.to_le_bytes()
            });
        };
        let mut out = Vec::new();
        put32(&mut out, if nanosecond { 0xa1b2_3c4d } else { 0xa1b2_c3d4 });
        put16(&mut out, 2);
        put16(&mut out, 4);
        put32(&mut out, 0);
        put32(&mut out, 0);
        put32(&mut out, snaplen);
        put32(&mut out, 1);
        for (seconds, fraction, wire, data) in records {
            put32(&mut out, *seconds);
            put32(&mut out, *fraction);
            put32(&mut out, data.len() as u32);
            put32(&mut out, *wire);
            out.extend(data);
        }
        out
    }

    fn libpcap_of(bytes: &[u8]) -> Outcome {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.pcap");
        std::fs::write(&path, bytes).unwrap();
        libpcap(&path)
    }

    /// Three records of 0, 5 and 300 captured bytes.
    fn small_records() -> Vec<(u32, u32, u32, Vec<u8>)> {
        vec![
            (1_600_000_000, 999_999, 60, Vec::new()),
            (1_600_000_001, 1, 5, vec![1, 2, 3, 4, 5]),
            (
                1_600_000_002,
                123,
                1500,
                (0..300).map(|i| i as u8).collect(),
            ),
        ]
    }

    #[test]
    fn every_cut_gives_the_whole_records_before_it_then_an_error() {
        for big_endian in [false, true] {
            for nanosecond in [false, true] {
                let file = pcap_file(big_endian, nanosecond, 65535, &small_records());
                // Where each record ends, from the layout: header, then 16 + caplen each.
                let ends = [24 + 16, 24 + 16 + 16 + 5, 24 + 16 + 16 + 5 + 16 + 300];
                assert_eq!(*ends.last().unwrap(), file.len());
                let whole = plain(&file, BUFFER_BYTES);
                assert_eq!(whole.0.len(), 3);
                assert_eq!(whole.1, None);
                for cut in FILE_HEADER_BYTES..=file.len() {
                    let what = format!("big endian {big_endian}, ns {nanosecond}, cut {cut}");
                    let complete = ends.iter().filter(|&&end| end <= cut).count();
                    let at_boundary = cut == FILE_HEADER_BYTES || ends.contains(&cut);
                    for buffer_bytes in [BUFFER_BYTES, 16, 37] {
                        let (records, error) = plain(&file[..cut], buffer_bytes);
                        assert_eq!(records, whole.0[..complete], "{what}");
                        assert_eq!(error.is_none(), at_boundary, "{what}: {error:?}");
                        if let Some(error) = error {
                            let offset = if complete == 0 {
                                24
                            } else {
                                ends[complete - 1]
                            };
                            assert!(
                                error.contains(&format!("at byte offset {offset} ")),
                                "{what}: {error}"
                            );
                        }
                    }
                    // libpcap agrees, cut for cut.
                    assert_same(
                        &plain(&file[..cut], BUFFER_BYTES),
                        &libpcap_of(&file[..cut]),
                        &what,
                    );
                }
            }
        }
    }

    #[test]
    fn timestamps_lengths_and_data_come_out_as_written() {
        // Independent of libpcap: the values put in by `pcap_file`.
        for big_endian in [false, true] {
            let (records, _) = plain(&pcap_file(big_endian, false, 65535, &small_records()), 64);
            assert_eq!(
                records[0],
                (1_600_000_000 * 1_000_000_000 + 999_999_000, 60, Vec::new())
            );
            assert_eq!(
                records[1],
                (
                    1_600_000_001 * 1_000_000_000 + 1_000,
                    5,
                    vec![1, 2, 3, 4, 5]
                )
            );
            let (records, _) = plain(&pcap_file(big_endian, true, 65535, &small_records()), 64);
            assert_eq!(records[2].0, 1_600_000_002 * 1_000_000_000 + 123);
            assert_eq!(records[2].1, 1500);
            assert_eq!(records[2].2, (0..300).map(|i| i as u8).collect::<Vec<_>>());
        }
    }

    #[test]
    fn records_longer_than_the_snapshot_length_are_cut_to_it_and_skipped_past() {
        let file = pcap_file(false, false, 100, &small_records());
        let (records, error) = plain(&file, 64);
        assert_eq!(error, None);
        assert_eq!(records[2].2, (0..100).map(|i| i as u8).collect::<Vec<_>>());
        assert_same(&(records, error), &libpcap_of(&file), "snaplen 100");
    }

    #[test]
    fn captured_lengths_up_to_libpcaps_maximum_read_and_beyond_it_stop() {
        // 262144 bytes is libpcap's MAXIMUM_SNAPLEN: accepted (and cut to a 65535 snapshot
        // length), one more is damage whatever the snapshot length says.
        for (snaplen, captured, readable) in [
            (0, 262_144, true),
            (65535, 262_144, true),
            (0x7fff_ffff, 262_144, true),
            (0, 262_145, false),
            (0x7fff_ffff, 262_145, false),
            (0x7fff_ffff, u32::MAX, false),
        ] {
            let mut file = pcap_file(false, true, snaplen, &small_records()[..1]);
            file.extend(7u32.to_le_bytes());
            file.extend(0u32.to_le_bytes());
            file.extend(captured.to_le_bytes());
            file.extend(captured.to_le_bytes());
            file.extend(vec![0xab; 262_145]);
            let what = format!("snaplen {snaplen}, captured {captured}");
            let ours = plain(&file, BUFFER_BYTES);
            assert_eq!(ours.0.len(), 1 + usize::from(readable), "{what}");
            if readable {
                let kept = if snaplen == 65535 { 65535 } else { 262_144 };
                assert_eq!(ours.0[1].2.len(), kept, "{what}");
            } else {
                let error = ours.1.as_deref().unwrap();
                assert!(error.contains("invalid packet capture length"), "{error}");
                assert!(error.contains("byte offset 40,"), "{error}");
            }
            assert_same(&ours, &libpcap_of(&file), &what);
        }
    }

    #[test]
    fn a_record_larger_than_the_buffer_grows_it() {
        let records = vec![(1, 2, 3, vec![9; 5000]), (4, 5, 6, vec![8; 10])];
        let file = pcap_file(true, false, 0, &records);
        let (read, error) = plain(&file, 100);
        assert_eq!(error, None);
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].2, vec![9; 5000]);
        assert_eq!(read[1].2, vec![8; 10]);
    }

    #[test]
    fn only_classic_pcap_version_2_4_is_read_here() {
        let file = pcap_file(false, false, 65535, &[]);
        assert!(Format::parse(&file).is_some());
        assert!(Format::parse(&file[..23]).is_none());
        // Modified (Kuznetzov) magic, pcapng, gzip.
        for magic in [
            [0x34, 0xcd, 0xb2, 0xa1],
            [0x0a, 0x0d, 0x0d, 0x0a],
            [0x1f, 0x8b, 0x08, 0x00],
        ] {
            let mut other = file.clone();
            other[..4].copy_from_slice(&magic);
            assert!(Format::parse(&other).is_none(), "{magic:x?}");
        }
        // Version 2.3 files may have their length fields swapped: libpcap's to guess.
        let mut old = file.clone();
        old[6] = 3;
        assert!(Format::parse(&old).is_none());
    }

    #[test]
    fn link_types_libpcap_rewrites_are_left_to_it() {
        let native = Format::parse(&pcap_file(cfg!(target_endian = "big"), false, 0, &[]));
        let swapped = Format::parse(&pcap_file(cfg!(target_endian = "little"), false, 0, &[]));
        let (native, swapped) = (native.unwrap(), swapped.unwrap());
        // Ethernet, RAW and LINUX_SLL in this machine's byte order are read here.
        for link_type in [1, 12, 113] {
            assert!(reads_like_libpcap(native, LinkType(link_type)));
        }
        assert!(reads_like_libpcap(swapped, LinkType(1)));
        // SLL (CAN identifiers) and NFLOG are byte-swapped by libpcap; USB mmapped always
        // has its wire length fixed, DBUS allows 128 MiB records.
        assert!(!reads_like_libpcap(swapped, LinkType(113)));
        assert!(!reads_like_libpcap(swapped, LinkType(239)));
        assert!(!reads_like_libpcap(native, LinkType(220)));
        assert!(!reads_like_libpcap(native, LinkType(231)));
    }

    /// Gives its bytes a few at a time, interrupted now and then, and fails at the end.
    struct Flaky {
        bytes: Vec<u8>,
        at: usize,
        calls: usize,
    }

    impl Read for Flaky {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls % 3 == 0 {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let rest = &self.bytes[self.at..];
            if rest.is_empty() {
                return Err(io::Error::other("disk on fire"));
            }
            let n = rest.len().min(out.len()).min(7);
            out[..n].copy_from_slice(&rest[..n]);
            self.at += n;
            Ok(n)
        }
    }

    #[test]
    fn short_and_interrupted_reads_are_retried_and_read_errors_reported() {
        let file = pcap_file(false, false, 65535, &small_records());
        let format = Format::parse(&file).unwrap();
        let input = Flaky {
            bytes: file[FILE_HEADER_BYTES..].to_vec(),
            at: 0,
            calls: 0,
        };
        let (records, error) = read_all(PcapReader::new(input, format, 64));
        assert_eq!(records, plain(&file, BUFFER_BYTES).0);
        let error = error.unwrap();
        assert!(
            error.starts_with(&format!(
                "error reading dump file at byte offset {}",
                file.len()
            )),
            "{error}"
        );
        assert!(error.ends_with("disk on fire"), "{error}");
    }

    /// Raw record headers as a file might hold them, damaged or not: any timestamp fields,
    /// captured lengths around the snapshot length, any wire length.
    fn records() -> impl Strategy<Value = Vec<(u32, u32, u32, Vec<u8>)>> {
        prop::collection::vec(
            (
                any::<u32>(),
                prop_oneof![any::<u32>(), 0..1_000_000u32],
                any::<u32>(),
                prop::collection::vec(any::<u8>(), 0..200),
            ),
            0..12,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn random_files_and_cuts_read_as_libpcap_reads_them(
            big_endian in any::<bool>(),
            nanosecond in any::<bool>(),
            snaplen in prop_oneof![Just(0u32), 1..300u32, Just(0x8000_0000u32), any::<u32>()],
            records in records(),
            cut in any::<prop::sample::Index>(),
            buffer_bytes in 1..400usize,
        ) {
            let file = pcap_file(big_endian, nanosecond, snaplen, &records);
            let cut = FILE_HEADER_BYTES + cut.index(file.len() - FILE_HEADER_BYTES + 1);
            let file = &file[..cut];
            assert_same(&plain(file, buffer_bytes), &libpcap_of(file), "random file");
        }
    }
}
