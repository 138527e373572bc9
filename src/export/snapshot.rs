//! snapshot sink (being written).
