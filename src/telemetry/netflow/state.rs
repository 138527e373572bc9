//! What the NetFlow decoder remembers of one exporter besides its templates: per version
//! and domain the sequence state, default sampling rate and system init time, and the rates
//! of named samplers; and the rule that turns a sequence number into loss. Knows nothing of
//! the wire format.

use super::templates::Store;
use super::MAX_SEQUENCE_GAP;

/// Per (version, domain) state of one exporter.
#[derive(Clone, Copy, Debug)]
pub struct Domain {
    pub version: u16,
    pub id: u32,
    /// The sequence number the next datagram should carry; `None` to resynchronise.
    pub next_sequence: Option<u32>,
    /// The sequence number of the last datagram taken in order, and its units both ways
    /// (every data record; flow records only).
    pub last_sequence: Option<(u32, [u32; 2])>,
    /// How this exporter numbers, once its datagrams showed it: by the units up to and
    /// including a message's own (`Some(true)`) or before it (`Some(false)`, the RFCs').
    pub inclusive: Option<bool>,
    /// Whether its numbers count options records (`Some(true)`, the RFCs') or not.
    pub with_options: Option<bool>,
    /// The rate options records announced without a sampler ID.
    pub default_rate: Option<u32>,
    /// systemInitTimeMilliseconds from an options record.
    pub system_init_ms: Option<u64>,
}

/// A sampler's rate, announced by an options record.
#[derive(Clone, Copy, Debug)]
pub struct Sampler {
    pub version: u16,
    pub domain: u32,
    pub id: u64,
    pub rate: u32,
}

/// What the decoder keeps about one exporter.
#[derive(Debug, Default)]
pub struct Exporter {
    pub last_seen_nanos: u64,
    pub templates: Store,
    pub domains: Vec<Domain>,
    pub samplers: Vec<Sampler>,
}

impl Exporter {
    pub fn domain(&mut self, version: u16, id: u32, cap: usize) -> &mut Domain {
        domain_in(&mut self.domains, version, id, cap)
    }
}

/// The state of domain `id`, created (replacing the oldest when `domains` is at `cap`) if new.
pub fn domain_in(domains: &mut Vec<Domain>, version: u16, id: u32, cap: usize) -> &mut Domain {
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
                last_sequence: None,
                inclusive: None,
                with_options: None,
                default_rate: None,
                system_init_ms: None,
            });
            domains.len() - 1
        }
    };
    &mut domains[index]
}

/// Sets a sampler's rate, replacing the oldest sampler when `samplers` is at `cap`.
pub fn set_sampler(samplers: &mut Vec<Sampler>, sampler: Sampler, cap: usize) {
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
/// 1 datagram; `None` when they could not be counted), of which `flows` are flow records;
/// returns the units lost.
///
/// Exporters differ from RFC 3954 and RFC 7011 in two ways seen in the wild: numbering a
/// message by the units up to and including its own rather than before it, and leaving options
/// records out of the count (softflowd's IPFIX does both). Each is learned per domain from the
/// first datagrams that tell the readings apart (consecutive messages of different sizes, a
/// message with options records); until then a datagram that fits any reading is in order, and
/// one that fits none is judged by the RFCs' reading.
pub fn track_sequence(domain: &mut Domain, got: u32, units: Option<u32>, flows: u32) -> u64 {
    let current = units.map(|all| [all, flows.min(all)]);
    let mut expected = domain.next_sequence;
    if let (Some((last, previous)), Some(current)) = (domain.last_sequence, current) {
        // The four readings: (inclusive, with options) -> the number expected.
        let reading = |inclusive: bool, with_options: bool| {
            let units = if inclusive { current } else { previous };
            last.wrapping_add(units[usize::from(!with_options)])
        };
        let readings = [(false, true), (false, false), (true, true), (true, false)];
        let fits = readings.map(|(i, o)| reading(i, o) == got);
        // A dimension is learned when every reading that fits agrees on it.
        let learn = |dimension: fn((bool, bool)) -> bool| {
            let mut fitting = readings
                .iter()
                .zip(fits)
                .filter(|&(_, fit)| fit)
                .map(|(&r, _)| dimension(r));
            let first = fitting.next()?;
            fitting.all(|other| other == first).then_some(first)
        };
        if domain.inclusive.is_none() {
            domain.inclusive = learn(|(inclusive, _)| inclusive);
        }
        if domain.with_options.is_none() && current[0] != current[1] {
            domain.with_options = learn(|(_, with_options)| with_options);
        }
        expected = Some(reading(
            domain.inclusive.unwrap_or(false),
            domain.with_options.unwrap_or(true),
        ));
        if fits.iter().any(|&fit| fit) && domain.inclusive.is_none() {
            expected = Some(got);
        }
    }
    match check_sequence(expected, got) {
        Sequence::Late => 0,
        outcome => {
            domain.next_sequence = units.map(|n| got.wrapping_add(n));
            domain.last_sequence = current.map(|current| (got, current));
            match outcome {
                Sequence::InOrder { lost } => u64::from(lost),
                _ => 0,
            }
        }
    }
}
