//! Renders an [`IntervalReport`] as Prometheus text exposition format: a pure function from
//! report to text, with every metric name and help text defined once in [`Metric`].
//!
//! Each render builds a fresh registry, so a series that leaves a top list is gone from the next
//! render instead of lingering with a stale value. This module must not know about HTTP (the
//! engine serves the text: [`crate::engine::http`]), sketches, or how the report was computed.

use super::protocol_name;
use crate::report::{
    AddressEntry, CaptureCounts, Changes, Counting, ExporterCounts, FlowEntry, IntervalReport,
    PrefixEntry, ReaderCapture, TelemetryStats,
};
use prometheus::{Gauge, GaugeVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder};

/// The `Content-Type` of the text [`render`] returns (text exposition format 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every metric hhmon exports. Names, help texts and label names live here and nowhere else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Frames read since start.
    PacketsTotal,
    /// Wire bytes read since start.
    BytesTotal,
    /// Frames that produced no flow key since start, by reason.
    UnparsedPacketsTotal,
    /// Frames whose transport header was cut short since start.
    TransportTruncatedPacketsTotal,
    /// Frames in the last closed interval.
    IntervalPackets,
    /// Wire bytes in the last closed interval.
    IntervalBytes,
    /// Estimated distinct source addresses in the last closed interval.
    IntervalDistinctSources,
    /// Start of the last closed interval.
    IntervalStartTimestampSeconds,
    /// Length of the last closed interval.
    IntervalDurationSeconds,
    /// Packets of the top flows by packets.
    TopFlowPackets,
    /// Bytes of the top flows by bytes.
    TopFlowBytes,
    /// Packets of the top sources by packets.
    TopSourcePackets,
    /// Bytes of the top sources by bytes.
    TopSourceBytes,
    /// Packets of the top destinations by packets.
    TopDestinationPackets,
    /// Bytes of the top destinations by bytes.
    TopDestinationBytes,
    /// Constant 1, labelled with the hhmon version.
    BuildInfo,
    /// Always 1, labelled with the sensor's name.
    SensorInfo,
    /// 1 when heavy hitters are counted exactly, 0 when estimated.
    CountingExact,
    /// Snapshots that could not be written since start.
    SnapshotWriteErrorsTotal,
    /// Export files that could not be written since start.
    ExportWriteErrorsTotal,
    /// Frames libpcap received on a live interface since start (0 for replays).
    CaptureReceivedPacketsTotal,
    /// Frames dropped by the kernel or the interface since start, by reason (0 for replays).
    CaptureDroppedPacketsTotal,
    /// Estimated distinct destination addresses in the last closed interval.
    IntervalDistinctDestinations,
    /// Estimated distinct sources of each top destination (fan-in).
    TopDestinationDistinctSources,
    /// Estimated distinct destinations of each top source (fan-out).
    TopSourceDistinctDestinations,
    /// Estimated distinct sources over the rolling window (only with `--window`).
    WindowDistinctSources,
    /// Length of the rolling window (only with `--window`).
    WindowSeconds,
    /// Frames `--decap` counted under an outer flow since start, by why their tunnel could not
    /// be opened.
    DecapFallbackPacketsTotal,
    /// Frames libpcap received since start, per reader of a shared interface (`--readers`).
    CaptureReaderReceivedPacketsTotal,
    /// Frames dropped since start, per reader of a shared interface and by reason.
    CaptureReaderDroppedPacketsTotal,
    /// Flow-telemetry datagrams received since start, per exporter.
    TelemetryDatagramsTotal,
    /// Flow records and samples counted since start, per exporter.
    TelemetryRecordsTotal,
    /// Datagrams lost on the way since start, per exporter.
    TelemetryLostDatagramsTotal,
    /// Records or samples lost since start, per exporter.
    TelemetryLostRecordsTotal,
    /// Data sets without their template since start, per exporter.
    TelemetryTemplateMissesTotal,
    /// Malformed datagrams since start, per exporter and reason.
    TelemetryMalformedDatagramsTotal,
    /// Datagrams the collector's sockets dropped with their receive buffers full, since start.
    TelemetrySocketDroppedDatagramsTotal,
    /// An sFlow agent's interface octets, per agent, ifIndex and direction.
    SflowInterfaceOctetsTotal,
    /// An sFlow agent's interface packets, per agent, ifIndex and direction.
    SflowInterfacePacketsTotal,
    /// Packets of the top source prefixes of every length.
    TopSourcePrefixPackets,
    /// Bytes of the top source prefixes of every length.
    TopSourcePrefixBytes,
    /// Packets of the top destination prefixes of every length.
    TopDestinationPrefixPackets,
    /// Bytes of the top destination prefixes of every length.
    TopDestinationPrefixBytes,
    /// Estimated distinct addresses of each top source prefix.
    TopSourcePrefixDistinctAddresses,
    /// Estimated distinct addresses of each top destination prefix.
    TopDestinationPrefixDistinctAddresses,
    /// Packets each hierarchical heavy prefix carries on its own, per direction and prefix.
    HierarchicalPrefixPackets,
    /// Score of each key that rose most against its baseline, per view and key.
    ChangeScore,
    /// Packets by which each of those keys rose above its baseline, per view and key.
    ChangeRisePackets,
}

const FLOW_LABELS: &[&str] = &["src", "dst", "src_port", "dst_port", "protocol"];
const ADDRESS_LABELS: &[&str] = &["address"];
const PREFIX_LABELS: &[&str] = &["prefix", "length"];

impl Metric {
    /// Every metric.
    pub const ALL: [Metric; 48] = [
        Metric::PacketsTotal,
        Metric::BytesTotal,
        Metric::UnparsedPacketsTotal,
        Metric::TransportTruncatedPacketsTotal,
        Metric::IntervalPackets,
        Metric::IntervalBytes,
        Metric::IntervalDistinctSources,
        Metric::IntervalStartTimestampSeconds,
        Metric::IntervalDurationSeconds,
        Metric::TopFlowPackets,
        Metric::TopFlowBytes,
        Metric::TopSourcePackets,
        Metric::TopSourceBytes,
        Metric::TopDestinationPackets,
        Metric::TopDestinationBytes,
        Metric::BuildInfo,
        Metric::SensorInfo,
        Metric::CountingExact,
        Metric::SnapshotWriteErrorsTotal,
        Metric::ExportWriteErrorsTotal,
        Metric::CaptureReceivedPacketsTotal,
        Metric::CaptureDroppedPacketsTotal,
        Metric::IntervalDistinctDestinations,
        Metric::TopDestinationDistinctSources,
        Metric::TopSourceDistinctDestinations,
        Metric::WindowDistinctSources,
        Metric::WindowSeconds,
        Metric::DecapFallbackPacketsTotal,
        Metric::CaptureReaderReceivedPacketsTotal,
        Metric::CaptureReaderDroppedPacketsTotal,
        Metric::TelemetryDatagramsTotal,
        Metric::TelemetryRecordsTotal,
        Metric::TelemetryLostDatagramsTotal,
        Metric::TelemetryLostRecordsTotal,
        Metric::TelemetryTemplateMissesTotal,
        Metric::TelemetryMalformedDatagramsTotal,
        Metric::TelemetrySocketDroppedDatagramsTotal,
        Metric::SflowInterfaceOctetsTotal,
        Metric::SflowInterfacePacketsTotal,
        Metric::TopSourcePrefixPackets,
        Metric::TopSourcePrefixBytes,
        Metric::TopDestinationPrefixPackets,
        Metric::TopDestinationPrefixBytes,
        Metric::TopSourcePrefixDistinctAddresses,
        Metric::TopDestinationPrefixDistinctAddresses,
        Metric::HierarchicalPrefixPackets,
        Metric::ChangeScore,
        Metric::ChangeRisePackets,
    ];

