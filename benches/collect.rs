//! Flow-telemetry throughput of the whole `hhmon collect` program against a loop that only
//! reads the same export datagrams, and loss on a loopback socket at a fixed datagram rate.
//!
//! A plain timing program (no harness): `cargo bench --bench collect`
//!
//! 1. Makes two captures of real exporters' datagrams, cached in `target/collect-bench/` so
//!    that reruns start at once (delete that directory to make them anew):
//!    - NetFlow: `hhmon::synth` writes a trace of 3 million frames over 1 million uniformly
//!      drawn flows plus a spoofed-source flood (every flood packet its own flow); Debian's
//!      `softflowd -r TRACE -v 10` exports it as IPFIX to a loopback port, and `dumpcap -i lo`
//!      captures what it sends;
//!    - sFlow: `pmacctd` with the `sfprobe` plugin at sampling rate 1 reads a trace of
//!      1 million frames (`pcap_savefile`) and sends one flow sample per frame, captured the
//!      same way.
//!
//!    `COLLECT_BENCH_NETFLOW=<file>` and `COLLECT_BENCH_SFLOW=<file>` take captures from
//!    elsewhere instead (pcap or pcapng, UDP payloads of any port). Making them needs root
//!    (dumpcap on `lo`), softflowd, pmacctd and dumpcap.
//! 2. Times, in interleaved rounds (`COLLECT_BENCH_ROUNDS`, default 5), with the files in the
//!    page cache, the release `hhmon collect --quiet FILE` (run as a user would run it; its
//!    records come from its summary line) and a bare libpcap loop that reads the same file
//!    and touches each UDP payload (sums its first byte). Prints, per round and the median,
//!    records (or samples) per second and datagrams per second of hhmon, datagrams per second
//!    of the bare loop, and the ratio hhmon/bare loop. Wall clock, process start included.
//! 3. Unless `COLLECT_BENCH_SOCKET=0`: for each rate of `COLLECT_BENCH_RATES` (datagrams per
//!    second, default `100000,35000`; 35,000 IPFIX datagrams of softflowd's are about a
//!    million records) and each capture, starts `hhmon collect --quiet --netflow-listen` (or
//!    `--sflow-listen`) `127.0.0.1:PORT` and sends it the capture's datagrams (repeated as
//!    needed) over loopback for `COLLECT_BENCH_SECONDS` (default 10), paced in bursts of 100;
//!    then prints datagrams sent, datagrams and records the collector counted, its CPU use
//!    (share of one core), the `drops` of its socket in `/proc/net/udp` and the change of
//!    `Udp: RcvbufErrors` in `/proc/net/snmp` (all sockets of the host). Sequence numbers jump
//!    back at each repetition; the collector's own "lost" figures are not the measure here.
//!    `COLLECT_BENCH_FIFO=PRIORITY` runs the live collector's threads real-time (`chrt -a -f`,
//!    root only), as on a core of its own.
//!    `COLLECT_BENCH_ARGS="--interval 3600s"` (split at spaces) adds options to the live
//!    collector.
//!
//! Asserts nothing about speed.

use std::io::{BufRead, BufReader, Read};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hhmon::synth::{write_capture, SynthConfig};

/// Rounds; `COLLECT_BENCH_ROUNDS` overrides.
const ROUNDS: usize = 5;

/// Datagrams sent back to back in the socket test, every `BURST_EVERY`.
const BURST: u64 = 100;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Where the captures are cached: `$CARGO_TARGET_DIR/collect-bench` or `target/collect-bench`.
fn cache_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    );
    let dir = target.join("collect-bench");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A UDP port nothing listens on now.
fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn signal(child: &Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own child's pid has no memory effects.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// Runs `exporter` (given the port to send to) while dumpcap captures loopback UDP to that
/// port into `out`; a socket drains the port meanwhile so that the exporter sees no errors.
fn capture_exports(out: &Path, exporter: impl FnOnce(u16)) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let drain = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut buffer = vec![0u8; 65_535];
            while !done.load(Ordering::Relaxed) {
                let _ = socket.recv(&mut buffer);
            }
        })
    };
    let partial = out.with_extension("part");
    let mut dumpcap = Command::new("dumpcap")
        .args(["-q", "-i", "lo", "-B", "256", "-f"])
        .arg(format!("udp dst port {port}"))
        .arg("-w")
        .arg(&partial)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dumpcap runs (and we may capture on lo)");
    // dumpcap says which interface it captures on once it does.
    let mut stderr = BufReader::new(dumpcap.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("Capturing on") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "dumpcap ended before capturing"
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    exporter(port);
    std::thread::sleep(Duration::from_secs(2));
    signal(&dumpcap, libc::SIGINT);
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(dumpcap.wait().unwrap().success(), "dumpcap: {rest}");
    println!("  dumpcap: {}", rest.trim().replace('\n', "; "));
    done.store(true, Ordering::Relaxed);
    drain.join().unwrap();
    std::fs::rename(&partial, out).unwrap();
}

