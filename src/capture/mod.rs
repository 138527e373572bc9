//! Packet sources: capture files (pcap, pcapng, standard input) through libpcap, and a fake
//! source for tests. Knows nothing of flows or sketches: it hands out raw frames, their
//! timestamps and wire lengths, and the data-link type.
#![allow(missing_docs, unused_variables, dead_code)]

use crate::decode::LinkType;
use std::path::{Path, PathBuf};

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

/// Errors of packet sources.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Read { path: PathBuf, reason: String },
}

/// Anything that yields frames in order.
pub trait PacketSource {
    /// The data-link type of the frames.
    fn link_type(&self) -> LinkType;
    /// The next frame, `Ok(None)` at the end of the input.
    fn next_packet(&mut self) -> Result<Option<Packet<'_>>, Error>;
}

/// A capture file (stub: being written).
pub struct FileSource {}

impl FileSource {
    /// Opens a pcap or pcapng file; `-` reads standard input.
    pub fn open(path: &Path) -> Result<Self, Error> {
        todo!()
    }
}
