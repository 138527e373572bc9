//! The status page in a real browser: a replay of the shipped SYN flood keeps serving its
//! final interval, Debian's headless `chromium` loads `/`, runs the page's script and dumps the
//! DOM, which must show the flood's victim at the top of the destinations with the packets
//! tshark counts to it in that interval, and the interval's packet total; a screenshot of the
//! page is left in the test's output directory (printed, and named in every failure).
//!
//! The victim and its counts come from tshark's dissection and frame times, not from hhmon.
//! The victim is the only destination of the flood, so the sketches count it exactly and the
//! page's figure must be tshark's, digit for digit.
//!
//! A second test replays a carpet bombing written by `hhmon generate` (a flood spread over every
//! address of 203.0.113.0/24, so that no address is heavy) counted exactly, and the page must
//! show that /24 among the destination prefixes with the packets, bytes and 256 addresses
//! counted here from the capture (libpcap and etherparse, not hhmon), and among the prefixes
//! heavy on their own.
//!
//! A third test serves hand-written reports from the endpoint in process: entries with a
//! `lower_bound` marker and fields the page does not know, and markup where text belongs (in
//! addresses, prefixes and the counting mode), which the page must show as text; prefix lists of
//! two lengths, which the page must show as two groups each ranked on its own.

use std::collections::BTreeSet;
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::attacks::{attack_trace, CARPET};
use crate::util::hhmon::hhmon;
use crate::util::http;
use crate::util::process::Running;
use crate::util::recount::ip_packets;
use crate::util::repo::capture;
use crate::util::tshark::{add, frame_times, tshark, Counts};
use hhmon::engine::http::EndpointState;

const CAPTURE: &str = "ddos-synflood-spoofed.pcap";
/// Short enough for a dozen intervals in the charts.
const INTERVAL: u64 = 2;

/// Where the screenshot and the dumped DOM go, kept after the test for a person to look at.
fn output_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("status-page");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What tshark says of the capture's last interval: its start, its packets, and packets and
/// wire bytes per destination.
struct LastInterval {
    start: u64,
    packets: u64,
    by_destination: Counts<IpAddr>,
}

fn last_interval(path: &Path) -> LastInterval {
    let packets = tshark(path);
    let times = frame_times(path);
    assert_eq!(packets.len(), times.len());
    let last = times.iter().copied().fold(f64::MIN, f64::max);
    // Intervals are aligned to multiples of their length since the epoch.
    let start = (last as u64) / INTERVAL * INTERVAL;
    let mut interval = LastInterval {
        start,
        packets: 0,
        by_destination: Counts::new(),
    };
    for (packet, &time) in packets.iter().zip(&times) {
        if time < start as f64 {
            continue;
        }
        interval.packets += 1;
        if let Some(key) = packet.key() {
            add(&mut interval.by_destination, key.dst, packet.wire_len);
        }
    }
    interval
}

