//! Streaming sketches: bounded-memory summaries of a packet stream.
//!
//! Nothing here knows about packets or I/O; the sketches are generic over their keys.

pub mod chk;
pub mod hll;
pub mod keyed;
