//! NetFlow v5, v9 (RFC 3954) and IPFIX (RFC 7011) datagrams to flow records.
//!
//! [`NetflowDecoder`] reads one export datagram at a time, picks the version from its first
//! two bytes, and hands every flow record it can key to a callback as a
//! [`FlowRecord`](super::FlowRecord), its packets and bytes multiplied by the sampling rate.
//! It keeps, per exporter address, the v9/IPFIX templates (`templates`), the sampling rates
//! options records announced, and the sequence numbers that reveal loss. Every table has a
//! fixed cap ([`Limits`]); no record allocates. It must not know sockets, capture files,
//! intervals or sketches; reading the fields of one data record is `record`'s job.
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

mod record;
mod templates;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::IpAddr;

use super::{DatagramSummary, FlowRecord};
use record::Fields;
use templates::{Field, Parsed, Store, TemplateKey};

/// The largest sequence-number jump read as loss; larger jumps (forward or back) are
/// restarts or reordering. 2^20: over a million records, or datagrams, lost in a row is
/// more likely an exporter restart than loss on the wire.
pub const MAX_SEQUENCE_GAP: u32 = 1 << 20;

/// How often, in arrival time, expired templates and idle exporters are swept out.
const SWEEP_INTERVAL_NANOS: u64 = 60 * 1_000_000_000;

const NANOS_PER_SEC: u64 = 1_000_000_000;
const NANOS_PER_MS: u64 = 1_000_000;

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

/// Per (version, domain) state of one exporter.
#[derive(Clone, Copy, Debug)]
struct Domain {
    version: u16,
    id: u32,
    /// The sequence number the next datagram should carry; `None` to resynchronise.
    next_sequence: Option<u32>,
    /// The rate options records announced without a sampler ID.
    default_rate: Option<u32>,
    /// systemInitTimeMilliseconds from an options record.
    system_init_ms: Option<u64>,
}

/// A sampler's rate, announced by an options record.
#[derive(Clone, Copy, Debug)]
struct Sampler {
    version: u16,
    domain: u32,
    id: u64,
    rate: u32,
}

/// What the decoder keeps about one exporter.
#[derive(Debug, Default)]
struct Exporter {
    last_seen_nanos: u64,
    templates: Store,
    domains: Vec<Domain>,
    samplers: Vec<Sampler>,
}

impl Exporter {
    fn domain(&mut self, version: u16, id: u32, cap: usize) -> &mut Domain {
        domain_in(&mut self.domains, version, id, cap)
    }
}

/// The state of domain `id`, created (replacing the oldest when `domains` is at `cap`) if new.
fn domain_in(domains: &mut Vec<Domain>, version: u16, id: u32, cap: usize) -> &mut Domain {
    let index = match domains
        .iter()
        .position(|d| d.version == version && d.id == id)
    {
        Some(index) => index,
        None => {
            if domains.len() >= cap.max(1) {
                domains.remove(0);
            }
            domains.push(Domain {
                version,
                id,
                next_sequence: None,
                default_rate: None,
                system_init_ms: None,
            });
            domains.len() - 1
        }
    };
    &mut domains[index]
}

/// Sets a sampler's rate, replacing the oldest sampler when `samplers` is at `cap`.
fn set_sampler(samplers: &mut Vec<Sampler>, sampler: Sampler, cap: usize) {
    let same = |s: &Sampler| {
        s.version == sampler.version && s.domain == sampler.domain && s.id == sampler.id
    };
    if let Some(known) = samplers.iter_mut().find(|s| same(s)) {
        known.rate = sampler.rate;
        return;
    }
    if samplers.len() >= cap.max(1) {
        samplers.remove(0);
    }
    samplers.push(sampler);
}

/// What a sequence number says, against the one expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sequence {
    /// In order, after `lost` missing units; the state moves on.
    InOrder { lost: u32 },
    /// A late or repeated datagram: nothing lost, the state stays.
    Late,
    /// A restart (or the first datagram): nothing lost, the state resynchronises.
    Restart,
}

fn check_sequence(expected: Option<u32>, got: u32) -> Sequence {
    let Some(expected) = expected else {
        return Sequence::Restart;
    };
    let ahead = got.wrapping_sub(expected);
    if ahead <= MAX_SEQUENCE_GAP {
        Sequence::InOrder { lost: ahead }
    } else if expected.wrapping_sub(got) <= MAX_SEQUENCE_GAP {
        Sequence::Late
    } else {
        Sequence::Restart
    }
}

