//! Packet sources: capture files (pcap, pcapng, gzip-compressed or not, standard input) and live
//! interfaces through libpcap, real-time pacing of any source, and a fake source for tests.
//! Knows nothing of flows or sketches: it hands out raw frames, their timestamps and wire
//! lengths, the data-link type and, for live interfaces, libpcap's capture statistics.
//!
//! A source reports a read error once and then behaves as if the input had ended, so the caller
//! can count what it got, report the error, and close the last interval.

mod fake;
mod file;
mod gzip;
mod live;
mod pace;
mod pcap_file;

pub use fake::FakeSource;
pub use file::FileSource;
pub use live::{
    wall_clock_nanos, LiveConfig, LiveSource, Readers, DEFAULT_BUFFER_BYTES, DEFAULT_SNAPLEN,
    MAX_READERS, WAKE_INTERVAL,
};
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

/// What asking a source for its next frame gave.
#[derive(Clone, Copy, Debug)]
pub enum Next<'a> {
    /// A frame.
    Packet(Packet<'a>),
    /// No frame was ready, and the source waited at most its wake interval for one (live
    /// interfaces only): the caller gets a chance to look at the clock and its stop flag.
    Idle,
    /// The input has ended; every later call says so again.
    End,
}

/// libpcap's statistics of a live capture, cumulative since the capture opened.
///
/// On Linux `received` counts every frame that passed the filter, including the ones the kernel
/// then dropped because the capture buffer was full (`dropped_kernel`); `dropped_interface`
/// counts frames the interface or its driver dropped before the kernel saw them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames that passed the filter.
    pub received: u64,
    /// Frames dropped because the capture buffer was full (the reader fell behind).
    pub dropped_kernel: u64,
    /// Frames dropped by the interface or its driver.
    pub dropped_interface: u64,
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
    /// The process may not open a capture on the interface.
    #[error(
        "no permission to capture on {interface}: capturing needs CAP_NET_RAW (run as root, \
         grant it with `setcap cap_net_raw+ep` on the binary, or AmbientCapabilities=CAP_NET_RAW \
         in the systemd unit) ({reason})"
    )]
    Permission {
        /// The interface.
        interface: String,
        /// libpcap's words.
        reason: String,
    },
    /// The interface does not exist (in this network namespace).
    #[error("no such interface {interface} ({reason})")]
    NoSuchInterface {
        /// The interface.
        interface: String,
        /// libpcap's words.
        reason: String,
    },
    /// The capture could not be opened or set up for another reason (an invalid buffer size or
    /// snapshot length, an interface that is down, ...).
    #[error("cannot capture on {interface}: {reason}")]
    Interface {
        /// The interface.
        interface: String,
        /// libpcap's words.
        reason: String,
    },
    /// The BPF filter expression does not compile.
    #[error("invalid capture filter {filter:?}: {reason}")]
    Filter {
        /// The expression.
        filter: String,
        /// libpcap's words.
        reason: String,
    },
    /// The interface went down or disappeared while capturing.
    #[error("interface {interface} went down or was removed: {reason}")]
    InterfaceGone {
        /// The interface.
        interface: String,
        /// libpcap's or the kernel's words.
        reason: String,
    },
    /// Reading from a live capture failed for another reason.
    #[error("capture on {interface} failed: {reason}")]
    Capture {
        /// The interface.
        interface: String,
        /// libpcap's or the kernel's words.
        reason: String,
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

    /// The next frame, [`Next::Idle`] when a live source has waited its wake interval without
    /// one, or [`Next::End`]. Loops that must act on time (close intervals, notice a stop
    /// request) call this rather than [`next_packet`](Self::next_packet), which waits as long
    /// as it takes. The default suits sources that never wait: it maps `next_packet`.
    ///
    /// # Errors
    ///
    /// As [`next_packet`](Self::next_packet); a live source also fails when its interface goes
    /// away ([`Error::InterfaceGone`]).
    fn poll_packet(&mut self) -> Result<Next<'_>, Error> {
        Ok(match self.next_packet()? {
            Some(packet) => Next::Packet(packet),
            None => Next::End,
        })
    }

    /// How far the source has got. Sources that cannot tell (a live interface) keep the
    /// default: nothing read, size unknown.
    fn progress(&self) -> Progress {
        Progress::default()
    }

    /// libpcap's capture statistics; `None` for files, which drop nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Capture`] when a live capture cannot report them.
    fn stats(&mut self) -> Result<Option<Stats>, Error> {
        Ok(None)
    }
}
