//! The HTTP endpoint: serves the last published Prometheus text on `/metrics`, the packet
//! loops' health on `/healthz`, the last closed intervals' reports as JSON on
//! `/api/v1/report` and `/api/v1/reports`, and a status page on `/`, on a listener the service
//! thread binds.
//!
//! Health is a heartbeat: the packet loop calls [`EndpointState::heartbeat`] every so many
//! packets and whenever it wakes without one; `/healthz` answers 503 once no beat has come for
//! longer than the stall timeout (a loop stuck in a read, a dead capture thread), 200 otherwise.
//! A loop that ended on purpose ([`EndpointState::finish`], a replay serving its final values)
//! stays healthy.
//!
//! The JSON API hands out each report's JSON as the sink thread rendered it, one object per
//! report; arrays are assembled from those bytes, never by parsing them. A bounded number of
//! reports is kept (the API history), newest last.
//!
//! `/api/v1/report` answers 200 with the latest report, or 503 with `{"error": ...}` before the
//! first interval closes. `/api/v1/reports?last=N` answers 200 with a JSON array of the last N
//! reports, oldest first (all kept ones without `last`, fewer when fewer are kept, `[]` before
//! the first interval), and 400 with `{"error": ...}` when `last` is not a non-negative integer.
//!
//! The status page is one HTML file compiled in (`status.html`): its script and styles are
//! inline and it fetches nothing but this endpoint's API, so it works on a network without
//! internet; its Content-Security-Policy forbids anything else.
//!
//! It only hands out text and JSON someone else rendered ([`crate::sinks::prometheus`],
//! [`crate::sinks::snapshot::render`]); it must not know about reports, sketches or capture,
//! and nothing here runs on the packet path. A request reads the current text under a short
//! borrow, so any number of requests cannot slow the publisher.

use crate::sinks::prometheus;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long the packet loop may go without a heartbeat before `/healthz` answers 503, unless
/// configured otherwise.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Reports the JSON API keeps unless configured otherwise (10 minutes of 10 s intervals).
pub const DEFAULT_API_HISTORY: usize = 60;

/// The most reports the JSON API may be configured to keep: a report's JSON is up to about
/// 20 KB at the default top and HyperLogLog precision, so this bounds the history to a few
/// hundred MB even with long top lists.
pub const MAX_API_HISTORY: usize = 10_000;

/// The status page, with its styles and script inline.
const STATUS_PAGE: &str = include_str!("status.html");

/// What the status page may load: its own inline script and styles and this endpoint's API,
/// nothing from elsewhere.
const STATUS_PAGE_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

const JSON: &str = "application/json";

/// What the endpoint serves, shared between the publisher and the server (cheap to clone).
#[derive(Clone, Debug)]
pub struct EndpointState {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    // Watch channels rather than locks: a reader holds the value only long enough to clone a
    // `Bytes` or an `Arc` (a reference-count bump), so readers cannot hold up the publisher
    // and cannot poison it.
    text: watch::Sender<Bytes>,
    /// The last `history` reports' JSON, oldest first. Replaced whole on each publish, so a
    /// request assembling an array works on one consistent list.
    reports: watch::Sender<Arc<VecDeque<Bytes>>>,
    history: usize,
    /// The monotonic clock's zero for `last_beat`.
    epoch: Instant,
    /// Nanoseconds after `epoch` of the last heartbeat: one relaxed store per beat, so the
    /// packet loop never waits for a reader.
    last_beat: AtomicU64,
    finished: AtomicBool,
    stall_timeout: Duration,
}

/// What `/healthz` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// The packet loop beat within the stall timeout.
    Progressing,
    /// The packet loop ended on purpose (a replay that read all its input).
    Finished,
    /// No heartbeat for longer than the stall timeout.
    Stalled {
        /// Time since the last heartbeat (or since start, when there was none).
        silent: Duration,
    },
}

impl EndpointState {
    /// Serves [`prometheus::render_empty`] until the first [`publish`](Self::publish) and no
    /// report until the first [`publish_report`](Self::publish_report), keeping
    /// [`DEFAULT_API_HISTORY`] of them; healthy until [`DEFAULT_STALL_TIMEOUT`] passes without
    /// a [`heartbeat`](Self::heartbeat).
    pub fn new() -> Self {
        Self::with_limits(DEFAULT_STALL_TIMEOUT, DEFAULT_API_HISTORY)
    }

