//! `hhmon capture` (and `hhmon top -i`) as a whole program on real interfaces. Each test builds its
//! own network namespace holding a veth pair (`tx0`, `rx0`), replays a shipped capture into `tx0`
//! with tcpreplay and runs hhmon inside the namespace (`ip netns exec`) on `rx0`; a guard deletes
//! the namespace, and the pair with it, when the test ends. Nothing can leave the namespace: it has
//! no route and no address but loopback.
//!
//! IPv6 is disabled in the namespace before the pair is created, so the kernel puts nothing of
//! its own on the pair (no router solicitation, no MLD report), and with no IPv4 address it
//! answers nothing: every frame hhmon sees came from tcpreplay. Expected counts come from
//! tshark reading the replayed file (`util::tshark`), never from hhmon.
//!
//! The tests take turns (`util::serial`: some measure time and drops) and need root, as CI has,
//! with iproute2, tcpreplay, tshark, setpriv and setcap installed; a missing tool fails the test.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hhmon::decode::FlowKey;
use hhmon::report::{CaptureCounts, Counting, IntervalReport};

use crate::util::http;
use crate::util::process::Running;
use crate::util::repo::capture;
use crate::util::serial;
use crate::util::tshark::{add, dissect, tshark, Counts};
use crate::util::HHMON;

/// An interval that holds a whole test run: live timestamps (2026 and on) lie in
/// [1e9, 2e9) s, so no interval boundary can fall inside a test.
const ONE_INTERVAL: &str = "1000000000s";

/// Mixed real Ethernet traffic (TCP, UDP, ICMP, QinQ, CDP), 4709 whole frames of at most 1414
/// bytes (captures/README.md): every frame fits the veth's MTU and goes out as recorded.
const MIXED: &str = "many-protocols.pcap";

/// Enough for every flow of [`MIXED`] (510), so exact counting lists them all.
const ALL_FLOWS: &str = "100000";

/// Runs `command`, fails the test if it fails, returns its standard output.
fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?} must be installed to run this test: {e}"));
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A fresh network namespace with a veth pair `tx0` <-> `rx0`, deleted when dropped.
struct Netns {
    name: String,
}