fn write_trace(config: &SynthConfig, path: &Path) {
    let started = Instant::now();
    let written = write_capture(config, path, None).unwrap();
    println!(
        "  trace: {} frames, {:.0} MB, written in {:.1} s",
        written.packets,
        written.file_bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
}

/// softflowd's IPFIX export of a trace with some million flows.
fn netflow_capture(dir: &Path) -> PathBuf {
    if let Some(path) = std::env::var_os("COLLECT_BENCH_NETFLOW") {
        return path.into();
    }
    let out = dir.join("softflowd-ipfix.pcapng");
    if out.exists() {
        return out;
    }
    println!("making {} (softflowd -v 10, once)", out.display());
    let trace = dir.join("netflow-trace.pcap");
    let config = SynthConfig {
        packets: 3_000_000,
        flows: 1_000_000,
        zipf: 0.0,
        attack_share: 0.2,
        rate: 100_000,
        ..SynthConfig::default()
    };
    write_trace(&config, &trace);
    capture_exports(&out, |port| {
        let output = Command::new("softflowd")
            .arg("-r")
            .arg(&trace)
            .args(["-n", &format!("127.0.0.1:{port}"), "-v", "10"])
            .output()
            .expect("softflowd runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    });
    std::fs::remove_file(&trace).unwrap();
    out
}

/// pmacctd's sFlow (sfprobe, sampling rate 1) of a trace of a million frames.
fn sflow_capture(dir: &Path) -> PathBuf {
    if let Some(path) = std::env::var_os("COLLECT_BENCH_SFLOW") {
        return path.into();
    }
    let out = dir.join("pmacctd-sfprobe.pcapng");
    if out.exists() {
        return out;
    }
    println!("making {} (pmacctd sfprobe, once)", out.display());
    let trace = dir.join("sflow-trace.pcap");
    let config = SynthConfig {
        packets: 1_000_000,
        flows: 100_000,
        ..SynthConfig::default()
    };
    write_trace(&config, &trace);
    let conf = dir.join("sfprobe.conf");
    capture_exports(&out, |port| {
        std::fs::write(
            &conf,
            format!(
                "daemonize: false\nplugins: sfprobe\nsfprobe_receiver: 127.0.0.1:{port}\n\
                 sampling_rate: 1\npcap_savefile: {}\n",
                trace.display()
            ),
        )
        .unwrap();
        let output = Command::new("pmacctd")
            .arg("-f")
            .arg(&conf)
            .output()
            .expect("pmacctd runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    });
    std::fs::remove_file(&trace).unwrap();
    std::fs::remove_file(&conf).unwrap();
    out
}

/// The UDP payload of an Ethernet (or Linux loopback, which is Ethernet) frame holding IPv4 or
/// IPv6, without options of IPv6 extension headers: enough for captures of exports.
fn udp_payload(frame: &[u8]) -> Option<&[u8]> {
    let ip = frame.get(14..)?;
    let udp = match (frame.get(12..14)?, ip.first()? >> 4) {
        ([0x08, 0x00], 4) if ip.get(9) == Some(&17) => ip.get(usize::from(ip[0] & 0xf) * 4..)?,
        ([0x86, 0xdd], 6) if ip.get(6) == Some(&17) => ip.get(40..)?,
        _ => return None,
    };
    udp.get(8..)
}

/// Reads every frame of `path` and touches the first byte of each UDP payload; returns the
/// payloads.
fn bare_loop(path: &Path) -> u64 {
    let mut capture = pcap::Capture::from_file(path).unwrap();
    let (mut datagrams, mut sum) = (0u64, 0u64);
    while let Ok(packet) = capture.next_packet() {
        if let Some(payload) = udp_payload(packet.data) {
            datagrams += 1;
            sum += u64::from(payload.first().copied().unwrap_or_default());
        }
    }
    std::hint::black_box(sum);
    datagrams
}

/// Every UDP payload of `path`.
fn payloads(path: &Path) -> Vec<Vec<u8>> {
    let mut capture = pcap::Capture::from_file(path).unwrap();
    let mut all = Vec::new();
    while let Ok(packet) = capture.next_packet() {
        if let Some(payload) = udp_payload(packet.data) {
            all.push(payload.to_vec());
        }
    }
    all
}

/// What a summary line of `hhmon collect` says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Summary {
    datagrams: u64,
    records: u64,
}

/// Parses `hhmon: N datagrams (S sFlow, F NetFlow/IPFIX), R records in T s; ...`.
fn summary(stderr: &str) -> (Summary, String) {
    let line = stderr
        .lines()
        .find(|line| line.starts_with("hhmon: "))
        .unwrap_or_else(|| panic!("no summary line in {stderr}"));
    let words: Vec<&str> = line.split(' ').collect();
    let number = |after: &str| -> u64 {
        let at = words.iter().position(|word| *word == after).unwrap();
        words[at - 1].parse().unwrap()
    };
    (
        Summary {
            datagrams: number("datagrams"),
            records: number("records"),
        },
        line.to_owned(),
    )
}

/// `COLLECT_BENCH_ARGS`: more options for the live collector, split at spaces.
fn extra_args() -> Vec<String> {
    std::env::var("COLLECT_BENCH_ARGS")
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect()
}

fn hhmon() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hhmon"))
}

/// Runs `hhmon collect --quiet path`.
fn collect_file(path: &Path) -> (Summary, String) {
    let output = hhmon()
        .args(["collect", "--quiet"])
        .arg(path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    summary(&stderr)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

/// Times hhmon and the bare loop on each input in interleaved rounds and prints the table.
fn files(inputs: &[(&str, &str, PathBuf)]) {
    let rounds = env_or("COLLECT_BENCH_ROUNDS", ROUNDS).max(1);
    // Reads the files once so that every timed run finds them in the page cache.
    let mut expected = Vec::new();
    for (name, unit, path) in inputs {
        let datagrams = bare_loop(path);
        let (summary, line) = collect_file(path);
        println!(
            "{name}: {} ({:.0} MB), {datagrams} datagrams\n  {line}",
            path.display(),
            std::fs::metadata(path).unwrap().len() as f64 / 1e6
        );
        assert_eq!(summary.datagrams, datagrams, "{name}: {line}");
        println!(
            "  {:.1} {unit} per datagram",
            summary.records as f64 / datagrams as f64
        );
        expected.push(summary);
    }
    // Per input and round: hhmon's and the bare loop's seconds.
    let mut times = vec![Vec::new(); inputs.len()];
    for _ in 0..rounds {
        for ((_, _, path), (times, expected)) in inputs.iter().zip(times.iter_mut().zip(&expected))
        {
            let started = Instant::now();
            assert_eq!(bare_loop(path), expected.datagrams);
            let bare = started.elapsed().as_secs_f64();
            let started = Instant::now();
            assert_eq!(collect_file(path).0, *expected);
            let collect = started.elapsed().as_secs_f64();
            times.push((collect, bare));
        }
    }
    println!("\n{rounds} interleaved rounds, wall clock (hhmon's process start included)");
    println!(
        "| {:<26} | {:>5} | {:>14} | {:>14} | {:>14} | {:>13} |",
        "input", "round", "hhmon rec/s", "hhmon dgram/s", "bare dgram/s", "hhmon/bare"
    );
    println!(
        "|{:-<28}|{:->7}|{:->16}|{:->16}|{:->16}|{:->15}|",
        "", "", "", "", "", ""
    );
    for ((name, _, _), (times, expected)) in inputs.iter().zip(times.iter().zip(&expected)) {
        let row = |round: &str, collect: f64, bare: f64| {
            println!(
                "| {name:<26} | {round:>5} | {:>14.0} | {:>14.0} | {:>14.0} | {:>13.3} |",
                expected.records as f64 / collect,
                expected.datagrams as f64 / collect,
                expected.datagrams as f64 / bare,
                bare / collect
            );
        };
        for (round, (collect, bare)) in times.iter().enumerate() {
            row(&(round + 1).to_string(), *collect, *bare);
        }
        let mut collects: Vec<f64> = times.iter().map(|t| t.0).collect();
        let mut bares: Vec<f64> = times.iter().map(|t| t.1).collect();
        let mut ratios: Vec<f64> = times.iter().map(|t| t.1 / t.0).collect();
        let (collect, bare) = (median(&mut collects), median(&mut bares));
        println!(
            "| {name:<26} | {:>5} | {:>14.0} | {:>14.0} | {:>14.0} | {:>13.3} |",
            "med",
            expected.records as f64 / collect,
            expected.datagrams as f64 / collect,
            expected.datagrams as f64 / bare,
            median(&mut ratios)
        );
    }
}

/// `Udp: RcvbufErrors` of `/proc/net/snmp`.
fn rcvbuf_errors() -> u64 {
    let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap();
    let mut udp = snmp.lines().filter(|line| line.starts_with("Udp: "));
    let (names, values) = (udp.next().unwrap(), udp.next().unwrap());
    let at = names
        .split_whitespace()
        .position(|name| name == "RcvbufErrors")
        .unwrap();
    values.split_whitespace().nth(at).unwrap().parse().unwrap()
}

/// The `drops` column of `/proc/net/udp` for the socket bound to 127.0.0.1:`port`, and its
/// receive queue in bytes.
fn socket_drops(port: u16) -> (u64, u64) {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap();
    let local = format!("0100007F:{port:04X}");
    let line = table
        .lines()
        .find(|line| line.split_whitespace().nth(1) == Some(&local))
        .unwrap_or_else(|| panic!("no socket on port {port} in {table}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    let rx_queue = u64::from_str_radix(fields[4].split(':').nth(1).unwrap(), 16).unwrap();
    (fields.last().unwrap().parse().unwrap(), rx_queue)
}

/// CPU seconds (user and system) the process `pid` has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which is in parentheses: state is field 3, utime 14.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no memory effects.
    let hertz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    ticks as f64 / hertz as f64
}

/// Sends the datagrams of `path` (repeated as needed) to a live collector listening with
/// `listen` (`--netflow-listen` or `--sflow-listen`) at `rate` datagrams per second for
/// `seconds`, and prints a row of the loss table.
fn socket(name: &str, path: &Path, listen: &str, rate: u64, seconds: f64) {
    let datagrams = payloads(path);
    let total = (rate as f64 * seconds) as u64;
    let port = free_port();
    let mut collector = hhmon()
        .args(["collect", "--quiet", listen])
        .arg(format!("127.0.0.1:{port}"))
        .args(extra_args())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(collector.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("Listening for flow telemetry") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "the collector ended before listening"
        );
    }
    if let Ok(priority) = std::env::var("COLLECT_BENCH_FIFO") {
        // A core of its own, as an operator would pin a collector: every thread of it
        // real-time, ahead of whatever else shares the machine.
        let status = Command::new("chrt")
            .args(["-a", "-f", "-p", &priority, &collector.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "chrt failed (needs root)");
    }
    let (drops_before, _) = socket_drops(port);
    let errors_before = rcvbuf_errors();
    let cpu_before = cpu_seconds(collector.id());
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.connect(("127.0.0.1", port)).unwrap();
    let burst_every = Duration::from_secs_f64(BURST as f64 / rate as f64);
    let started = Instant::now();
    let (mut sent, mut send_errors, mut max_behind) = (0u64, 0u64, Duration::ZERO);
    let mut next = started;
    while sent < total {
        let now = Instant::now();
        if now < next {
            std::thread::sleep(next - now);
        } else {
            max_behind = max_behind.max(now - next);
        }
        for _ in 0..BURST.min(total - sent) {
            let datagram = &datagrams[(sent % datagrams.len() as u64) as usize];
            if sender.send(datagram).is_err() {
                send_errors += 1;
            }
            sent += 1;
        }
        next += burst_every;
    }
    let sending = started.elapsed().as_secs_f64();
    // Lets the collector empty its receive queue.
    let drain_started = Instant::now();
    while socket_drops(port).1 > 0 && drain_started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let busy = (cpu_seconds(collector.id()) - cpu_before) / started.elapsed().as_secs_f64();
    let (drops_after, queued) = socket_drops(port);
    let errors_after = rcvbuf_errors();
    signal(&collector, libc::SIGINT);
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(collector.wait().unwrap().success(), "{rest}");
    let (received, line) = summary(&rest);
    println!("  {line}");
    println!(
        "| {name} | {rate} | {sent} | {sending:.2} | {:.0} | {send_errors} | {:.1} | {} | {} | \
         {:.0}% | {} | {} | {queued} |",
        sent as f64 / sending,
        max_behind.as_secs_f64() * 1e3,
        received.datagrams,
        received.records,
        busy * 100.0,
        drops_after - drops_before,
        errors_after - errors_before,
    );
    println!(
        "  {}",
        if received.datagrams == sent && drops_after == drops_before {
            "nothing dropped"
        } else {
            "DATAGRAMS LOST"
        }
    );
}

/// The loss table: each input at each rate of `COLLECT_BENCH_RATES`.
fn sockets(inputs: &[(&str, &str, PathBuf)]) {
    let rates: Vec<u64> = std::env::var("COLLECT_BENCH_RATES")
        .unwrap_or_else(|_| "100000,35000".into())
        .split(',')
        .map(|rate| rate.trim().parse().unwrap())
        .collect();
    let seconds: f64 = env_or("COLLECT_BENCH_SECONDS", 10.0);
    println!(
        "\nloopback UDP to a live `hhmon collect`, the capture's datagrams repeated, {seconds} s \
         per row, paced in bursts of {BURST}"
    );
    println!(
        "| input | target dgram/s | sent | seconds | sent dgram/s | send errors | \
         max pacing lag ms | collector datagrams | collector records | collector CPU | \
         socket drops (/proc/net/udp) | RcvbufErrors delta (host) | left queued |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &rate in &rates {
        for (name, _, path) in inputs {
            let listen = if name.starts_with("sFlow") {
                "--sflow-listen"
            } else {
                "--netflow-listen"
            };
            socket(name, path, listen, rate, seconds);
        }
    }
}

fn main() {
    let dir = cache_dir();
    let netflow = netflow_capture(&dir);
    let sflow = sflow_capture(&dir);
    let inputs = [
        ("NetFlow (softflowd IPFIX)", "records", netflow),
        ("sFlow (pmacctd sfprobe)", "samples", sflow),
    ];
    files(&inputs);
    if env_or("COLLECT_BENCH_SOCKET", 1) != 0 {
        sockets(&inputs);
    }
}
