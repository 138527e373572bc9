//! NetFlow v5, v9 (RFC 3954) and IPFIX (RFC 7011) datagrams to flow records.
//!
//! [`NetflowDecoder`] reads one export datagram at a time, picks the version from its first
//! two bytes, and hands every flow record it can key to a callback as a
//! [`FlowRecord`], its packets and bytes multiplied by the sampling rate.
//! It keeps, per exporter address, the v9/IPFIX templates (`templates`), the sampling rates
//! options records announced, and the sequence numbers that reveal loss. Every table has a
//! fixed cap ([`Limits`]); no record allocates. It must not know sockets, capture files,
//! intervals or sketches. This file admits, sweeps and caps exporters; `datagram` reads one
//! datagram, `templates` parses and stores templates, `record` reads one data record, and
//! `state` holds the rest of what is remembered per exporter.
//!
//! Rules worth knowing:
//!
//! - **Template misses.** A data set whose template is unknown (or expired) counts one
//!   `template_misses` per set: without the template its records cannot even be counted. Such
//!   data is not buffered for replay: templates are resent every few seconds to minutes, so a
//!   collector that starts loses only that much, and a replay buffer would have to copy
//!   datagrams (memory an exporter could fill) and replay them out of sequence order.
//! - **Templates** are keyed by (exporter, version, source ID / observation domain, template
//!   ID). A new definition replaces the old; IPFIX withdrawals (field count 0, and the
//!   withdraw-all IDs 2 and 3) remove them; one not refreshed within
//!   [`Limits::template_lifetime_nanos`] of arrival time is dropped. Eviction: see
//!   `templates::Store::insert`: an exporter only ever evicts its own templates.
//! - **Sampling.** v5: the 14-bit interval of the header's `sampling_interval`. v9/IPFIX:
//!   options data records with samplingInterval (34), samplerRandomInterval (50),
//!   samplingPacketInterval/Space (305/306: rate (interval + space) / interval) or
//!   samplingSize/Population (309/310: rate population / size) set the rate of the sampler
//!   they name (samplerId 48 or selectorId 302), or the domain's default when they name none.
//!   A data record uses its sampler's rate if it names a known one, else a rate it states
//!   itself, else the domain default, else 1.
//! - **Counters.** Delta counters (1, 2), else post-delta (23, 24), else totals (85, 86, 171,
//!   172) read as if they were deltas: no per-flow state is kept, so an exporter that sends
//!   running totals for long flows is over-counted. Records with no counter at all (NAT and
//!   firewall events) and records without both addresses are skipped, not counted. A record
//!   carrying a data-link frame section (315) and no addresses is keyed by the frame's own
//!   headers (one packet of dataLinkFrameSize bytes unless it carries counters).
//! - **Times.** `time_nanos` is the flow end: v5/v9 LAST_SWITCHED (21) through the header's
//!   uptime and clock; IPFIX flowEnd{Seconds,Milliseconds,Microseconds,Nanoseconds}
//!   (151/153/155/157), flowEndDeltaMicroseconds (159), or flowEndSysUpTime (21) plus
//!   systemInitTimeMilliseconds (160, from the record or an options record); else the
//!   header's export time.
//! - **Sequence numbers.** v5 counts records (per engine type and ID), v9 datagrams (per
//!   source ID), IPFIX data records (per observation domain), each modulo 2^32. A jump
//!   forward of at most [`MAX_SEQUENCE_GAP`] counts as lost; a step back of at most that
//!   much is a late or duplicate datagram and counts nothing, leaving the state alone; any
//!   other jump is a restart, counts nothing and resynchronises. After an IPFIX datagram
//!   whose data records could not all be counted the next one resynchronises.

mod datagram;
mod record;
mod state;
mod templates;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::IpAddr;

use super::{DatagramSummary, FlowRecord};
use datagram::Context;
use state::Exporter;
use templates::Field;

/// The largest sequence-number jump read as loss; larger jumps (forward or back) are
/// restarts or reordering. 2^20: over a million records, or datagrams, lost in a row is
/// more likely an exporter restart than loss on the wire.
pub const MAX_SEQUENCE_GAP: u32 = 1 << 20;

/// How often, in arrival time, expired templates and idle exporters are swept out.
const SWEEP_INTERVAL_NANOS: u64 = 60 * 1_000_000_000;

pub(crate) const NANOS_PER_SEC: u64 = 1_000_000_000;
pub(crate) const NANOS_PER_MS: u64 = 1_000_000;

/// The caps on the decoder's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Exporters (source addresses) tracked at once. A new exporter when the table is full
    /// takes the place of one idle for a template lifetime, else its datagram is refused
    /// (`malformed = "exporter_table_full"`).
    pub exporters: usize,
    /// Templates, all exporters together.
    pub templates: usize,
    /// Templates of one exporter.
    pub templates_per_exporter: usize,
    /// Fields in one template; a longer template is refused (`bad_template`).
    pub fields_per_template: usize,
    /// Sampler rates (per domain and sampler ID) kept per exporter; the oldest goes first.
    pub samplers_per_exporter: usize,
    /// Sequence and sampling states (per version and domain) kept per exporter; the oldest
    /// goes first.
    pub domains_per_exporter: usize,
    /// A template not refreshed within this much arrival time is dropped.
    pub template_lifetime_nanos: u64,
}