/// Updates a domain's sequence state with a datagram carrying `got` and `units` (records or
/// 1 datagram; `None` when they could not be counted); returns the units lost.
fn track_sequence(domain: &mut Domain, got: u32, units: Option<u32>) -> u64 {
    match check_sequence(domain.next_sequence, got) {
        Sequence::Late => 0,
        outcome => {
            domain.next_sequence = units.map(|n| got.wrapping_add(n));
            match outcome {
                Sequence::InOrder { lost } => u64::from(lost),
                _ => 0,
            }
        }
    }
}

/// The clock of one datagram's header, to turn record times into Unix nanoseconds.
#[derive(Clone, Copy, Debug)]
struct Clock {
    /// The header's export time.
    export_nanos: u64,
    /// v5/v9: the exporter's uptime at export, milliseconds.
    uptime_ms: Option<u32>,
}

impl Clock {
    /// The Unix time at which the exporter's uptime was `at_ms`. Uptime stamps after the
    /// export (clock skew) are clamped to the export time.
    fn at_uptime(self, uptime_ms: u32, at_ms: u32) -> u64 {
        // Reinterpreted as signed: an uptime that wrapped since `at_ms` is still a short span.
        let before_ms = i64::from(uptime_ms.wrapping_sub(at_ms) as i32).max(0);
        self.export_nanos
            .saturating_sub((before_ms as u64).saturating_mul(NANOS_PER_MS))
    }
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// One record scaled by its sampling rate.
fn weighted(
    key: crate::decode::FlowKey,
    packets: u64,
    bytes: u64,
    rate: u32,
    time_nanos: u64,
) -> FlowRecord {
    let rate = rate.max(1);
    FlowRecord {
        key,
        packets: packets.saturating_mul(u64::from(rate)),
        bytes: bytes.saturating_mul(u64::from(rate)),
        sampling_rate: rate,
        time_nanos,
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
        let Some(version) = be16(datagram, 0) else {
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
            5 => v5(state, datagram, &mut ctx, flows),
            9 => v9(state, datagram, &mut ctx, flows),
            _ => ipfix(state, datagram, &mut ctx, flows),
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

/// What one datagram's decoding borrows from the decoder.
struct Context<'a> {
    limits: &'a Limits,
    templates: &'a mut usize,
    scratch: &'a mut Vec<Field>,
    now: u64,
    summary: &'a mut DatagramSummary,
}

impl Context<'_> {
    /// Records the first fault of the datagram.
    fn fault(&mut self, label: &'static str) {
        self.summary.malformed.get_or_insert(label);
    }

    fn emit(&mut self, record: &FlowRecord, flows: &mut impl FnMut(&FlowRecord)) {
        self.summary.records += 1;
        flows(record);
    }
}

const V5_HEADER: usize = 24;
const V5_RECORD: usize = 48;

/// NetFlow v5: a 24-byte header and fixed 48-byte records.
fn v5(state: &mut Exporter, d: &[u8], ctx: &mut Context<'_>, flows: &mut impl FnMut(&FlowRecord)) {
    let header = (|| {
        Some((
            be16(d, 2)?,
            be32(d, 4)?,
            be32(d, 8)?,
            be32(d, 12)?,
            be32(d, 16)?,
            be16(d, 20)?,
            be16(d, 22)?,
        ))
    })();
    let Some((count, uptime_ms, secs, nsecs, sequence, engine, sampling)) = header else {
        ctx.fault("truncated");
        return;
    };
    let clock = Clock {
        export_nanos: u64::from(secs) * NANOS_PER_SEC + u64::from(nsecs.min(999_999_999)),
        uptime_ms: Some(uptime_ms),
    };
    // Two bits of mode, 14 of interval.
    let rate = u32::from(sampling & 0x3fff).max(1);
    let records = d.get(V5_HEADER..).unwrap_or_default();
    for record in records.chunks_exact(V5_RECORD).take(usize::from(count)) {
        let addr =
            |at: usize| IpAddr::from([record[at], record[at + 1], record[at + 2], record[at + 3]]);
        let word = |at: usize| {
            u32::from_be_bytes([record[at], record[at + 1], record[at + 2], record[at + 3]])
        };
        let port = |at: usize| u16::from_be_bytes([record[at], record[at + 1]]);
        let protocol = record[38];
        let (src_port, dst_port) = if record::has_ports(protocol) {
            (port(32), port(34))
        } else {
            (0, 0)
        };
        let key = crate::decode::FlowKey {
            src: addr(0),
            dst: addr(4),
            src_port,
            dst_port,
            protocol,
        };
        let end = clock.at_uptime(uptime_ms, word(28));
        let flow = weighted(key, u64::from(word(16)), u64::from(word(20)), rate, end);
        ctx.emit(&flow, flows);
    }
    if records.len() / V5_RECORD < usize::from(count) {
        ctx.fault("truncated");
    }
    let domain = state.domain(5, u32::from(engine), ctx.limits.domains_per_exporter);
    ctx.summary.lost_records += track_sequence(domain, sequence, Some(u32::from(count)));
}

const V9_HEADER: usize = 20;
const IPFIX_HEADER: usize = 16;

/// NetFlow v9: a 20-byte header, then flowsets.
fn v9(state: &mut Exporter, d: &[u8], ctx: &mut Context<'_>, flows: &mut impl FnMut(&FlowRecord)) {
    let header = (|| Some((be32(d, 4)?, be32(d, 8)?, be32(d, 12)?, be32(d, 16)?)))();
    let Some((uptime_ms, secs, sequence, source_id)) = header else {
        ctx.fault("truncated");
        return;
    };
    let clock = Clock {
        export_nanos: u64::from(secs) * NANOS_PER_SEC,
        uptime_ms: Some(uptime_ms),
    };
    let domain = state.domain(9, source_id, ctx.limits.domains_per_exporter);
    ctx.summary.lost_datagrams += track_sequence(domain, sequence, Some(1));
    sets(state, 9, source_id, d, V9_HEADER, clock, ctx, flows);
}

/// IPFIX: a 16-byte message header, then sets, up to the message length.
fn ipfix(
    state: &mut Exporter,
    d: &[u8],
    ctx: &mut Context<'_>,
    flows: &mut impl FnMut(&FlowRecord),
) {
    let header = (|| Some((be16(d, 2)?, be32(d, 4)?, be32(d, 8)?, be32(d, 12)?)))();
    let Some((length, secs, sequence, domain_id)) = header else {
        ctx.fault("truncated");
        return;
    };
    let length = usize::from(length);
    if length < IPFIX_HEADER {
        ctx.fault("bad_length");
        return;
    }
    let message = match d.get(..length) {
        Some(message) => message,
        None => {
            ctx.fault("truncated");
            d
        }
    };
    let clock = Clock {
        export_nanos: u64::from(secs) * NANOS_PER_SEC,
        uptime_ms: None,
    };
    let data_records = sets(
        state,
        10,
        domain_id,
        message,
        IPFIX_HEADER,
        clock,
        ctx,
        flows,
    );
    let domain = state.domain(10, domain_id, ctx.limits.domains_per_exporter);
    let counted = data_records.filter(|_| ctx.summary.malformed.is_none());
    ctx.summary.lost_records += track_sequence(domain, sequence, counted);
}

/// Walks the sets (flowsets) of a v9 or IPFIX message from `at`; returns the number of data
/// records (flows and options) read, `None` when some could not be counted (a data set
/// without its template).
#[allow(clippy::too_many_arguments)]
fn sets(
    state: &mut Exporter,
    version: u16,
    domain: u32,
    d: &[u8],
    mut at: usize,
    clock: Clock,
    ctx: &mut Context<'_>,
    flows: &mut impl FnMut(&FlowRecord),
) -> Option<u32> {
    let (templates, options_templates) = if version == 9 { (0, 1) } else { (2, 3) };
    let mut data_records = Some(0u32);
    // Fewer than 4 bytes cannot hold a set header: padding.
    while d.len().saturating_sub(at) >= 4 {
        let (Some(id), Some(len)) = (be16(d, at), be16(d, at + 2)) else {
            break;
        };
        let len = usize::from(len);
        if len < 4 {
            ctx.fault("bad_set_length");
            break;
        }
        let Some(body) = d.get(at + 4..at + len) else {
            ctx.fault("truncated");
            break;
        };
        at += len;
        if id == templates || id == options_templates {
            template_set(state, version, domain, id, body, ctx);
        } else if id >= 256 {
            let read = data_set(state, version, domain, id, body, clock, ctx, flows);
            data_records = match (data_records, read) {
                (Some(total), Some(n)) => Some(total.saturating_add(n)),
                _ => None,
            };
        }
        // 2..=255 (v9) and 4..=255 (IPFIX) are reserved: skipped.
    }
    data_records
}

/// Learns, refreshes or withdraws the templates of one template or options template set.
fn template_set(
    state: &mut Exporter,
    version: u16,
    domain: u32,
    set_id: u16,
    body: &[u8],
    ctx: &mut Context<'_>,
) {
    let mut at = 0;
    // A record takes at least 4 bytes; fewer, or a template ID of 0, is padding.
    while body.len().saturating_sub(at) >= 4 && be16(body, at) != Some(0) {
        match templates::parse_record(set_id, body, at, ctx.limits, ctx.scratch) {
            Ok(Parsed::Define {
                id,
                options,
                consumed,
            }) => {
                let key = TemplateKey {
                    version,
                    domain,
                    id,
                };
                let stored = state.templates.insert(
                    key,
                    options,
                    ctx.scratch,
                    ctx.now,
                    ctx.limits,
                    ctx.templates,
                );
                if stored.is_err() {
                    ctx.fault("template_table_full");
                }
                at += consumed;
            }
            Ok(Parsed::Withdraw { id, consumed }) => {
                state.templates.withdraw(version, domain, id, ctx.templates);
                at += consumed;
            }
            Err(error) => {
                ctx.fault(error.label());
                return;
            }
        }
    }
}

/// Reads the records of one data set; returns how many, or `None` when its template is not
/// known (one template miss).
#[allow(clippy::too_many_arguments)]
fn data_set(
    state: &mut Exporter,
    version: u16,
    domain_id: u32,
    set_id: u16,
    body: &[u8],
    clock: Clock,
    ctx: &mut Context<'_>,
    flows: &mut impl FnMut(&FlowRecord),
) -> Option<u32> {
    let key = TemplateKey {
        version,
        domain: domain_id,
        id: set_id,
    };
    let lifetime = ctx.limits.template_lifetime_nanos;
    let Exporter {
        templates,
        domains,
        samplers,
        ..
    } = state;
    let Some(template) = templates.get(key, ctx.now, lifetime, ctx.templates) else {
        ctx.summary.template_misses += 1;
        return None;
    };
    let ipfix = version == 10;
    let domain = domain_in(domains, version, domain_id, ctx.limits.domains_per_exporter);
    let mut count = 0u32;
    let mut at = 0;
    // Fewer bytes than the smallest record are padding; min_record_len is never 0.
    while body.len().saturating_sub(at) >= template.min_record_len {
        let Some((fields, next)) = record::read(&template.fields, ipfix, body, at) else {
            ctx.fault("truncated");
            break;
        };
        at = next;
        count = count.saturating_add(1);
        if template.options {
            options_record(&fields, domain, samplers, ctx.limits);
        } else if let Some(flow) = flow_record(&fields, domain, samplers, clock, version) {
            ctx.emit(&flow, flows);
        }
    }
    Some(count)
}

/// Keeps what an options data record says of sampling and of the exporter's clock.
fn options_record(
    fields: &Fields<'_>,
    domain: &mut Domain,
    samplers: &mut Vec<Sampler>,
    limits: &Limits,
) {
    if let Some(init) = fields.system_init_ms {
        domain.system_init_ms = Some(init);
    }
    let Some(rate) = fields.stated_rate() else {
        return;
    };
    match fields.sampler() {
        Some(id) => set_sampler(
            samplers,
            Sampler {
                version: domain.version,
                domain: domain.id,
                id,
                rate,
            },
            limits.samplers_per_exporter,
        ),
        None => domain.default_rate = Some(rate),
    }
}

/// The weighted flow of one data record; `None` when it has no key or no counter.
fn flow_record(
    fields: &Fields<'_>,
    domain: &Domain,
    samplers: &[Sampler],
    clock: Clock,
    version: u16,
) -> Option<FlowRecord> {
    let key = fields.key()?;
    let (packets, bytes) = match (fields.counters(), fields.frame_section) {
        (Some(counters), _) => counters,
        (None, Some(section)) if fields.src.is_none() || fields.dst.is_none() => {
            (1, fields.frame_size.unwrap_or(section.len() as u64))
        }
        (None, _) => return None,
    };
    let sampler_rate = fields.sampler().and_then(|id| {
        samplers
            .iter()
            .find(|s| s.version == version && s.domain == domain.id && s.id == id)
            .map(|s| s.rate)
    });
    let rate = sampler_rate
        .or_else(|| fields.stated_rate())
        .or(domain.default_rate)
        .unwrap_or(1);
    let end = if let Some(end) = fields.end_nanos {
        end
    } else if let Some(delta_us) = fields.end_delta_us {
        clock
            .export_nanos
            .saturating_sub(delta_us.saturating_mul(1000))
    } else if let Some(end_ms) = fields.end_uptime_ms {
        match (
            clock.uptime_ms,
            fields.system_init_ms.or(domain.system_init_ms),
        ) {
            (Some(uptime_ms), _) => clock.at_uptime(uptime_ms, end_ms),
            (None, Some(init_ms)) => init_ms
                .saturating_add(u64::from(end_ms))
                .saturating_mul(NANOS_PER_MS),
            (None, None) => clock.export_nanos,
        }
    } else {
        clock.export_nanos
    };
    Some(weighted(key, packets, bytes, rate, end))
}
