//! Cuckoo Heavy Keeper, the heavy-hitter sketch of the flow, source and destination views: the
//! [`cuckoo_heavy_keeper`] crate, re-exported so that code written against
//! `hhmon::sketch::chk` keeps building. The monitor uses the wide layout,
//! [`CuckooHeavyKeeper`], whose heavy entries keep full keys and 64-bit counters (and a
//! companion weight); the crate's compact layout is for top-K use at a few KB.
//!
//! Nothing here knows about packets or I/O.

pub use cuckoo_heavy_keeper::*;
