//! One NetFlow v5, v9 or IPFIX datagram read against an exporter's state: the headers, the
//! walk over sets, template sets handed to `templates`, data records read by `record` and
//! turned into weighted flows or sampling rates. Knows nothing of how exporters are admitted,
//! swept or capped as a whole.

use std::net::IpAddr;

use super::record::{self, Fields};
use super::state::{domain_in, set_sampler, track_sequence, Domain, Exporter, Sampler};
use super::templates::{self, Field, Parsed, TemplateKey};
use super::{Limits, NANOS_PER_MS, NANOS_PER_SEC};
use crate::telemetry::{DatagramSummary, FlowRecord};

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

/// The big-endian `u16` at `at`, if `bytes` holds it.
pub fn be16(bytes: &[u8], at: usize) -> Option<u16> {
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

/// What one datagram's decoding borrows from the decoder.
pub struct Context<'a> {
    /// The decoder's caps.
    pub limits: &'a Limits,
    /// Templates held, all exporters together.
    pub templates: &'a mut usize,
    /// Field specifiers of the template being parsed, reused.
    pub scratch: &'a mut Vec<Field>,
    /// The datagram's arrival, Unix nanoseconds.
    pub now: u64,
    /// The datagram's summary, filled in as it is read.
    pub summary: &'a mut DatagramSummary,
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
pub fn v5(
    state: &mut Exporter,
    d: &[u8],
    ctx: &mut Context<'_>,
    flows: &mut impl FnMut(&FlowRecord),
) {
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
    let count = u32::from(count);
    ctx.summary.lost_records += track_sequence(domain, sequence, Some(count), count);
}

const V9_HEADER: usize = 20;
const IPFIX_HEADER: usize = 16;

/// NetFlow v9: a 20-byte header, then flowsets.
pub fn v9(
    state: &mut Exporter,
    d: &[u8],
    ctx: &mut Context<'_>,
    flows: &mut impl FnMut(&FlowRecord),
) {
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
    ctx.summary.lost_datagrams += track_sequence(domain, sequence, Some(1), 1);
    sets(state, 9, source_id, d, V9_HEADER, clock, ctx, flows);
}

/// IPFIX: a 16-byte message header, then sets, up to the message length.
pub fn ipfix(
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
    let flows_read = u32::try_from(ctx.summary.records).unwrap_or(u32::MAX);
    ctx.summary.lost_records += track_sequence(domain, sequence, counted, flows_read);
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
