//! prometheus sink (being written).
