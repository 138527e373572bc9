//! The service thread: a small tokio runtime that serves the HTTP endpoint ([`http`]) and turns
//! SIGINT/SIGTERM into a stop request the packet loops poll. Knows nothing of packets, sketches
//! or how the metrics text and the reports' JSON are made.

use super::http::{self, EndpointState};
use super::Error;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;

/// The service thread: a current-thread tokio runtime for HTTP and signals.
pub(super) struct Service {
    /// Set once SIGINT or SIGTERM arrives; packet loops poll it.
    pub(super) stop: Arc<AtomicBool>,
    signalled: mpsc::Receiver<()>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Service {
    /// Binds `listen` (if any) on the calling thread, so a privileged port is bound before any
    /// privileges are dropped, then starts serving `metrics` and watching for signals.
    pub(super) fn start(listen: Option<SocketAddr>, metrics: EndpointState) -> Result<Self, Error> {
        let listener = match listen {
            Some(addr) => {
                let listener = std::net::TcpListener::bind(addr)
                    .map_err(|source| Error::Listen { addr, source })?;
                listener
                    .set_nonblocking(true)
                    .map_err(|source| Error::Listen { addr, source })?;
                tracing::info!(address = %listener.local_addr().unwrap_or(addr), "Serving /metrics, /healthz, the JSON API (/api/v1/) and the status page (/).");
                Some(listener)
            }
            None => None,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Thread)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (signal_tx, signalled) = mpsc::channel();
        let (shutdown, mut shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let stop_flag = stop.clone();
        let handle = thread::Builder::new()
            .name("hhmon-service".into())
            .spawn(move || {
                runtime.block_on(async move {
                    // The server (if any) and the sender that stops it.
                    let server = match listener.map(tokio::net::TcpListener::from_std) {
                        Some(Ok(listener)) => {
                            let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
                            let serving = tokio::spawn(http::serve(listener, metrics, async {
                                let _ = stopped.await;
                            }));
                            Some((serving, stop_server))
                        }
                        Some(Err(error)) => {
                            tracing::error!(error = %error, "Cannot serve the HTTP endpoint.");
                            None
                        }
                        None => None,
                    };
                    let signalled = tokio::select! {
                        _ = termination() => true,
                        _ = &mut shutdown_rx => false,
                    };
                    if signalled {
                        tracing::info!("Signal received; closing the current interval.");
                        stop_flag.store(true, Ordering::Relaxed);
                        let _ = signal_tx.send(());
                        let _ = shutdown_rx.await;
                    }
                    if let Some((serving, stop_server)) = server {
                        let _ = stop_server.send(());
                        let _ = serving.await;
                    }
                });
            })
            .map_err(Error::Thread)?;
        Ok(Self {
            stop,
            signalled,
            shutdown: Some(shutdown),
            handle: Some(handle),
        })
    }

    /// Blocks until SIGINT or SIGTERM.
    pub(super) fn wait_for_signal(&self) {
        let _ = self.signalled.recv();
    }

    /// Stops the HTTP server, letting requests in flight finish, and ends the thread.
    pub(super) fn shutdown(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Resolves on SIGINT or SIGTERM (or never, where they cannot be watched).
async fn termination() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::warn!("Cannot watch SIGINT/SIGTERM; stop with SIGKILL.");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
}