impl Netns {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "hhmon-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        run(Command::new("ip").args(["netns", "add", &name]));
        // From here on a failing step still deletes the namespace.
        let netns = Self { name };
        run(netns.command("sysctl").args([
            "-qw",
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        ]));
        netns.ip(&["link", "add", "tx0", "type", "veth", "peer", "name", "rx0"]);
        for device in ["lo", "tx0", "rx0"] {
            netns.ip(&["link", "set", device, "up"]);
        }
        netns
    }

    /// `program` run inside the namespace.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }

    fn ip(&self, args: &[&str]) {
        run(Command::new("ip").args(["-n", &self.name]).args(args));
    }

    /// Moves the calling thread into the namespace (network namespaces are per thread).
    fn enter(&self) {
        let handle = File::open(format!("/run/netns/{}", self.name)).unwrap();
        nix::sched::setns(handle, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Sends `path` into `tx0` with tcpreplay; returns the frames sent and tcpreplay's rate line.
fn tcpreplay(netns: &Netns, path: &Path, rate: &[&str]) -> (u64, String) {
    let stdout = run(netns
        .command("tcpreplay")
        .args(["--intf1=tx0"])
        .args(rate)
        .arg(path));
    let field = |name: &str| -> u64 {
        stdout
            .lines()
            .find_map(|line| line.trim().strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name:?} in tcpreplay's output:\n{stdout}"))
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(field("Failed packets:"), 0, "{stdout}");
    let rate_line = stdout
        .lines()
        .find(|line| line.trim().starts_with("Rated:"))
        .unwrap_or_default()
        .trim()
        .to_owned();
    (field("Successful packets:"), rate_line)
}

/// The text `output` gives, line by line as it comes, read on a thread of its own.
fn collected(output: impl std::io::Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&text);
    thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            let mut text = sink.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
    text
}

/// hhmon running in a namespace; killed if the test ends while it still runs.
struct Hhmon {
    running: Running,
    stderr: Arc<Mutex<String>>,
}

impl Hhmon {
    /// `[prefix...] hhmon capture -i rx0 --quiet <args>` inside `netns` (`ip netns exec` and
    /// `setpriv` exec their command, so the child's PID is hhmon's), once it says it captures.
    fn start(netns: &Netns, prefix: &[&str], args: &[&str]) -> Self {
        Self::start_binary(netns, prefix, HHMON, args)
    }

    /// [`start`](Self::start) with another copy of the binary.
    fn start_binary(netns: &Netns, prefix: &[&str], binary: &str, args: &[&str]) -> Self {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &netns.name]).args(prefix);
        command
            .arg(binary)
            .args(["capture", "-i", "rx0", "--quiet"]);
        let mut child = command
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = collected(child.stderr.take().unwrap());
        let mut hhmon = Self {
            running: Running::new(child),
            stderr,
        };
        let started = Instant::now();
        while !hhmon.stderr().contains("Capturing.") {
            if let Some(status) = hhmon.running.child().try_wait().unwrap() {
                panic!(
                    "hhmon exited ({status}) before capturing:\n{}",
                    hhmon.stderr()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "hhmon did not start:\n{}",
                hhmon.stderr()
            );
            thread::sleep(Duration::from_millis(10));
        }
        hhmon
    }

    fn pid(&self) -> u32 {
        self.running.id()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits up to `limit` for hhmon to exit; fails the test if it does not. Returns the status
    /// and how long it took.
    fn wait_exit(&mut self, limit: Duration) -> (ExitStatus, Duration) {
        let started = Instant::now();
        let status = self
            .running
            .wait_within(limit)
            .unwrap_or_else(|| panic!("hhmon did not exit within {limit:?}:\n{}", self.stderr()));
        let took = started.elapsed();
        // Let the reader thread take the last lines.
        thread::sleep(Duration::from_millis(50));
        (status, took)
    }

    /// SIGTERM, then [`wait_exit`](Self::wait_exit).
    fn terminate(&mut self, limit: Duration) -> (ExitStatus, Duration) {
        self.running.terminate();
        self.wait_exit(limit)
    }

    /// Replays [`MIXED`] into `netns` at top speed, waits until the snapshots in `dir` count
    /// every frame sent, then stops hhmon with SIGTERM, which must end it with status 0.
    /// Returns the frames sent and tcpreplay's rate.
    fn count_mixed_and_stop(&mut self, netns: &Netns, dir: &Path) -> (u64, String) {
        let (sent, rate) = tcpreplay(netns, &capture(MIXED), &["--topspeed"]);
        wait_for_packets(dir, sent, self);
        let (status, _) = self.terminate(Duration::from_secs(5));
        assert!(status.success(), "{status}:\n{}", self.stderr());
        (sent, rate)
    }
}

/// Options that count every flow exactly in one-second intervals, snapshots into `snapshots`.
fn every_flow_exactly(snapshots: &str) -> [&str; 7] {
    [
        "--interval",
        "1s",
        "--exact",
        "--top",
        ALL_FLOWS,
        "--snapshot-dir",
        snapshots,
    ]
}

/// What tshark says a capture holds, as tcpreplay sends it.
#[derive(Debug, Default, PartialEq)]
struct Traffic {
    packets: u64,
    bytes: u64,
    flows: Counts<FlowKey>,
}

/// tshark's counts of the frames of `name` that `keep` accepts (`None`: frames without IP).
fn expected(name: &str, keep: impl Fn(Option<&FlowKey>) -> bool) -> Traffic {
    let path = capture(name);
    // tcpreplay sends the captured bytes; counting frame.len is right only for whole frames.
    let lengths = dissect(
        &path,
        &["-T", "fields", "-e", "frame.len", "-e", "frame.cap_len"],
    );
    assert!(lengths.success, "tshark -r {}", path.display());
    assert!(
        lengths.stdout.lines().all(|line| {
            let (len, caplen) = line.split_once('\t').unwrap();
            len == caplen
        }),
        "{name} holds frames cut by the snapshot length"
    );
    let mut traffic = Traffic::default();
    for packet in tshark(&path) {
        let key = packet.key();
        if !keep(key.as_ref()) {
            continue;
        }
        traffic.packets += 1;
        traffic.bytes += u64::from(packet.wire_len);
        if let Some(key) = key {
            add(&mut traffic.flows, key, packet.wire_len);
        }
    }
    traffic
}

/// The interval reports in `dir`, oldest first.
fn reports(dir: &Path) -> Vec<IntervalReport> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with("hhmon-") && name.ends_with(".json")
        })
        .collect();
    paths.sort();
    paths
        .iter()
        // A file under its final name is complete (written then renamed).
        .map(|path| serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
        .collect()
}

