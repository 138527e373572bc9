//! Sinks: everything that renders or writes an [`IntervalReport`](crate::report::IntervalReport):
//! the JSON snapshots, the Parquet export tree, the terminal table and the Prometheus text (served by the engine's
//! service thread). Sinks never see live sketches, only finished reports, and know nothing of
//! threads or where packets come from.

pub mod export;
pub mod prometheus;
pub mod snapshot;
pub mod table;

/// The conventional name of an IP protocol number, for the common ones; `None` otherwise, so
/// callers show the number. Shared so the table and the Prometheus labels agree.
pub(crate) fn protocol_name(protocol: u8) -> Option<&'static str> {
    // IANA "Assigned Internet Protocol Numbers".
    match protocol {
        1 => Some("icmp"),
        6 => Some("tcp"),
        17 => Some("udp"),
        47 => Some("gre"),
        50 => Some("esp"),
        58 => Some("icmpv6"),
        132 => Some("sctp"),
        _ => None,
    }
}
