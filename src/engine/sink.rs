//! The sink thread: every closed interval's report goes to the snapshot directory, the export
//! tree, the stdout table, and the metrics text and JSON the endpoint serves, in that order (then to an
//! in-process viewer's tap, if one is set), on a thread of its own, so that a slow disk or a
//! closed pipe never blocks a packet loop. Knows nothing of packets or sketches.

use super::http::{self, EndpointState};
use super::{Delivered, Error};
use crate::report::{CaptureStats, IntervalReport};
use crate::sinks::export::ExportWriter;
use crate::sinks::snapshot::{self, Durability, Retention, SnapshotWriter};
use crate::sinks::{prometheus, table};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

/// Where reports go.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SinkConfig {
    /// Write one JSON snapshot per closed interval here.
    pub snapshot_dir: Option<PathBuf>,
    /// Keep only this many snapshots.
    pub keep: Option<usize>,
    /// Remove snapshots of intervals older than this (packet time) behind the newest.
    pub keep_age: Option<Duration>,
    /// Write every closed interval into this export tree (Parquet, partitioned by date and
    /// sensor).
    pub export_dir: Option<PathBuf>,
    /// One export file per sensor and this period; `None`: an hour.
    pub export_roll: Option<Duration>,
    /// Serve the metrics, health, JSON API and status page on this address.
    pub listen: Option<SocketAddr>,
    /// Do not print the per-interval table.
    pub quiet: bool,
    /// Top entries that carry address labels in the metrics.
    pub prom_top: usize,
    /// `/healthz` fails after this long without progress; `None`: [`http::DEFAULT_STALL_TIMEOUT`].
    pub stall_timeout: Option<Duration>,
    /// Reports the JSON API keeps; `None`: [`http::DEFAULT_API_HISTORY`].
    pub api_history: Option<usize>,
    /// When snapshots reach the disk for good.
    pub durability: Durability,
    /// Also hand every report, after the other sinks, to an in-process viewer.
    pub tap: Option<ReportTap>,
    /// The sensor name every report carries (`--sensor`).
    pub sensor: String,
}

/// Where an in-process viewer (`hhmon top`) receives a copy of every report. Equal only to its
/// own clones: a configuration compares equal when its reports go to the same place.
#[derive(Debug, Clone)]
pub struct ReportTap(Arc<mpsc::Sender<IntervalReport>>);

impl ReportTap {
    /// A tap that sends every report to `sender`.
    pub fn new(sender: mpsc::Sender<IntervalReport>) -> Self {
        Self(Arc::new(sender))
    }
}

impl PartialEq for ReportTap {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl SinkConfig {
    /// The state the endpoint serves, with this configuration's stall timeout and API history.
    pub(crate) fn endpoint_state(&self) -> EndpointState {
        EndpointState::with_limits(
            self.stall_timeout.unwrap_or(http::DEFAULT_STALL_TIMEOUT),
            self.api_history.unwrap_or(http::DEFAULT_API_HISTORY),
        )
    }
}

/// The sink thread: snapshots, the table, the metrics text and JSON, in that order for every
/// report.
pub(super) struct Sink;

impl Sink {
    /// Opens the snapshot directory and starts the thread; it ends once every sender is dropped
    /// and the reports sent before have reached every sink.
    pub(super) fn start(
        config: &SinkConfig,
        metrics: EndpointState,
    ) -> Result<(mpsc::Sender<IntervalReport>, thread::JoinHandle<Delivered>), Error> {
        let mut writer = match &config.snapshot_dir {
            Some(dir) => Some(SnapshotWriter::new(
                dir,
                Retention {
                    count: config.keep,
                    age: config.keep_age,
                },
                config.durability,
            )?),
            None => None,
        };
        let mut export = match &config.export_dir {
            Some(dir) => Some(ExportWriter::new(
                dir,
                &config.sensor,
                config
                    .export_roll
                    .unwrap_or(crate::sinks::export::DEFAULT_ROLL),
                config.durability,
            )?),
            None => None,
        };
        let (sender, receiver) = mpsc::channel::<IntervalReport>();
        let quiet = config.quiet;
        let prom_top = config.prom_top;
        let sensor = config.sensor.clone();
        let mut tap = config.tap.clone();
        let handle = thread::Builder::new()
            .name("hhmon-sinks".into())
            .spawn(move || {
                let mut delivered = Delivered::default();
                let mut stdout_open = !quiet;
                for mut report in receiver {
                    // Named here, where reports leave for the outside: counting needs no name.
                    report.sensor.clone_from(&sensor);
                    delivered.intervals += 1;
                    // Once per interval, here rather than in the capture thread, which must
                    // never wait on a log pipe.
                    if let Some(capture) = report.capture.as_ref().filter(|c| c.dropped_in_interval()) {
                        warn_of_drops(&report, capture);
                    }
                    if let Some(writer) = writer.as_mut() {
                        if let Err(error) = writer.write(&report) {
                            delivered.snapshot_errors += 1;
                            tracing::error!(error = %error, "Cannot write snapshot; capture goes on.");
                        }
                    }
                    if let Some(export) = export.as_mut() {
                        if let Err(error) = export.write(&report) {
                            delivered.export_errors += 1;
                            tracing::error!(error = %error, "Cannot export the interval; it stays staged, capture goes on.");
                        }
                    }
                    if stdout_open {
                        let text = table::render(&report, report.top_flows.len().max(report.top_sources.len()));
                        let mut out = std::io::stdout().lock();
                        // A closed pipe (`hhmon replay x | head`) just ends the table output.
                        stdout_open = writeln!(out, "{text}").and_then(|_| out.flush()).is_ok();
                    }
                    let process = prometheus::ProcessCounters {
                        snapshot_write_errors: delivered.snapshot_errors,
                        export_write_errors: delivered.export_errors,
                    };
                    metrics.publish(prometheus::render(&report, &process, prom_top));
                    match snapshot::render(&report) {
                        Ok(json) => metrics.publish_report(json),
                        Err(error) => tracing::error!(error = %error, "Cannot render the report for the JSON API."),
                    }
                    // A viewer that has gone (its user quit) just stops being fed.
                    if tap.as_ref().is_some_and(|t| t.0.send(report).is_err()) {
                        tap = None;
                    }
                }
                if let Some(writer) = writer.as_mut() {
                    if let Err(error) = writer.settle() {
                        delivered.snapshot_errors += 1;
                        tracing::error!(error = %error, "Cannot make the snapshots durable.");
                    }
                }
                if let Some(export) = export.as_mut() {
                    if let Err(error) = export.finish() {
                        delivered.export_errors += 1;
                        tracing::error!(error = %error, "Cannot publish the staged intervals; the next run will.");
                    }
                }
                delivered
            })
            .map_err(Error::Thread)?;
        Ok((sender, handle))
    }
}

fn warn_of_drops(report: &IntervalReport, capture: &CaptureStats) {
    tracing::warn!(
        interval_start = %report.interval.start,
        dropped_kernel = capture.interval.dropped_kernel,
        dropped_interface = capture.interval.dropped_interface,
        received = capture.interval.received,
        "Packets were dropped before hhmon could count them; this interval's counts are short."
    );
}
