//! Where the view's reports come from, as one stream of [`Event`]s: a running hhmon polled over
//! HTTP (`--connect`), or reports handed over in this process by the engine's sink thread
//! ([`forward`]). Knows nothing of the screen or the keys; never panics on what a server sends.

use crate::report::IntervalReport;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// What a source says.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A closed interval.
    Report(Box<IntervalReport>),
    /// A passing problem (the server is unreachable, or answered nonsense), or `None` once it
    /// has passed; the source keeps trying.
    Trouble(Option<String>),
    /// The source has ended, and why (end of input, a failure); nothing follows.
    Ended(String),
}

/// How often a server is asked for its latest report.
pub const POLL_EVERY: Duration = Duration::from_secs(1);

/// The longest a request may take: a server that hangs is a trouble, not a frozen view.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Reports of more than this are refused: a report of a few hundred entries is some tens of
/// kB, and its two distinct-count sketches at the highest precision a few MB.
const MAX_REPORT_BYTES: u64 = 32 << 20;

/// Intervals asked for at start, so that a view of a running server can step back at once.
const BACKLOG: usize = 60;

/// The client of a running hhmon's report API at `address` (HOST:PORT).
pub struct Connection {
    agent: ureq::Agent,
    base: String,
}

/// What one request came to.
#[derive(Debug)]
enum Answer<T> {
    Ok(T),
    /// The server has no closed interval yet (503), or does not offer this (404).
    NotYet(u16),
    /// Anything else, as a sentence for the status line.
    Trouble(String),
}

impl Connection {
    /// A client of `http://address`.
    pub fn new(address: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .build()
            .into();
        Self {
            agent,
            base: format!("http://{address}"),
        }
    }

    fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Answer<T> {
        let url = format!("{}{path}", self.base);
        let mut response = match self.agent.get(&url).call() {
            Ok(response) => response,
            Err(ureq::Error::StatusCode(status @ (404 | 503))) => return Answer::NotYet(status),
            Err(error) => return Answer::Trouble(format!("{url}: {error}")),
        };
        let text = match response
            .body_mut()
            .with_config()
            .limit(MAX_REPORT_BYTES)
            .read_to_string()
        {
            Ok(text) => text,
            Err(error) => return Answer::Trouble(format!("{url}: {error}")),
        };
        match serde_json::from_str(&text) {
            Ok(value) => Answer::Ok(value),
            Err(error) => Answer::Trouble(format!("{url}: not a report: {error}")),
        }
    }

    /// Polls the server every `every` and sends each new interval (by start) to `events`,
    /// after the kept backlog; a trouble while it lasts. Returns once `events` has no receiver.
    pub fn poll(self, every: Duration, events: &mpsc::Sender<Event>) {
        let mut last_start = None;
        let mut trouble: Option<String> = None;
        let mut backlog_read = false;
        loop {
            let said = if backlog_read {
                self.poll_once(&mut last_start)
            } else {
                match self.get::<Vec<IntervalReport>>(&format!("/api/v1/reports?last={BACKLOG}")) {
                    Answer::Ok(reports) => {
                        backlog_read = true;
                        let mut said = Vec::new();
                        for report in reports {
                            last_start = Some(report.interval.start_unix);
                            said.push(Event::Report(Box::new(report)));
                        }
                        said.extend(self.poll_once(&mut last_start));
                        said
                    }
                    // An older server without the list: the latest report alone will do.
                    Answer::NotYet(_) => {
                        backlog_read = true;
                        self.poll_once(&mut last_start)
                    }
                    Answer::Trouble(text) => vec![Event::Trouble(Some(text))],
                }
            };
            for event in said {
                // Say a trouble once, and that it passed once.
                let event = match event {
                    Event::Trouble(now) if now == trouble => continue,
                    Event::Trouble(now) => {
                        trouble.clone_from(&now);
                        Event::Trouble(now)
                    }
                    Event::Report(report) => {
                        if trouble.take().is_some() && events.send(Event::Trouble(None)).is_err() {
                            return;
                        }
                        Event::Report(report)
                    }
                    other => other,
                };
                if events.send(event).is_err() {
                    return;
                }
            }
            thread::sleep(every);
        }
    }

    /// One request for the latest report: the events it gives rise to.
    fn poll_once(&self, last_start: &mut Option<u64>) -> Vec<Event> {
        match self.get::<IntervalReport>("/api/v1/report") {
            Answer::Ok(report) if Some(report.interval.start_unix) == *last_start => {
                vec![Event::Trouble(None)]
            }
            Answer::Ok(report) => {
                *last_start = Some(report.interval.start_unix);
                vec![Event::Report(Box::new(report))]
            }
            Answer::NotYet(503) => vec![Event::Trouble(Some(format!(
                "{}: no interval has closed yet",
                self.base
            )))],
            Answer::NotYet(status) => vec![Event::Trouble(Some(format!(
                "{}/api/v1/report: HTTP {status}: not an hhmon that serves reports",
                self.base
            )))],
            Answer::Trouble(text) => vec![Event::Trouble(Some(text))],
        }
    }
}

/// Starts polling `address` on a thread of its own.
///
/// # Errors
///
/// When the thread cannot start.
pub fn connect(address: &str, events: mpsc::Sender<Event>) -> std::io::Result<()> {
    let connection = Connection::new(address);
    thread::Builder::new()
        .name("hhmon-top-poll".into())
        .spawn(move || connection.poll(POLL_EVERY, &events))
        .map(drop)
}