/// 1234567 as the page writes counts: "1,234,567".
fn grouped(count: u64) -> String {
    let digits = count.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A table row as its markup and its cells' text.
type MarkedRow = (String, Vec<String>);

/// The rows of a prefix table, by group: each `<tbody>`'s length label ("IPv4 /24") and its
/// rows as their markup and their cells' text.
fn prefix_groups(table: &str) -> Vec<(String, Vec<MarkedRow>)> {
    table
        .split("<tbody")
        .skip(1)
        .map(|body| {
            let label = body
                .split_once("scope=\"rowgroup\">")
                .map_or("", |(_, rest)| rest.split('<').next().unwrap_or(""));
            let rows = body
                .split("<tr>")
                .skip(1)
                .map(|row| {
                    let row = row.split("</tr>").next().unwrap_or("");
                    let cells = body_rows(&format!("<tbody><tr>{row}"))
                        .pop()
                        .unwrap_or_default();
                    (row.to_owned(), cells)
                })
                .collect();
            (label.trim().to_owned(), rows)
        })
        .collect()
}

/// Waits until the replay serving at `address` has finished, so that its final interval is
/// what the page shows.
fn wait_until_finished(address: SocketAddr) {
    let started = Instant::now();
    loop {
        let report = http::get(address, "/api/v1/report").map(|r| r.0);
        let health = http::get(address, "/healthz").map(|r| r.1);
        if report == Some(200) && health.as_deref().is_some_and(|h| h.contains("finished")) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the replay did not finish serving its report: {report:?} {health:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Headless chromium on `url` with `args`, its standard output into `stdout`; fails the test
/// if chromium cannot run, fails, or takes longer than a minute.
fn chromium(url: &str, args: &[&str], stdout: &Path, profile: &Path) {
    let child = Command::new("chromium")
        .args([
            "--headless",
            // Root cannot use chromium's sandbox; the page is our own.
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            // Enough virtual time for the page's first fetch and render, less than its poll.
            "--virtual-time-budget=3000",
            "--window-size=1280,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(File::create(stdout).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "chromium must be installed to run this test (scripts/install-deps.sh --test): {e}"
            )
        });
    let mut child = Running::new(child);
    let status = child
        .wait_within(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("chromium {args:?} took over a minute"));
    assert!(status.success(), "chromium {args:?}: {status}");
}

/// The DOM of `url` after its script ran, kept in `dom_path`, and a note naming that file for
/// failure messages; fails the test unless the page loaded its reports.
fn loaded_dom(url: &str, dom_path: &Path, profile: &Path) -> (String, String) {
    chromium(url, &["--dump-dom"], dom_path, profile);
    let dom = std::fs::read_to_string(dom_path).unwrap();
    let context = format!("DOM in {}", dom_path.display());
    let state = element(&dom, "span", "state");
    assert!(
        state.contains("updated"),
        "the page did not load: {state} ({context})"
    );
    (dom, context)
}

/// The markup of the element `<tag ... id="id" ...>` of `dom`, up to its end tag (the
/// elements checked hold no nested element of their own kind).
fn element<'a>(dom: &'a str, tag: &str, id: &str) -> &'a str {
    let attribute = format!(" id=\"{id}\"");
    let start = dom
        .find(&attribute)
        .and_then(|at| dom[..at].rfind('<'))
        .filter(|&start| dom[start + 1..].starts_with(tag))
        .unwrap_or_else(|| panic!("no <{tag} id={id:?}> in the DOM"));
    let close = format!("</{tag}>");
    let end = dom[start..]
        .find(&close)
        .map_or(dom.len(), |end| start + end);
    &dom[start..end]
}

/// The cells' text of each row of a table's body, tags stripped.
fn body_rows(table: &str) -> Vec<Vec<String>> {
    let body = table.split("<tbody>").nth(1).unwrap_or("");
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let inner = cell.split_once('>').map_or("", |(_, inner)| inner);
                    let text = inner.split('<').next().unwrap_or("");
                    text.trim().to_owned()
                })
                .collect()
        })
        .collect()
}