    /// The exported metric name.
    pub const fn name(self) -> &'static str {
        match self {
            Metric::PacketsTotal => "hhmon_packets_total",
            Metric::BytesTotal => "hhmon_bytes_total",
            Metric::UnparsedPacketsTotal => "hhmon_unparsed_packets_total",
            Metric::TransportTruncatedPacketsTotal => "hhmon_transport_truncated_packets_total",
            Metric::IntervalPackets => "hhmon_interval_packets",
            Metric::IntervalBytes => "hhmon_interval_bytes",
            Metric::IntervalDistinctSources => "hhmon_interval_distinct_sources",
            Metric::IntervalStartTimestampSeconds => "hhmon_interval_start_timestamp_seconds",
            Metric::IntervalDurationSeconds => "hhmon_interval_duration_seconds",
            Metric::TopFlowPackets => "hhmon_top_flow_packets",
            Metric::TopFlowBytes => "hhmon_top_flow_bytes",
            Metric::TopSourcePackets => "hhmon_top_source_packets",
            Metric::TopSourceBytes => "hhmon_top_source_bytes",
            Metric::TopDestinationPackets => "hhmon_top_destination_packets",
            Metric::TopDestinationBytes => "hhmon_top_destination_bytes",
            Metric::BuildInfo => "hhmon_build_info",
            Metric::SensorInfo => "hhmon_sensor_info",
            Metric::CountingExact => "hhmon_counting_exact",
            Metric::SnapshotWriteErrorsTotal => "hhmon_snapshot_write_errors_total",
            Metric::ExportWriteErrorsTotal => "hhmon_export_write_errors_total",
            Metric::CaptureReceivedPacketsTotal => "hhmon_capture_received_packets_total",
            Metric::CaptureDroppedPacketsTotal => "hhmon_capture_dropped_packets_total",
            Metric::IntervalDistinctDestinations => "hhmon_interval_distinct_destinations",
            Metric::TopDestinationDistinctSources => "hhmon_top_destination_distinct_sources",
            Metric::TopSourceDistinctDestinations => "hhmon_top_source_distinct_destinations",
            Metric::WindowDistinctSources => "hhmon_window_distinct_sources",
            Metric::WindowSeconds => "hhmon_window_seconds",
            Metric::DecapFallbackPacketsTotal => "hhmon_decap_fallback_packets_total",
            Metric::CaptureReaderReceivedPacketsTotal => {
                "hhmon_capture_reader_received_packets_total"
            }
            Metric::CaptureReaderDroppedPacketsTotal => {
                "hhmon_capture_reader_dropped_packets_total"
            }
            Metric::TelemetryDatagramsTotal => "hhmon_telemetry_datagrams_total",
            Metric::TelemetryRecordsTotal => "hhmon_telemetry_records_total",
            Metric::TelemetryLostDatagramsTotal => "hhmon_telemetry_lost_datagrams_total",
            Metric::TelemetryLostRecordsTotal => "hhmon_telemetry_lost_records_total",
            Metric::TelemetryTemplateMissesTotal => "hhmon_telemetry_template_misses_total",
            Metric::TelemetryMalformedDatagramsTotal => "hhmon_telemetry_malformed_datagrams_total",
            Metric::TelemetrySocketDroppedDatagramsTotal => {
                "hhmon_telemetry_socket_dropped_datagrams_total"
            }
            Metric::SflowInterfaceOctetsTotal => "hhmon_sflow_interface_octets_total",
            Metric::SflowInterfacePacketsTotal => "hhmon_sflow_interface_packets_total",
            Metric::TopSourcePrefixPackets => "hhmon_top_source_prefix_packets",
            Metric::TopSourcePrefixBytes => "hhmon_top_source_prefix_bytes",
            Metric::TopDestinationPrefixPackets => "hhmon_top_destination_prefix_packets",
            Metric::TopDestinationPrefixBytes => "hhmon_top_destination_prefix_bytes",
            Metric::TopSourcePrefixDistinctAddresses => {
                "hhmon_top_source_prefix_distinct_addresses"
            }
            Metric::TopDestinationPrefixDistinctAddresses => {
                "hhmon_top_destination_prefix_distinct_addresses"
            }
            Metric::HierarchicalPrefixPackets => "hhmon_hierarchical_prefix_packets",
            Metric::ChangeScore => "hhmon_change_score",
            Metric::ChangeRisePackets => "hhmon_change_rise_packets",
        }
    }

    /// The `# HELP` text.
    pub const fn help(self) -> &'static str {
        match self {
            Metric::PacketsTotal => "Frames read since hhmon started, decoded or not.",
            Metric::BytesTotal => "Wire bytes of every frame read since hhmon started.",
            Metric::UnparsedPacketsTotal => {
                "Frames that produced no flow key since hhmon started, by reason."
            }
            Metric::TransportTruncatedPacketsTotal => {
                "Frames counted with ports 0 because the transport header was cut short, since hhmon started."
            }
            Metric::IntervalPackets => "Frames read in the last closed interval.",
            Metric::IntervalBytes => "Wire bytes read in the last closed interval.",
            Metric::IntervalDistinctSources => {
                "Estimated distinct source addresses in the last closed interval (HyperLogLog)."
            }
            Metric::IntervalStartTimestampSeconds => {
                "Start of the last closed interval, seconds since the Unix epoch (packet time)."
            }
            Metric::IntervalDurationSeconds => "Length of the last closed interval in seconds.",
            Metric::TopFlowPackets => {
                "Packets of each top flow (by packets or by bytes) in the last closed interval; for a flow listed by bytes only, counted since it was tracked (a lower bound)."
            }
            Metric::TopFlowBytes => {
                "Wire bytes of each top flow (by bytes or by packets) in the last closed interval; for a flow listed by packets only, counted since it was tracked (a lower bound)."
            }
            Metric::TopSourcePackets => {
                "Packets of each top source address (by packets or by bytes) in the last closed interval; for one listed by bytes only, counted since it was tracked (a lower bound)."
            }
            Metric::TopSourceBytes => {
                "Wire bytes of each top source address (by bytes or by packets) in the last closed interval; for one listed by packets only, counted since it was tracked (a lower bound)."
            }
            Metric::TopDestinationPackets => {
                "Packets of each top destination address (by packets or by bytes) in the last closed interval; for one listed by bytes only, counted since it was tracked (a lower bound)."
            }
            Metric::TopDestinationBytes => {
                "Wire bytes of each top destination address (by bytes or by packets) in the last closed interval; for one listed by packets only, counted since it was tracked (a lower bound)."
            }
            Metric::BuildInfo => "Always 1; the version label names the running hhmon.",
            Metric::SensorInfo => {
                "Always 1; the sensor label names the sensor that counted the last closed interval (--sensor)."
            }
            Metric::CountingExact => {
                "1 when heavy hitters are counted exactly, 0 when estimated by Cuckoo Heavy Keeper."
            }
            Metric::SnapshotWriteErrorsTotal => {
                "Snapshots that could not be written (directory full, gone or read-only) since hhmon started."
            }
            Metric::ExportWriteErrorsTotal => {
                "Intervals that could not be staged, or staged hours that could not be published, in the export tree (full, gone or read-only) since hhmon started; what was staged is published later."
            }
            Metric::CaptureReceivedPacketsTotal => {
                "Frames libpcap received on the live interface (passed the filter, dropped ones included), since hhmon started; 0 for file replays."
            }
            Metric::CaptureDroppedPacketsTotal => {
                "Frames lost before hhmon read them since it started: reason kernel (capture buffer full, hhmon fell behind) or interface (dropped by the interface or driver); 0 for file replays."
            }
            Metric::IntervalDistinctDestinations => {
                "Estimated distinct destination addresses in the last closed interval (HyperLogLog)."
            }
            Metric::TopDestinationDistinctSources => {
                "Estimated distinct sources of each top destination (fan-in) in the last closed interval."
            }
            Metric::TopSourceDistinctDestinations => {
                "Estimated distinct destinations of each top source (fan-out) in the last closed interval."
            }
            Metric::WindowDistinctSources => {
                "Estimated distinct source addresses over the rolling window ending with the last closed interval."
            }
            Metric::WindowSeconds => "Length of the rolling window of the distinct-source count in seconds.",
            Metric::DecapFallbackPacketsTotal => {
                "Frames counted under the last IP header read because --decap could not open the tunnel it carries, since hhmon started, by reason (always 0 without --decap)."
            }
            Metric::CaptureReaderReceivedPacketsTotal => {
                "Frames libpcap received since hhmon started, per reader when --readers shares the interface among several captures (absent with one reader)."
            }
            Metric::CaptureReaderDroppedPacketsTotal => {
                "Frames lost before hhmon read them since it started, per reader when --readers shares the interface, by reason kernel or interface (absent with one reader)."
            }
            Metric::TelemetryDatagramsTotal => {
                "Flow-telemetry datagrams received since hhmon collect started, per exporter (the 20 busiest; the rest as exporter=\"other\")."
            }
            Metric::TelemetryRecordsTotal => {
                "Flow records (NetFlow, IPFIX) and flow samples (sFlow) counted since hhmon collect started, per exporter."
            }
            Metric::TelemetryLostDatagramsTotal => {
                "Datagrams an exporter sent that never arrived, from sequence numbers, since hhmon collect started."
            }
            Metric::TelemetryLostRecordsTotal => {
                "Records or samples an exporter made that never arrived or that it dropped itself, from sequence numbers, since hhmon collect started."
            }
            Metric::TelemetryTemplateMissesTotal => {
                "NetFlow v9/IPFIX data sets that arrived before their template (not counted), since hhmon collect started."
            }
            Metric::TelemetryMalformedDatagramsTotal => {
                "Datagrams malformed in whole or part, per exporter and reason, since hhmon collect started."
            }
            Metric::TelemetrySocketDroppedDatagramsTotal => {
                "Datagrams the kernel dropped because a listening socket's receive buffer was full, since hhmon collect started (absent when reading files)."
            }
            Metric::SflowInterfaceOctetsTotal => {
                "Octets of an sFlow agent's interface as the agent last polled them (its running total), per agent, ifIndex and direction (the 256 busiest interfaces)."
            }
            Metric::SflowInterfacePacketsTotal => {
                "Unicast, multicast and broadcast packets of an sFlow agent's interface as the agent last polled them (its running total), per agent, ifIndex and direction."
            }
            Metric::TopSourcePrefixPackets => {
                "Packets from each top source prefix of each counted length (by packets or by bytes) in the last closed interval; for one listed by bytes only, counted since it was tracked (a lower bound)."
            }
            Metric::TopSourcePrefixBytes => {
                "Wire bytes from each top source prefix of each counted length (by bytes or by packets) in the last closed interval; for one listed by packets only, counted since it was tracked (a lower bound)."
            }
            Metric::TopDestinationPrefixPackets => {
                "Packets to each top destination prefix of each counted length (by packets or by bytes) in the last closed interval; for one listed by bytes only, counted since it was tracked (a lower bound)."
            }
            Metric::TopDestinationPrefixBytes => {
                "Wire bytes to each top destination prefix of each counted length (by bytes or by packets) in the last closed interval; for one listed by packets only, counted since it was tracked (a lower bound)."
            }
            Metric::TopSourcePrefixDistinctAddresses => {
                "Estimated distinct source addresses of each top source prefix in the last closed interval (a botnet subnet has many)."
            }
            Metric::TopDestinationPrefixDistinctAddresses => {
                "Estimated distinct destination addresses of each top destination prefix in the last closed interval (a carpet-bombed prefix has many)."
            }
            Metric::HierarchicalPrefixPackets => {
                "Packets of the last closed interval each hierarchical heavy prefix (or single address, /32 or /128) carries on its own, beyond its heavy descendants, per direction (source or destination)."
            }
            Metric::ChangeScore => {
                "How much each key that rose most against its recent intervals added, as a share of the last closed interval's packets or bytes (the larger), per view (sources, destinations, source_prefixes, destination_prefixes) and key; absent while the baselines warm up."
            }
            Metric::ChangeRisePackets => {
                "Packets by which each of those keys exceeded its baseline in the last closed interval, per view and key."
            }
        }
    }

    /// The label names; empty for metrics without labels.
    pub const fn labels(self) -> &'static [&'static str] {
        match self {
            Metric::UnparsedPacketsTotal | Metric::DecapFallbackPacketsTotal => &["reason"],
            Metric::TopFlowPackets | Metric::TopFlowBytes => FLOW_LABELS,
            Metric::TopSourcePackets
            | Metric::TopSourceBytes
            | Metric::TopDestinationPackets
            | Metric::TopDestinationBytes
            | Metric::TopDestinationDistinctSources
            | Metric::TopSourceDistinctDestinations => ADDRESS_LABELS,
            Metric::TopSourcePrefixPackets
            | Metric::TopSourcePrefixBytes
            | Metric::TopDestinationPrefixPackets
            | Metric::TopDestinationPrefixBytes
            | Metric::TopSourcePrefixDistinctAddresses
            | Metric::TopDestinationPrefixDistinctAddresses => PREFIX_LABELS,
            Metric::HierarchicalPrefixPackets => &["direction", "prefix"],
            Metric::ChangeScore | Metric::ChangeRisePackets => &["view", "key"],
            Metric::BuildInfo => &["version"],
            Metric::SensorInfo => &["sensor"],
            Metric::CaptureDroppedPacketsTotal => &["reason"],
            Metric::CaptureReaderReceivedPacketsTotal => &["reader"],
            Metric::CaptureReaderDroppedPacketsTotal => &["reader", "reason"],
            Metric::TelemetryDatagramsTotal
            | Metric::TelemetryRecordsTotal
            | Metric::TelemetryLostDatagramsTotal
            | Metric::TelemetryLostRecordsTotal
            | Metric::TelemetryTemplateMissesTotal => &["exporter"],
            Metric::TelemetryMalformedDatagramsTotal => &["exporter", "reason"],
            Metric::SflowInterfaceOctetsTotal | Metric::SflowInterfacePacketsTotal => {
                &["agent", "ifindex", "direction"]
            }
            _ => &[],
        }
    }

    fn opts(self) -> Opts {
        Opts::new(self.name(), self.help())
    }
}

