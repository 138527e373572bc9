//! Classic pcap records read straight from a large buffer, without libpcap's two `fread`s and
//! copy per record: for uncompressed regular files, where libpcap's per-record cost was a
//! quarter of hhmon's whole packet cost. It reproduces what libpcap 1.10 hands out for such a
//! file (timestamps, lengths, the snapshot-length cut, where damage stops the reading), so the
//! choice of reader changes nothing a user can see but the speed.
//!
//! Knows nothing of what the frames contain, nor of pcapng, gzip or pipes: `file.rs` lets libpcap
//! open and validate the file first, and uses this reader only when [`Format::parse`] and
//! [`reads_like_libpcap`] say the records need nothing libpcap does beyond reading them.

use super::file::nanos_since_epoch;
use super::Packet;
use crate::decode::LinkType;
use std::io::{self, Read};

/// Bytes of the file header; the first record starts here.
pub(super) const FILE_HEADER_BYTES: usize = 24;

/// Bytes of a record header: seconds, fraction, captured length, wire length.
const RECORD_HEADER_BYTES: usize = 16;

/// The read buffer. Large enough for any record this reader accepts (16 +
/// [`MAX_CAPTURED_BYTES`]) several times over, so a refill costs one `read` per megabyte.
pub(super) const BUFFER_BYTES: usize = 1 << 20;

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
    /// The file's byte order.
    big_endian: bool,
    /// Timestamps carry nanoseconds (magic a1b23c4d) rather than microseconds (a1b2c3d4).
    nanosecond: bool,
    /// The snapshot length from the header, raw.
    snaplen: u32,
}

