//! A scripted packet source for tests of other modules: frames from a vector, optionally
//! followed by a read error. Knows nothing of libpcap.

use super::{Error, Packet, PacketSource, Progress};
use crate::decode::LinkType;
use std::path::PathBuf;

/// One scripted frame: (timestamp in nanoseconds since the epoch, wire length, captured bytes).
pub type FakeFrame = (u64, u32, Vec<u8>);

/// Replays scripted frames, then ends (or fails once, if told to).
#[derive(Debug, Clone)]
pub struct FakeSource {
    link_type: LinkType,
    frames: Vec<FakeFrame>,
    next: usize,
    /// Return [`Error::Read`] with this reason instead of the end of the input.
    failure: Option<String>,
    done: bool,
}

impl FakeSource {
    /// A source that yields `frames` in order, then `Ok(None)`.
    pub fn new(link_type: LinkType, frames: Vec<FakeFrame>) -> Self {
        Self {
            link_type,
            frames,
            next: 0,
            failure: None,
            done: false,
        }
    }

    /// After the frames, fail once with [`Error::Read`] (path `<fake>`) carrying `reason`,
    /// then return `Ok(None)`, as a damaged file does.
    pub fn then_fail(mut self, reason: &str) -> Self {
        self.failure = Some(reason.to_owned());
        self
    }

    fn frame_bytes(frames: &[FakeFrame]) -> u64 {
        frames.iter().map(|(_, _, data)| data.len() as u64).sum()
    }
}

impl PacketSource for FakeSource {
    fn link_type(&self) -> LinkType {
        self.link_type
    }

    fn next_packet(&mut self) -> Result<Option<Packet<'_>>, Error> {
        if self.done {
            return Ok(None);
        }
        if let Some((timestamp_nanos, wire_len, data)) = self.frames.get(self.next) {
            self.next += 1;
            return Ok(Some(Packet {
                timestamp_nanos: *timestamp_nanos,
                wire_len: *wire_len,
                data,
            }));
        }
        self.done = true;
        match self.failure.take() {
            Some(reason) => Err(Error::Read {
                path: PathBuf::from("<fake>"),
                reason,
            }),
            None => Ok(None),
        }
    }

    /// Bytes are the captured bytes of the frames handed out so far, out of all of them.
    fn progress(&self) -> Progress {
        let read = self.frames.get(..self.next).unwrap_or_default();
        Progress {
            bytes_read: Self::frame_bytes(read),
            total_bytes: Some(Self::frame_bytes(&self.frames)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yields_frames_in_order_then_ends() {
        let mut source = FakeSource::new(
            LinkType(1),
            vec![(5, 60, vec![1, 2]), (7, 1500, vec![3, 4, 5])],
        );
        assert_eq!(source.link_type(), LinkType(1));
        let first = source.next_packet().unwrap().unwrap();
        assert_eq!(
            (first.timestamp_nanos, first.wire_len, first.data),
            (5, 60, &[1u8, 2][..])
        );
        assert_eq!(
            source.progress(),
            Progress {
                bytes_read: 2,
                total_bytes: Some(5)
            }
        );
        let second = source.next_packet().unwrap().unwrap();
        assert_eq!((second.timestamp_nanos, second.wire_len), (7, 1500));
        assert!(source.next_packet().unwrap().is_none());
        assert!(source.next_packet().unwrap().is_none());
        assert_eq!(source.progress().bytes_read, 5);
    }

    #[test]
    fn fails_once_after_the_frames_then_ends() {
        let mut source = FakeSource::new(LinkType(1), vec![(1, 1, vec![0])]).then_fail("boom");
        assert!(source.next_packet().unwrap().is_some());
        match source.next_packet() {
            Err(Error::Read { reason, .. }) => assert_eq!(reason, "boom"),
            other => panic!("expected a read error, got {other:?}"),
        }
        assert!(source.next_packet().unwrap().is_none());
    }
}
