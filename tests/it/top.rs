//! `hhmon top` as a user sees it: in a real terminal (tmux, driven by send-keys and read by
//! capture-pane) and through a pipe (plain lines), on the shipped SYN flood, against the
//! victim and its exact number of distinct sources counted independently by tshark; on a
//! generated carpet bombing, the bombed /24 in the destination prefixes against its packets
//! recounted here (libpcap and etherparse, not hhmon); attached to a running replay through
//! its report API; and watching a server that is not there, until SIGTERM gives the terminal
//! back.
//!
//! tmux and tshark must be installed: a missing tool fails the test.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::util::attacks::{attack_trace, CARPET};
use crate::util::hhmon::{hhmon, BINARY};
use crate::util::recount::ip_packets;
use crate::util::repo::capture;
use crate::util::tshark::tshark;

/// The demo capture: a spoofed SYN flood, every packet within one minute.
const FLOOD: &str = "ddos-synflood-spoofed.pcap";

/// The acceptance bound on fan-in, as for the snapshots (`distinct.rs`).
const FAN_TOLERANCE: f64 = 0.03;

/// The destination with the most packets and its exact number of distinct sources.
fn victim(path: &Path) -> (IpAddr, u64) {
    let mut packets: BTreeMap<IpAddr, u64> = BTreeMap::new();
    let mut sources: BTreeMap<IpAddr, BTreeSet<IpAddr>> = BTreeMap::new();
    for key in tshark(path).iter().filter_map(|packet| packet.key()) {
        *packets.entry(key.dst).or_default() += 1;
        sources.entry(key.dst).or_default().insert(key.src);
    }
    let (&victim, _) = packets.iter().max_by_key(|(_, &n)| n).unwrap();
    (victim, sources[&victim].len() as u64)
}

fn assert_fan_in(shown: u64, exact: u64) {
    let error = (shown as f64 - exact as f64).abs() / exact as f64;
    assert!(
        error <= FAN_TOLERANCE,
        "fan-in {shown}, exact {exact}: {:.2}% off",
        error * 100.0
    );
}

