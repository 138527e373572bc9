//! Live capture on a network interface through libpcap: opening it with the options a
//! round-the-clock monitor on a tap or mirror port wants, a BPF filter, reads that never block
//! longer than [`WAKE_INTERVAL`], and libpcap's drop counters. Knows nothing of what the frames
//! contain, of intervals, or of privileges beyond naming the one that is missing.
//!
//! The capture runs in non-blocking mode and the source waits for its socket with `poll(2)`
//! itself: with TPACKET_V3 (libpcap's default on Linux) the read timeout does not expire while
//! no packet arrives, so libpcap alone would never hand control back on a quiet link. The same
//! `poll` reports an interface that goes down or away as an error on the socket.
//!
//! Several readers ([`LiveSource::open_readers`]) each open a capture of their own and join
//! their sockets to one PACKET_FANOUT group, in which the kernel hands every frame to one socket
//! chosen by a hash of its flow: each reader sees a share of the frames, all the frames of a
//! flow in the same one. The socket option is set on libpcap's socket through `libc`, one of
//! the two places hhmon uses `unsafe` ([`join_fanout`]; the other is the flow cache's prefetch).

use super::{Error, Next, Packet, PacketSource, Stats};
use crate::decode::LinkType;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use pcap::{Active, Capture, Precision};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Default snapshot length: the bytes kept of each frame. Flow keys need only the headers, but
/// tunnelled traffic stacks many (Ethernet, two VLAN tags, MPLS labels, outer IPv6 with
/// extension headers, UDP, VXLAN/Geneve/GTP-U, inner Ethernet, inner IPv6, TCP: about 150 to 230
/// bytes). 256 keeps them all while the ring buffer holds four to five times as many full-size
/// frames as with the full 64 KiB; a frame whose transport header was still cut off shows in
/// `transport_truncated`, the sign to raise it.
pub const DEFAULT_SNAPLEN: u32 = 256;

/// Default kernel buffer (the capture ring): 32 MiB holds about 100 000 frames of up to
/// [`DEFAULT_SNAPLEN`] bytes, a tenth of a second at a million packets per second, enough to
/// ride out a stall of the reader (an interval close, the scheduler) without drops.
pub const DEFAULT_BUFFER_BYTES: usize = 32 << 20;

/// The longest a read waits for a frame before returning [`Next::Idle`], and libpcap's block
/// timeout (how long a frame may sit in a partly filled ring block before it is handed over).
/// Short enough that an interval closes and a stop request is seen within a tenth of a second,
/// long enough that an idle capture wakes only ten times a second.
pub const WAKE_INTERVAL: Duration = Duration::from_millis(100);

/// Most readers [`LiveSource::open_readers`] opens.
pub const MAX_READERS: usize = 64;

/// How to open a live capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveConfig {
    /// The interface name (`eth0`, `any`, ...).
    pub interface: String,
    /// Bytes kept of each frame.
    pub snaplen: u32,
    /// Put the interface in promiscuous mode, so frames for other hosts (a mirror port's whole
    /// point) are seen.
    pub promiscuous: bool,
    /// Size of the kernel's capture buffer in bytes.
    pub buffer_bytes: usize,
    /// Hand over every frame at once instead of in blocks (libpcap falls back from TPACKET_V3 to
    /// V2): lower latency for a trickle of traffic, more wake-ups and less headroom under load.
    pub immediate: bool,
    /// A BPF filter expression (tcpdump syntax); frames it rejects are never seen or counted.
    pub filter: Option<String>,
}

impl LiveConfig {
    /// The defaults for `interface`: [`DEFAULT_SNAPLEN`], promiscuous, [`DEFAULT_BUFFER_BYTES`],
    /// block mode, no filter.
    pub fn new(interface: &str) -> Self {
        Self {
            interface: interface.to_owned(),
            snaplen: DEFAULT_SNAPLEN,
            promiscuous: true,
            buffer_bytes: DEFAULT_BUFFER_BYTES,
            immediate: false,
            filter: None,
        }
    }
}