/// What hhmon counted over all intervals in `dir` (flows from the exact top lists), and
/// libpcap's statistics at the last close.
fn counted(dir: &Path) -> (Traffic, CaptureCounts) {
    let mut traffic = Traffic::default();
    let mut capture = CaptureCounts::default();
    for report in reports(dir) {
        assert_eq!(report.counting, Counting::Exact);
        traffic.packets += report.totals.packets;
        traffic.bytes += report.totals.bytes;
        for flow in &report.top_flows {
            let key = FlowKey {
                src: flow.src,
                dst: flow.dst,
                src_port: flow.src_port,
                dst_port: flow.dst_port,
                protocol: flow.protocol,
            };
            let entry = traffic.flows.entry(key).or_default();
            entry.0 += flow.packets;
            entry.1 += flow.bytes;
        }
        capture = report
            .capture
            .expect("live reports carry capture statistics")
            .cumulative;
    }
    (traffic, capture)
}

/// Waits until the closed intervals in `dir` hold `packets` frames (with one-second intervals
/// the last one closes about a second after the traffic).
fn wait_for_packets(dir: &Path, packets: u64, hhmon: &Hhmon) {
    let started = Instant::now();
    loop {
        let seen: u64 = reports(dir).iter().map(|r| r.totals.packets).sum();
        if seen >= packets {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{seen} of {packets} packets reported after 10 s:\n{}",
            hhmon.stderr()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// A snapshot directory the unprivileged user `nobody` can write.
fn directory_for_nobody() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).unwrap();
    dir
}

/// The `Name:` line of a /proc status file, its fields split.
fn status_field(status: &str, name: &str) -> Vec<String> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .unwrap_or_else(|| panic!("no {name} in {status}"))
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_replayed_capture_is_counted_exactly_with_nothing_dropped() {
    let _turn = serial();
    let truth = expected(MIXED, |_| true);
    assert_eq!(truth.packets, 4709);
    let netns = Netns::new();
    let dir = tempfile::tempdir().unwrap();
    let snapshots = dir.path().to_str().unwrap();
    let mut hhmon = Hhmon::start(&netns, &[], &every_flow_exactly(snapshots));
    let (sent, rate) = hhmon.count_mixed_and_stop(&netns, dir.path());
    assert_eq!(sent, truth.packets);

    let (seen, capture) = counted(dir.path());
    eprintln!(
        "sent {sent} ({rate}); hhmon {} packets, libpcap {capture:?}",
        seen.packets
    );
    // The accounting identity, then its expected outcome: the 32 MiB ring holds the whole
    // capture (about 1.5 MiB at a 256-byte snapshot length), so nothing can be dropped.
    assert_eq!(capture.received, sent);
    assert_eq!(
        seen.packets + capture.dropped_kernel + capture.dropped_interface,
        sent
    );
    assert_eq!((capture.dropped_kernel, capture.dropped_interface), (0, 0));
    assert_eq!(seen.packets, truth.packets);
    assert_eq!(seen.bytes, truth.bytes);
    // Every flow, and so every top flow, has tshark's exact packets and bytes.
    assert_eq!(seen.flows, truth.flows);
}

/// The value of field `name` of every `Reader stopped.` line hhmon logged, in reader order.
fn by_reader(stderr: &str, name: &str) -> Vec<u64> {
    let prefix = format!("{name}=");
    stderr
        .lines()
        .filter(|line| line.contains("Reader stopped."))
        .map(|line| {
            let field = line
                .split_whitespace()
                .find_map(|word| word.strip_prefix(prefix.as_str()))
                .unwrap_or_else(|| panic!("no {name} in {line}"));
            field.parse().unwrap()
        })
        .collect()
}

/// Per reader, the capture statistics of the last snapshot listing it: its counts since the
/// capture opened.
fn capture_by_reader(dir: &Path) -> BTreeMap<u32, CaptureCounts> {
    let mut last = BTreeMap::new();
    for report in reports(dir) {
        for reader in report.capture.map(|c| c.readers).unwrap_or_default() {
            last.insert(reader.reader, reader.cumulative);
        }
    }
    last
}

#[test]
fn two_readers_share_the_interface_by_flow_and_count_every_frame_once() {
    let _turn = serial();
    let truth = expected(MIXED, |_| true);
    // One owner thread counts for both readers, then two.
    for workers in ["1", "2"] {
        let netns = Netns::new();
        let dir = tempfile::tempdir().unwrap();
        let snapshots = dir.path().to_str().unwrap();
        let args = [
            &["--readers", "2", "--workers", workers][..],
            &every_flow_exactly(snapshots),
        ]
        .concat();
        let mut hhmon = Hhmon::start(&netns, &[], &args);
        assert!(hhmon.stderr().contains("readers=2"), "{}", hhmon.stderr());
        let (sent, rate) = hhmon.count_mixed_and_stop(&netns, dir.path());
        assert_eq!(sent, truth.packets);
        let stderr = hhmon.stderr();

        let (seen, capture) = counted(dir.path());
        let packets = by_reader(&stderr, "packets");
        eprintln!("--workers {workers}: sent {sent} ({rate}); readers {packets:?}, {capture:?}");
        // The kernel gave each frame to one socket: the readers' statistics add up to what was
        // sent, and both had a share.
        assert_eq!(capture.received, sent);
        assert_eq!((capture.dropped_kernel, capture.dropped_interface), (0, 0));
        assert_eq!(packets.len(), 2, "{stderr}");
        assert!(packets.iter().all(|&packets| packets > 0), "{packets:?}");
        assert_eq!(packets.iter().sum::<u64>(), sent);
        // The snapshots carry each reader's libpcap statistics: what it logged at its end,
        // adding up to the whole capture's.
        let readers = capture_by_reader(dir.path());
        assert_eq!(readers.keys().copied().collect::<Vec<_>>(), [0, 1]);
        let received: Vec<u64> = readers.values().map(|c| c.received).collect();
        assert_eq!(received, by_reader(&stderr, "received"));
        assert_eq!(received.iter().sum::<u64>(), capture.received);
        // Summed over the readers, every flow has tshark's exact packets and bytes.
        assert_eq!(seen.packets, truth.packets);
        assert_eq!(seen.bytes, truth.bytes);
        assert_eq!(seen.flows, truth.flows);
    }
}

#[test]
fn when_the_reader_falls_behind_the_shortfall_equals_the_drops_reported() {
    let _turn = serial();
    let flood = "ddos-synflood-spoofed.pcap";
    let truth = expected(flood, |_| true);
    let netns = Netns::new();
    let dir = tempfile::tempdir().unwrap();
    let snapshots = dir.path().to_str().unwrap();
    let mut hhmon = Hhmon::start(
        &netns,
        &[],
        &[
            "--interval",
            ONE_INTERVAL,
            "--buffer-mib",
            "1",
            "--exact",
            "--top",
            "100000",
            "--snapshot-dir",
            snapshots,
        ],
    );
    // A stopped hhmon reads nothing: the 1 MiB ring holds about 8 000 of the 37 841 frames, so
    // the kernel must drop the rest.
    run(Command::new("kill").args(["-STOP", &hhmon.pid().to_string()]));
    let (sent, _) = tcpreplay(&netns, &capture(flood), &["--topspeed"]);
    run(Command::new("kill").args(["-CONT", &hhmon.pid().to_string()]));
    assert_eq!(sent, truth.packets);
    thread::sleep(Duration::from_secs(1));
    let (status, _) = hhmon.terminate(Duration::from_secs(5));
    let stderr = hhmon.stderr();
    assert!(status.success(), "{status}:\n{stderr}");

    let (seen, capture) = counted(dir.path());
    eprintln!(
        "sent {sent}; hhmon {} packets, libpcap {capture:?}",
        seen.packets
    );
    assert!(capture.dropped_kernel > sent / 2, "{capture:?}");
    assert_eq!(capture.received, sent);
    assert_eq!(
        seen.packets + capture.dropped_kernel + capture.dropped_interface,
        sent
    );
    // What was counted is real: no flow has more than tshark's count.
    for (key, (packets, bytes)) in &seen.flows {
        let (true_packets, true_bytes) = truth.flows[key];
        assert!(*packets <= true_packets && *bytes <= true_bytes, "{key:?}");
    }
    // The interval says so: in the report and once in the log.
    let report = &reports(dir.path())[0];
    assert!(report.capture.as_ref().unwrap().dropped_in_interval());
    let warnings = stderr
        .matches("Packets were dropped before hhmon could count them")
        .count();
    assert_eq!(warnings, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("dropped_kernel={}", capture.dropped_kernel)),
        "{stderr}"
    );
}

