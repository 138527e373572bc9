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