/// A tmux server of the test's own, killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new(name: &str) -> Self {
        Self {
            socket: format!("hhmon-{name}-{}", std::process::id()),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .env_remove("TMUX")
            .output()
            .unwrap_or_else(|e| panic!("tmux must be installed to run this test: {e}"))
    }

    /// Starts session `top`, 160×50, running `command` in a shell.
    fn start(&self, command: &str) {
        let started = self.run(&[
            "new-session",
            "-d",
            "-s",
            "top",
            "-x",
            "160",
            "-y",
            "50",
            command,
        ]);
        assert!(started.status.success(), "{started:?}");
    }

    fn pane(&self) -> String {
        let output = self.run(&["capture-pane", "-p", "-t", "top"]);
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The pane once `ready` holds for it; fails the test after two minutes (the whole suite
    /// shares the machine).
    fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let pane = self.pane();
            if ready(&pane) {
                return pane;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "no {what} after two minutes:\n{pane}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// The first row of the list titled `title` in a pane: its cells split on runs of blanks, and
/// the cell under `column`'s heading (numbers are right-aligned under theirs).
fn first_row(pane: &str, title: &str, column: &str) -> (String, String) {
    row_with(pane, title, None, column)
}

/// The row of the list titled `title` that holds ` key ` (the first row when `None`), and its
/// cell under `column`'s heading, as [`first_row`].
fn row_with(pane: &str, title: &str, key: Option<&str>, column: &str) -> (String, String) {
    let lines: Vec<&str> = pane.lines().collect();
    let at = lines
        .iter()
        .position(|line| line.contains(title))
        .unwrap_or_else(|| panic!("no {title}:\n{pane}"));
    let heading: Vec<char> = lines[at + 1].chars().collect();
    let row = match key {
        None => at + 2,
        Some(key) => {
            at + 2
                + lines[at + 2..]
                    .iter()
                    .position(|line| line.contains(&format!(" {key} ")))
                    .unwrap_or_else(|| panic!("no {key} under {title}:\n{pane}"))
        }
    };
    let row: Vec<char> = lines[row].chars().collect();
    let column: Vec<char> = column.chars().collect();
    let end = heading
        .windows(column.len())
        .position(|window| window == column.as_slice())
        .unwrap_or_else(|| panic!("no {column:?} heading:\n{pane}"))
        + column.len();
    let before: String = row[..end].iter().collect();
    let cell = before
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .to_owned();
    (row.iter().collect(), cell)
}

#[test]
fn in_a_terminal_the_flood_victim_tops_the_destinations_with_its_fan_in_and_keys_work() {
    let path = capture(FLOOD);
    let (victim, exact) = victim(&path);
    let tmux = Tmux::new("top");
    // The shell outlives hhmon, so that the pane then shows what hhmon left on the terminal
    // and how it exited.
    let command = format!(
        "'{BINARY}' top --interval 60s '{}'; echo hhmon exited $?; sleep 60",
        path.display()
    );
    tmux.start(&command);
    let pane = tmux.wait_for("finished view", |pane| pane.contains("end of input"));
    let (row, fan_in) = first_row(&pane, "Top destinations by packets", "fan-in");
    assert!(row.contains(&format!(" {victim} ")), "{row}\n{pane}");
    assert_fan_in(fan_in.parse().unwrap(), exact);
    for shown in [
        "[1] Top flows by packets",
        "[2] Top sources by packets",
        "pkt/s",
        "drops -",
    ] {
        assert!(pane.contains(shown), "{shown}:\n{pane}");
    }

    tmux.run(&["send-keys", "-t", "top", "b"]);
    let pane = tmux.wait_for("view by bytes", |pane| {
        pane.contains("Top destinations by bytes") && pane.contains("ranked by bytes")
    });
    let (row, fan_in) = first_row(&pane, "Top destinations by bytes", "fan-in");
    assert!(row.contains(&format!(" {victim} ")), "{row}\n{pane}");
    assert_fan_in(fan_in.parse().unwrap(), exact);

    tmux.run(&["send-keys", "-t", "top", "q"]);
    // hhmon has gone, and gave the terminal back: its view is off the screen.
    let pane = tmux.wait_for("exit", |pane| pane.contains("hhmon exited"));
    assert!(pane.contains("hhmon exited 0"), "{pane}");
    assert!(!pane.contains("Top destinations"), "{pane}");
}

#[test]
fn carpet_bombing_in_a_terminal_shows_the_bombed_24_in_the_destination_prefixes_exactly() {
    // 40 000 packets, a fifth of them spread over every address of the /24: about 31 each,
    // fewer than the heavier Zipf destinations get, so no address of it is a top destination.
    // Counted exactly (`--exact`), the view's packets of the /24 must be the recount's.
    let dir = tempfile::tempdir().unwrap();
    let pcap = attack_trace(dir.path(), 40_000, 5_000, false);
    // The exact count, made here from the capture: packets to an IPv4 address in 203.0.113/24.
    let carpet = |address: &IpAddr| match address {
        IpAddr::V4(v4) => v4.octets()[..3] == [203, 0, 113],
        IpAddr::V6(_) => false,
    };
    let packets = ip_packets(&pcap);
    let exact = packets.iter().filter(|(_, dst, _)| carpet(dst)).count() as u64;
    let addresses: BTreeSet<IpAddr> = (packets.iter())
        .filter(|(_, dst, _)| carpet(dst))
        .map(|&(_, dst, _)| dst)
        .collect();
    assert_eq!(addresses.len(), 256);
    assert!(exact > 7_000, "{exact} packets to {CARPET}");

    let tmux = Tmux::new("top-carpet");
    let command = format!(
        "'{BINARY}' top --exact --interval 1000000000s '{}'; echo hhmon exited $?; sleep 60",
        pcap.display()
    );
    tmux.start(&command);
    let pane = tmux.wait_for("finished view", |pane| pane.contains("end of input"));
    // The address lists show no address of the bombed /24.
    assert!(!pane.contains(" 203.0.113."), "{pane}");
    // Tab from destinations, past the source prefixes, to the destination prefixes.
    tmux.run(&["send-keys", "-t", "top", "Tab"]);
    tmux.wait_for("source prefixes", |pane| {
        pane.contains("\u{25b6} [4] Top source prefixes by packets")
    });
    tmux.run(&["send-keys", "-t", "top", "Tab"]);
    // Drawn whole once the bombed prefix's row ends with its share.
    let title = "\u{25b6} [5] Top destination prefixes by packets";
    let pane = tmux.wait_for("destination prefixes", |pane| {
        pane.contains(title)
            && pane
                .lines()
                .any(|line| line.contains(&format!(" {CARPET} ")) && line.contains('%'))
    });
    let (row, shown) = row_with(&pane, title, Some(CARPET), "packets");
    assert_eq!(shown, exact.to_string(), "{row}\n{pane}");
    // Ranked among the /24s as recounted (the generator's server /24 may be heavier).
    let mut per_24: BTreeMap<[u8; 3], u64> = BTreeMap::new();
    for (_, dst, _) in &packets {
        if let IpAddr::V4(v4) = dst {
            let o = v4.octets();
            *per_24.entry([o[0], o[1], o[2]]).or_default() += 1;
        }
    }
    let rank = 1 + per_24.values().filter(|&&n| n > exact).count();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells[1..3],
        [rank.to_string().as_str(), CARPET],
        "{row}\n{pane}"
    );
    let (_, distinct) = row_with(&pane, title, Some(CARPET), "addresses");
    let distinct: u64 = distinct.parse().unwrap_or_else(|_| panic!("{row}\n{pane}"));
    assert_fan_in(distinct, 256);
    // Its /8 and /16 are listed above it, in the report's order.
    let at = |key: &str| {
        pane.find(&format!(" {key} "))
            .unwrap_or_else(|| panic!("no {key}:\n{pane}"))
    };
    assert!(
        at("203.0.0.0/8") < at("203.0.0.0/16") && at("203.0.0.0/16") < at(CARPET),
        "{pane}"
    );

    tmux.run(&["send-keys", "-t", "top", "q"]);
    let pane = tmux.wait_for("exit", |pane| pane.contains("hhmon exited"));
    assert!(pane.contains("hhmon exited 0"), "{pane}");
}

#[test]
fn an_unreachable_server_is_a_status_line_and_sigterm_gives_the_terminal_back() {
    // A port nobody listens on: bound, then let go.
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let tmux = Tmux::new("top-connect");
    let command =
        format!("'{BINARY}' top --connect {address}; echo hhmon exited $?; stty -a; sleep 60");
    tmux.start(&command);
    let pane = tmux.wait_for("trouble", |pane| {
        pane.contains(&format!("http://{address}/"))
    });
    assert!(pane.contains("waiting for the first interval"), "{pane}");
    let shell = tmux.run(&["display-message", "-p", "-t", "top", "#{pane_pid}"]);
    let shell = String::from_utf8_lossy(&shell.stdout).trim().to_owned();
    let child = Command::new("pgrep").args(["-P", &shell]).output().unwrap();
    let child = String::from_utf8_lossy(&child.stdout).trim().to_owned();
    assert!(
        !child.is_empty() && !child.contains('\n'),
        "hhmon's pid: {child:?}"
    );
    let killed = Command::new("kill")
        .args(["-TERM", &child])
        .status()
        .unwrap();
    assert!(killed.success());
    // `stty -a` prints after hhmon has gone: wait for its modes (`icanon` or `-icanon`).
    let pane = tmux.wait_for("exit", |pane| {
        pane.contains("hhmon exited") && pane.contains("icanon")
    });
    assert!(pane.contains("hhmon exited 0"), "{pane}");
    // The terminal is back in cooked mode, and the view is off the screen.
    assert!(
        pane.contains(" icanon ") && pane.contains(" echo "),
        "{pane}"
    );
    assert!(!pane.contains("waiting for the first interval"), "{pane}");
}

#[test]
fn through_a_pipe_the_view_is_plain_lines_and_ends_with_the_input() {
    let path = capture(FLOOD);
    let (victim, exact) = victim(&path);
    let ran = hhmon(["top", "--interval", "60s"])
        .arg(&path)
        .output()
        .succeeded();
    assert!(
        !ran.stdout.contains('\u{1b}'),
        "escape codes in {}",
        ran.stdout
    );
    let lines: Vec<&str> = ran.stdout.lines().collect();
    let header = lines[0];
    assert!(header.starts_with(&format!("{FLOOD} | ")), "{header}");
    assert!(
        header.contains("(60 s)") && header.contains("pkt/s"),
        "{header}"
    );
    assert!(header.contains("distinct sources"), "{header}");
    let at = lines
        .iter()
        .position(|line| *line == "top destinations by packets:")
        .unwrap_or_else(|| panic!("{}", ran.stdout));
    let top = lines[at + 1];
    assert!(
        top.starts_with(&format!("   1  {victim}  packets ")),
        "{top}"
    );
    let fan_in = top
        .split("fan-in ")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{top}"));
    assert_fan_in(fan_in, exact);
    // One interval, one block, then the end of the input on stderr.
    assert_eq!(ran.stdout.matches(" | drops ").count(), 1, "{}", ran.stdout);
    assert!(ran.stderr.contains("end of input"), "{}", ran.stderr);
}

#[test]
fn attached_to_a_running_replay_the_view_shows_the_victim_from_its_report_api() {
    let path = capture(FLOOD);
    let (victim, exact) = victim(&path);
    let port = crate::util::http::free_port();
    let address: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    // A replay keeps serving its final reports until SIGTERM.
    let mut server = hhmon(["replay", "--quiet", "--interval", "60s", "--listen"])
        .arg(address.to_string())
        .arg(&path)
        .spawn(std::process::Stdio::null(), std::process::Stdio::null());
    let started = Instant::now();
    while crate::util::http::get(address, "/api/v1/report").map(|r| r.0) != Some(200) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the replay's report API never answered"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let tmux = Tmux::new("top-attached");
    let command = format!("'{BINARY}' top --connect {address}; echo hhmon exited $?; sleep 60");
    tmux.start(&command);
    // The view redraws only the cells that change, and the pane may be read halfway through:
    // the victim's row is whole once its last cell, the share, shows.
    let pane = tmux.wait_for("the server's interval", |pane| {
        pane.lines()
            .any(|line| line.contains(&format!(" {victim} ")) && line.contains("100.0%"))
    });
    let (row, fan_in) = first_row(&pane, "Top destinations by packets", "fan-in");
    assert!(row.contains(&format!(" {victim} ")), "{row}\n{pane}");
    assert_fan_in(fan_in.parse().unwrap(), exact);
    assert!(pane.contains(&address.to_string()), "{pane}");

    tmux.run(&["send-keys", "-t", "top", "q"]);
    let pane = tmux.wait_for("exit", |pane| pane.contains("hhmon exited"));
    assert!(pane.contains("hhmon exited 0"), "{pane}");
    assert!(server.stop(Duration::from_secs(10)).success());
}