/// Counts the process keeps beside the reports: what happened to hhmon itself rather than to
/// the traffic, so the report (which describes traffic) does not carry them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessCounters {
    /// Snapshots that could not be written since start.
    pub snapshot_write_errors: u64,
    /// Export writes that failed since start.
    pub export_write_errors: u64,
}

/// The `reason` label values of the drop counters, with their counts.
fn drops_by_reason(counts: &CaptureCounts) -> [(&'static str, u64); 2] {
    [
        ("kernel", counts.dropped_kernel),
        ("interface", counts.dropped_interface),
    ]
}

/// The exposition of one closed interval: cumulative counters, the interval's gauges, the
/// process counters, and the first `top` entries of each top list (bounding label cardinality).
///
/// Never fails for any report: the prometheus crate can only reject metric definitions, which are
/// the constants above, exercised by this module's tests. Should that ever break, the error is
/// logged and the exposition is empty rather than the sink task dying.
pub fn render(report: &IntervalReport, process: &ProcessCounters, top: usize) -> String {
    encode(|registry| {
        build(registry, report, top)?;
        registry.process(process)
    })
}

/// The exposition before the first interval closes: build info and zeroed counters.
pub fn render_empty() -> String {
    encode(|registry| {
        registry.build_info()?;
        for metric in [
            Metric::PacketsTotal,
            Metric::BytesTotal,
            Metric::TransportTruncatedPacketsTotal,
        ] {
            registry.counter(metric, 0)?;
        }
        registry.process(&ProcessCounters::default())?;
        registry.capture(&CaptureCounts::default())
    })
}

fn encode(fill: impl FnOnce(&Metrics) -> prometheus::Result<()>) -> String {
    let metrics = Metrics(Registry::new());
    let encoded =
        fill(&metrics).and_then(|()| TextEncoder::new().encode_to_string(&metrics.0.gather()));
    encoded.unwrap_or_else(|error| {
        tracing::error!(error = %error, "Rendering Prometheus metrics failed.");
        String::new()
    })
}

fn build(metrics: &Metrics, report: &IntervalReport, top: usize) -> prometheus::Result<()> {
    let cumulative = &report.cumulative;
    metrics.counter(Metric::PacketsTotal, cumulative.packets)?;
    metrics.counter(Metric::BytesTotal, cumulative.bytes)?;
    metrics.counter(
        Metric::TransportTruncatedPacketsTotal,
        cumulative.transport_truncated,
    )?;
    for (metric, by_reason) in [
        (Metric::UnparsedPacketsTotal, &cumulative.unparsed_by_reason),
        (
            Metric::DecapFallbackPacketsTotal,
            &cumulative.decap_fallback_by_reason,
        ),
    ] {
        let counters = metrics.counter_vec(metric)?;
        for (reason, count) in by_reason.iter() {
            counters
                .get_metric_with_label_values(&[reason.as_str()])?
                .inc_by(count);
        }
    }

    metrics.gauge(Metric::IntervalPackets, report.totals.packets as f64)?;
    metrics.gauge(Metric::IntervalBytes, report.totals.bytes as f64)?;
    metrics.gauge(
        Metric::IntervalDistinctSources,
        report.distinct_sources as f64,
    )?;
    metrics.gauge(
        Metric::IntervalDistinctDestinations,
        report.distinct_destinations as f64,
    )?;
    if let Some(window) = &report.window {
        metrics.gauge(Metric::WindowSeconds, window.seconds as f64)?;
        metrics.gauge(
            Metric::WindowDistinctSources,
            window.distinct_sources as f64,
        )?;
    }
    metrics.gauge(
        Metric::IntervalStartTimestampSeconds,
        report.interval.start_unix as f64,
    )?;
    metrics.gauge(
        Metric::IntervalDurationSeconds,
        report.interval.seconds as f64,
    )?;

    // Both figures of every listed key: a key ranked by one count has the other too.
    let flows = [&report.top_flows[..], &report.top_flows_by_bytes[..]];
    let flow_figures: [(Metric, Count<FlowEntry>); 2] = [
        (Metric::TopFlowPackets, |f| f.packets),
        (Metric::TopFlowBytes, |f| f.bytes),
    ];
    for (metric, value) in flow_figures {
        metrics.flows(metric, flows, top, value)?;
    }
    let sources = [&report.top_sources[..], &report.top_sources_by_bytes[..]];
    let destinations = [
        &report.top_destinations[..],
        &report.top_destinations_by_bytes[..],
    ];
    let address_figures: [(Metric, Lists<AddressEntry>, Count<AddressEntry>); 4] = [
        (Metric::TopSourcePackets, sources, |a| a.packets),
        (Metric::TopSourceBytes, sources, |a| a.bytes),
        (Metric::TopDestinationPackets, destinations, |a| a.packets),
        (Metric::TopDestinationBytes, destinations, |a| a.bytes),
    ];
    for (metric, lists, value) in address_figures {
        metrics.addresses(metric, lists, top, value)?;
    }
    // Fan-in and fan-out of the addresses exported above, from whichever list shows them (an
    // address in both lists has the same value in each).
    let peer_lists: [(Metric, [&[AddressEntry]; 2], Peers); 2] = [
        (
            Metric::TopDestinationDistinctSources,
            [&report.top_destinations, &report.top_destinations_by_bytes],
            |a| a.distinct_sources,
        ),
        (
            Metric::TopSourceDistinctDestinations,
            [&report.top_sources, &report.top_sources_by_bytes],
            |a| a.distinct_destinations,
        ),
    ];
    for (metric, lists, peers) in peer_lists {
        metrics.peers(metric, lists, top, peers)?;
    }

    // Prefixes: the first `top` of each length of each list, both figures and the distinct
    // addresses, as for addresses.
    let source_prefixes = [
        &report.top_source_prefixes[..],
        &report.top_source_prefixes_by_bytes[..],
    ];
    let destination_prefixes = [
        &report.top_destination_prefixes[..],
        &report.top_destination_prefixes_by_bytes[..],
    ];
    let prefix_figures: [(Metric, Lists<PrefixEntry>, PrefixFigure); 6] = [
        (Metric::TopSourcePrefixPackets, source_prefixes, |p| {
            Some(p.packets)
        }),
        (Metric::TopSourcePrefixBytes, source_prefixes, |p| {
            Some(p.bytes)
        }),
        (
            Metric::TopSourcePrefixDistinctAddresses,
            source_prefixes,
            |p| p.distinct_addresses,
        ),
        (
            Metric::TopDestinationPrefixPackets,
            destination_prefixes,
            |p| Some(p.packets),
        ),
        (
            Metric::TopDestinationPrefixBytes,
            destination_prefixes,
            |p| Some(p.bytes),
        ),
        (
            Metric::TopDestinationPrefixDistinctAddresses,
            destination_prefixes,
            |p| p.distinct_addresses,
        ),
    ];
    for (metric, lists, value) in prefix_figures {
        metrics.prefixes(metric, lists, top, value)?;
    }
    metrics.hierarchical(report)?;
    if let Some(changes) = &report.changes {
        metrics.changes(changes, top)?;
    }

    // Replays have no capture statistics: zeros, so dashboards always find the series.
    let capture = report
        .capture
        .as_ref()
        .map_or_else(CaptureCounts::default, |stats| stats.cumulative);
    metrics.capture(&capture)?;
    if let Some(stats) = &report.capture {
        metrics.readers(&stats.readers)?;
    }
    if let Some(telemetry) = &report.telemetry {
        metrics.telemetry(telemetry)?;
    }

    metrics.build_info()?;
    if !report.sensor.is_empty() {
        metrics
            .gauge_vec(Metric::SensorInfo)?
            .get_metric_with_label_values(&[&report.sensor])?
            .set(1.0);
    }
    metrics.gauge(
        Metric::CountingExact,
        if report.counting == Counting::Exact {
            1.0
        } else {
            0.0
        },
    )
}

/// A view's two top lists: by packets, by bytes.
type Lists<'a, T> = [&'a [T]; 2];

