//! On-the-fly gunzip for capture files: a thread inflates the file into an OS pipe, and libpcap
//! opens the pipe's read end by its `/dev/fd/N` name, so no temporary file is written and no
//! unsafe file-descriptor handover is needed. Knows nothing of pcap formats.

use flate2::read::MultiGzDecoder;
use os_pipe::PipeReader;
use std::fs::File;
use std::io::{self, BufReader};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::thread;

/// The first two bytes of every gzip member (RFC 1952).
pub(super) const MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A running decompressor. Dropping it does not wait for the thread: the thread ends by itself
/// once both read ends (this one and libpcap's) are closed, with a broken pipe it ignores.
pub(super) struct Inflater {
    /// Keeps the pipe's number valid until libpcap has opened it through [`Self::pipe_path`].
    reader: PipeReader,
    /// Why decompression failed, set before the thread closes the pipe, so a reader that has
    /// seen the pipe end can rely on it.
    failure: Arc<OnceLock<String>>,
}

impl Inflater {
    /// Starts inflating `file` (positioned at the start of the gzip stream) into a new pipe.
    pub(super) fn spawn(file: File) -> io::Result<Self> {
        let (reader, mut writer) = os_pipe::pipe()?;
        let failure = Arc::new(OnceLock::new());
        let report = Arc::clone(&failure);
        thread::Builder::new()
            .name("hhmon-gunzip".into())
            .spawn(move || {
                let mut gz = MultiGzDecoder::new(BufReader::new(file));
                if let Err(error) = io::copy(&mut gz, &mut writer) {
                    // A broken pipe means the reader stopped early on purpose, not a fault
                    // of the file.
                    if error.kind() != io::ErrorKind::BrokenPipe {
                        let _ = report.set(format!("gzip: {error}"));
                    }
                }
                // `writer` drops here, after `failure` is set: the reader then sees the end.
            })?;
        Ok(Self { reader, failure })
    }

    /// A path naming the pipe's read end, for libpcap to open.
    pub(super) fn pipe_path(&self) -> PathBuf {
        PathBuf::from(format!("/dev/fd/{}", self.reader.as_raw_fd()))
    }

    /// Why decompression failed, if it did (meaningful once the pipe has been read to its end).
    pub(super) fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }
}
