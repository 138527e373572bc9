//! The system tests: hhmon with root on real interfaces in network namespaces fed by
//! tcpreplay, on tmpfs mounts that fill up or are read-only, and scraped by a real Prometheus.
//! They need root (as CI has) and external servers, and some measure time and drops, so they
//! take turns (`util::serial`) instead of running beside each other.

mod util;

mod collect_exporters;
mod e2e_prometheus;
mod live_capture;
mod write_faults;