/// A live capture on one interface.
pub struct LiveSource {
    interface: String,
    capture: Capture<Active>,
    /// A duplicate of the capture's socket for `poll`, held apart from `capture` so the source
    /// can wait on it while a read result still borrows the capture.
    socket: OwnedFd,
    link_type: LinkType,
    /// The last frame handed out by [`PacketSource::next_packet`], copied out of libpcap's
    /// buffer (see there). Sized for the snapshot length up front.
    frame: Vec<u8>,
    frame_header: (u64, u32),
    /// libpcap's counters are 32 bits wide and wrap; these extend them to 64.
    totals: Stats,
    last_raw: (u32, u32, u32),
    /// Set by a read error: the source has ended, as the trait's contract says.
    failed: bool,
    /// Frames stamped before this (nanoseconds since the epoch) may have reached another
    /// reader too and are skipped; 0 once a later frame came, and for a capture of its own.
    skip_before: u64,
    /// Frames skipped so.
    skipped: u64,
}

/// The captures of several readers sharing an interface ([`LiveSource::open_readers`]).
pub struct Readers {
    /// One capture per reader (at least one).
    pub sources: Vec<LiveSource>,
    /// Why there is a single capture though several were asked for: the kernel refused to
    /// join its socket to a fanout group (a kernel without PACKET_FANOUT, a socket that is not
    /// AF_PACKET).
    pub refused: Option<std::io::Error>,
}

impl LiveSource {
    /// Opens and activates a capture on `config.interface` and installs the filter.
    ///
    /// # Errors
    ///
    /// [`Error::Permission`] without CAP_NET_RAW, [`Error::NoSuchInterface`],
    /// [`Error::Filter`] for a filter that does not compile, [`Error::Interface`] otherwise.
    pub fn open(config: &LiveConfig) -> Result<Self, Error> {
        let interface = config.interface.clone();
        let open_error = |error: pcap::Error| classify_open_error(&interface, error);
        let snaplen = i32::try_from(config.snaplen).unwrap_or(i32::MAX);
        let buffer = i32::try_from(config.buffer_bytes).unwrap_or(i32::MAX);
        let wake_ms = i32::try_from(WAKE_INTERVAL.as_millis()).unwrap_or(i32::MAX);
        let mut capture = Capture::from_device(interface.as_str())
            .map_err(open_error)?
            .snaplen(snaplen)
            .promisc(config.promiscuous)
            .buffer_size(buffer)
            .timeout(wake_ms)
            .immediate_mode(config.immediate)
            .precision(Precision::Nano)
            .open()
            .map_err(open_error)?;
        if let Some(filter) = &config.filter {
            capture
                .filter(filter, true)
                .map_err(|error| Error::Filter {
                    filter: filter.clone(),
                    reason: error.to_string(),
                })?;
        }
        let capture = capture.setnonblock().map_err(open_error)?;
        let socket = capture
            .as_fd()
            .try_clone_to_owned()
            .map_err(|error| Error::Interface {
                interface: interface.clone(),
                reason: format!("cannot duplicate the capture socket: {error}"),
            })?;
        let link_type = LinkType(capture.get_datalink().0);
        // libpcap may re-insert a VLAN tag the kernel took off, four bytes past the snaplen.
        let frame = Vec::with_capacity(usize::try_from(config.snaplen).unwrap_or(0) + 4);
        Ok(Self {
            interface,
            capture,
            socket,
            link_type,
            frame,
            frame_header: (0, 0),
            totals: Stats::default(),
            last_raw: (0, 0, 0),
            failed: false,
            skip_before: 0,
            skipped: 0,
        })
    }