/// Which count of a top-list entry (packets or bytes) a metric exports.
type Count<T> = fn(&T) -> u64;

/// Which distinct count of an address entry (fan-in or fan-out) a metric exports, if known.
type Peers = fn(&AddressEntry) -> Option<u64>;

/// Which figure of a prefix entry a metric exports, if known.
type PrefixFigure = fn(&PrefixEntry) -> Option<u64>;

/// A fresh registry and the few shapes of metric hhmon registers into it.
struct Metrics(Registry);

impl Metrics {
    fn counter(&self, metric: Metric, value: u64) -> prometheus::Result<()> {
        let counter = IntCounter::with_opts(metric.opts())?;
        counter.inc_by(value);
        self.0.register(Box::new(counter))
    }

    fn gauge(&self, metric: Metric, value: f64) -> prometheus::Result<()> {
        let gauge = Gauge::with_opts(metric.opts())?;
        gauge.set(value);
        self.0.register(Box::new(gauge))
    }

    fn counter_vec(&self, metric: Metric) -> prometheus::Result<IntCounterVec> {
        let vec = IntCounterVec::new(metric.opts(), metric.labels())?;
        self.0.register(Box::new(vec.clone()))?;
        Ok(vec)
    }

    fn gauge_vec(&self, metric: Metric) -> prometheus::Result<GaugeVec> {
        let vec = GaugeVec::new(metric.opts(), metric.labels())?;
        self.0.register(Box::new(vec.clone()))?;
        Ok(vec)
    }

    /// One series per flow among the first `top` of each list (a flow in both lists has the
    /// same figures in each).
    fn flows(
        &self,
        metric: Metric,
        lists: Lists<FlowEntry>,
        top: usize,
        value: Count<FlowEntry>,
    ) -> prometheus::Result<()> {
        let vec = self.gauge_vec(metric)?;
        for flow in lists.into_iter().flat_map(|list| list.iter().take(top)) {
            let protocol = protocol_name(flow.protocol)
                .map_or_else(|| flow.protocol.to_string(), str::to_owned);
            let labels = [
                flow.src.to_string(),
                flow.dst.to_string(),
                flow.src_port.to_string(),
                flow.dst_port.to_string(),
                protocol,
            ];
            vec.get_metric_with_label_values(&labels)?
                .set(value(flow) as f64);
        }
        Ok(())
    }

    /// [`flows`](Self::flows) for addresses.
    fn addresses(
        &self,
        metric: Metric,
        lists: Lists<AddressEntry>,
        top: usize,
        value: Count<AddressEntry>,
    ) -> prometheus::Result<()> {
        let vec = self.gauge_vec(metric)?;
        for entry in lists.into_iter().flat_map(|list| list.iter().take(top)) {
            vec.get_metric_with_label_values(&[&entry.address.to_string()])?
                .set(value(entry) as f64);
        }
        Ok(())
    }

    /// One series per prefix among the first `top` of each length of each list (a prefix in
    /// both lists has the same figures in each), labelled with the prefix and its length;
    /// none for a prefix whose figure is unknown.
    fn prefixes(
        &self,
        metric: Metric,
        lists: Lists<PrefixEntry>,
        top: usize,
        value: PrefixFigure,
    ) -> prometheus::Result<()> {
        let vec = self.gauge_vec(metric)?;
        for list in lists {
            let mut rank = 0;
            let mut previous = None;
            for entry in list {
                let length = (entry.prefix.address().is_ipv6(), entry.length);
                rank = if previous == Some(length) {
                    rank + 1
                } else {
                    1
                };
                previous = Some(length);
                let Some(figure) = value(entry).filter(|_| rank <= top) else {
                    continue;
                };
                let labels = [entry.prefix.to_string(), entry.length.to_string()];
                vec.get_metric_with_label_values(&labels)?
                    .set(figure as f64);
            }
        }
        Ok(())
    }

    /// The hierarchical heavy prefixes of both directions: few by construction (each carries
    /// at least the report's share of the interval on its own, so at most 1 / share).
    fn hierarchical(&self, report: &IntervalReport) -> prometheus::Result<()> {
        let vec = self.gauge_vec(Metric::HierarchicalPrefixPackets)?;
        for (direction, list) in [
            ("source", &report.hierarchical_source_prefixes),
            ("destination", &report.hierarchical_destination_prefixes),
        ] {
            for entry in list {
                vec.get_metric_with_label_values(&[direction, &entry.prefix.to_string()])?
                    .set(entry.conditioned_packets as f64);
            }
        }
        Ok(())
    }

