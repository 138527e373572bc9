//! table sink (being written).
