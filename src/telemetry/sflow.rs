//! sFlow v5 datagrams to flow records.