    /// The first `top` rises of the interval.
    fn changes(&self, changes: &Changes, top: usize) -> prometheus::Result<()> {
        let score = self.gauge_vec(Metric::ChangeScore)?;
        let rise = self.gauge_vec(Metric::ChangeRisePackets)?;
        for entry in changes.rises.iter().take(top) {
            let labels = [entry.view.name(), entry.key.as_str()];
            score
                .get_metric_with_label_values(&labels)?
                .set(entry.score);
            rise.get_metric_with_label_values(&labels)?
                .set(entry.packets.saturating_sub(entry.baseline_packets) as f64);
        }
        Ok(())
    }

    fn process(&self, process: &ProcessCounters) -> prometheus::Result<()> {
        self.counter(
            Metric::SnapshotWriteErrorsTotal,
            process.snapshot_write_errors,
        )?;
        self.counter(Metric::ExportWriteErrorsTotal, process.export_write_errors)
    }

    /// The per-reader capture counters; nothing when the interface is not shared.
    fn readers(&self, readers: &[ReaderCapture]) -> prometheus::Result<()> {
        if readers.is_empty() {
            return Ok(());
        }
        let received = self.counter_vec(Metric::CaptureReaderReceivedPacketsTotal)?;
        let dropped = self.counter_vec(Metric::CaptureReaderDroppedPacketsTotal)?;
        for reader in readers {
            let number = reader.reader.to_string();
            let counts = &reader.cumulative;
            received
                .get_metric_with_label_values(&[&number])?
                .inc_by(counts.received);
            for (reason, count) in drops_by_reason(counts) {
                dropped
                    .get_metric_with_label_values(&[&number, reason])?
                    .inc_by(count);
            }
        }
        Ok(())
    }

    /// The per-exporter counters of a collector: the listed exporters by address, the rest as
    /// `exporter="other"`.
    fn telemetry(&self, telemetry: &TelemetryStats) -> prometheus::Result<()> {
        let labelled = telemetry
            .exporters
            .iter()
            .map(|listed| (listed.exporter.to_string(), &listed.counts))
            .chain([("other".to_owned(), &telemetry.other)]);
        type Figure = fn(&ExporterCounts) -> u64;
        let figures: [(Metric, Figure); 5] = [
            (Metric::TelemetryDatagramsTotal, |c| c.datagrams),
            (Metric::TelemetryRecordsTotal, |c| c.records),
            (Metric::TelemetryLostDatagramsTotal, |c| c.lost_datagrams),
            (Metric::TelemetryLostRecordsTotal, |c| c.lost_records),
            (Metric::TelemetryTemplateMissesTotal, |c| c.template_misses),
        ];
        let vecs = figures
            .iter()
            .map(|&(metric, _)| self.counter_vec(metric))
            .collect::<prometheus::Result<Vec<_>>>()?;
        let malformed = self.counter_vec(Metric::TelemetryMalformedDatagramsTotal)?;
        if let Some(drops) = telemetry.socket_drops {
            self.counter(Metric::TelemetrySocketDroppedDatagramsTotal, drops)?;
        }
        let octets = self.counter_vec(Metric::SflowInterfaceOctetsTotal)?;
        let packets = self.counter_vec(Metric::SflowInterfacePacketsTotal)?;
        for interface in &telemetry.interfaces {
            let (agent, if_index) = (interface.agent.to_string(), interface.if_index.to_string());
            for (direction, (octet_count, packet_count)) in [
                ("in", (interface.in_octets, interface.in_packets)),
                ("out", (interface.out_octets, interface.out_packets)),
            ] {
                let labels = [agent.as_str(), if_index.as_str(), direction];
                octets
                    .get_metric_with_label_values(&labels)?
                    .inc_by(octet_count);
                packets
                    .get_metric_with_label_values(&labels)?
                    .inc_by(packet_count);
            }
        }
        for (exporter, counts) in labelled {
            for (vec, (_, figure)) in vecs.iter().zip(&figures) {
                vec.get_metric_with_label_values(&[&exporter])?
                    .inc_by(figure(counts));
            }
            for (reason, &count) in &counts.malformed {
                malformed
                    .get_metric_with_label_values(&[&exporter, reason])?
                    .inc_by(count);
            }
        }
        Ok(())
    }

    fn capture(&self, counts: &CaptureCounts) -> prometheus::Result<()> {
        self.counter(Metric::CaptureReceivedPacketsTotal, counts.received)?;
        let dropped = self.counter_vec(Metric::CaptureDroppedPacketsTotal)?;
        for (reason, count) in drops_by_reason(counts) {
            dropped
                .get_metric_with_label_values(&[reason])?
                .inc_by(count);
        }
        Ok(())
    }

    /// One series per address among the first `top` of each list whose distinct count is
    /// known.
    fn peers(
        &self,
        metric: Metric,
        lists: Lists<AddressEntry>,
        top: usize,
        peers: Peers,
    ) -> prometheus::Result<()> {
        let vec = self.gauge_vec(metric)?;
        for entry in lists.into_iter().flat_map(|list| list.iter().take(top)) {
            if let Some(count) = peers(entry) {
                vec.get_metric_with_label_values(&[&entry.address.to_string()])?
                    .set(count as f64);
            }
        }
        Ok(())
    }

    fn build_info(&self) -> prometheus::Result<()> {
        let vec = self.gauge_vec(Metric::BuildInfo)?;
        vec.get_metric_with_label_values(&[env!("CARGO_PKG_VERSION")])?
            .set(1.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::UnparsedReason;
    use crate::report::{CaptureStats, IntervalSpan, ReasonCounts, Totals, WindowCounts};
    use std::collections::BTreeMap;
    use std::io::Write as _;
    use std::net::IpAddr;
    use std::process::{Command, Stdio};

    /// One parsed sample line: metric name, labels, value.
    type Sample = (String, BTreeMap<String, String>, f64);

    /// A minimal reader for the sample lines of the text format, enough for hhmon's own
    /// output (label values never contain quotes, commas or braces).
    fn samples(text: &str) -> Vec<Sample> {
        text.lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').unwrap();
                let (name, labels) = match series.split_once('{') {
                    None => (series, BTreeMap::new()),
                    Some((name, rest)) => {
                        let labels = rest
                            .strip_suffix('}')
                            .unwrap()
                            .split(',')
                            .map(|pair| {
                                let (key, value) = pair.split_once('=').unwrap();
                                (key.to_owned(), value.trim_matches('"').to_owned())
                            })
                            .collect();
                        (name, labels)
                    }
                };
                (name.to_owned(), labels, value.parse().unwrap())
            })
            .collect()
    }

    fn series(samples: &[Sample], metric: Metric) -> Vec<&Sample> {
        samples.iter().filter(|s| s.0 == metric.name()).collect()
    }

    fn value(samples: &[Sample], metric: Metric, labels: &[(&str, &str)]) -> f64 {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let found: Vec<_> = series(samples, metric)
            .into_iter()
            .filter(|s| s.1 == wanted)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "{} {wanted:?} in {samples:?}",
            metric.name()
        );
        found[0].2
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn flow(src: &str, dst: &str, ports: (u16, u16), protocol: u8, packets: u64) -> FlowEntry {
        FlowEntry {
            src: ip(src),
            dst: ip(dst),
            src_port: ports.0,
            dst_port: ports.1,
            protocol,
            packets,
            bytes: packets * 100,
            lower_bound: crate::report::LowerBound::NONE,
        }
    }

    fn address(text: &str, packets: u64) -> AddressEntry {
        AddressEntry::new(ip(text), packets, packets * 100)
    }

    /// `count` of `reason`, none of the others.
    fn reasons(reason: UnparsedReason, count: u64) -> ReasonCounts {
        let mut counts = ReasonCounts::default();
        counts[reason] = count;
        counts
    }

    /// A source entry with its fan-out.
    fn source(text: &str, packets: u64, fan_out: u64) -> AddressEntry {
        AddressEntry {
            distinct_destinations: Some(fan_out),
            ..address(text, packets)
        }
    }

    /// A destination entry with its fan-in (none when untracked).
    fn destination(text: &str, packets: u64, fan_in: Option<u64>) -> AddressEntry {
        AddressEntry {
            distinct_sources: fan_in,
            ..address(text, packets)
        }
    }