#[test]
fn a_bpf_filter_restricts_what_is_counted() {
    let _turn = serial();
    // No frame of the capture carries TCP under a VLAN tag, in a tunnel or fragmented, so the
    // filter matches exactly the frames whose outermost five-tuple is TCP with port 443.
    let https = |key: Option<&FlowKey>| {
        key.is_some_and(|k| k.protocol == 6 && (k.src_port == 443 || k.dst_port == 443))
    };
    let truth = expected(MIXED, https);
    let all = expected(MIXED, |_| true);
    assert!(
        truth.packets > 0 && truth.packets < all.packets / 2,
        "{}",
        truth.packets
    );
    let netns = Netns::new();
    let dir = tempfile::tempdir().unwrap();
    let snapshots = dir.path().to_str().unwrap();
    // The filter as trailing words, tcpdump's way.
    let args = [&every_flow_exactly(snapshots)[..], &["tcp", "port", "443"]].concat();
    let mut hhmon = Hhmon::start(&netns, &[], &args);
    assert!(
        hhmon.stderr().contains("filter=\"tcp port 443\""),
        "{}",
        hhmon.stderr()
    );
    let (sent, _) = tcpreplay(&netns, &capture(MIXED), &["--topspeed"]);
    assert_eq!(sent, all.packets);
    wait_for_packets(dir.path(), truth.packets, &hhmon);
    // Another interval's worth of time, for anything the filter wrongly let through.
    thread::sleep(Duration::from_millis(1200));
    let (status, _) = hhmon.terminate(Duration::from_secs(5));
    assert!(status.success(), "{status}:\n{}", hhmon.stderr());

    let (seen, capture) = counted(dir.path());
    assert_eq!(seen, truth);
    // The kernel filters before libpcap counts: the rest were never received.
    assert_eq!(capture.received, truth.packets);
    assert_eq!(capture.dropped_kernel, 0);
}

