//! The HTTP endpoint: serves the last published Prometheus text on `/metrics` and the
//! pipeline's health on `/healthz`, on a listener the caller binds.
//!
//! It only hands out text someone else rendered ([`super::prometheus`]); it must not know about
//! reports, sketches or capture, and nothing here runs on the packet path. A scrape reads the
//! current text under a short borrow, so any number of scrapes cannot slow the publisher.

use super::prometheus;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

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
    healthy: AtomicBool,
}

impl MetricsState {
    /// Healthy, serving [`prometheus::render_empty`] until the first [`publish`](Self::publish).
    pub fn new() -> Self {
        Self {
            shared: Arc::new(Shared {
                text: watch::Sender::new(Bytes::from(prometheus::render_empty())),
                healthy: AtomicBool::new(true),
            }),
        }
    }

    /// Replaces the text `/metrics` serves; call after each interval closes.
    pub fn publish(&self, text: String) {
        self.shared.text.send_replace(Bytes::from(text));
    }

    /// Sets what `/healthz` answers: 200 while healthy, 503 otherwise.
    pub fn set_healthy(&self, healthy: bool) {
        self.shared.healthy.store(healthy, Ordering::Relaxed);
    }

    /// Whether `/healthz` currently answers 200.
    pub fn is_healthy(&self) -> bool {
        self.shared.healthy.load(Ordering::Relaxed)
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
    if state.is_healthy() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unhealthy")
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
        assert_eq!((healthy.status, healthy.body.as_str()), (200, "ok"));
        state.set_healthy(false);
        assert_eq!(get(server.address, "/healthz").status, 503);
        state.set_healthy(true);
        assert_eq!(get(server.address, "/healthz").status, 200);

        assert_eq!(get(server.address, "/nope").status, 404);
        assert_eq!(get(server.address, "/metrics/extra").status, 404);

        server.stop.send(()).unwrap();
        server.thread.join().unwrap().unwrap();
        assert!(
            TcpStream::connect(server.address).is_err(),
            "still listening after shutdown"
        );
    }
}
