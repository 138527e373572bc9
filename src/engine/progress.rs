//! The progress display on stderr, which several reading threads may share: only on a
//! terminal, only when not quiet. A bar over the input's bytes when their total is known
//! (files), else a spinner over packets (a live interface). Knows nothing of what is counted.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The display, and the packets every reader has added to it.
pub(crate) struct Progress {
    bar: ProgressBar,
    /// Whether the bar counts bytes (a total is known) rather than packets.
    by_bytes: bool,
    packets: AtomicU64,
    started: Instant,
}

impl Progress {
    /// A bar towards `total_bytes`, or a spinner when there is no total.
    pub(crate) fn new(total_bytes: Option<u64>, quiet: bool) -> Self {
        let bar = if quiet || !std::io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            ProgressBar::with_draw_target(total_bytes, ProgressDrawTarget::stderr())
        };
        let template = match total_bytes {
            Some(_) => "{bar:40} {bytes}/{total_bytes} {msg}",
            None => "{spinner} {human_pos} packets {msg}",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        Self {
            bar,
            by_bytes: total_bytes.is_some(),
            packets: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    /// Adds `packets` read and `bytes` of input consumed since the last call, and shows the
    /// average packet rate.
    pub(crate) fn add(&self, packets: u64, bytes: u64) {
        if self.bar.is_hidden() {
            return;
        }
        let total = self.packets.fetch_add(packets, Ordering::Relaxed) + packets;
        self.bar.inc(if self.by_bytes { bytes } else { packets });
        let seconds = self.started.elapsed().as_secs_f64().max(1e-9);
        self.bar
            .set_message(format!("{:.0} packets/s", total as f64 / seconds));
    }

    /// Removes the display.
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
