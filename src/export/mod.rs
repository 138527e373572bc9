//! Sinks: everything that renders or publishes an [`IntervalReport`](crate::report::IntervalReport).
//! Sinks never see live sketches, only finished reports.

pub mod prometheus;
pub mod snapshot;
pub mod table;