#[test]
fn the_status_page_shows_the_flood_victim_with_its_packets_in_a_real_browser() {
    let path = capture(CAPTURE);
    let truth = last_interval(&path);
    let (&victim, &(victim_packets, victim_bytes)) = truth
        .by_destination
        .iter()
        .max_by_key(|(_, &(packets, _))| packets)
        .expect("the last interval has IP packets");
    assert_eq!(
        truth.by_destination.len(),
        1,
        "the flood has one destination"
    );

    let port = http::free_port();
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let interval = format!("{INTERVAL}s");
    let mut hhmon = hhmon(["replay", "--quiet", "--interval", &interval])
        .args(["--listen", &address.to_string()])
        .arg(&path)
        .spawn(Stdio::null(), Stdio::null());

    // The final interval is what the page must show: wait until the replay is done.
    wait_until_finished(address);

    let out = output_dir();
    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://{address}/");
    let dom_path = out.join("status-page.html");
    let (dom, context) = loaded_dom(&url, &dom_path, profile.path());
    let span = element(&dom, "span", "span");
    let start =
        humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(truth.start))
            .to_string();
    let start = start.replace('T', " ").replace('Z', "");
    assert!(span.contains(&start), "{span} is not {start} ({context})");
    let cards = element(&dom, "section", "cards");
    assert!(
        cards.contains(&format!(
            "<div class=\"label\">packets</div><div class=\"value\">{}</div>",
            grouped(truth.packets)
        )),
        "the interval's {} packets are not in the header ({context})",
        truth.packets
    );

    let table = element(&dom, "table", "top-destinations");
    let destinations = body_rows(table);
    let top = destinations
        .first()
        .unwrap_or_else(|| panic!("no top destination ({context})"));
    // Rank, address, packets, bytes, share, fan-in.
    assert_eq!(top[1], victim.to_string(), "{top:?} ({context})");
    assert_eq!(
        top[2],
        grouped(victim_packets),
        "the victim's packets: {top:?} ({context})"
    );
    assert_eq!(top[4], "100.0%", "{top:?} ({context})");
    // The exact bytes are the byte cell's title (the cell shows them with an SI prefix).
    let first_row = table.split("<tbody>").nth(1).unwrap_or("");
    let first_row = first_row.split("</tr>").next().unwrap_or("");
    assert!(
        first_row.contains(&format!("title=\"{} bytes\"", grouped(victim_bytes))),
        "the victim's {victim_bytes} bytes: {first_row} ({context})"
    );
    for name in ["packets/s", "bits/s", "distinct sources"] {
        assert!(
            dom.contains(&format!("aria-label=\"{name}\"")),
            "no chart of {name} ({context})"
        );
    }

    let screenshot = out.join("status-page.png");
    let _ = std::fs::remove_file(&screenshot);
    let log = out.join("chromium-screenshot.log");
    let shot = format!("--screenshot={}", screenshot.display());
    chromium(&url, &[&shot], &log, profile.path());
    let png = std::fs::read(&screenshot)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}", screenshot.display()));
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is no PNG",
        screenshot.display()
    );
    // A blank 1280x1000 page compresses to a few KB; tables, text and charts take far more.
    assert!(
        png.len() > 30_000,
        "{} is only {} bytes: a blank page?",
        screenshot.display(),
        png.len()
    );
    eprintln!(
        "status page: screenshot {}, DOM {}",
        screenshot.display(),
        dom_path.display()
    );

    let status = hhmon.stop(Duration::from_secs(10));
    assert!(status.success(), "hhmon after SIGTERM: {status}");
}

/// Whether `address` is in [`CARPET`], by its octets (not by hhmon's prefix code).
fn in_carpet(address: IpAddr) -> bool {
    matches!(address, IpAddr::V4(v4) if v4.octets()[..3] == [203, 0, 113])
}

