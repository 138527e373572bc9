//! End to end with a real Prometheus: Debian's `prometheus` scrapes `hhmon replay --speed`
//! every second while a real capture is replayed over several intervals, and its HTTP API must
//! show what tshark says the capture holds: counters that end at the capture's totals and only
//! ever take the values of whole intervals, the top talkers of every scraped interval, departed
//! talkers gone, and data for every panel query of the shipped Grafana dashboards. For the
//! flow-telemetry panels, a second target (job `hhmon-collect`) is `hhmon collect` over shipped
//! NetFlow exports, pmacct sFlow exports with interface counters and one malformed datagram.
//!
//! Prometheus, promtool's sibling, and tshark must be installed (scripts/install-deps.sh
//! --test): a missing program fails the test. Both child processes die with the test.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::util::dashboards::{dashboards, panels, substitute, variable_defaults};
use crate::util::http;
use crate::util::process::Running;
use crate::util::repo;
use crate::util::tshark::{add, frame_times, tshark, Counts};
use crate::util::HHMON;

/// Ten minutes of skewed peer-to-peer traffic whose top talkers change from one interval to
/// the next. At 25 times real speed with 10 s intervals: about 24 s, 58 intervals.
const CAPTURE: &str = "gnutella-p2p.pcap";
const INTERVAL_SECONDS: u64 = 10;
const SPEED: &str = "25";
const PROM_TOP: usize = 5;

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Prometheus's HTTP API on one port.
struct Prometheus {
    address: SocketAddr,
}

impl Prometheus {
    /// GETs an API path; the answer must be `status: success`. Returns `data`.
    fn api(&self, path: &str, params: &[(&str, String)]) -> Result<Value, String> {
        let query: Vec<String> = params
            .iter()
            .map(|(key, value)| format!("{key}={}", encode(value)))
            .collect();
        let url = format!("{path}?{}", query.join("&"));
        let (status, body) =
            http::get(self.address, &url).ok_or_else(|| format!("no answer to {url}"))?;
        let json: Value =
            serde_json::from_str(&body).map_err(|e| format!("{status} {e}: {body}"))?;
        if json["status"] != "success" {
            return Err(format!("{status}: {body}"));
        }
        Ok(json["data"].clone())
    }

    /// An instant query at `time`: the result array (vector or matrix).
    fn query(&self, query: &str, time: f64) -> Vec<Value> {
        let data = self
            .api(
                "/api/v1/query",
                &[("query", query.to_owned()), ("time", format!("{time:.3}"))],
            )
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        data["result"].as_array().unwrap().clone()
    }

    /// The raw samples of every series of `selector` in the last `seconds` before `time`:
    /// (labels, [(timestamp, value)]).
    fn raw(&self, selector: &str, seconds: u64, time: f64) -> Vec<(Labels, Vec<(f64, f64)>)> {
        self.query(&format!("{selector}[{seconds}s]"), time)
            .iter()
            .map(|series| (labels(series), points(&series["values"])))
            .collect()
    }
}

type Labels = BTreeMap<String, String>;

fn labels(series: &Value) -> Labels {
    series["metric"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

fn points(values: &Value) -> Vec<(f64, f64)> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|point| {
            let time = point[0].as_f64().unwrap();
            let value = point[1].as_str().unwrap().parse().unwrap();
            (time, value)
        })
        .collect()
}

fn vector_value(result: &[Value]) -> Option<f64> {
    result.first()?["value"][1].as_str()?.parse().ok()
}

/// What tshark says each interval holds: packets and bytes per source and per destination.
#[derive(Default)]
struct IntervalTruth {
    sources: Counts<IpAddr>,
    destinations: Counts<IpAddr>,
}

struct Truth {
    packets: u64,
    bytes: u64,
    /// Every value the cumulative counters take when an interval closes: (packets, bytes) by
    /// interval start.
    cumulative: BTreeMap<u64, (u64, u64)>,
    intervals: BTreeMap<u64, IntervalTruth>,
}

fn truth(path: &Path) -> Truth {
    let frames = tshark(path);
    let times = frame_times(path);
    assert_eq!(frames.len(), times.len());
    let mut truth = Truth {
        packets: 0,
        bytes: 0,
        cumulative: BTreeMap::new(),
        intervals: BTreeMap::new(),
    };
    for (frame, time) in frames.iter().zip(times) {
        let second = time as u64;
        let start = second - second % INTERVAL_SECONDS;
        let bytes = u64::from(frame.wire_len);
        truth.packets += 1;
        truth.bytes += bytes;
        truth.cumulative.insert(start, (truth.packets, truth.bytes));
        let interval = truth.intervals.entry(start).or_default();
        if let Some(key) = frame.key() {
            add(&mut interval.sources, key.src, frame.wire_len);
            add(&mut interval.destinations, key.dst, frame.wire_len);
        }
    }
    truth
}