    /// Top lists by packets hold three entries (the third, 10.0.0.3 -> 10.0.0.4, is the one a
    /// bound of 2 drops); the by-bytes lists lead with entries of their own, so a by-bytes metric
    /// fed from a by-packets list shows.
    fn fixture() -> IntervalReport {
        let heavy_bytes = FlowEntry {
            bytes: 90_000,
            ..flow("10.9.9.9", "198.51.100.1", (80, 40000), 6, 2)
        };
        let a = flow("10.0.0.1", "10.0.0.2", (51000, 443), 6, 40);
        let b = flow("2001:db8::1", "2001:db8::2", (0, 0), 58, 30);
        let c = flow("10.0.0.3", "10.0.0.4", (5353, 53), 200, 20);
        let by_bytes = |text: &str| AddressEntry {
            bytes: 90_000,
            ..address(text, 2)
        };
        IntervalReport {
            interval: IntervalSpan::new(1_700_000_000, 10),
            sensor: "edge-1".into(),
            totals: Totals {
                packets: 120,
                bytes: 12_000,
                unparsed_packets: 3,
                unparsed_by_reason: reasons(UnparsedReason::NotIp, 3),
                transport_truncated: 1,
                decap_fallback_by_reason: reasons(UnparsedReason::NotIp, 2),
            },
            cumulative: Totals {
                packets: 5_000,
                bytes: 640_000,
                unparsed_packets: 7,
                unparsed_by_reason: reasons(UnparsedReason::UnsupportedLinkType, 7),
                transport_truncated: 4,
                decap_fallback_by_reason: reasons(UnparsedReason::NotIp, 6),
            },
            distinct_sources: 9,
            distinct_destinations: 6,
            window: Some(WindowCounts {
                seconds: 3600,
                intervals: 12,
                distinct_sources: 4321,
            }),
            counting: Counting::Chk,
            top_flows: vec![a.clone(), b, c],
            top_flows_by_bytes: vec![heavy_bytes, a],
            top_sources: vec![
                source("10.0.0.1", 40, 3),
                source("2001:db8::1", 30, 1),
                source("10.0.0.3", 20, 2),
            ],
            top_sources_by_bytes: vec![
                AddressEntry {
                    distinct_destinations: Some(1),
                    ..by_bytes("10.9.9.9")
                },
                source("10.0.0.1", 40, 3),
            ],
            top_destinations: vec![
                destination("10.0.0.2", 40, Some(5)),
                destination("2001:db8::2", 30, Some(1)),
                destination("10.0.0.4", 20, None),
            ],
            capture: None,
            telemetry: None,
            top_destinations_by_bytes: vec![
                AddressEntry {
                    distinct_sources: Some(1),
                    ..by_bytes("198.51.100.1")
                },
                destination("10.0.0.2", 40, Some(5)),
            ],
            top_source_prefixes: vec![
                prefix("10.0.0.0/8", 60, Some(3)),
                prefix("10.0.0.0/24", 60, Some(3)),
            ],
            top_source_prefixes_by_bytes: vec![prefix("10.0.0.0/8", 60, Some(3))],
            top_destination_prefixes: vec![
                prefix("10.0.0.0/8", 60, Some(2)),
                prefix("198.0.0.0/8", 2, Some(1)),
                prefix("203.0.113.0/24", 50, Some(256)),
                prefix("10.0.0.0/24", 40, None),
                prefix("10.0.1.0/24", 20, Some(1)),
                prefix("2001:db8::/32", 30, Some(1)),
            ],
            top_destination_prefixes_by_bytes: vec![PrefixEntry {
                bytes: 95_000,
                ..prefix("198.51.100.0/24", 2, Some(1))
            }],
            hierarchical_share: crate::report::DEFAULT_HIERARCHICAL_SHARE,
            hierarchical_source_prefixes: Vec::new(),
            hierarchical_destination_prefixes: vec![crate::report::HierarchicalEntry {
                prefix: "203.0.113.0/24".parse().unwrap(),
                packets: 50,
                conditioned_packets: 45,
            }],
            changes: Some(Changes {
                warming_up: false,
                rises: vec![crate::report::ChangeEntry {
                    view: crate::report::ChangeView::Destinations,
                    key: "192.0.2.9".to_owned(),
                    packets: 700,
                    bytes: 70_000,
                    baseline_packets: 100,
                    baseline_bytes: 10_000,
                    score: 0.6,
                    new: false,
                }],
                new_talkers: Vec::new(),
            }),
            sketches: None,
        }
    }

    /// A prefix entry with its distinct addresses.
    fn prefix(text: &str, packets: u64, distinct: Option<u64>) -> PrefixEntry {
        PrefixEntry {
            distinct_addresses: distinct,
            ..PrefixEntry::new(text.parse().unwrap(), packets, packets * 100)
        }
    }