#[test]
fn the_status_page_shows_a_carpet_bombed_24_in_the_prefixes_and_heavy_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    // 100 000 packets: 20% to every address of the /24 (some 78 each), 16% from a botnet.
    let pcap = attack_trace(dir.path(), 100_000, 30_000, true);

    // The exact counts of the carpet, from the capture itself.
    let (mut total, mut packets, mut bytes) = (0u64, 0u64, 0u64);
    let mut addresses = BTreeSet::new();
    let mut per_address = std::collections::BTreeMap::<IpAddr, u64>::new();
    for (_, dst, wire_len) in ip_packets(&pcap) {
        total += 1;
        if in_carpet(dst) {
            packets += 1;
            bytes += wire_len;
            addresses.insert(dst);
            *per_address.entry(dst).or_default() += 1;
        }
    }
    assert_eq!(addresses.len(), 256, "the carpet covers its /24");
    assert_eq!(
        addresses.first(),
        Some(&IpAddr::V4(Ipv4Addr::new(203, 0, 113, 0)))
    );
    // No address of it is heavy on its own at 5%, so the /24 carries all its packets itself.
    let heaviest = per_address.values().copied().max().unwrap();
    assert!(heaviest * 20 < total, "{heaviest} of {total}");

    let port = http::free_port();
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut hhmon = hhmon(["replay", "--quiet", "--exact", "--interval", "1000000000s"])
        .args(["--listen", &address.to_string()])
        .arg(&pcap)
        .spawn(Stdio::null(), Stdio::null());
    wait_until_finished(address);

    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://{address}/");
    let dom_path = output_dir().join("status-page-carpet.html");
    let (dom, context) = loaded_dom(&url, &dom_path, profile.path());

    let groups = prefix_groups(element(&dom, "table", "top-destination-prefixes"));
    let labels: Vec<&str> = groups.iter().map(|(label, _)| label.as_str()).collect();
    assert_eq!(
        labels[..3],
        ["IPv4 /8", "IPv4 /16", "IPv4 /24"],
        "the lengths, shortest first ({context})"
    );
    let (_, slash24) = &groups[2];
    let (row, cells) = slash24
        .iter()
        .find(|(_, cells)| cells.get(1).map(String::as_str) == Some(CARPET))
        .unwrap_or_else(|| panic!("{CARPET} is not among the destination /24s ({context})"));
    // Rank, prefix, packets, bytes, share, addresses.
    assert_eq!(
        cells[0], "1",
        "the carpet tops its length: {cells:?} ({context})"
    );
    assert_eq!(cells[2], grouped(packets), "{cells:?} ({context})");
    assert_eq!(
        cells[5], "256",
        "its distinct addresses: {cells:?} ({context})"
    );
    assert!(
        row.contains(&format!("title=\"{} bytes\"", grouped(bytes))),
        "its {bytes} bytes: {row} ({context})"
    );
    assert!(
        !prefix_groups(element(&dom, "table", "top-source-prefixes")).is_empty(),
        "{context}"
    );

    let share = element(&dom, "span", "hierarchical-share");
    assert!(share.contains("at least 5% each"), "{share} ({context})");
    let heavy = body_rows(element(&dom, "table", "heavy-on-their-own"));
    let carpet = heavy
        .iter()
        .find(|cells| cells[..2] == ["destination", CARPET])
        .unwrap_or_else(|| panic!("{CARPET} is not heavy on its own: {heavy:?} ({context})"));
    // Direction, prefix, packets, on its own, share of packets.
    let percent = format!("{:.1}%", packets as f64 * 100.0 / total as f64);
    assert_eq!(
        carpet[2..],
        [grouped(packets), grouped(packets), percent],
        "{context}"
    );
    // Nothing above it is heavy on its own: its /16 and /8 carry little else.
    assert!(
        !heavy
            .iter()
            .any(|cells| cells[1] == "203.0.0.0/16" || cells[1] == "203.0.0.0/8"),
        "{heavy:?} ({context})"
    );

    let status = hhmon.stop(Duration::from_secs(10));
    assert!(status.success(), "hhmon after SIGTERM: {status}");
}

/// The endpoint on a loopback port of its own thread, serving `state` until the guard drops.
struct Served {
    address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(state: EndpointState) -> Served {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            hhmon::engine::http::serve(listener, state, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
    });
    Served {
        address,
        stop: Some(stop),
        thread: Some(thread),
    }
}