    /// Opens `readers` captures on `config.interface` (at most [`MAX_READERS`]) that share its
    /// frames: each is [`open`](Self::open)ed and its socket joined to one PACKET_FANOUT group
    /// (PACKET_FANOUT_HASH, the kernel's symmetric flow hash: both directions of a flow reach
    /// the same socket), whose id is this process's id (a group is per interface and network
    /// namespace, so only another process with the same low 16 bits of its id capturing on
    /// the same interface could share it). Each socket has its own kernel buffer of
    /// `config.buffer_bytes`.
    ///
    /// Until the last socket has joined, a frame may reach two of them (a socket outside the
    /// group gets every frame): each capture skips the frames stamped before that moment, so
    /// the readers start together and no frame is counted twice. Where the kernel refuses to
    /// join the first socket to a group, returns that capture alone, with the refusal.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open); [`Error::Interface`] when a later socket cannot join the group
    /// the first one joined.
    pub fn open_readers(config: &LiveConfig, readers: usize) -> Result<Readers, Error> {
        let first = Self::open(config)?;
        if readers <= 1 {
            return Ok(Readers {
                sources: vec![first],
                refused: None,
            });
        }
        let group = (std::process::id() % 65_536) as u16;
        if let Err(error) = join_fanout(first.capture.as_fd(), group) {
            return Ok(Readers {
                sources: vec![first],
                refused: Some(error),
            });
        }
        let mut sources = vec![first];
        for _ in 1..readers.min(MAX_READERS) {
            let source = Self::open(config)?;
            join_fanout(source.capture.as_fd(), group).map_err(|error| Error::Interface {
                interface: config.interface.clone(),
                reason: format!("cannot join another socket to the fanout group: {error}"),
            })?;
            sources.push(source);
        }
        let joined = wall_clock_nanos();
        for source in &mut sources {
            source.skip_before = joined;
        }
        Ok(Readers {
            sources,
            refused: None,
        })
    }

    /// Frames skipped because they came before every reader's socket had joined the group.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The interface captured on.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// Waits up to [`WAKE_INTERVAL`] for the socket to have frames, or an error, to read. An
    /// error on the socket is left for libpcap's next read to report.
    fn wait(socket: &OwnedFd, interface: &str) -> Result<(), Error> {
        let timeout = PollTimeout::try_from(WAKE_INTERVAL).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => Ok(()),
            Err(errno) => Err(Error::Capture {
                interface: interface.to_owned(),
                reason: format!("poll: {}", errno.desc()),
            }),
        }
    }

    /// Copies the next frame into `frame`, skipping those stamped before `skip_before` (then
    /// stops skipping); `false` when none came within [`WAKE_INTERVAL`]. The copy lets the
    /// frame outlive the loop that skips, which a borrow of libpcap's buffer cannot.
    fn copy_next(&mut self) -> Result<bool, Error> {
        loop {
            match self.capture.next_packet() {
                Ok(packet) => {
                    let timestamp = timestamp_nanos(packet.header);
                    if timestamp < self.skip_before {
                        self.skipped += 1;
                        continue;
                    }
                    self.skip_before = 0;
                    self.frame.clear();
                    self.frame.extend_from_slice(packet.data);
                    self.frame_header = (timestamp, packet.header.len);
                    return Ok(true);
                }
                Err(pcap::Error::TimeoutExpired) => {
                    Self::wait(&self.socket, &self.interface)?;
                    return Ok(false);
                }
                Err(error) => {
                    self.failed = true;
                    return Err(read_error(&self.interface, error));
                }
            }
        }
    }

    /// The frame [`copy_next`](Self::copy_next) copied.
    fn copied(&self) -> Packet<'_> {
        let (timestamp_nanos, wire_len) = self.frame_header;
        Packet {
            timestamp_nanos,
            wire_len,
            data: &self.frame,
        }
    }
}

/// Joins `socket`, a capture's packet socket, to the PACKET_FANOUT group `group` in hash mode.
/// Neither the pcap crate nor nix offers this socket option, so it is set through `libc`.
#[allow(unsafe_code)]
fn join_fanout(socket: BorrowedFd<'_>, group: u16) -> std::io::Result<()> {
    // The group id in the low 16 bits, the mode in the next ones (packet(7)).
    let value = libc::c_int::from(group) | (libc::PACKET_FANOUT_HASH as libc::c_int) << 16;
    // SAFETY: `socket` is borrowed, so open for the whole call; the kernel reads exactly
    // `size_of::<c_int>()` bytes from `value`, which lives across the call.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_FANOUT,
            std::ptr::from_ref(&value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The wall clock in nanoseconds since the Unix epoch, the clock of the kernel's frame stamps.
pub fn wall_clock_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        })
}

