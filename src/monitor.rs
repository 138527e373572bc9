//! The interval aggregator (being written).