impl Format {
    /// Reads a file header: `Some` for a classic pcap file of version 2.4 with the micro- or
    /// nanosecond magic in either byte order, `None` for anything else (pcapng, the modified
    /// formats, versions before 2.4 whose length fields may be swapped, a short header), which
    /// is libpcap's to read.
    pub(super) fn parse(header: &[u8]) -> Option<Self> {
        let (magic, rest) = header.split_first_chunk::<4>()?;
        let (big_endian, nanosecond) = match *magic {
            [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
            [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
            [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
            [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
            _ => return None,
        };
        let (version, rest) = rest.split_first_chunk::<4>()?;
        // Time zone and significant figures: always 0, and libpcap ignores them.
        let (_, rest) = rest.split_first_chunk::<8>()?;
        // The link type after it is libpcap's to map.
        let (snaplen, _) = rest.split_first_chunk::<4>()?;
        let [major_0, major_1, minor_0, minor_1] = *version;
        let version = if big_endian {
            (u16::from_be_bytes([major_0, major_1]), u16::from_be_bytes([minor_0, minor_1]))
        } else {
            (u16::from_le_bytes([major_0, major_1]), u16::from_le_bytes([minor_0, minor_1]))
        };
        (version == (2, 4)).then_some(Self {
            big_endian,
            nanosecond,
            snaplen: word(*snaplen, big_endian),
        })
    }

    /// The file was written in the other byte order than this machine's.
    fn swapped(self) -> bool {
        self.big_endian != cfg!(target_endian = "big")
    }
}

/// Whether this reader hands out exactly what libpcap would for a file of `format` whose link
/// type libpcap reported as `link_type`: false for the link types libpcap rewrites or limits
/// differently.
pub(super) fn reads_like_libpcap(format: Format, link_type: LinkType) -> bool {
    !(LIBPCAP_ALWAYS.contains(&link_type.0)
        || format.swapped() && LIBPCAP_WHEN_SWAPPED.contains(&link_type.0))
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
        /// Where the read started.
        offset: u64,
        /// The operating system's error.
        source: io::Error,
    },
}

/// Reads the records of a classic pcap file from `R`, positioned at the first record.
///
/// Records are handed out as slices of one buffer: a refill moves the unread part (the start
/// of a record cut by the previous read) to the front and reads as much as fits behind it.
/// After an error the reader's position is inside a record: the caller stops reading.
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
    /// The file offset of `buffer[start]`.
    offset: u64,
}

impl<R: Read> PcapReader<R> {
    /// A reader of `input`, which is positioned at the first record of a file of `format`.
    /// `buffer_bytes` is the size of the read buffer (at least one record header).
    pub(super) fn new(input: R, format: Format, buffer_bytes: usize) -> Self {
        // libpcap (pcap_adjust_snapshot) takes a zero or negative snapshot length for the
        // maximum.
        let snapshot = match format.snaplen {
            0 | 0x8000_0000.. => MAX_CAPTURED_BYTES,
            snaplen => snaplen,
        };
        Self {
            input,
            format,
            snapshot: usize::try_from(snapshot).unwrap_or(usize::MAX),
            buffer: vec![0; buffer_bytes.max(RECORD_HEADER_BYTES)],
            start: 0,
            end: 0,
            offset: FILE_HEADER_BYTES as u64,
        }
    }

    /// The file offset of the next unread byte: the bytes consumed so far.
    pub(super) fn offset(&self) -> u64 {
        self.offset
    }

    /// The next record, `Ok(None)` when the file ends at a record boundary.
    ///
    /// A captured length above the snapshot length is cut to it, as libpcap does, and its
    /// bytes beyond it skipped.
    ///
    /// # Errors
    ///
    /// [`RecordError`] when the file ends inside a record, a captured length is impossible, or
    /// the read fails; the reader must not be asked again.
    pub(super) fn next_packet(&mut self) -> Result<Option<Packet<'_>>, RecordError> {
        let offset = self.offset;
        let header: [u8; RECORD_HEADER_BYTES] = match self.take(RECORD_HEADER_BYTES)? {
            Take::Bytes(header) => {
                header
                    .try_into()
                    .map_err(|_| RecordError::TruncatedHeader {
                        offset,
                        available: header.len(),
                    })?
            }
            Take::Short(0) => return Ok(None),
            Take::Short(available) => {
                return Err(RecordError::TruncatedHeader { offset, available })
            }
        };
        let [s0, s1, s2, s3, f0, f1, f2, f3, c0, c1, c2, c3, w0, w1, w2, w3] = header;
        let big_endian = self.format.big_endian;
        let captured = word([c0, c1, c2, c3], big_endian);
        if captured > MAX_CAPTURED_BYTES {
            return Err(RecordError::CaptureTooLong { offset, captured });
        }
        let timestamp_nanos = self.timestamp_nanos(
            word([s0, s1, s2, s3], big_endian),
            word([f0, f1, f2, f3], big_endian),
        );
        let wire_len = word([w0, w1, w2, w3], big_endian);
        let snapshot = self.snapshot;
        // At most MAX_CAPTURED_BYTES, so it fits any usize this code builds for.
        let data = match self.take(captured as usize)? {
            Take::Bytes(data) => data,
            Take::Short(available) => {
                return Err(RecordError::TruncatedData {
                    offset,
                    captured,
                    available,
                })
            }
        };
        Ok(Some(Packet {
            timestamp_nanos,
            wire_len,
            data: data.get(..snapshot).unwrap_or(data),
        }))
    }

    /// The next `n` bytes, consumed; or, when the input ends before them, how many are left
    /// (nothing consumed).
    fn take(&mut self, n: usize) -> Result<Take<'_>, RecordError> {
        if self.end - self.start < n {
            self.fill(n).map_err(|source| RecordError::Io {
                offset: self.offset,
                source,
            })?;
        }
        let start = self.start;
        let bytes = self
            .buffer
            .get(start..self.end)
            .and_then(|unread| unread.get(..n));
        Ok(match bytes {
            Some(bytes) => {
                self.start = start + n;
                self.offset += n as u64;
                Take::Bytes(bytes)
            }
            None => Take::Short(self.end - start),
        })
    }

    /// Moves the unread bytes to the front of the buffer (growing it if `n` bytes would not
    /// fit) and reads until `n` bytes are unread or the input ends.
    fn fill(&mut self, n: usize) -> io::Result<()> {
        self.buffer.copy_within(self.start..self.end, 0);
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
    /// 64 bits; `file.rs` then counts a negative field as 0.
    fn timestamp_nanos(&self, seconds: u32, fraction: u32) -> u64 {
        let widen = |raw: u32| match raw {
            0x8000_0000.. if !self.format.swapped() => 0,
            raw => u64::from(raw),
        };
        let scale = if self.format.nanosecond { 1 } else { 1000 };
        nanos_since_epoch(widen(seconds), widen(fraction) * scale)
    }
}

/// What [`PcapReader::take`] found.
enum Take<'a> {
    /// The bytes asked for.
    Bytes(&'a [u8]),
    /// The input ends after this many bytes.
    Short(usize),
}

/// A 32-bit header field.
fn word(bytes: [u8; 4], big_endian: bool) -> u32 {
    if big_endian {
        u32::from_be_bytes(bytes)
    } else {
        u32::from_le_bytes(bytes)
    }
}