impl PacketSource for LiveSource {
    fn link_type(&self) -> LinkType {
        self.link_type
    }

    /// Waits as long as it takes for a frame: a live interface has no end. The frame is copied
    /// (at most the snapshot length) because the wait loop cannot keep libpcap's borrow alive;
    /// [`poll_packet`](PacketSource::poll_packet), the capture loop's call, copies nothing
    /// (past a reader's start, see [`open_readers`](LiveSource::open_readers)).
    fn next_packet(&mut self) -> Result<Option<Packet<'_>>, Error> {
        if self.failed {
            return Ok(None);
        }
        while !self.copy_next()? {}
        Ok(Some(self.copied()))
    }

    fn poll_packet(&mut self) -> Result<Next<'_>, Error> {
        if self.failed {
            return Ok(Next::End);
        }
        // Only until the first frame after the fanout group was complete: a copy per frame.
        if self.skip_before != 0 {
            return Ok(if self.copy_next()? {
                Next::Packet(self.copied())
            } else {
                Next::Idle
            });
        }
        match self.capture.next_packet() {
            Ok(packet) => Ok(Next::Packet(Packet {
                timestamp_nanos: timestamp_nanos(packet.header),
                wire_len: packet.header.len,
                data: packet.data,
            })),
            Err(pcap::Error::TimeoutExpired) => {
                Self::wait(&self.socket, &self.interface)?;
                Ok(Next::Idle)
            }
            Err(error) => {
                self.failed = true;
                Err(read_error(&self.interface, error))
            }
        }
    }

    /// Reads libpcap's counters (one system call). Call at least once per 2^32 frames received
    /// so the 32-bit counters cannot wrap twice between two reads unnoticed.
    fn stats(&mut self) -> Result<Option<Stats>, Error> {
        let stat = self.capture.stats().map_err(|error| Error::Capture {
            interface: self.interface.clone(),
            reason: format!("cannot read the capture statistics: {error}"),
        })?;
        let raw = (stat.received, stat.dropped, stat.if_dropped);
        let delta = |now: u32, before: u32| u64::from(now.wrapping_sub(before));
        self.totals.received += delta(raw.0, self.last_raw.0);
        self.totals.dropped_kernel += delta(raw.1, self.last_raw.1);
        self.totals.dropped_interface += delta(raw.2, self.last_raw.2);
        self.last_raw = raw;
        Ok(Some(self.totals))
    }
}