/// Starts a thread that hands every report of `reports` (the engine's tap) to `events`; it
/// ends when the engine drops the tap. Join it before saying the source [ended](Event::Ended),
/// so that the last report comes first.
///
/// # Errors
///
/// When the thread cannot start.
pub fn forward(
    reports: mpsc::Receiver<IntervalReport>,
    events: mpsc::Sender<Event>,
) -> std::io::Result<thread::JoinHandle<()>> {
    thread::Builder::new()
        .name("hhmon-top-tap".into())
        .spawn(move || {
            for report in reports {
                if events.send(Event::Report(Box::new(report))).is_err() {
                    return;
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::top::TopSource;
    use crate::cli::{Cli, Command};
    use crate::engine::ReportTap;
    use clap::Parser;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::time::Instant;

    /// The report of a replay of a shipped capture, as the engine hands it to a viewer.
    fn real_report() -> IntervalReport {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/captures/ddos-synflood-spoofed.pcap"
        );
        let cli =
            Cli::try_parse_from(["hhmon", "top", "--interval", "60s", "--top", "5", path]).unwrap();
        let Command::Top(args) = cli.command else {
            panic!("not top");
        };
        let TopSource::Files(mut config) = args.config().source else {
            panic!("not files");
        };
        let (tap, reports) = mpsc::channel();
        config.sinks.tap = Some(ReportTap::new(tap));
        crate::app::replay::run(config).unwrap();
        let mut reports: Vec<IntervalReport> = reports.into_iter().collect();
        assert_eq!(reports.len(), 1);
        reports.remove(0)
    }

    /// A server answering each request for `/api/v1/report` with the next of `answers` (status,
    /// body), and `/api/v1/reports?last=…` with `backlog`; it stops after the last answer, so
    /// that the poller then finds nobody.
    fn serve(backlog: (u16, String), answers: Vec<(u16, String)>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        thread::spawn(move || {
            let mut answers = answers.into_iter();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut request_line = String::new();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                reader.read_line(&mut request_line).unwrap();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                        break;
                    }
                }
                let (status, body) = if request_line.contains("/api/v1/reports?last=") {
                    backlog.clone()
                } else {
                    match answers.next() {
                        Some(answer) => answer,
                        None => return,
                    }
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        address
    }

    /// The events of polling `address` every few milliseconds until `count` have come.
    fn events(address: &str, count: usize) -> Vec<Event> {
        let (sender, receiver) = mpsc::channel();
        let connection = Connection::new(address);
        thread::spawn(move || connection.poll(Duration::from_millis(5), &sender));
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut said = Vec::new();
        while said.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            match receiver.recv_timeout(left) {
                Ok(event) => said.push(event),
                Err(_) => panic!("only {said:?}"),
            }
        }
        said
    }

    fn trouble(event: &Event) -> &str {
        match event {
            Event::Trouble(Some(text)) => text,
            other => panic!("not a trouble: {other:?}"),
        }
    }

    #[test]
    fn the_poller_says_each_new_interval_once_and_every_trouble_until_it_passes() {
        let first = real_report();
        let mut second = first.clone();
        second.interval = crate::report::IntervalSpan::new(first.interval.start_unix + 60, 60);
        let json = |report: &IntervalReport| serde_json::to_string(report).unwrap();
        let answers = vec![
            (503, "no interval yet".to_owned()),
            (200, json(&first)),
            (200, json(&first)),
            (200, "{\"interval\": 3".to_owned()),
            (200, "[]".to_owned()),
            (200, json(&second)),
            (200, json(&second)),
            (500, String::new()),
        ];
        // An older server without the list of reports: the latest alone will do.
        let address = serve((404, String::new()), answers);
        let said = events(&address, 10);
        assert!(
            trouble(&said[0]).contains("no interval has closed yet"),
            "{said:?}"
        );
        assert_eq!(said[1], Event::Trouble(None));
        assert_eq!(said[2], Event::Report(Box::new(first)));
        assert!(trouble(&said[3]).contains("not a report"), "{said:?}");
        assert!(trouble(&said[4]).contains("not a report"), "{said:?}");
        assert_eq!(said[5], Event::Trouble(None));
        assert_eq!(said[6], Event::Report(Box::new(second)));
        assert!(trouble(&said[7]).contains("500"), "{said:?}");
        // Then the server is gone: the poller says so and goes on.
        assert!(trouble(&said[8]).contains(&address), "{said:?}");
        assert!(matches!(said[9], Event::Trouble(Some(_))) || said.len() == 10);
    }

    #[test]
    fn the_poller_starts_with_the_servers_backlog_oldest_first() {
        let latest = real_report();
        let mut older = latest.clone();
        older.interval = crate::report::IntervalSpan::new(latest.interval.start_unix - 60, 60);
        let backlog = serde_json::to_string(&[&older, &latest]).unwrap();
        let address = serve(
            (200, backlog),
            vec![(200, serde_json::to_string(&latest).unwrap())],
        );
        let said = events(&address, 2);
        assert_eq!(said[0], Event::Report(Box::new(older)));
        assert_eq!(said[1], Event::Report(Box::new(latest)));
    }

    #[test]
    fn nobody_listening_is_a_trouble_not_a_panic() {
        let address = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .to_string();
        let said = events(&address, 1);
        assert!(trouble(&said[0]).contains(&address), "{said:?}");
    }
}