    /// Runs the real `promtool check metrics` on `text`; a missing promtool fails the test.
    fn promtool_check(text: &str) {
        let mut child = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("promtool must be installed (scripts/install-deps.sh)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "promtool rejected the exposition:\n{}{}\n---\n{text}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    #[test]
    fn counters_and_gauges_carry_the_report_and_process_values() {
        let process = ProcessCounters {
            snapshot_write_errors: 3,
            export_write_errors: 2,
        };
        let all = samples(&render(&fixture(), &process, 10));
        assert_eq!(value(&all, Metric::SnapshotWriteErrorsTotal, &[]), 3.0);
        assert_eq!(value(&all, Metric::ExportWriteErrorsTotal, &[]), 2.0);
        assert_eq!(value(&all, Metric::PacketsTotal, &[]), 5_000.0);
        assert_eq!(value(&all, Metric::BytesTotal, &[]), 640_000.0);
        assert_eq!(
            value(&all, Metric::TransportTruncatedPacketsTotal, &[]),
            4.0
        );
        let unparsed = Metric::UnparsedPacketsTotal;
        let link_type = [("reason", "unsupported_link_type")];
        assert_eq!(value(&all, unparsed, &link_type), 7.0);
        assert_eq!(value(&all, unparsed, &[("reason", "not_ip")]), 0.0);
        let fallback = Metric::DecapFallbackPacketsTotal;
        assert_eq!(value(&all, fallback, &[("reason", "not_ip")]), 6.0);
        assert_eq!(value(&all, fallback, &[("reason", "truncated")]), 0.0);
        // Every reason has its series, zeros included, so rates never start from nothing.
        for metric in [unparsed, fallback] {
            assert_eq!(series(&all, metric).len(), UnparsedReason::COUNT);
        }
        assert_eq!(value(&all, Metric::IntervalPackets, &[]), 120.0);
        assert_eq!(value(&all, Metric::IntervalBytes, &[]), 12_000.0);
        assert_eq!(value(&all, Metric::IntervalDistinctSources, &[]), 9.0);
        assert_eq!(value(&all, Metric::IntervalDistinctDestinations, &[]), 6.0);
        assert_eq!(value(&all, Metric::WindowDistinctSources, &[]), 4321.0);
        assert_eq!(value(&all, Metric::WindowSeconds, &[]), 3600.0);
        let start = Metric::IntervalStartTimestampSeconds;
        assert_eq!(value(&all, start, &[]), 1_700_000_000.0);
        assert_eq!(value(&all, Metric::IntervalDurationSeconds, &[]), 10.0);
        assert_eq!(value(&all, Metric::CountingExact, &[]), 0.0);
        let version = [("version", env!("CARGO_PKG_VERSION"))];
        assert_eq!(value(&all, Metric::BuildInfo, &version), 1.0);
        assert_eq!(
            value(&all, Metric::SensorInfo, &[("sensor", "edge-1")]),
            1.0
        );
    }

    #[test]
    fn top_lists_are_labelled_by_flow_and_address() {
        let all = samples(&render(&fixture(), &ProcessCounters::default(), 10));
        let flow_labels = |src, dst, src_port, dst_port, protocol| {
            [
                ("src", src),
                ("dst", dst),
                ("src_port", src_port),
                ("dst_port", dst_port),
                ("protocol", protocol),
            ]
        };
        let tcp = flow_labels("10.0.0.1", "10.0.0.2", "51000", "443", "tcp");
        assert_eq!(value(&all, Metric::TopFlowPackets, &tcp), 40.0);
        assert_eq!(value(&all, Metric::TopFlowBytes, &tcp), 4_000.0);
        let icmpv6 = flow_labels("2001:db8::1", "2001:db8::2", "0", "0", "icmpv6");
        assert_eq!(value(&all, Metric::TopFlowPackets, &icmpv6), 30.0);
        // A protocol without a common name is labelled by its number.
        let unnamed = flow_labels("10.0.0.3", "10.0.0.4", "5353", "53", "200");
        assert_eq!(value(&all, Metric::TopFlowPackets, &unnamed), 20.0);
        let heavy = flow_labels("10.9.9.9", "198.51.100.1", "80", "40000", "tcp");
        assert_eq!(value(&all, Metric::TopFlowBytes, &heavy), 90_000.0);
        // Every listed flow has both figures, whichever list holds it.
        assert_eq!(value(&all, Metric::TopFlowPackets, &heavy), 2.0);
        assert_eq!(value(&all, Metric::TopFlowBytes, &unnamed), 2_000.0);
        assert_eq!(series(&all, Metric::TopFlowPackets).len(), 4);
        assert_eq!(series(&all, Metric::TopFlowBytes).len(), 4);

        let v6 = [("address", "2001:db8::1")];
        assert_eq!(value(&all, Metric::TopSourcePackets, &v6), 30.0);
        let heavy_source = [("address", "10.9.9.9")];
        assert_eq!(value(&all, Metric::TopSourceBytes, &heavy_source), 90_000.0);
        let v6 = [("address", "2001:db8::2")];
        assert_eq!(value(&all, Metric::TopDestinationPackets, &v6), 30.0);
        let heavy_destination = [("address", "198.51.100.1")];
        let bytes = Metric::TopDestinationBytes;
        assert_eq!(value(&all, bytes, &heavy_destination), 90_000.0);
        let packets = Metric::TopDestinationPackets;
        assert_eq!(value(&all, packets, &heavy_destination), 2.0);
        assert_eq!(value(&all, bytes, &v6), 3_000.0);
        assert_eq!(value(&all, Metric::TopSourcePackets, &heavy_source), 2.0);
    }

    #[test]
    fn fan_in_and_fan_out_are_labelled_by_address_from_both_lists() {
        let all = samples(&render(&fixture(), &ProcessCounters::default(), 10));
        let fan_in = |address| {
            value(
                &all,
                Metric::TopDestinationDistinctSources,
                &[("address", address)],
            )
        };
        assert_eq!(fan_in("10.0.0.2"), 5.0);
        assert_eq!(fan_in("2001:db8::2"), 1.0);
        // Only in the by-bytes list.
        assert_eq!(fan_in("198.51.100.1"), 1.0);
        // An untracked destination has no series rather than a made-up 0.
        let in_series = series(&all, Metric::TopDestinationDistinctSources);
        assert!(
            !in_series.iter().any(|s| s.1["address"] == "10.0.0.4"),
            "{in_series:?}"
        );
        assert_eq!(in_series.len(), 3);
        let fan_out = |address| {
            value(
                &all,
                Metric::TopSourceDistinctDestinations,
                &[("address", address)],
            )
        };
        assert_eq!(fan_out("10.0.0.1"), 3.0);
        assert_eq!(fan_out("10.0.0.3"), 2.0);
        assert_eq!(fan_out("10.9.9.9"), 1.0);
        assert_eq!(series(&all, Metric::TopSourceDistinctDestinations).len(), 4);

        // --prom-top bounds them like the lists they come from.
        let first_only = samples(&render(&fixture(), &ProcessCounters::default(), 1));
        let kept: Vec<&str> = series(&first_only, Metric::TopDestinationDistinctSources)
            .iter()
            .map(|s| s.1["address"].as_str())
            .collect();
        assert_eq!(kept, ["10.0.0.2", "198.51.100.1"]);
    }

    #[test]
    fn window_series_exist_only_with_a_window() {
        let mut report = fixture();
        report.window = None;
        let all = samples(&render(&report, &ProcessCounters::default(), 10));
        assert!(series(&all, Metric::WindowDistinctSources).is_empty());
        assert!(series(&all, Metric::WindowSeconds).is_empty());
        assert_eq!(value(&all, Metric::IntervalDistinctDestinations, &[]), 6.0);
    }

    #[test]
    fn top_bounds_the_series_of_every_top_list() {
        // The first of each list: both figures of the top key by packets and by bytes.
        let first_only = samples(&render(&fixture(), &ProcessCounters::default(), 1));
        for (metric, values) in [
            (Metric::TopFlowPackets, [2.0, 40.0]),
            (Metric::TopFlowBytes, [4_000.0, 90_000.0]),
            (Metric::TopSourcePackets, [2.0, 40.0]),
            (Metric::TopSourceBytes, [4_000.0, 90_000.0]),
            (Metric::TopDestinationPackets, [2.0, 40.0]),
            (Metric::TopDestinationBytes, [4_000.0, 90_000.0]),
        ] {
            let mut kept: Vec<f64> = series(&first_only, metric).iter().map(|s| s.2).collect();
            kept.sort_by(f64::total_cmp);
            assert_eq!(kept, values, "{}", metric.name());
        }
        // Flow a is second by bytes and first by packets: one series.
        let two = samples(&render(&fixture(), &ProcessCounters::default(), 2));
        let kept = series(&two, Metric::TopFlowPackets);
        assert_eq!(kept.len(), 3);
        assert!(!kept.iter().any(|s| s.1["src"] == "10.0.0.3"), "{kept:?}");
        let none = samples(&render(&fixture(), &ProcessCounters::default(), 0));
        assert!(series(&none, Metric::TopFlowPackets).is_empty());
    }

    #[test]
    fn series_that_leave_the_top_list_disappear_at_the_next_render() {
        let first = render(&fixture(), &ProcessCounters::default(), 10);
        assert!(first.contains("src=\"10.0.0.3\""));
        let mut next = fixture();
        next.top_flows = vec![flow("192.0.2.7", "192.0.2.8", (1, 2), 17, 5)];
        next.top_flows_by_bytes = next.top_flows.clone();
        next.top_sources = vec![address("192.0.2.7", 5)];
        next.top_sources_by_bytes = next.top_sources.clone();
        next.top_destinations = vec![address("192.0.2.8", 5)];
        next.top_destinations_by_bytes = next.top_destinations.clone();
        next.top_source_prefixes = vec![prefix("192.0.2.0/24", 5, Some(1))];
        next.top_source_prefixes_by_bytes = next.top_source_prefixes.clone();
        next.top_destination_prefixes = next.top_source_prefixes.clone();
        next.top_destination_prefixes_by_bytes = next.top_source_prefixes.clone();
        next.hierarchical_destination_prefixes.clear();
        next.changes = None;
        let second = render(&next, &ProcessCounters::default(), 10);
        for old in [
            "10.0.0.",
            "2001:db8::",
            "10.9.9.9",
            "198.51.100.1",
            "203.0.113.",
            "192.0.2.9",
        ] {
            assert!(!second.contains(old), "{old} lingers in:\n{second}");
        }
        assert!(second.contains("src=\"192.0.2.7\""));
    }

    /// The fixture as a live capture shared by two readers.
    fn shared_capture() -> IntervalReport {
        let counts = |received, dropped_kernel, dropped_interface| CaptureCounts {
            received,
            dropped_kernel,
            dropped_interface,
        };
        let reader = |reader, cumulative| ReaderCapture {
            reader,
            interval: counts(5, 1, 0),
            cumulative,
        };
        IntervalReport {
            capture: Some(CaptureStats {
                interval: counts(10, 2, 0),
                cumulative: counts(5_100, 90, 7),
                readers: vec![
                    reader(0, counts(3_000, 90, 0)),
                    reader(1, counts(2_100, 0, 7)),
                ],
            }),
            ..fixture()
        }
    }

    /// A collector's counts: one listed exporter with malformed datagrams, and the others.
    fn telemetry() -> TelemetryStats {
        let counts = |datagrams, malformed: &[(&str, u64)]| ExporterCounts {
            datagrams,
            records: datagrams * 30,
            lost_datagrams: 2,
            lost_records: 60,
            template_misses: 1,
            malformed: malformed.iter().map(|&(r, n)| (r.to_owned(), n)).collect(),
        };
        TelemetryStats {
            exporters: vec![crate::report::ExporterStats {
                exporter: "192.0.2.7".parse().unwrap(),
                counts: counts(900, &[("truncated", 3), ("bad_set_length", 1)]),
            }],
            other: counts(40, &[]),
            exporters_seen: 25,
            interfaces: vec![crate::report::InterfaceStats {
                agent: "2001:db8::1".parse().unwrap(),
                if_index: 7,
                in_octets: 1 << 40,
                in_packets: 3_000,
                out_octets: 500,
                out_packets: 4,
            }],
            interfaces_untracked_records: 0,
            socket_drops: Some(12),
        }
    }

    #[test]
    fn exporters_are_labelled_by_address_and_the_rest_as_other() {
        let report = IntervalReport {
            telemetry: Some(telemetry()),
            ..fixture()
        };
        let all = samples(&render(&report, &ProcessCounters::default(), 10));
        fn exporter(name: &str) -> [(&str, &str); 1] {
            [("exporter", name)]
        }
        assert_eq!(
            value(
                &all,
                Metric::TelemetryDatagramsTotal,
                &exporter("192.0.2.7")
            ),
            900.0
        );
        assert_eq!(
            value(&all, Metric::TelemetryDatagramsTotal, &exporter("other")),
            40.0
        );
        assert_eq!(
            value(&all, Metric::TelemetryRecordsTotal, &exporter("192.0.2.7")),
            27_000.0
        );
        assert_eq!(
            value(&all, Metric::TelemetryLostRecordsTotal, &exporter("other")),
            60.0
        );
        fn malformed(reason: &str) -> [(&str, &str); 2] {
            [("exporter", "192.0.2.7"), ("reason", reason)]
        }
        assert_eq!(
            value(
                &all,
                Metric::TelemetryMalformedDatagramsTotal,
                &malformed("truncated")
            ),
            3.0
        );
        assert_eq!(
            value(
                &all,
                Metric::TelemetryMalformedDatagramsTotal,
                &malformed("bad_set_length")
            ),
            1.0
        );
        assert_eq!(
            value(&all, Metric::TelemetrySocketDroppedDatagramsTotal, &[]),
            12.0
        );
        let interface = |direction| {
            [
                ("agent", "2001:db8::1"),
                ("ifindex", "7"),
                ("direction", direction),
            ]
        };
        assert_eq!(
            value(&all, Metric::SflowInterfaceOctetsTotal, &interface("in")),
            (1u64 << 40) as f64
        );
        assert_eq!(
            value(&all, Metric::SflowInterfacePacketsTotal, &interface("out")),
            4.0
        );
        // A replay has none of them.
        let replay = samples(&render(&fixture(), &ProcessCounters::default(), 10));
        assert!(replay
            .iter()
            .all(|sample| !sample.0.starts_with("hhmon_telemetry_")
                && !sample.0.starts_with("hhmon_sflow_")));
    }

    #[test]
    fn every_metric_has_help_and_a_series_when_the_report_is_full() {
        // gather() drops families without samples, so a HELP line also proves a series.
        let full = IntervalReport {
            telemetry: Some(telemetry()),
            ..shared_capture()
        };
        let text = render(&full, &ProcessCounters::default(), 10);
        for metric in Metric::ALL {
            assert!(
                text.contains(&format!("# HELP {} {}\n", metric.name(), metric.help())),
                "{}",
                metric.name()
            );
        }
    }

    #[test]
    fn capture_counters_carry_the_cumulative_statistics_and_are_zero_for_replays() {
        let dropped = Metric::CaptureDroppedPacketsTotal;
        let received = Metric::CaptureReceivedPacketsTotal;
        for text in [
            render(&fixture(), &ProcessCounters::default(), 10),
            render_empty(),
        ] {
            let all = samples(&text);
            assert_eq!(value(&all, received, &[]), 0.0);
            assert_eq!(value(&all, dropped, &[("reason", "kernel")]), 0.0);
            assert_eq!(value(&all, dropped, &[("reason", "interface")]), 0.0);
        }
        let mut live = fixture();
        live.capture = Some(CaptureStats {
            interval: CaptureCounts {
                received: 10,
                dropped_kernel: 2,
                dropped_interface: 1,
            },
            cumulative: CaptureCounts {
                received: 5_100,
                dropped_kernel: 90,
                dropped_interface: 7,
            },
            readers: Vec::new(),
        });
        let text = render(&live, &ProcessCounters::default(), 10);
        promtool_check(&text);
        let all = samples(&text);
        assert_eq!(value(&all, received, &[]), 5_100.0);
        assert_eq!(value(&all, dropped, &[("reason", "kernel")]), 90.0);
        assert_eq!(value(&all, dropped, &[("reason", "interface")]), 7.0);
        assert_eq!(series(&all, dropped).len(), 2);
        // With one reader there is no per-reader series.
        for metric in [
            Metric::CaptureReaderReceivedPacketsTotal,
            Metric::CaptureReaderDroppedPacketsTotal,
        ] {
            assert!(series(&all, metric).is_empty());
        }
    }

    #[test]
    fn a_shared_capture_has_counters_per_reader_and_reason() {
        let text = render(&shared_capture(), &ProcessCounters::default(), 10);
        promtool_check(&text);
        let all = samples(&text);
        let received = Metric::CaptureReaderReceivedPacketsTotal;
        let dropped = Metric::CaptureReaderDroppedPacketsTotal;
        assert_eq!(value(&all, received, &[("reader", "0")]), 3_000.0);
        assert_eq!(value(&all, received, &[("reader", "1")]), 2_100.0);
        assert_eq!(series(&all, received).len(), 2);
        for (reader, kernel, interface) in [("0", 90.0, 0.0), ("1", 0.0, 7.0)] {
            let labels = |reason| [("reader", reader), ("reason", reason)];
            assert_eq!(value(&all, dropped, &labels("kernel")), kernel);
            assert_eq!(value(&all, dropped, &labels("interface")), interface);
        }
        assert_eq!(series(&all, dropped).len(), 4);
        // The whole capture's counters stay as they were.
        assert_eq!(
            value(&all, Metric::CaptureReceivedPacketsTotal, &[]),
            5_100.0
        );
    }

    #[test]
    fn hierarchical_prefixes_and_changes_have_their_series() {
        let all = samples(&render(&fixture(), &ProcessCounters::default(), 10));
        assert_eq!(
            value(
                &all,
                Metric::HierarchicalPrefixPackets,
                &[("direction", "destination"), ("prefix", "203.0.113.0/24")]
            ),
            45.0
        );
        let key = [("view", "destinations"), ("key", "192.0.2.9")];
        assert_eq!(value(&all, Metric::ChangeScore, &key), 0.6);
        assert_eq!(value(&all, Metric::ChangeRisePackets, &key), 600.0);
        // At most --prom-top rises.
        let none = samples(&render(&fixture(), &ProcessCounters::default(), 0));
        assert!(none.iter().all(|s| !s.0.starts_with("hhmon_change_")));
    }

    #[test]
    fn prefixes_are_labelled_by_prefix_and_length_and_bounded_per_length() {
        let all = samples(&render(&fixture(), &ProcessCounters::default(), 10));
        let labels = |prefix, length| [("prefix", prefix), ("length", length)];
        let packets = Metric::TopDestinationPrefixPackets;
        assert_eq!(value(&all, packets, &labels("203.0.113.0/24", "24")), 50.0);
        assert_eq!(value(&all, packets, &labels("2001:db8::/32", "32")), 30.0);
        // From the by-bytes list too, both figures.
        let bytes = Metric::TopDestinationPrefixBytes;
        assert_eq!(
            value(&all, bytes, &labels("198.51.100.0/24", "24")),
            95_000.0
        );
        assert_eq!(value(&all, packets, &labels("198.51.100.0/24", "24")), 2.0);
        assert_eq!(series(&all, packets).len(), 7);
        let distinct = Metric::TopDestinationPrefixDistinctAddresses;
        assert_eq!(
            value(&all, distinct, &labels("203.0.113.0/24", "24")),
            256.0
        );
        // Untracked: no series rather than a made-up 0.
        assert_eq!(series(&all, distinct).len(), 6);
        let sources = Metric::TopSourcePrefixPackets;
        assert_eq!(series(&all, sources).len(), 2);
        // A top of 1 keeps the first of each length of each list.
        let first = samples(&render(&fixture(), &ProcessCounters::default(), 1));
        let mut kept: Vec<String> = series(&first, packets)
            .iter()
            .map(|s| s.1["prefix"].to_string())
            .collect();
        kept.sort();
        assert_eq!(
            kept,
            [
                "10.0.0.0/8",
                "198.51.100.0/24",
                "2001:db8::/32",
                "203.0.113.0/24"
            ]
        );
    }

    #[test]
    fn exact_counting_is_flagged() {
        let mut report = fixture();
        report.counting = Counting::Exact;
        let all = samples(&render(&report, &ProcessCounters::default(), 10));
        assert_eq!(value(&all, Metric::CountingExact, &[]), 1.0);
    }

    #[test]
    fn empty_exposition_has_build_info_and_zeroed_counters() {
        let all = samples(&render_empty());
        let version = [("version", env!("CARGO_PKG_VERSION"))];
        assert_eq!(value(&all, Metric::BuildInfo, &version), 1.0);
        assert_eq!(value(&all, Metric::PacketsTotal, &[]), 0.0);
        assert_eq!(value(&all, Metric::BytesTotal, &[]), 0.0);
        assert_eq!(
            value(&all, Metric::TransportTruncatedPacketsTotal, &[]),
            0.0
        );
        assert_eq!(value(&all, Metric::SnapshotWriteErrorsTotal, &[]), 0.0);
        assert!(series(&all, Metric::IntervalPackets).is_empty());
    }

    #[test]
    fn promtool_accepts_the_exposition() {
        promtool_check(&render(&fixture(), &ProcessCounters::default(), 10));
        promtool_check(&render_empty());
        let mut empty_lists = fixture();
        empty_lists.top_flows.clear();
        empty_lists.top_sources.clear();
        promtool_check(&render(&empty_lists, &ProcessCounters::default(), 10));
    }
}