#[test]
fn an_invalid_filter_fails_with_the_expression_named() {
    let _turn = serial();
    let netns = Netns::new();
    let output = netns
        .command(HHMON)
        .args(["capture", "-i", "rx0", "--filter", "tcp port https-ish"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("hhmon: invalid capture filter \"tcp port https-ish\""),
        "{stderr}"
    );
}

#[test]
fn intervals_close_on_the_clock_when_no_packet_follows() {
    let _turn = serial();
    let netns = Netns::new();
    let dir = tempfile::tempdir().unwrap();
    let snapshots = dir.path().to_str().unwrap();
    let hhmon = Hhmon::start(
        &netns,
        &[],
        &["--interval", "1s", "--exact", "--snapshot-dir", snapshots],
    );
    let truth = expected("dns.pcap", |_| true);
    let (sent, _) = tcpreplay(&netns, &capture("dns.pcap"), &["--topspeed"]);
    assert_eq!(sent, truth.packets);
    // No packet follows: only the clock can close the interval that holds them.
    wait_for_packets(dir.path(), sent, &hhmon);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let all = reports(dir.path());
    let last_busy = all.iter().rev().find(|r| r.totals.packets > 0).unwrap();
    let end = Duration::from_secs(last_busy.interval.start_unix + last_busy.interval.seconds);
    let late = now.saturating_sub(end);
    eprintln!("interval written {late:?} after its end");
    assert!(
        late < Duration::from_millis(700),
        "written {late:?} after its end"
    );
    // The quiet intervals after it are reported too, empty, with their statistics.
    let busy_start = last_busy.interval.start_unix;
    thread::sleep(Duration::from_millis(2500));
    let quiet: Vec<IntervalReport> = reports(dir.path())
        .into_iter()
        .filter(|r| r.interval.start_unix > busy_start)
        .collect();
    assert!(quiet.len() >= 2, "{} quiet intervals reported", quiet.len());
    for report in &quiet {
        assert_eq!(report.totals.packets, 0);
        let capture = report.capture.as_ref().unwrap();
        assert_eq!(capture.interval.received, 0);
        assert_eq!(capture.cumulative.received, sent);
    }
    let starts: Vec<u64> = quiet.iter().map(|r| r.interval.start_unix).collect();
    assert!(starts.windows(2).all(|w| w[1] == w[0] + 1), "{starts:?}");
}

#[test]
fn sigterm_mid_interval_writes_the_interval_and_exits_0_within_2_s() {
    let _turn = serial();
    let truth = expected(MIXED, |_| true);
    let netns = Netns::new();
    let dir = tempfile::tempdir().unwrap();
    let snapshots = dir.path().to_str().unwrap();
    let mut hhmon = Hhmon::start(
        &netns,
        &[],
        &[
            "--interval",
            ONE_INTERVAL,
            "--exact",
            "--top",
            ALL_FLOWS,
            "--snapshot-dir",
            snapshots,
        ],
    );
    let (sent, _) = tcpreplay(&netns, &capture(MIXED), &["--topspeed"]);
    // hhmon reads the whole capture in milliseconds; a second leaves it idle, mid-interval.
    thread::sleep(Duration::from_secs(1));
    assert!(reports(dir.path()).is_empty(), "the interval closed early");
    let (status, took) = hhmon.terminate(Duration::from_secs(2));
    eprintln!("exited {took:?} after SIGTERM");
    assert!(status.success(), "{status}:\n{}", hhmon.stderr());
    let written = reports(dir.path());
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].interval.seconds, 1_000_000_000);
    assert_eq!(
        (written[0].totals.packets, written[0].totals.bytes),
        (sent, truth.bytes)
    );
    let summary = hhmon.stderr();
    assert!(
        summary.contains(&format!("hhmon: {sent} packets, {} bytes in ", truth.bytes)),
        "{summary}"
    );
}