/// A report with what the page reads, plus what it must cope with.
fn crafted(start_unix: u64, packets: u64) -> serde_json::Value {
    let totals = serde_json::json!({
        "packets": packets, "bytes": packets * 100, "unparsed_packets": 0,
        "unparsed_by_reason": {}, "transport_truncated": 0, "decap_fallback_by_reason": {}
    });
    serde_json::json!({
        "interval": {
            "start": humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + Duration::from_secs(start_unix)).to_string(),
            "end": humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + Duration::from_secs(start_unix + 10)).to_string(),
            "start_unix": start_unix,
            "seconds": 10
        },
        "totals": totals, "cumulative": totals,
        "distinct_sources": 3, "distinct_destinations": 2,
        "counting": "<img src=x onerror=document.title='owned'>chk",
        "a_field_of_tomorrow": [1, 2, 3],
        "top_flows": [{
            "src": "2001:db8::1", "dst": "192.0.2.1", "src_port": 443, "dst_port": 55555,
            "protocol": 6, "packets": 9, "bytes": 900, "lower_bound": ["packets", "bytes"]
        }],
        "top_flows_by_bytes": [],
        "top_sources": [{
            "address": "198.51.100.7", "packets": 10, "bytes": 600,
            "distinct_destinations": 1, "lower_bound": "packets"
        }],
        "top_sources_by_bytes": [],
        "top_destinations": [{
            "address": "192.0.2.1", "packets": 1_234_567, "bytes": 1000,
            "distinct_sources": 5, "lower_bound": "bytes", "tomorrow": {"x": 1}
        }, {
            "address": "<b>not an address</b>", "packets": 1, "bytes": 60
        }],
        "top_destinations_by_bytes": [],
        "top_destination_prefixes": [
            {"prefix": "203.0.113.0/24", "length": 24, "packets": 5000, "bytes": 300_000,
             "distinct_addresses": 256},
            {"prefix": "198.51.100.0/24", "length": 24, "packets": 40, "bytes": 2400,
             "lower_bound": ["bytes"]},
            {"prefix": "2001:db8::/48", "length": 48, "packets": 7, "bytes": 700,
             "distinct_addresses": 2}
        ],
        "top_destination_prefixes_by_bytes": [],
        "top_source_prefixes": [{
            "prefix": "<i>10.0.0.0/8</i>", "length": 8, "packets": 3, "bytes": 180,
            "distinct_addresses": 3
        }],
        "top_source_prefixes_by_bytes": [],
        "hierarchical_share": 0.025,
        "hierarchical_destination_prefixes": [
            {"prefix": "203.0.113.0/24", "packets": 5000, "conditioned_packets": 4000}
        ],
        "hierarchical_source_prefixes": [
            {"prefix": "<u>not a prefix</u>", "packets": 1, "conditioned_packets": 1}
        ],
        "sketches": {"sources": "", "destinations": ""},
        "capture": null
    })
}

