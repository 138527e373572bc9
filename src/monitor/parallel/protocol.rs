//! What the threads of parallel aggregation tell each other: a producer's updates and interval
//! markers for an owner, its word to the combiner that it closed an interval (and its part of
//! the report), and an owner's filled set of views for the combiner. Knows nothing of how any
//! thread runs.

use crate::decode::FlowKey;
use crate::monitor::assemble::IntervalPart;
use crate::monitor::views::ViewSet;
use crate::prefix::Prefix;
use crate::sketch::hll::Coupon;
use std::net::IpAddr;

/// One flow's packets' contribution to one view, for the key's owner.
pub(super) enum Update {
    Flow {
        key: FlowKey,
        hash: u64,
        packets: u64,
        bytes: u64,
    },
    /// `own` is the address's coupon (interval distinct count), `peer` the other end's.
    Source {
        address: IpAddr,
        hash: u64,
        packets: u64,
        bytes: u64,
        own: Coupon,
        peer: Coupon,
    },
    Destination {
        address: IpAddr,
        hash: u64,
        packets: u64,
        bytes: u64,
        own: Coupon,
        peer: Coupon,
    },
    /// A source (`source`) or destination prefix's sums; `address` is an address's coupon
    /// (the prefix's distinct addresses), when distinct counting is on.
    Prefix {
        source: bool,
        prefix: Prefix,
        hash: u64,
        packets: u64,
        bytes: u64,
        address: Option<Coupon>,
    },
    /// One more address of a source (`source`) or destination prefix whose sums came just
    /// before, for its distinct addresses.
    PrefixAddress {
        source: bool,
        prefix: Prefix,
        hash: u64,
        address: Coupon,
    },
}

/// What a producer sends an owner, in order.
pub(super) enum Message {
    Batch(Vec<Update>),
    /// The producer has closed the interval it counted in, if any, and counts in the interval
    /// starting at this second.
    Open(u64),
    /// The producer has closed its interval and counts in none (end of its input, or gone).
    Finish,
}

impl Update {
    /// Counts the update into `views`: the one-thread path's steps for one key.
    #[inline]
    pub(super) fn apply(self, views: &mut ViewSet) {
        match self {
            Update::Flow {
                key,
                hash,
                packets,
                bytes,
            } => views.count_flow(&key, hash, packets, bytes),
            Update::Source {
                address,
                hash,
                packets,
                bytes,
                own,
                peer,
            } => views.count_source(&address, hash, packets, bytes, (own, peer)),
            Update::Destination {
                address,
                hash,
                packets,
                bytes,
                own,
                peer,
            } => views.count_destination(&address, hash, packets, bytes, (own, peer)),
            Update::Prefix {
                source,
                prefix,
                hash,
                packets,
                bytes,
                address,
            } => views.count_prefix(source, &prefix, hash, packets, bytes, address),
            Update::PrefixAddress {
                source,
                prefix,
                hash,
                address,
            } => views.count_prefix_address(source, &prefix, hash, address),
        }
    }
}

/// A producer's word to the combiner that it closed an interval.
pub(super) struct Closed {
    pub(super) start: u64,
    /// Its part of the report, when it reports the interval (it had packets, or the clock
    /// closed it).
    pub(super) part: Option<IntervalPart>,
}

/// An owner's filled set of views, for the combiner.
pub(super) struct Filled {
    pub(super) start: u64,
    pub(super) views: Box<ViewSet>,
}