    /// Like [`new`](Self::new), with the given stall timeout, keeping the last `history`
    /// reports (at least one, at most [`MAX_API_HISTORY`]). The clock starts now, so the first
    /// heartbeat may take up to `stall_timeout` (opening a capture, waiting for a file).
    pub fn with_limits(stall_timeout: Duration, history: usize) -> Self {
        let history = history.clamp(1, MAX_API_HISTORY);
        Self {
            shared: Arc::new(Shared {
                text: watch::Sender::new(Bytes::from(prometheus::render_empty())),
                reports: watch::Sender::new(Arc::new(VecDeque::with_capacity(history))),
                history,
                epoch: Instant::now(),
                last_beat: AtomicU64::new(0),
                finished: AtomicBool::new(false),
                stall_timeout,
            }),
        }
    }

    /// Replaces the text `/metrics` serves; call after each interval closes.
    pub fn publish(&self, text: String) {
        self.shared.text.send_replace(Bytes::from(text));
    }

    /// Adds one closed interval's report, as one JSON object, to those the API serves, dropping
    /// the oldest beyond the history; call after each interval closes. The bytes are served
    /// as they are, so they must be one complete JSON object.
    pub fn publish_report(&self, json: Vec<u8>) {
        let history = self.shared.history;
        self.shared.reports.send_modify(|reports| {
            // Copies the list of handles only while a request still holds the previous one.
            let reports = Arc::make_mut(reports);
            while reports.len() >= history {
                reports.pop_front();
            }
            reports.push_back(Bytes::from(json));
        });
    }

    /// Records that the packet loop is making progress. Cheap (a monotonic clock read and a
    /// relaxed atomic store) but not free: a loop running flat out calls it every few thousand
    /// packets, plus whenever it wakes without a packet; a throttled loop (a paced replay) may
    /// call it per packet.
    pub fn heartbeat(&self) {
        let nanos = self.shared.epoch.elapsed().as_nanos();
        self.shared
            .last_beat
            .store(u64::try_from(nanos).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Records that the packet loop ended on purpose: from now on `/healthz` answers 200
    /// whatever the heartbeat says, since the final values being served are complete.
    pub fn finish(&self) {
        self.shared.finished.store(true, Ordering::Relaxed);
    }

    /// What `/healthz` answers now.
    pub fn health(&self) -> Health {
        if self.shared.finished.load(Ordering::Relaxed) {
            return Health::Finished;
        }
        let beat = Duration::from_nanos(self.shared.last_beat.load(Ordering::Relaxed));
        let silent = self.shared.epoch.elapsed().saturating_sub(beat);
        if silent > self.shared.stall_timeout {
            Health::Stalled { silent }
        } else {
            Health::Progressing
        }
    }

    fn text(&self) -> Bytes {
        self.shared.text.borrow().clone()
    }

    fn reports(&self) -> Arc<VecDeque<Bytes>> {
        self.shared.reports.borrow().clone()
    }
}

impl Default for EndpointState {
    fn default() -> Self {
        Self::new()
    }
}

/// Serves `/metrics`, `/healthz`, the JSON API and the status page on `listener` until
/// `shutdown` completes, then lets requests in flight finish. Any other path answers 404.
///
/// # Errors
///
/// Whatever I/O error the underlying server reports; axum 0.8 logs and retries failed
/// accepts itself, so in practice this returns `Ok(())` once `shutdown` has completed.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: EndpointState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/", get(status_page))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/api/v1/report", get(report))
        .route("/api/v1/reports", get(reports))
        .with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn metrics(State(state): State<EndpointState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, prometheus::CONTENT_TYPE)],
        state.text(),
    )
}

async fn healthz(State(state): State<EndpointState>) -> impl IntoResponse {
    match state.health() {
        Health::Progressing => (StatusCode::OK, "ok\n".to_owned()),
        Health::Finished => (
            StatusCode::OK,
            "ok: finished, serving the final values\n".to_owned(),
        ),
        Health::Stalled { silent } => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "stalled: no progress from the packet loop for {:.1} s\n",
                silent.as_secs_f64()
            ),
        ),
    }
}

async fn status_page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, STATUS_PAGE_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        STATUS_PAGE,
    )
}

async fn report(State(state): State<EndpointState>) -> Response {
    match state.reports().back() {
        Some(latest) => json(StatusCode::OK, latest.clone()),
        None => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no interval has closed yet",
        ),
    }
}

