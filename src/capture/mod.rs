//! Packet sources: capture files (pcap, pcapng, gzip-compressed or not, standard input) through
//! libpcap, real-time pacing of any source, and a fake source for tests. Knows nothing of flows
//! or sketches: it hands out raw frames, their timestamps and wire lengths, and the data-link
//! type.
//!
//! A source reports a read error once and then behaves as if the input had ended, so the caller
//! can count what it got, report the error, and close the last interval.

mod fake;
mod file;
mod gzip;
mod pace;

pub use fake::FakeSource;
pub use file::FileSource;
pub use pace::{Paced, MAX_SLEEP};

use crate::decode::LinkType;
use std::path::PathBuf;

/// One captured frame, borrowed from the source until the next read.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    /// Capture timestamp, nanoseconds since the Unix epoch.
    pub timestamp_nanos: u64,
    /// Length of the frame on the wire (pcap `len`), which may exceed `data.len()`.
    pub wire_len: u32,
    /// The captured bytes (pcap `caplen` of them).
    pub data: &'a [u8],
}

/// How far a source has got through its input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Approximate bytes of the input consumed so far (file header, record headers and
    /// captured bytes). Meant for progress bars, not accounting.
    pub bytes_read: u64,
    /// Size of the input when known up front: `None` for pipes, standard input and compressed
    /// files (whose decompressed size is unknown until the end).
    pub total_bytes: Option<u64>,
}

/// Errors of packet sources.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input could not be opened or is not a capture libpcap can read (missing file, bad
    /// magic number, pcapng without an interface description, ...).
    #[error("cannot open {path}: {reason}")]
    Open {
        /// The path as given (`-` for standard input).
        path: PathBuf,
        /// Why, in the words of the operating system, libpcap or the decompressor.
        reason: String,
    },
    /// Reading stopped part-way (a truncated or corrupt record, a corrupt gzip stream).
    /// Packets returned before it are good; the source returns no more after it.
    #[error("{path}: {reason}")]
    Read {
        /// The path as given (`-` for standard input).
        path: PathBuf,
        /// Why, in the words of libpcap or the decompressor.
        reason: String,
    },
    /// A replay speed that is not a positive finite number.
    #[error("invalid replay speed {speed}: it must be a positive finite number")]
    InvalidSpeed {
        /// The speed given.
        speed: f64,
    },
}

/// Anything that yields frames in order.
pub trait PacketSource {
    /// The data-link type of the frames.
    fn link_type(&self) -> LinkType;

    /// The next frame, `Ok(None)` at the end of the input.
    ///
    /// # Errors
    ///
    /// [`Error::Read`] when the input is damaged part-way; every later call returns `Ok(None)`.
    fn next_packet(&mut self) -> Result<Option<Packet<'_>>, Error>;

    /// How far the source has got. Sources that cannot tell (a live interface) keep the
    /// default: nothing read, size unknown.
    fn progress(&self) -> Progress {
        Progress::default()
    }
}