/// With nanosecond precision libpcap puts nanoseconds in the `tv_usec` field; the kernel's
/// clock is never before 1970.
fn timestamp_nanos(header: &pcap::PacketHeader) -> u64 {
    let seconds = u64::try_from(header.ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(header.ts.tv_usec).unwrap_or(0);
    seconds.saturating_mul(1_000_000_000).saturating_add(nanos)
}

/// Sorts libpcap's open errors (it reports them as text) into what the user must do.
fn classify_open_error(interface: &str, error: pcap::Error) -> Error {
    let reason = error.to_string();
    let lower = reason.to_lowercase();
    let interface = interface.to_owned();
    // libpcap 1.10: "... CAP_NET_RAW may be required", "socket: Operation not permitted",
    // "You don't have permission to capture on that device".
    if ["cap_net_raw", "permission", "not permitted"]
        .iter()
        .any(|needle| lower.contains(needle))
    {
        Error::Permission { interface, reason }
    } else if lower.contains("no such device") {
        Error::NoSuchInterface { interface, reason }
    } else {
        Error::Interface { interface, reason }
    }
}

/// libpcap says "The interface went down" or "The interface disappeared" when the kernel
/// reports ENETDOWN on the socket; ENXIO and ENODEV mean the same.
fn read_error(interface: &str, error: pcap::Error) -> Error {
    let reason = error.to_string();
    let lower = reason.to_lowercase();
    let interface = interface.to_owned();
    if [
        "went down",
        "disappeared",
        "network is down",
        "no such device",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
    {
        Error::InterfaceGone { interface, reason }
    } else {
        Error::Capture { interface, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_suit_a_tap_port() {
        let config = LiveConfig::new("eth9");
        assert_eq!(config.interface, "eth9");
        assert!(config.promiscuous);
        assert!(!config.immediate);
        assert_eq!(config.snaplen, 256);
        assert_eq!(config.buffer_bytes, 32 << 20);
        assert_eq!(config.filter, None);
    }

    #[test]
    fn open_errors_name_what_is_missing() {
        let permission = classify_open_error(
            "eth0",
            pcap::Error::PcapError(
                "Attempt to create packet socket failed - CAP_NET_RAW may be required".into(),
            ),
        );
        assert!(matches!(permission, Error::Permission { .. }));
        assert!(permission.to_string().contains("CAP_NET_RAW"));
        let missing = classify_open_error(
            "nope0",
            pcap::Error::PcapError("nope0: No such device exists (SIOCGIFHWADDR)".into()),
        );
        assert!(matches!(missing, Error::NoSuchInterface { .. }));
        assert!(missing.to_string().contains("nope0"));
        let other = classify_open_error("eth0", pcap::Error::PcapError("odd".into()));
        assert!(matches!(other, Error::Interface { .. }));
    }

    #[test]
    fn read_errors_tell_a_vanished_interface_from_other_failures() {
        for reason in ["The interface went down", "The interface disappeared"] {
            let error = read_error("eth0", pcap::Error::PcapError(reason.into()));
            assert!(matches!(error, Error::InterfaceGone { .. }), "{reason}");
        }
        let error = read_error("eth0", pcap::Error::PcapError("Bad address".into()));
        assert!(matches!(error, Error::Capture { .. }));
    }

    #[test]
    fn opening_a_missing_interface_fails_with_its_name() {
        // Live-capture unit tests need CAP_NET_RAW, as CI (root) has.
        match LiveSource::open(&LiveConfig::new("hhmon-none0")) {
            Err(Error::NoSuchInterface { interface, .. }) => assert_eq!(interface, "hhmon-none0"),
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("opened an interface that does not exist"),
        }
    }

    #[test]
    fn a_filter_that_does_not_compile_is_named() {
        // The loopback interface exists in every network namespace.
        let config = LiveConfig {
            filter: Some("tcp port eighty".into()),
            ..LiveConfig::new("lo")
        };
        match LiveSource::open(&config) {
            Err(Error::Filter { filter, reason }) => {
                assert_eq!(filter, "tcp port eighty");
                assert!(!reason.is_empty());
            }
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("accepted an invalid filter"),
        }
    }

    #[test]
    fn frames_come_cut_to_the_snapshot_length_with_their_wire_length() {
        let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = receiver.local_addr().unwrap().port();
        let config = LiveConfig {
            snaplen: 64,
            filter: Some(format!("udp dst port {port}")),
            ..LiveConfig::new("lo")
        };
        let mut source = LiveSource::open(&config).unwrap();
        // Loopback frames are Ethernet with zero addresses.
        assert_eq!(source.link_type(), LinkType(1));
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let before = timestamp_now();
        sender.send_to(&[0xab; 200], ("127.0.0.1", port)).unwrap();
        sender.send_to(&[0xcd; 10], ("127.0.0.1", port)).unwrap();
        // The waiting read: Ethernet 14 + IPv4 20 + UDP 8 + 200 bytes on the wire, 64 kept.
        let first = source.next_packet().unwrap().unwrap();
        assert_eq!((first.wire_len, first.data.len()), (242, 64));
        assert!(
            first.timestamp_nanos >= before,
            "{} < {before}",
            first.timestamp_nanos
        );
        assert_eq!(&first.data[42..], &[0xab; 22]);
        // The polling read, after idle wake-ups if the frame is not handed over yet.
        let started = std::time::Instant::now();
        let second = loop {
            match source.poll_packet().unwrap() {
                Next::Packet(packet) => break (packet.wire_len, packet.data.to_vec()),
                Next::Idle => assert!(started.elapsed() < Duration::from_secs(2)),
                Next::End => panic!("a live capture has no end"),
            }
        };
        assert_eq!(second.0, 52);
        assert_eq!(&second.1[42..], &[0xcd; 10]);
        // Loopback hands each frame to the capture twice, going out and coming in; libpcap
        // skips the outgoing copy, but the kernel counted both as received.
        let stats = source.stats().unwrap().unwrap();
        assert_eq!((stats.received, stats.dropped_kernel), (4, 0));
    }

    fn timestamp_now() -> u64 {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        // The kernel stamps with its own clock reading; allow for its coarser granularity.
        u64::try_from(since.as_nanos()).unwrap() - 10_000_000
    }

    /// The next frame `source` hands out within two seconds, copied, or `None`.
    fn next_frame(source: &mut LiveSource) -> Option<Vec<u8>> {
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(2) {
            match source.poll_packet().unwrap() {
                Next::Packet(packet) => return Some(packet.data.to_vec()),
                Next::Idle => {}
                Next::End => panic!("a live capture has no end"),
            }
        }
        None
    }

    /// A capture of loopback's UDP datagrams to a port of its own, and that port.
    fn loopback_udp() -> (LiveConfig, std::net::UdpSocket) {
        let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = receiver.local_addr().unwrap().port();
        let config = LiveConfig {
            filter: Some(format!("udp dst port {port}")),
            ..LiveConfig::new("lo")
        };
        (config, receiver)
    }

    #[test]
    fn readers_in_a_fanout_group_share_the_flows_and_get_each_frame_once() {
        let (config, receiver) = loopback_udp();
        let Readers {
            mut sources,
            refused,
        } = LiveSource::open_readers(&config, 2).unwrap();
        assert!(refused.is_none(), "{refused:?}");
        assert_eq!(sources.len(), 2);
        // 64 flows (a sender socket, so a source port, each): all on one socket has a chance of
        // 2^-63 under the flow hash.
        let target = receiver.local_addr().unwrap();
        for flow in 0..64u8 {
            let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            sender.send_to(&[flow; 8], target).unwrap();
        }
        let mut seen = [Vec::new(), Vec::new()];
        for (source, seen) in sources.iter_mut().zip(&mut seen) {
            while let Some(frame) = next_frame(source) {
                seen.push(frame[frame.len() - 1]);
            }
        }
        assert!(seen.iter().all(|flows| !flows.is_empty()), "{seen:?}");
        let mut all: Vec<u8> = seen.concat();
        all.sort_unstable();
        assert_eq!(all, (0..64).collect::<Vec<u8>>());
    }

    #[test]
    fn frames_from_before_the_group_was_complete_are_skipped() {
        let (config, receiver) = loopback_udp();
        let target = receiver.local_addr().unwrap();
        let mut source = LiveSource::open(&config).unwrap();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        // Loopback stamps a frame while sending it: the first is older than the cut.
        sender.send_to(b"before", target).unwrap();
        source.skip_before = wall_clock_nanos();
        sender.send_to(b"after", target).unwrap();
        let frame = next_frame(&mut source).unwrap();
        assert!(frame.ends_with(b"after"), "{frame:?}");
        assert_eq!(source.skipped(), 1);
        assert_eq!(
            source.skip_before, 0,
            "skipping ends at the first later frame"
        );
        sender.send_to(b"later", target).unwrap();
        assert!(next_frame(&mut source).unwrap().ends_with(b"later"));
    }

    #[test]
    fn a_socket_that_is_not_a_packet_socket_refuses_fanout() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let error = join_fanout(socket.as_fd(), 1).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::ENOPROTOOPT), "{error}");
    }

    #[test]
    fn an_idle_capture_wakes_within_the_wake_interval() {
        // A filter nothing on loopback matches keeps the capture idle.
        let config = LiveConfig {
            filter: Some("ether proto 0x88b5".into()),
            ..LiveConfig::new("lo")
        };
        let mut source = LiveSource::open(&config).unwrap();
        let started = std::time::Instant::now();
        assert!(matches!(source.poll_packet().unwrap(), Next::Idle));
        let waited = started.elapsed();
        assert!(waited <= WAKE_INTERVAL * 3, "{waited:?}");
        let stats = source.stats().unwrap().unwrap();
        assert_eq!(stats, Stats::default());
    }
}