#[test]
fn the_status_page_marks_lower_bounds_ignores_unknown_fields_and_shows_markup_as_text() {
    let state = EndpointState::new();
    for (start, packets) in [(1_700_000_000, 2_000_000), (1_700_000_010, 1_234_600)] {
        state.publish_report(serde_json::to_vec(&crafted(start, packets)).unwrap());
    }
    let served = serve(state);

    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://{}/", served.address);
    let dom_path = output_dir().join("status-page-crafted.html");
    let (dom, context) = loaded_dom(&url, &dom_path, profile.path());
    // Markup in a report is text on the page, never elements.
    for tag in ["<img", "<b>", "<i>", "<u>"] {
        assert!(!dom.contains(tag), "{tag} ({context})");
    }
    assert!(dom.contains("&lt;i&gt;10.0.0.0/8&lt;/i&gt;"), "{context}");
    assert!(dom.contains("&lt;img src=x"), "{context}");
    assert!(
        dom.contains("&lt;b&gt;not an address&lt;/b&gt;"),
        "{context}"
    );
    let title = dom
        .split("<title>")
        .nth(1)
        .and_then(|t| t.split("</title>").next());
    assert!(
        title.is_some_and(|t| t.starts_with("hhmon") && !t.contains("owned")),
        "{title:?} ({context})"
    );

    // Rank, address, packets, bytes, share, fan-in / fan-out.
    let destinations = body_rows(element(&dom, "table", "top-destinations"));
    assert_eq!(destinations[0][1], "192.0.2.1", "{context}");
    assert_eq!(destinations[0][2], "1,234,567", "{context}");
    assert_eq!(destinations[0][3], "\u{2265}1.00 kB", "{context}");
    assert_eq!(destinations[0][5], "5", "{context}");
    assert_eq!(destinations[1][2], "1", "{context}");
    let sources = body_rows(element(&dom, "table", "top-sources"));
    assert_eq!(sources[0][2], "\u{2265}10", "{context}");
    assert_eq!(sources[0][3], "600 B", "{context}");
    // Rank, source, destination, protocol, packets, bytes, share.
    let flows = body_rows(element(&dom, "table", "top-flows"));
    assert_eq!(
        flows[0][1..6],
        [
            "[2001:db8::1]:443",
            "192.0.2.1:55555",
            "tcp",
            "\u{2265}9",
            "\u{2265}900 B"
        ],
        "{context}"
    );

    // One group per length, each ranked on its own: rank, prefix, packets, bytes, share,
    // addresses ("–" when the report has none).
    let groups = prefix_groups(element(&dom, "table", "top-destination-prefixes"));
    let cells = |group: usize| -> Vec<Vec<String>> {
        groups[group]
            .1
            .iter()
            .map(|(_, cells)| cells.clone())
            .collect()
    };
    let labels: Vec<&str> = groups.iter().map(|(label, _)| label.as_str()).collect();
    assert_eq!(labels, ["IPv4 /24", "IPv6 /48"], "{context}");
    assert_eq!(
        cells(0),
        [
            ["1", "203.0.113.0/24", "5,000", "300 kB", "0.4%", "256"],
            [
                "2",
                "198.51.100.0/24",
                "40",
                "\u{2265}2.40 kB",
                "0.0%",
                "\u{2013}"
            ]
        ],
        "{context}"
    );
    assert_eq!(
        cells(1),
        [["1", "2001:db8::/48", "7", "700 B", "0.0%", "2"]],
        "{context}"
    );
    let sources = prefix_groups(element(&dom, "table", "top-source-prefixes"));
    assert_eq!(sources.len(), 1, "{context}");
    assert_eq!(sources[0].0, "IPv4 /8", "{context}");
    assert_eq!(
        sources[0].1[0].1[1], "&lt;i&gt;10.0.0.0/8&lt;/i&gt;",
        "{context}"
    );

    // Direction, prefix, packets, on its own, its share of the interval's packets; the share
    // the lists were drawn at in the title.
    let share = element(&dom, "span", "hierarchical-share");
    assert!(share.contains("at least 2.5% each"), "{share} ({context})");
    let heavy = body_rows(element(&dom, "table", "heavy-on-their-own"));
    assert_eq!(
        heavy,
        [
            ["destination", "203.0.113.0/24", "5,000", "4,000", "0.3%"],
            [
                "source",
                "&lt;u&gt;not a prefix&lt;/u&gt;",
                "1",
                "1",
                "0.0%"
            ]
        ],
        "{context}"
    );
}

#[test]
fn the_status_page_says_none_where_a_report_has_no_prefixes() {
    let state = EndpointState::new();
    let mut report = crafted(1_700_000_000, 1000);
    for list in [
        "top_destination_prefixes",
        "top_source_prefixes",
        "hierarchical_destination_prefixes",
        "hierarchical_source_prefixes",
        "hierarchical_share",
    ] {
        report.as_object_mut().unwrap().remove(list);
    }
    state.publish_report(serde_json::to_vec(&report).unwrap());
    let served = serve(state);

    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://{}/", served.address);
    let dom_path = output_dir().join("status-page-no-prefixes.html");
    let (dom, context) = loaded_dom(&url, &dom_path, profile.path());
    for id in [
        "top-destination-prefixes",
        "top-source-prefixes",
        "heavy-on-their-own",
    ] {
        assert_eq!(
            body_rows(element(&dom, "table", id)),
            [["none"]],
            "{id} ({context})"
        );
    }
    // A report older than the setting was drawn at the default share.
    let share = element(&dom, "span", "hierarchical-share");
    assert!(share.contains("at least 5% each"), "{share} ({context})");
}