/// The count of the last entry of a top list of `truth` (the cut-off; ties at it may stand in
/// for each other), and the list's length; `None` for an empty table.
fn cutoff(truth: &BTreeMap<String, u64>) -> Option<u64> {
    let mut counts: Vec<u64> = truth.values().copied().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    counts
        .get(PROM_TOP.min(counts.len()).wrapping_sub(1))
        .copied()
}

/// Checks a served metric against the exact counts: it holds the addresses of the top lists
/// by this metric's count (`measure`) and by the other one (`other`), each with its exact
/// `measure` count; every address above either list's cut-off is present, none below both.
fn check_top(
    served: &BTreeMap<String, f64>,
    measure: &BTreeMap<String, u64>,
    other: &BTreeMap<String, u64>,
) -> Result<(), String> {
    let (Some(cut), Some(other_cut)) = (cutoff(measure), cutoff(other)) else {
        return if served.is_empty() {
            Ok(())
        } else {
            Err(format!("{} served of an empty interval", served.len()))
        };
    };
    if served.len() < PROM_TOP.min(measure.len()) || served.len() > 2 * PROM_TOP {
        return Err(format!(
            "{} served, {PROM_TOP} to {} expected",
            served.len(),
            2 * PROM_TOP
        ));
    }
    for (address, &value) in served {
        let listed = measure.get(address).is_some_and(|&c| c >= cut)
            || other.get(address).is_some_and(|&c| c >= other_cut);
        match measure.get(address) {
            Some(&count) if count as f64 == value && listed => {}
            found => return Err(format!("{address} served {value}, true {found:?}")),
        }
    }
    for (truth, cut) in [(measure, cut), (other, other_cut)] {
        for (address, &count) in truth {
            if count > cut && !served.contains_key(address) {
                return Err(format!("{address} with {count} is missing"));
            }
        }
    }
    Ok(())
}

fn write_prometheus_config(dir: &Path, hhmon_port: u16, collect_port: u16) -> PathBuf {
    let rules = repo::path("dashboards/alerts/hhmon.rules.yml");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         rule_files:\n  - {}\n\
         scrape_configs:\n  - job_name: hhmon\n    static_configs:\n      - targets: ['127.0.0.1:{hhmon_port}']\n\
         \x20 - job_name: hhmon-collect\n    static_configs:\n      - targets: ['127.0.0.1:{collect_port}']\n",
        rules.display()
    );
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, config).unwrap();
    path
}

