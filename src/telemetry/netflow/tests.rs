//! Unit tests of the NetFlow v5, v9 and IPFIX decoder: hand-built datagrams.
