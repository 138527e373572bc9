//! The JSON API of the real binary against its own snapshots: before the first interval closes
//! `/api/v1/report` is 503 and `/api/v1/reports` an empty array; once a replay has finished,
//! the API serves byte for byte what the snapshot files hold (without their newline), newest
//! last, bounded by `--api-history`, each report valid against the snapshot schema.
//!
//! The capture arrives on standard input, so the test decides when the first interval can
//! close.

use std::io::Write;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::snapshot_schema::validator;
use crate::util::hhmon::hhmon;
use crate::util::http;
use crate::util::repo::capture;
use crate::util::snapshots::interval_files;

/// Bytes of a pcap file's global header.
const PCAP_HEADER: usize = 24;
const HISTORY: usize = 3;

/// GET `path` until something answers; fails the test after `limit`.
fn get_within(address: SocketAddr, path: &str, limit: Duration) -> (u16, String) {
    let started = Instant::now();
    loop {
        if let Some(response) = http::get(address, path) {
            return response;
        }
        assert!(started.elapsed() < limit, "nothing answered {path}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The message of an `{"error": ...}` body.
fn error(body: &str) -> String {
    let value: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    value["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message: {body}"))
        .to_owned()
}

#[test]
fn the_api_serves_the_snapshots_bytes_newest_last_and_keeps_only_its_history() {
    let pcap = std::fs::read(capture("ddos-synflood-spoofed.pcap")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = http::free_port();
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let history = HISTORY.to_string();
    let mut hhmon = hhmon(["replay", "--quiet", "--interval", "2s"])
        .args(["--api-history", &history, "--listen", &port.to_string()])
        .arg("--snapshot-dir")
        .arg(dir.path())
        .arg("-")
        .stdin(Stdio::piped())
        .spawn(Stdio::null(), Stdio::null());
    let mut stdin = hhmon.child().stdin.take().unwrap();
    stdin.write_all(&pcap[..PCAP_HEADER]).unwrap();
    stdin.flush().unwrap();

    // No record yet, so no interval has closed.
    let (status, body) = get_within(address, "/api/v1/report", Duration::from_secs(10));
    assert_eq!(status, 503, "{body}");
    assert!(error(&body).contains("no interval"), "{body}");
    assert_eq!(
        http::get(address, "/api/v1/reports"),
        Some((200, "[]".to_owned()))
    );
    assert_eq!(
        http::get(address, "/api/v1/reports?last=2"),
        Some((200, "[]".to_owned()))
    );
    let (status, body) = http::get(address, "/api/v1/reports?last=-2").unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(error(&body).contains("last"), "{body}");

    stdin.write_all(&pcap[PCAP_HEADER..]).unwrap();
    drop(stdin);
    let started = Instant::now();
    while !http::get(address, "/healthz").is_some_and(|(_, body)| body.contains("finished")) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the replay never finished"
        );
        std::thread::sleep(Duration::from_millis(25));
    }

    let snapshots: Vec<String> = interval_files(dir.path())
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            text.strip_suffix('\n').unwrap().to_owned()
        })
        .collect();
    assert!(snapshots.len() > HISTORY, "{} intervals", snapshots.len());
    let kept = &snapshots[snapshots.len() - HISTORY..];

    let (status, latest) = http::get(address, "/api/v1/report").unwrap();
    assert_eq!(status, 200);
    assert_eq!(&latest, kept.last().unwrap());
    let latest_json = std::fs::read_to_string(dir.path().join("latest.json")).unwrap();
    assert_eq!(latest_json, format!("{latest}\n"));

    let array = |reports: &[String]| format!("[{}]", reports.join(","));
    for (query, expected) in [
        ("", kept),
        ("?last=2", &kept[1..]),
        ("?last=1", &kept[2..]),
        ("?last=0", &kept[..0]),
        ("?last=1000", kept),
    ] {
        let (status, body) = http::get(address, &format!("/api/v1/reports{query}")).unwrap();
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(body, array(expected), "{query}");
    }

    let schema = validator();
    let (_, body) = http::get(address, "/api/v1/reports").unwrap();
    let reports: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    for report in &reports {
        let errors: Vec<String> = schema.iter_errors(report).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}");
    }

    assert!(hhmon.stop(Duration::from_secs(10)).success());
}