#[test]
fn prometheus_scrapes_a_paced_replay_and_every_dashboard_query_returns_data() {
    let _turn = crate::util::serial();
    let begun = Instant::now();
    let capture = repo::capture(CAPTURE);
    let truth = truth(&capture);
    assert!(truth.intervals.len() > 20, "several intervals");

    let dir = tempfile::tempdir().unwrap();
    let hhmon_port = http::free_port();
    let prometheus_port = http::free_port();
    let collect_port = http::free_port();
    let config = write_prometheus_config(dir.path(), hhmon_port, collect_port);
    let _prometheus = Running::new(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("prometheus must be installed to run this test: {e}")),
    );
    let prometheus = Prometheus {
        address: SocketAddr::from(([127, 0, 0, 1], prometheus_port)),
    };
    while http::get(prometheus.address, "/-/ready").map(|r| r.0) != Some(200) {
        assert!(
            begun.elapsed() < Duration::from_secs(30),
            "prometheus not ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let ready = begun.elapsed();

    // The collector reads its files and serves their counts until the test ends.
    let malformed = dir.path().join("malformed-export.pcap");
    std::fs::write(&malformed, truncated_netflow_v9()).unwrap();
    let _collector = Running::new(
        Command::new(HHMON)
            .args(["collect", "--quiet", "--listen", &collect_port.to_string()])
            .arg(repo::capture("flow-telemetry/netflow-nfv5.pcap"))
            .arg(repo::capture(
                "flow-telemetry/pmacct-sfprobe-counters.pcapng",
            ))
            .arg(&malformed)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let hhmon_address = SocketAddr::from(([127, 0, 0, 1], hhmon_port));
    let replay_started = now();
    let replay_clock = Instant::now();
    let _hhmon = Running::new(
        Command::new(HHMON)
            .args(["replay", "--quiet", "--exact", "--speed", SPEED])
            .args(["--interval", &format!("{INTERVAL_SECONDS}s")])
            // The window panel needs the window series.
            .args(["--window", &format!("{}s", 6 * INTERVAL_SECONDS)])
            .args(["--prom-top", &PROM_TOP.to_string()])
            .args(["--listen", &hhmon_address.to_string()])
            .arg(&capture)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let last_line = format!("hhmon_packets_total {}", truth.packets);
    loop {
        if let Some((200, text)) = http::get(hhmon_address, "/metrics") {
            if text.lines().any(|line| line == last_line) {
                break;
            }
        }
        assert!(
            replay_clock.elapsed() < Duration::from_secs(90),
            "replay never finished"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let replayed = replay_clock.elapsed();
    // Prometheus has scraped the final values a few times.
    let settle = Instant::now();
    loop {
        let result = prometheus.query("hhmon_packets_total{job=\"hhmon\"}", now());
        if vector_value(&result) == Some(truth.packets as f64) {
            break;
        }
        assert!(settle.elapsed() < Duration::from_secs(15), "{result:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    let end = now();
    let window = (end - replay_started).ceil() as u64 + 5;
    let mut failures = Vec::new();

    // Counters: the last value is the capture's total; every scraped value is the total of
    // whole intervals (or 0 before the first closed).
    for (metric, index, total) in [
        ("hhmon_packets_total", 0, truth.packets),
        ("hhmon_bytes_total", 1, truth.bytes),
    ] {
        let allowed: BTreeSet<u64> = std::iter::once(0)
            .chain(
                truth
                    .cumulative
                    .values()
                    .map(|c| if index == 0 { c.0 } else { c.1 }),
            )
            .collect();
        let series = prometheus.raw(&format!("{metric}{{job=\"hhmon\"}}"), window, end);
        assert_eq!(series.len(), 1, "{metric}: {series:?}");
        let samples = &series[0].1;
        assert!(samples.len() > 10, "{metric}: {} samples", samples.len());
        for &(time, value) in samples {
            if !allowed.contains(&(value as u64)) {
                failures.push(format!("{metric} was {value} at {time}: no interval total"));
            }
        }
        if samples.windows(2).any(|w| w[1].1 < w[0].1) {
            failures.push(format!("{metric} went down: {samples:?}"));
        }
        let last = samples.last().unwrap().1;
        if last != total as f64 {
            failures.push(format!("{metric} ends at {last}, tshark {total}"));
        }
        // increase() over the run, with Prometheus's extrapolation at the edges.
        let first = samples[0].1;
        let increase = vector_value(&prometheus.query(
            &format!("increase({metric}{{job=\"hhmon\"}}[{window}s])"),
            end,
        ))
        .unwrap();
        let expected = total as f64 - first;
        if (increase - expected).abs() > 0.1 * expected {
            failures.push(format!(
                "increase({metric}) {increase}, expected {expected}"
            ));
        }
    }

    // Top talkers: every scrape showed the exact top of the interval it reported.
    let starts: BTreeMap<u64, u64> = prometheus
        .raw(
            "hhmon_interval_start_timestamp_seconds{job=\"hhmon\"}",
            window,
            end,
        )
        .into_iter()
        .flat_map(|(_, samples)| samples)
        .map(|(time, start)| ((time * 1000.0) as u64, start as u64))
        .collect();
    assert!(
        starts.values().collect::<BTreeSet<_>>().len() > 10,
        "too few intervals scraped: {starts:?}"
    );
    let (&last_scrape, &final_start) = starts.iter().next_back().unwrap();
    assert_eq!(final_start, *truth.intervals.keys().max().unwrap());
    let mut departed = BTreeSet::new();
    for (metric, of_sources, by_bytes) in [
        ("hhmon_top_source_packets", true, false),
        ("hhmon_top_source_bytes", true, true),
        ("hhmon_top_destination_packets", false, false),
        ("hhmon_top_destination_bytes", false, true),
    ] {
        let mut served: BTreeMap<u64, BTreeMap<String, f64>> = BTreeMap::new();
        for (labels, samples) in prometheus.raw(&format!("{metric}{{job=\"hhmon\"}}"), window, end)
        {
            for (time, value) in samples {
                served
                    .entry((time * 1000.0) as u64)
                    .or_default()
                    .insert(labels["address"].clone(), value);
            }
        }
        for (time, start) in &starts {
            let interval = &truth.intervals[start];
            let table = if of_sources {
                &interval.sources
            } else {
                &interval.destinations
            };
            let counts = |bytes: bool| -> BTreeMap<String, u64> {
                table
                    .iter()
                    .map(|(address, c)| (address.to_string(), if bytes { c.1 } else { c.0 }))
                    .collect()
            };
            let list = served.get(time).cloned().unwrap_or_default();
            if let Err(problem) = check_top(&list, &counts(by_bytes), &counts(!by_bytes)) {
                failures.push(format!("{metric} at {time} (interval {start}): {problem}"));
            }
        }
        // Talkers of earlier intervals that are not in the final top list (the capture's last
        // interval holds two non-IP frames, so its lists are empty and every talker departs).
        let last: BTreeSet<String> = served
            .get(&last_scrape)
            .map(|list| list.keys().cloned().collect())
            .unwrap_or_default();
        let now_served: BTreeSet<String> = prometheus
            .query(&format!("{metric}{{job=\"hhmon\"}}"), end)
            .iter()
            .map(|series| labels(series)["address"].clone())
            .collect();
        if now_served != last {
            failures.push(format!(
                "{metric}: {now_served:?} now, {last:?} last scraped"
            ));
        }
        for address in served.values().flat_map(|list| list.keys()) {
            if !last.contains(address) {
                departed.insert((metric, address.clone()));
            }
        }
    }
    assert!(!departed.is_empty(), "no talker ever left a top list");
    for (metric, address) in departed.iter().take(20) {
        let query = format!("{metric}{{job=\"hhmon\", address=\"{address}\"}}");
        let result = prometheus.query(&query, end);
        if !result.is_empty() {
            failures.push(format!("departed {query} still there: {result:?}"));
        }
    }

    // Every dashboard panel query parses and returns data over the run.
    let mut empty_panels = Vec::new();
    for query in panel_queries() {
        let dashboard = dashboards()
            .into_iter()
            .find(|(name, _)| *name == query.dashboard)
            .unwrap()
            .1;
        let variables = variable_defaults(&dashboard);
        let expr = substitute(&query.expr, &variables, 1, 1, window);
        let answer = prometheus.api(
            "/api/v1/query_range",
            &[
                ("query", expr.clone()),
                ("start", format!("{replay_started:.3}")),
                ("end", format!("{end:.3}")),
                ("step", "1".to_owned()),
            ],
        );
        let problem = match answer {
            Err(error) => Some(format!("error {error}")),
            Ok(data) => {
                let points = data["result"].as_array().map_or(0, |series| {
                    series
                        .iter()
                        .map(|s| s["values"].as_array().map_or(0, Vec::len))
                        .sum()
                });
                (points == 0).then(|| "no data".to_owned())
            }
        };
        if let Some(problem) = problem {
            empty_panels.push(format!(
                "{} / {}: {problem}: {expr}",
                query.dashboard, query.panel
            ));
        }
    }

    eprintln!(
        "prometheus ready in {ready:?}; replay of {} packets ({} intervals) took {replayed:?}; \
         {} scrapes of hhmon; whole test {:?}",
        truth.packets,
        truth.intervals.len(),
        starts.len(),
        begun.elapsed()
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert!(
        empty_panels.is_empty(),
        "panels without data:\n{}",
        empty_panels.join("\n")
    );
}

/// A pcap file of one Ethernet frame whose UDP payload is a NetFlow v9 header cut short, from
/// 192.0.2.99: one exporter with one malformed datagram (`truncated`).
fn truncated_netflow_v9() -> Vec<u8> {
    let payload = [0u8, 9, 0, 1, 0, 0];
    let mut frame = vec![0u8; 12];
    frame.extend([0x08, 0x00]);
    let ip_length = (20 + 8 + payload.len()) as u16;
    frame.extend([0x45, 0]);
    frame.extend(ip_length.to_be_bytes());
    frame.extend([0, 0, 0x40, 0, 64, 17, 0, 0]);
    frame.extend([192, 0, 2, 99, 192, 0, 2, 1]);
    frame.extend(40000u16.to_be_bytes());
    frame.extend(2055u16.to_be_bytes());
    frame.extend((8 + payload.len() as u16).to_be_bytes());
    frame.extend([0, 0]);
    frame.extend(payload);
    let mut file = Vec::new();
    file.extend(0xa1b2_c3d4u32.to_le_bytes());
    file.extend(2u16.to_le_bytes());
    file.extend(4u16.to_le_bytes());
    file.extend([0u8; 8]);
    file.extend(65535u32.to_le_bytes());
    file.extend(1u32.to_le_bytes());
    file.extend(1_700_000_000u32.to_le_bytes());
    file.extend(0u32.to_le_bytes());
    file.extend((frame.len() as u32).to_le_bytes());
    file.extend((frame.len() as u32).to_le_bytes());
    file.extend(frame);
    file
}

/// One panel query.
#[derive(Debug)]
struct PanelQuery {
    /// The dashboard file.
    dashboard: String,
    /// The panel title.
    panel: String,
    /// The PromQL as written in the dashboard.
    expr: String,
}

/// Every query of every panel of every dashboard.
fn panel_queries() -> Vec<PanelQuery> {
    let mut queries = Vec::new();
    for (name, dashboard) in dashboards() {
        for panel in panels(&dashboard) {
            for target in panel["targets"].as_array().into_iter().flatten() {
                queries.push(PanelQuery {
                    dashboard: name.clone(),
                    panel: panel["title"].as_str().unwrap_or_default().to_owned(),
                    expr: target["expr"].as_str().unwrap_or_default().to_owned(),
                });
            }
        }
    }
    queries
}

/// `text` percent-encoded for a URL query value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