async fn reports(State(state): State<EndpointState>, RawQuery(query): RawQuery) -> Response {
    let last = match last(query.as_deref().unwrap_or("")) {
        Ok(last) => last,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    json(StatusCode::OK, Bytes::from(array(&state.reports(), last)))
}

/// The `last` parameter of a query string: `None` when absent; an error message when it is
/// given twice or is not a non-negative integer in decimal digits. A number too large for
/// memory asks for everything, which is what it means. Other parameters are ignored.
fn last(query: &str) -> Result<Option<usize>, String> {
    let mut found = None;
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != "last" {
            continue;
        }
        if found.is_some() {
            return Err("`last` is given more than once".to_owned());
        }
        if value.is_empty() || !value.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(format!(
                "`last` must be a non-negative integer, not {value:?}"
            ));
        }
        found = Some(value.parse::<usize>().unwrap_or(usize::MAX));
    }
    Ok(found)
}

/// The newest `last` of `reports` (all of them when `None`), oldest first, as one JSON array.
fn array(reports: &VecDeque<Bytes>, last: Option<usize>) -> Vec<u8> {
    let count = reports.len().min(last.unwrap_or(usize::MAX));
    let chosen = reports.range(reports.len() - count..);
    let size: usize = chosen.clone().map(|report| report.len() + 1).sum();
    let mut body = Vec::with_capacity(size + 2);
    body.push(b'[');
    for (i, report) in chosen.enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(report);
    }
    body.push(b']');
    body
}

