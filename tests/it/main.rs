//! The integration tests that need no root: the real binary on the shipped captures against
//! tshark, its snapshots, metrics endpoint and golden output, `hhmon top` in a terminal, the
//! sketches' accuracy, the shipped dashboards, alert rules and systemd unit. One binary, one
//! module per subject, so the suite links once; `util` holds what the modules share. The tests that need root or a
//! long-lived server (network namespaces, tmpfs mounts, a real Prometheus) are in
//! `tests/system/`.
//!
//! Tests run in parallel threads: none may depend on a fixed port, path or process-wide
//! setting another test uses.

mod util;

mod alert_rules;
mod both_counts;
mod changes;
mod chk_accuracy;
mod collect;
mod dashboards;
mod decode_vs_tshark;
mod distinct;
mod exact_flows_vs_tshark;
mod export;
mod generate;
mod golden;
mod hierarchical;
mod hll_accuracy;
mod json_api;
mod layout;
mod memory;
mod netflow_decode;
mod prefixes;
mod prometheus_endpoint;
mod python_datasketches;
mod replay;
mod sflow_decode;
mod snapshot_schema;
mod status_page;
mod systemd_unit;
mod top;
mod workers;
