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
/// 1 datagram; `None` when they could not be counted); returns the units lost.
pub fn track_sequence(domain: &mut Domain, got: u32, units: Option<u32>) -> u64 {
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
