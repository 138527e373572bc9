//! Running `hhmon collect` (and other programs that say when they are ready) in the tests of
//! both binaries: started once they say so, stopped for the collector's summary line.

use std::io::{BufRead, BufReader, Read};
use std::process::{ChildStderr, Command, Stdio};
use std::time::Duration;

use super::process::Running;

/// How the tests run a collector: exact counting with room for every flow of a shipped
/// capture, in hour-long intervals (records of old flows count at their arrival, so one
/// interval, two at an hour's edge).
pub const EXACT_COLLECT: [&str; 7] = [
    "collect",
    "--quiet",
    "--exact",
    "--top",
    "100000",
    "--interval",
    "3600s",
];

/// What a collector says once its sockets are bound.
pub const LISTENING: &str = "Listening for flow telemetry";

/// Starts `command` with its standard error piped and reads that until a line containing
/// `ready`; fails the test if the program ends first. The reader of the rest comes back with
/// it: dropping it closes the pipe, which kills a program that writes there later.
pub fn start_when(command: &mut Command, ready: &str) -> (Running, BufReader<ChildStderr>) {
    let mut running = Running::new(
        command
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut stderr = BufReader::new(running.child().stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains(ready) {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "ended before saying {ready:?}"
        );
    }
    (running, stderr)
}

/// Lets loopback deliver what an exporter that has exited sent, stops the collector with
/// SIGTERM and returns its summary line (`hhmon: N datagrams ...`).
pub fn stop_for_summary(mut collector: Running, mut stderr: BufReader<ChildStderr>) -> String {
    std::thread::sleep(Duration::from_millis(500));
    assert!(collector.stop(Duration::from_secs(30)).success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    rest.lines()
        .find(|line| line.starts_with("hhmon: "))
        .unwrap_or_else(|| panic!("no summary in {rest}"))
        .to_owned()
}