impl Default for Limits {
    /// 1024 exporters, 4096 templates (256 per exporter) of at most 256 fields, 64 samplers
    /// and 16 domains per exporter, templates kept 30 minutes.
    fn default() -> Self {
        Limits {
            exporters: 1024,
            templates: 4096,
            templates_per_exporter: 256,
            fields_per_template: 256,
            samplers_per_exporter: 64,
            domains_per_exporter: 16,
            template_lifetime_nanos: 30 * 60 * NANOS_PER_SEC,
        }
    }
}
/// The NetFlow v5, v9 and IPFIX decoder: templates, sampling rates and sequence state per
/// exporter, within [`Limits`].
#[derive(Debug)]
pub struct NetflowDecoder {
    limits: Limits,
    exporters: HashMap<IpAddr, Exporter>,
    /// Templates held, all exporters together.
    templates: usize,
    last_sweep_nanos: u64,
    last_forced_sweep_nanos: Option<u64>,
    /// Field specifiers of the template being parsed, reused.
    scratch: Vec<Field>,
}

impl NetflowDecoder {
    /// A decoder with no state, bounded by `limits`.
    #[must_use]
    pub fn new(limits: Limits) -> Self {
        NetflowDecoder {
            limits,
            exporters: HashMap::new(),
            templates: 0,
            last_sweep_nanos: 0,
            last_forced_sweep_nanos: None,
            scratch: Vec::new(),
        }
    }

    /// Exporters tracked.
    #[must_use]
    pub fn exporters(&self) -> usize {
        self.exporters.len()
    }

    /// Templates held, all exporters together.
    #[must_use]
    pub fn templates(&self) -> usize {
        self.templates
    }

    /// Decodes one datagram's UDP payload from `exporter`, arrived at `arrival_nanos` (Unix
    /// nanoseconds: the clock templates expire by). The version comes from the first two
    /// bytes: 5, 9 or 10 (IPFIX). Every flow record is handed to `flows`; what could not be
    /// read is in the summary, and the records read before a fault still count.
    pub fn decode(
        &mut self,
        exporter: IpAddr,
        datagram: &[u8],
        arrival_nanos: u64,
        flows: &mut impl FnMut(&FlowRecord),
    ) -> DatagramSummary {
        let mut summary = DatagramSummary::default();
        let Some(version) = datagram::be16(datagram, 0) else {
            summary.malformed = Some("truncated");
            return summary;
        };
        if !matches!(version, 5 | 9 | 10) {
            summary.malformed = Some("bad_version");
            return summary;
        }
        self.sweep(arrival_nanos);
        if !self.admit(exporter, arrival_nanos) {
            summary.malformed = Some("exporter_table_full");
            return summary;
        }
        let Some(state) = self.exporters.get_mut(&exporter) else {
            summary.malformed = Some("exporter_table_full");
            return summary;
        };
        state.last_seen_nanos = arrival_nanos;
        let mut ctx = Context {
            limits: &self.limits,
            templates: &mut self.templates,
            scratch: &mut self.scratch,
            now: arrival_nanos,
            summary: &mut summary,
        };
        match version {
            5 => datagram::v5(state, datagram, &mut ctx, flows),
            9 => datagram::v9(state, datagram, &mut ctx, flows),
            _ => datagram::ipfix(state, datagram, &mut ctx, flows),
        }
        summary
    }

    /// Makes sure `exporter` has a state, if the table has room (or an idle one to drop).
    fn admit(&mut self, exporter: IpAddr, now: u64) -> bool {
        if self.exporters.contains_key(&exporter) {
            return true;
        }
        if self.exporters.len() >= self.limits.exporters {
            // At most once a second: dropping idle exporters walks the whole table.
            if self
                .last_forced_sweep_nanos
                .is_some_and(|last| now.abs_diff(last) < NANOS_PER_SEC)
            {
                return false;
            }
            self.last_forced_sweep_nanos = Some(now);
            self.drop_stale(now);
            if self.exporters.len() >= self.limits.exporters {
                return false;
            }
        }
        self.exporters.insert(exporter, Exporter::default());
        true
    }

    /// Drops expired templates and idle exporters, once per [`SWEEP_INTERVAL_NANOS`].
    fn sweep(&mut self, now: u64) {
        if now.abs_diff(self.last_sweep_nanos) < SWEEP_INTERVAL_NANOS {
            return;
        }
        self.last_sweep_nanos = now;
        self.drop_stale(now);
    }

    fn drop_stale(&mut self, now: u64) {
        let lifetime = self.limits.template_lifetime_nanos;
        let total = &mut self.templates;
        self.exporters.retain(|_, exporter| {
            exporter.templates.expire(now, lifetime, total);
            exporter.templates.len() > 0 || now.saturating_sub(exporter.last_seen_nanos) <= lifetime
        });
    }
}
