//! The HTTP endpoint: serves the last published Prometheus text on `/metrics` and the
//! packet loops' health on `/healthz`, on a listener the service thread binds.
//!
//! Health is a heartbeat: the packet loop calls [`MetricsState::heartbeat`] every so many
//! packets and whenever it wakes without one; `/healthz` answers 503 once no beat has come for
//! longer than the stall timeout (a loop stuck in a read, a dead capture thread), 200 otherwise.
//! A loop that ended on purpose ([`MetricsState::finish`], a replay serving its final values)
//! stays healthy.
//!
//! It only hands out text someone else rendered ([`crate::sinks::prometheus`]); it must not know about
//! reports, sketches or capture, and nothing here runs on the packet path. A scrape reads the
//! current text under a short borrow, so any number of scrapes cannot slow the publisher.

use crate::sinks::prometheus;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long the packet loop may go without a heartbeat before `/healthz` answers 503, unless
/// configured otherwise.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// What the endpoint serves, shared between the publisher and the server (cheap to clone).
#[derive(Clone, Debug)]
pub struct MetricsState {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    // A watch channel rather than a lock: readers never block the publisher and cannot
    // poison it, and `Bytes` makes each scrape's copy a reference-count bump.
    text: watch::Sender<Bytes>,
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

impl MetricsState {
    /// Serves [`prometheus::render_empty`] until the first [`publish`](Self::publish); healthy
    /// until [`DEFAULT_STALL_TIMEOUT`] passes without a [`heartbeat`](Self::heartbeat).
    pub fn new() -> Self {
        Self::with_stall_timeout(DEFAULT_STALL_TIMEOUT)
    }

    /// Like [`new`](Self::new), with the given stall timeout. The clock starts now, so the
    /// first heartbeat may take up to `stall_timeout` (opening a capture, waiting for a file).
    pub fn with_stall_timeout(stall_timeout: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                text: watch::Sender::new(Bytes::from(prometheus::render_empty())),
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
}

impl Default for MetricsState {
    fn default() -> Self {
        Self::new()
    }
}

/// Serves `/metrics` and `/healthz` on `listener` until `shutdown` completes, then lets
/// requests in flight finish. Any other path answers 404.
///
/// # Errors
///
/// Whatever I/O error the underlying server reports; axum 0.8 logs and retries failed
/// accepts itself, so in practice this returns `Ok(())` once `shutdown` has completed.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: MetricsState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn metrics(State(state): State<MetricsState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, prometheus::CONTENT_TYPE)],
        state.text(),
    )
}

async fn healthz(State(state): State<MetricsState>) -> impl IntoResponse {
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

#[cfg(test)]
mod tests {
    use super::*;
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

    fn start(state: MetricsState) -> Running {
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
        let state = MetricsState::new();
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

        for path in ["/", "/nope", "/metrics/extra", "/healthz/x", "/HEALTHZ"] {
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
        let state = MetricsState::with_stall_timeout(TIMEOUT);
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
}