#[test]
fn a_deleted_interface_ends_the_capture_with_an_error_after_writing_the_interval() {
    let _turn = serial();
    let netns = Netns::new();
    let dir = tempfile::tempdir().unwrap();
    let snapshots = dir.path().to_str().unwrap();
    let mut hhmon = Hhmon::start(
        &netns,
        &[],
        &[
            "--interval",
            ONE_INTERVAL,
            "--exact",
            "--snapshot-dir",
            snapshots,
        ],
    );
    let (sent, _) = tcpreplay(&netns, &capture(MIXED), &["--topspeed"]);
    thread::sleep(Duration::from_secs(1));
    // Deleting one end of a veth pair deletes both.
    netns.ip(&["link", "del", "tx0"]);
    let (status, took) = hhmon.wait_exit(Duration::from_secs(3));
    eprintln!("exited {took:?} after the interface was deleted");
    let stderr = hhmon.stderr();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("hhmon: interface rx0 went down or was removed"),
        "{stderr}"
    );
    let written = reports(dir.path());
    assert_eq!(written.len(), 1, "{stderr}");
    assert_eq!(written[0].totals.packets, sent);
}

#[test]
fn an_unprivileged_user_with_only_cap_net_raw_captures() {
    let _turn = serial();
    let truth = expected(MIXED, |_| true);
    let netns = Netns::new();
    let dir = directory_for_nobody();
    let snapshots = dir.path().to_str().unwrap();
    let mut hhmon = Hhmon::start(
        &netns,
        &[
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "--inh-caps=+net_raw",
            "--ambient-caps=+net_raw",
        ],
        &every_flow_exactly(snapshots),
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", hhmon.pid())).unwrap();
    assert_eq!(status_field(&status, "Uid:"), ["65534"; 4]);
    // CAP_NET_RAW is capability 13: bit 0x2000, and nothing else.
    assert_eq!(status_field(&status, "CapEff:"), ["0000000000002000"]);
    hhmon.count_mixed_and_stop(&netns, dir.path());
    let (seen, _) = counted(dir.path());
    assert_eq!(seen, truth);
}

#[test]
fn a_binary_given_cap_net_raw_with_setcap_captures_as_nobody() {
    let _turn = serial();
    // The documented set-up: the capability on the file, no ambient capabilities. Under
    // target/, not /tmp, which may be mounted nosuid (file capabilities are ignored there).
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let binary = dir.path().join("hhmon");
    std::fs::copy(HHMON, &binary).unwrap();
    run(Command::new("setcap").arg("cap_net_raw+ep").arg(&binary));
    let snapshots = dir.path().join("snapshots");
    std::fs::create_dir(&snapshots).unwrap();
    std::os::unix::fs::chown(&snapshots, Some(65534), Some(65534)).unwrap();
    let netns = Netns::new();
    let mut hhmon = Hhmon::start_binary(
        &netns,
        &[
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
        ],
        binary.to_str().unwrap(),
        &[
            "--interval",
            "1s",
            "--snapshot-dir",
            snapshots.to_str().unwrap(),
        ],
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", hhmon.pid())).unwrap();
    assert_eq!(status_field(&status, "Uid:"), ["65534"; 4]);
    assert_eq!(status_field(&status, "CapEff:"), ["0000000000002000"]);
    assert_eq!(status_field(&status, "CapAmb:"), ["0000000000000000"]);
    hhmon.count_mixed_and_stop(&netns, &snapshots);
}

#[test]
fn without_cap_net_raw_the_error_names_it() {
    let _turn = serial();
    let netns = Netns::new();
    let output = netns
        .command("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", HHMON])
        .args(["capture", "-i", "rx0", "--quiet"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("hhmon: no permission to capture on rx0: capturing needs CAP_NET_RAW"),
        "{stderr}"
    );
    assert!(stderr.contains("setcap cap_net_raw+ep"), "{stderr}");
}

#[test]
fn user_drops_root_after_opening_the_capture_and_binding_a_low_port() {
    let _turn = serial();
    let truth = expected(MIXED, |_| true);
    let netns = Netns::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // Does not exist yet: hhmon creates it, as root, for nobody.
    let snapshots = dir.path().join("snapshots");
    let mut hhmon = Hhmon::start(
        &netns,
        &[],
        &[
            &["--user", "nobody", "--listen", "127.0.0.1:80"][..],
            &every_flow_exactly(snapshots.to_str().unwrap()),
        ]
        .concat(),
    );
    // Every thread, not just the main one, runs as nobody, with no capability left.
    let tasks = std::fs::read_dir(format!("/proc/{}/task", hhmon.pid())).unwrap();
    let mut threads = 0;
    for task in tasks {
        let status = std::fs::read_to_string(task.unwrap().path().join("status")).unwrap();
        assert_eq!(status_field(&status, "Uid:"), ["65534"; 4]);
        assert_eq!(status_field(&status, "Gid:"), ["65534"; 4]);
        assert_eq!(status_field(&status, "Groups:"), ["65534"]);
        assert_eq!(status_field(&status, "CapEff:"), ["0000000000000000"]);
        assert_eq!(status_field(&status, "CapPrm:"), ["0000000000000000"]);
        threads += 1;
    }
    assert!(threads >= 3, "{threads} threads");
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&snapshots).unwrap());
    assert_eq!(owner, 65534);

    let (sent, _) = tcpreplay(&netns, &capture(MIXED), &["--topspeed"]);
    wait_for_packets(&snapshots, sent, &hhmon);
    // The listener bound as root on port 80 still serves.
    let served = thread::scope(|scope| {
        scope
            .spawn(|| {
                netns.enter();
                http::get(([127, 0, 0, 1], 80).into(), "/metrics")
            })
            .join()
            .unwrap()
    });
    let (code, body) = served.expect("/metrics answers on port 80");
    assert_eq!(code, 200);
    assert!(
        body.contains("hhmon_capture_received_packets_total"),
        "{body}"
    );
    let (exit, _) = hhmon.terminate(Duration::from_secs(5));
    assert!(exit.success(), "{exit}:\n{}", hhmon.stderr());
    let (seen, _) = counted(&snapshots);
    assert_eq!(seen, truth);
}

