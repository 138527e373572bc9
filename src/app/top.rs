//! `hhmon top`: starts the source of reports (a poller of a running hhmon, or the engine in
//! this process on an interface or on files, with its tap set), then shows them: the
//! interactive view when standard output is a terminal, plain lines otherwise. Knows nothing of
//! how reports are counted, drawn or fetched.

use super::capture::{self, CaptureConfig};
use super::replay::{self, ReplayConfig};
use super::{fail, Status};
use crate::engine::ReportTap;
use crate::top::log::LogTail;
use crate::top::model::Model;
use crate::top::source::{self, Event};
use crate::top::{plain, tui};
use std::io::{IsTerminal, Write};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

/// What `hhmon top` watches.
#[derive(Debug, Clone, PartialEq)]
pub enum TopSource {
    /// A running hhmon's report API at HOST:PORT.
    Connect(String),
    /// An interface, captured in this process.
    Live(CaptureConfig),
    /// Capture files, replayed in this process as fast as possible.
    Files(ReplayConfig),
}

/// Everything `hhmon top` needs.
#[derive(Debug, Clone, PartialEq)]
pub struct TopConfig {
    /// What to watch.
    pub source: TopSource,
}

/// The status an in-process engine ended with, once it has.
type Outcome = Arc<Mutex<Option<Status>>>;

/// Shows the reports of `config.source` until the user quits (a terminal) or the source ends
/// (plain lines; a server is watched until interrupted). [`Status::Done`] unless the source
/// failed or, for files, some could not be read. The view shows the latest warning `log` kept.
pub fn main(config: TopConfig, log: LogTail) -> Status {
    let label = label(&config.source);
    let (events, received) = mpsc::channel();
    let started = match config.source {
        TopSource::Connect(address) => source::connect(&address, events).map(|()| None),
        TopSource::Files(config) => {
            start_engine(events, move |tap| run_files(config, tap)).map(Some)
        }
        TopSource::Live(config) => start_engine(events, move |tap| run_live(config, tap)).map(Some),
    };
    let outcome = match started {
        Ok(outcome) => outcome,
        Err(error) => return fail(&format!("cannot start a thread: {error}")),
    };
    if std::io::stdout().is_terminal() {
        if let Err(error) = tui::run(Model::new(label), &received, &log) {
            return fail(&format!("terminal: {error}"));
        }
    } else {
        print_plain(&label, &received);
    }
    outcome
        .and_then(|outcome| outcome.lock().ok().and_then(|status| *status))
        .unwrap_or(Status::Done)
}

/// Each interval as a block of lines on stdout, troubles and the end on stderr, until the
/// source ends or stdout is closed.
fn print_plain(label: &str, events: &mpsc::Receiver<Event>) {
    let mut out = std::io::stdout().lock();
    for event in events {
        match event {
            Event::Report(report) => {
                let written = out
                    .write_all(plain::block(label, &report).as_bytes())
                    .and_then(|()| out.flush());
                // A closed pipe (`hhmon top x.pcap | head`) ends the view.
                if written.is_err() {
                    return;
                }
            }
            Event::Trouble(Some(trouble)) => eprintln!("hhmon top: {trouble}"),
            Event::Trouble(None) => eprintln!("hhmon top: {label}: reports again"),
            Event::Ended(message) => {
                eprintln!("hhmon top: {message}");
                return;
            }
        }
    }
}

/// Runs `run` (the engine, fed its tap) on a thread of its own; its reports, then how it
/// ended, go to `events`. Returns where its status will be.
fn start_engine<F>(events: mpsc::Sender<Event>, run: F) -> std::io::Result<Outcome>
where
    F: FnOnce(ReportTap) -> (String, Status) + Send + 'static,
{
    let (tap, reports) = mpsc::channel();
    let forwarder = source::forward(reports, events.clone())?;
    let outcome: Outcome = Arc::default();
    let slot = outcome.clone();
    thread::Builder::new()
        .name("hhmon-top-engine".into())
        .spawn(move || {
            let (message, status) = run(ReportTap::new(tap));
            // The engine has dropped the tap: the forwarder ends after the last report.
            let _ = forwarder.join();
            if let Ok(mut slot) = slot.lock() {
                *slot = Some(status);
            }
            let _ = events.send(Event::Ended(message));
        })?;
    Ok(outcome)
}

fn run_files(mut config: ReplayConfig, tap: ReportTap) -> (String, Status) {
    config.sinks.tap = Some(tap);
    match replay::run(config) {
        Ok(summary) => {
            let mut message = format!(
                "end of input: {} packets, {}",
                summary.packets,
                intervals(summary.intervals)
            );
            if summary.failed_files > 0 {
                message += &format!("; {} file(s) could not be read", summary.failed_files);
            }
            if summary.interrupted {
                message += "; interrupted";
            }
            let status = if summary.failed_files > 0 {
                Status::Partial
            } else {
                Status::Done
            };
            (message, status)
        }
        Err(error) => (format!("{:#}", anyhow::Error::from(error)), Status::Failed),
    }
}

fn run_live(mut config: CaptureConfig, tap: ReportTap) -> (String, Status) {
    config.sinks.tap = Some(tap);
    match capture::run(config) {
        Ok(summary) => (
            format!(
                "capture stopped: {} packets, {}",
                summary.packets,
                intervals(summary.intervals)
            ),
            Status::Done,
        ),
        Err(error) => (format!("{:#}", anyhow::Error::from(error)), Status::Failed),
    }
}

fn intervals(count: u64) -> String {
    if count == 1 {
        "1 interval".to_owned()
    } else {
        format!("{count} intervals")
    }
}

/// The source as the title names it: the address, the interface, or the files' names.
fn label(source: &TopSource) -> String {
    match source {
        TopSource::Connect(address) => address.clone(),
        TopSource::Live(config) => config.capture.interface.clone(),
        TopSource::Files(config) => {
            let name = |path: &std::path::PathBuf| {
                path.file_name().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                )
            };
            match config.files.as_slice() {
                [one] => name(one),
                [first, rest @ ..] => format!("{} +{}", name(first), rest.len()),
                [] => String::new(),
            }
        }
    }
}