fn json(status: StatusCode, body: Bytes) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    // Every answer is the state of one moment; a cache would serve a stale interval.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    json(status, Bytes::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{IntervalReport, Totals};
    use crate::sinks::snapshot;
    use std::io::{Read as _, Write as _};
    use std::net::{SocketAddr, TcpStream};
    use std::sync::mpsc;
    use std::thread::JoinHandle;
    use tokio::sync::oneshot;

    /// A server on its own current-thread runtime, so the test thread can make blocking requests.
    struct Running {
        address: SocketAddr,
        stop: oneshot::Sender<()>,
        thread: JoinHandle<std::io::Result<()>>,
    }

    fn start(state: EndpointState) -> Running {
        let (address_tx, address_rx) = mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                address_tx.send(listener.local_addr()?).unwrap();
                serve(listener, state, async {
                    let _ = stopped.await;
                })
                .await
            })
        });
        let address = address_rx.recv().unwrap();
        Running {
            address,
            stop,
            thread,
        }
    }

    struct Response {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    }

    impl Response {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.as_str())
        }
    }

    /// A plain HTTP/1.1 GET; `Connection: close` lets the body run to end of stream.
    fn get(address: SocketAddr, path: &str) -> Response {
        let mut stream = TcpStream::connect(address).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
        let status = status_line[9..12].parse().unwrap();
        let headers = lines
            .map(|line| {
                let (key, value) = line.split_once(':').unwrap();
                (key.to_owned(), value.trim().to_owned())
            })
            .collect();
        Response {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    #[test]
    fn serves_published_metrics_and_health_until_shutdown() {
        let state = EndpointState::new();
        let server = start(state.clone());

        let before = get(server.address, "/metrics");
        assert_eq!(before.status, 200);
        assert_eq!(before.body, prometheus::render_empty());

        state.publish("hhmon_packets_total 1\n".into());
        let first = get(server.address, "/metrics");
        assert_eq!(first.status, 200);
        assert_eq!(
            first.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        assert_eq!(first.body, "hhmon_packets_total 1\n");
        state.publish("hhmon_packets_total 2\n".into());
        assert_eq!(
            get(server.address, "/metrics").body,
            "hhmon_packets_total 2\n"
        );

        let healthy = get(server.address, "/healthz");
        assert_eq!((healthy.status, healthy.body.as_str()), (200, "ok\n"));

        for path in [
            "/nope",
            "/index.html",
            "/metrics/extra",
            "/healthz/x",
            "/HEALTHZ",
            "/api/v1",
            "/api/v1/report/x",
            "/api/v2/report",
        ] {
            assert_eq!(get(server.address, path).status, 404, "{path}");
        }

        server.stop.send(()).unwrap();
        server.thread.join().unwrap().unwrap();
        assert!(
            TcpStream::connect(server.address).is_err(),
            "still listening after shutdown"
        );
    }

    #[test]
    fn healthz_turns_503_without_heartbeats_and_back_to_200_with_one() {
        // Long enough that a loaded machine answering slowly cannot fake a stall.
        const TIMEOUT: Duration = Duration::from_secs(1);
        let state = EndpointState::with_limits(TIMEOUT, DEFAULT_API_HISTORY);
        let server = start(state.clone());
        let status = || get(server.address, "/healthz").status;

        // A fresh state has its whole timeout for the first beat.
        assert_eq!(status(), 200);
        std::thread::sleep(TIMEOUT + Duration::from_millis(100));
        let stalled = get(server.address, "/healthz");
        assert_eq!(stalled.status, 503);
        assert!(stalled.body.starts_with("stalled: "), "{}", stalled.body);
        // /metrics keeps serving: a stalled loop is worth seeing in the last values.
        assert_eq!(get(server.address, "/metrics").status, 200);

        state.heartbeat();
        assert_eq!(status(), 200);
        // Beats spaced under the timeout keep it healthy across several timeouts.
        for _ in 0..4 {
            std::thread::sleep(TIMEOUT / 4);
            state.heartbeat();
            assert_eq!(status(), 200);
        }
        std::thread::sleep(TIMEOUT + Duration::from_millis(100));
        assert_eq!(status(), 503);
        assert!(matches!(state.health(), Health::Stalled { silent } if silent > TIMEOUT));

        // A finished loop stays healthy however long it is silent.
        state.finish();
        assert_eq!(state.health(), Health::Finished);
        std::thread::sleep(TIMEOUT + Duration::from_millis(100));
        let finished = get(server.address, "/healthz");
        assert_eq!(finished.status, 200);
        assert!(finished.body.contains("finished"), "{}", finished.body);

        server.stop.send(()).unwrap();
        server.thread.join().unwrap().unwrap();
    }

    /// A report of interval `start_unix`, whose only distinguishing figure is its packets.
    fn report(start_unix: u64) -> IntervalReport {
        let totals = Totals {
            packets: start_unix % 1000,
            bytes: 60 * (start_unix % 1000),
            ..Totals::default()
        };
        crate::report::tests::listless(start_unix, totals)
    }

    /// Publishes the reports of intervals `starts`, as the sink thread does.
    fn publish(state: &EndpointState, starts: impl IntoIterator<Item = u64>) {
        for start in starts {
            state.publish_report(snapshot::render(&report(start)).unwrap());
        }
    }

    /// The interval starts of a `/api/v1/reports` body, in its order.
    fn starts(body: &str) -> Vec<u64> {
        serde_json::from_str::<Vec<IntervalReport>>(body)
            .unwrap_or_else(|e| panic!("{e}: {body}"))
            .iter()
            .map(|report| report.interval.start_unix)
            .collect()
    }

    fn error_message(response: &Response) -> String {
        assert_eq!(response.header("content-type"), Some("application/json"));
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        body["error"].as_str().unwrap().to_owned()
    }

    #[test]
    fn before_the_first_interval_the_report_is_503_and_the_list_empty() {
        let state = EndpointState::new();
        let server = start(state.clone());

        let latest = get(server.address, "/api/v1/report");
        assert_eq!(latest.status, 503);
        assert!(error_message(&latest).contains("no interval"));
        for path in [
            "/api/v1/reports",
            "/api/v1/reports?last=5",
            "/api/v1/reports?last=0",
        ] {
            let list = get(server.address, path);
            assert_eq!((list.status, list.body.as_str()), (200, "[]"), "{path}");
            assert_eq!(list.header("content-type"), Some("application/json"));
        }

        publish(&state, [1_700_000_000]);
        let latest = get(server.address, "/api/v1/report");
        assert_eq!(latest.status, 200);
        assert_eq!(starts(&format!("[{}]", latest.body)), [1_700_000_000]);

        server.stop.send(()).unwrap();
        server.thread.join().unwrap().unwrap();
    }

    #[test]
    fn reports_are_served_as_rendered_and_parse_back_as_the_report() {
        let state = EndpointState::new();
        let server = start(state.clone());
        let mut sent = report(1_700_000_010);
        sent.window = Some(crate::report::WindowCounts {
            seconds: 60,
            intervals: 6,
            distinct_sources: 9,
        });
        let json = snapshot::render(&sent).unwrap();
        state.publish_report(json.clone());

        let latest = get(server.address, "/api/v1/report");
        assert_eq!(latest.status, 200);
        assert_eq!(latest.header("content-type"), Some("application/json"));
        assert_eq!(latest.header("cache-control"), Some("no-store"));
        assert_eq!(latest.body.as_bytes(), json.as_slice());
        assert_eq!(
            serde_json::from_str::<IntervalReport>(&latest.body).unwrap(),
            sent
        );
        let list = get(server.address, "/api/v1/reports");
        assert_eq!(
            serde_json::from_str::<Vec<IntervalReport>>(&list.body).unwrap(),
            [sent]
        );

        server.stop.send(()).unwrap();
        server.thread.join().unwrap().unwrap();
    }

    #[test]
    fn last_picks_the_newest_reports_oldest_first_and_refuses_anything_but_a_count() {
        let state = EndpointState::with_limits(DEFAULT_STALL_TIMEOUT, 4);
        let server = start(state.clone());
        publish(&state, (1..=6).map(|i| 1_700_000_000 + 10 * i));
        let kept: Vec<u64> = (3..=6).map(|i| 1_700_000_000 + 10 * i).collect();
        let list = |query: &str| get(server.address, &format!("/api/v1/reports{query}"));

        for (query, count) in [
            ("", 4),
            ("?", 4),
            ("?last=0", 0),
            ("?last=1", 1),
            ("?last=3", 3),
            ("?last=4", 4),
            ("?last=5", 4),
            ("?last=0004", 4),
            ("?last=99999999999999999999999999", 4),
            ("?other=x&last=2", 2),
            ("?last=2&other", 2),
            ("?lastx=1", 4),
        ] {
            let response = list(query);
            assert_eq!(response.status, 200, "{query}: {}", response.body);
            assert_eq!(starts(&response.body), kept[4 - count..], "{query}");
        }
        assert_eq!(get(server.address, "/api/v1/report").body, {
            let newest = list("?last=1").body;
            newest[1..newest.len() - 1].to_owned()
        });

        for query in [
            "?last=",
            "?last",
            "?last=x",
            "?last=-1",
            "?last=+1",
            "?last=1.5",
            "?last=1e3",
            "?last=%201",
            "?last=0x10",
            "?last=1&last=2",
            "?last=%E2%88%9E",
        ] {
            let response = list(query);
            assert_eq!(response.status, 400, "{query}: {}", response.body);
            assert!(error_message(&response).contains("`last`"), "{query}");
        }

        server.stop.send(()).unwrap();
        server.thread.join().unwrap().unwrap();
    }

    #[test]
    fn the_history_stays_bounded_and_keeps_the_newest() {
        let state = EndpointState::with_limits(DEFAULT_STALL_TIMEOUT, 3);
        publish(&state, 0..1_000);
        let kept = state.reports();
        assert_eq!(kept.len(), 3);
        let newest: Vec<u64> = kept
            .iter()
            .map(|json| serde_json::from_slice::<IntervalReport>(json).unwrap())
            .map(|report| report.interval.start_unix)
            .collect();
        assert_eq!(newest, [997, 998, 999]);

        // A request holding the previous list sees it whole while the next publish goes on.
        let held = state.reports();
        publish(&state, [1_000]);
        assert_eq!(held.len(), 3);
        assert_eq!(state.reports().len(), 3);

        // The limits of the history itself.
        assert_eq!(
            EndpointState::with_limits(DEFAULT_STALL_TIMEOUT, 0)
                .shared
                .history,
            1
        );
        assert_eq!(
            EndpointState::with_limits(DEFAULT_STALL_TIMEOUT, usize::MAX)
                .shared
                .history,
            MAX_API_HISTORY
        );
        assert_eq!(EndpointState::new().shared.history, DEFAULT_API_HISTORY);
    }

    #[test]
    fn the_status_page_is_self_contained() {
        let server = start(EndpointState::new());
        let page = get(server.address, "/");
        assert_eq!(page.status, 200);
        assert_eq!(
            page.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        let policy = page.header("content-security-policy").unwrap();
        assert!(policy.starts_with("default-src 'none'"), "{policy}");
        assert!(policy.contains("connect-src 'self'"), "{policy}");
        assert_eq!(page.body, STATUS_PAGE);
        assert!(page.body.contains("/api/v1/reports"));

        // Nothing from elsewhere: the only absolute URL is SVG's namespace, which is a name,
        // and every link is a path of this endpoint.
        let outside = page.body.replace("http://www.w3.org/2000/svg", "");
        for needle in [
            "http:", "https:", "url(", "@import", "src=", "<link", "<iframe", "<img",
        ] {
            assert!(!outside.contains(needle), "the page holds {needle}");
        }
        let links: Vec<&str> = outside
            .split("href=\"")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap_or(""))
            .collect();
        assert!(!links.is_empty());
        for link in links {
            assert!(link.starts_with('/') && !link.starts_with("//"), "{link}");
        }

        server.stop.send(()).unwrap();
        server.thread.join().unwrap().unwrap();
    }
}