/// One run of the load test.
#[derive(Debug)]
struct LoadRun {
    sent: u64,
    counted: u64,
    dropped: u64,
    scrapes: u64,
    rate: String,
}

/// Sends the 37 841 60-byte frames of the SYN flood 8 times (302 728 frames) at 50 000 frames
/// per second into a capture with a 1 MiB ring (about 8 000 such frames, 160 ms), while
/// `scrapers` threads fetch `/metrics` back to back.
fn load_run(scrapers: usize) -> LoadRun {
    let netns = Netns::new();
    let dir = tempfile::tempdir().unwrap();
    let snapshots = dir.path().to_str().unwrap();
    let mut hhmon = Hhmon::start(
        &netns,
        &[],
        &[
            "--interval",
            ONE_INTERVAL,
            "--buffer-mib",
            "1",
            "--listen",
            "127.0.0.1:9750",
            "--snapshot-dir",
            snapshots,
        ],
    );
    let stop = AtomicBool::new(false);
    let failures = AtomicUsize::new(0);
    let (sent, rate, scrapes) = thread::scope(|scope| {
        let workers: Vec<_> = (0..scrapers)
            .map(|_| {
                scope.spawn(|| {
                    netns.enter();
                    let mut scrapes = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        match http::get(([127, 0, 0, 1], 9750).into(), "/metrics") {
                            Some((200, body))
                                if body.contains("hhmon_capture_dropped_packets_total") =>
                            {
                                scrapes += 1
                            }
                            _ => {
                                failures.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    scrapes
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(300));
        let path = capture("ddos-synflood-spoofed.pcap");
        let (sent, rate) = tcpreplay(&netns, &path, &["--pps=50000", "--loop=8"]);
        stop.store(true, Ordering::Relaxed);
        let scrapes = workers.into_iter().map(|w| w.join().unwrap()).sum::<u64>();
        (sent, rate, scrapes)
    });
    assert_eq!(failures.load(Ordering::Relaxed), 0, "failed scrapes");
    thread::sleep(Duration::from_millis(500));
    let (status, _) = hhmon.terminate(Duration::from_secs(5));
    assert!(status.success(), "{status}:\n{}", hhmon.stderr());
    let written = reports(dir.path());
    assert_eq!(written.len(), 1);
    let capture = written[0].capture.as_ref().unwrap().cumulative;
    let run = LoadRun {
        sent,
        counted: written[0].totals.packets,
        dropped: capture.dropped_kernel + capture.dropped_interface,
        scrapes,
        rate,
    };
    // Whatever was lost is accounted for.
    assert_eq!(capture.received, run.sent, "{run:?}");
    assert_eq!(run.counted + run.dropped, run.sent, "{run:?}");
    run
}

#[test]
fn fifty_scrapers_do_not_raise_the_drops_of_a_fast_capture() {
    let _turn = serial();
    let quiet = load_run(0);
    let scraped = load_run(50);
    for (what, run) in [("without scrapers", &quiet), ("with 50 scrapers", &scraped)] {
        eprintln!(
            "{what}: sent {} ({}), counted {}, dropped {}, {} scrapes",
            run.sent, run.rate, run.counted, run.dropped, run.scrapes
        );
    }
    // The scrapers must really have loaded the endpoint: thousands of scrapes a second.
    assert!(scraped.scrapes >= 5_000, "{scraped:?}");
    // A stall of the capture thread per scrape (a lock shared with the server, rendering on
    // request) would cost tens of percent at thousands of scrapes a second; scheduling noise on
    // a busy two-core machine costs at most a fraction of a percent at this rate. 1% of the
    // frames sent separates the two.
    let tolerance = scraped.sent / 100;
    assert!(
        scraped.dropped <= quiet.dropped + tolerance,
        "drops rose from {} to {} (tolerance {tolerance})",
        quiet.dropped,
        scraped.dropped
    );
}

/// `hhmon top -i` on a live interface, through a pipe (plain lines): every packet the flood
/// sends to its victim shows in the victim's rows, and the capture's drops in the headers.
#[test]
fn top_on_an_interface_shows_the_flood_victim_with_every_packet() {
    let _turn = serial();
    let netns = Netns::new();
    let flood = capture("ddos-synflood-spoofed.pcap");
    let mut to_victim: BTreeMap<String, u64> = BTreeMap::new();
    for key in tshark(&flood).iter().filter_map(|packet| packet.key()) {
        *to_victim.entry(key.dst.to_string()).or_default() += 1;
    }
    let (victim, &sent_to_victim) = to_victim.iter().max_by_key(|(_, &n)| n).unwrap();

    let mut child = netns
        .command(HHMON)
        .args(["top", "-i", "rx0", "--interval", "1s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let shown = collected(child.stdout.take().unwrap());
    let mut top = Running::new(child);
    // The first interval's block says the capture is open.
    let started = Instant::now();
    while !shown.lock().unwrap().contains("drops 0") {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no interval shown:\n{}",
            shown.lock().unwrap()
        );
        thread::sleep(Duration::from_millis(20));
    }
    let (sent, _) = tcpreplay(&netns, &flood, &["--topspeed"]);
    assert!(sent >= sent_to_victim);

    // The victim's packets, summed over the intervals' first destination rows.
    let victim_packets = |text: &str| -> u64 {
        let mut in_destinations = false;
        let mut sum = 0;
        for line in text.lines() {
            if !line.starts_with(' ') {
                in_destinations = line == "top destinations by packets:";
                continue;
            }
            let cells: Vec<&str> = line.split_whitespace().collect();
            if in_destinations && cells.get(1) == Some(&victim.as_str()) {
                sum += cells[3].parse::<u64>().unwrap();
            }
        }
        sum
    };
    let started = Instant::now();
    while victim_packets(&shown.lock().unwrap()) < sent_to_victim {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the victim's packets never added up to {sent_to_victim}:\n{}",
            shown.lock().unwrap()
        );
        thread::sleep(Duration::from_millis(50));
    }
    let text = shown.lock().unwrap().clone();
    assert_eq!(victim_packets(&text), sent_to_victim, "{text}");
    assert!(!text.contains('\u{1b}'), "escape codes in plain lines");
    assert!(
        text.lines()
            .filter(|l| l.contains(" | drops "))
            .all(|l| l.contains("drops 0")),
        "{text}"
    );
    assert!(top.stop(Duration::from_secs(5)).success());
}
