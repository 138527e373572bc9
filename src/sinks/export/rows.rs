//! The rows of an export file: interval reports as the columns `docs/export.md` describes, and
//! those columns as one Parquet row group. Knows nothing of the tree the files go in.

use crate::report::{AddressEntry, FlowEntry, IntervalReport, LowerBound, PrefixEntry};
use base64::Engine as _;
use parquet::basic::Compression;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use std::io;
use std::sync::Arc;

/// The Parquet schema of an export file; `docs/export.md` describes each column. Columns are
/// only ever added at the end, so that readers that take them by position keep working.
pub const SCHEMA: &str = "message hhmon_export {
  required binary sensor (STRING);
  required int64 start_unix;
  required int64 interval_start (TIMESTAMP(MICROS,true));
  required int64 seconds;
  required binary kind (STRING);
  optional binary ranked_by (STRING);
  optional int32 rank;
  optional binary address (STRING);
  optional binary src (STRING);
  optional binary dst (STRING);
  optional int32 src_port;
  optional int32 dst_port;
  optional int32 protocol;
  required int64 packets;
  required int64 bytes;
  optional boolean packets_lower_bound;
  optional boolean bytes_lower_bound;
  optional int64 distinct_sources;
  optional int64 distinct_destinations;
  optional binary sources_sketch;
  optional binary destinations_sketch;
  optional int64 unparsed_packets;
  optional int64 dropped_packets;
  optional binary counting (STRING);
  optional binary prefix (STRING);
  optional int32 prefix_length;
  optional int64 distinct_addresses;
  optional binary addresses_sketch;
}";

/// The Parquet file of `reports`: one row group, Snappy-compressed.
pub(super) fn to_parquet(reports: &[IntervalReport]) -> io::Result<Vec<u8>> {
    let mut columns = Columns::default();
    for report in reports {
        columns.add(report);
    }
    write_parquet(&columns).map_err(io::Error::other)
}

/// One export file's rows, column by column, in [`SCHEMA`] order. Every row pushes exactly one
/// value (or null) to every column.
#[derive(Default)]
struct Columns {
    sensor: Vec<ByteArray>,
    start_unix: Vec<i64>,
    interval_start: Vec<i64>,
    seconds: Vec<i64>,
    kind: Vec<ByteArray>,
    ranked_by: Optional<ByteArray>,
    rank: Optional<i32>,
    address: Optional<ByteArray>,
    src: Optional<ByteArray>,
    dst: Optional<ByteArray>,
    src_port: Optional<i32>,
    dst_port: Optional<i32>,
    protocol: Optional<i32>,
    packets: Vec<i64>,
    bytes: Vec<i64>,
    packets_lower_bound: Optional<bool>,
    bytes_lower_bound: Optional<bool>,
    distinct_sources: Optional<i64>,
    distinct_destinations: Optional<i64>,
    sources_sketch: Optional<ByteArray>,
    destinations_sketch: Optional<ByteArray>,
    unparsed_packets: Optional<i64>,
    dropped_packets: Optional<i64>,
    counting: Optional<ByteArray>,
    prefix: Optional<ByteArray>,
    prefix_length: Optional<i32>,
    distinct_addresses: Optional<i64>,
    addresses_sketch: Optional<ByteArray>,
}

/// An optional column: the values present, and a definition level (1 present, 0 null) per row.
struct Optional<T> {
    values: Vec<T>,
    levels: Vec<i16>,
}

impl<T> Default for Optional<T> {
    fn default() -> Self {
        Self {
            values: Vec::new(),
            levels: Vec::new(),
        }
    }
}

impl<T> Optional<T> {
    fn push(&mut self, value: Option<T>) {
        self.levels.push(i16::from(value.is_some()));
        self.values.extend(value);
    }
}

fn text(value: impl ToString) -> ByteArray {
    ByteArray::from(value.to_string().into_bytes())
}

fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A rank from 1 out of a position from 0.
fn rank_of(position: usize) -> i32 {
    i32::try_from(position.saturating_add(1)).unwrap_or(i32::MAX)
}

/// A base64 sketch of a report as bytes; `None` for an absent, empty or undecodable one (a
/// report made by hhmon always decodes).
fn sketch(base64: Option<&str>) -> Option<ByteArray> {
    base64
        .filter(|text| !text.is_empty())
        .and_then(|text| base64::engine::general_purpose::STANDARD.decode(text).ok())
        .map(ByteArray::from)
}

/// The entries of a prefix list with their rank within their length: a snapshot's prefix list
/// is one ranked list per length (IPv4 lengths first), so the rank starts again at 1 wherever
/// the length or the address family changes (an IPv4 /32 and an IPv6 /32 are two lists).
fn ranked_per_length(list: &[PrefixEntry]) -> impl Iterator<Item = (i32, &PrefixEntry)> {
    let mut previous = None;
    let mut position = 0;
    list.iter().map(move |entry| {
        let group = (entry.prefix.address().is_ipv6(), entry.length);
        if previous == Some(group) {
            position += 1;
        } else {
            previous = Some(group);
            position = 0;
        }
        (rank_of(position), entry)
    })
}

impl Columns {
    fn add(&mut self, report: &IntervalReport) {
        self.interval_row(report);
        for (ranked_by, list) in [
            ("packets", &report.top_flows),
            ("bytes", &report.top_flows_by_bytes),
        ] {
            for (position, entry) in list.iter().enumerate() {
                self.flow_row(report, ranked_by, rank_of(position), entry);
            }
        }
        let address_lists = [
            ("source", "packets", &report.top_sources),
            ("source", "bytes", &report.top_sources_by_bytes),
            ("destination", "packets", &report.top_destinations),
            ("destination", "bytes", &report.top_destinations_by_bytes),
        ];
        for (kind, ranked_by, list) in address_lists {
            for (position, entry) in list.iter().enumerate() {
                self.address_row(report, kind, ranked_by, rank_of(position), entry);
            }
        }
        let prefix_lists = [
            ("source_prefix", "packets", &report.top_source_prefixes),
            (
                "source_prefix",
                "bytes",
                &report.top_source_prefixes_by_bytes,
            ),
            (
                "destination_prefix",
                "packets",
                &report.top_destination_prefixes,
            ),
            (
                "destination_prefix",
                "bytes",
                &report.top_destination_prefixes_by_bytes,
            ),
        ];
        for (kind, ranked_by, list) in prefix_lists {
            for (rank, entry) in ranked_per_length(list) {
                self.prefix_row(report, kind, ranked_by, rank, entry);
            }
        }
    }

    /// The columns every row has: the interval and the kind of row.
    fn start_row(&mut self, report: &IntervalReport, kind: &str) {
        let start = signed(report.interval.start_unix);
        self.sensor.push(text(&report.sensor));
        self.start_unix.push(start);
        self.interval_start.push(start.saturating_mul(1_000_000));
        self.seconds.push(signed(report.interval.seconds));
        self.kind.push(text(kind));
    }

    fn interval_row(&mut self, report: &IntervalReport) {
        self.start_row(report, "interval");
        self.ranked_by.push(None);
        self.rank.push(None);
        self.no_address();
        self.no_flow();
        self.packets.push(signed(report.totals.packets));
        self.bytes.push(signed(report.totals.bytes));
        self.packets_lower_bound.push(None);
        self.bytes_lower_bound.push(None);
        self.distinct_sources
            .push(Some(signed(report.distinct_sources)));
        self.distinct_destinations
            .push(Some(signed(report.distinct_destinations)));
        let sketches = report.sketches.as_ref();
        self.sources_sketch
            .push(sketch(sketches.map(|s| s.sources.as_str())));
        self.destinations_sketch
            .push(sketch(sketches.map(|s| s.destinations.as_str())));
        self.unparsed_packets
            .push(Some(signed(report.totals.unparsed_packets)));
        let dropped = report.capture.as_ref().map(|capture| {
            capture
                .interval
                .dropped_kernel
                .saturating_add(capture.interval.dropped_interface)
        });
        self.dropped_packets.push(dropped.map(signed));
        self.counting.push(Some(text(report.counting.as_str())));
        self.no_prefix();
    }

    fn flow_row(&mut self, report: &IntervalReport, ranked_by: &str, rank: i32, entry: &FlowEntry) {
        self.entry_row(report, "flow", ranked_by, rank);
        self.no_address();
        self.src.push(Some(text(entry.src)));
        self.dst.push(Some(text(entry.dst)));
        self.src_port.push(Some(i32::from(entry.src_port)));
        self.dst_port.push(Some(i32::from(entry.dst_port)));
        self.protocol.push(Some(i32::from(entry.protocol)));
        self.figures(entry.packets, entry.bytes, entry.lower_bound);
        self.no_fans();
        self.no_prefix();
    }

    fn address_row(
        &mut self,
        report: &IntervalReport,
        kind: &str,
        ranked_by: &str,
        rank: i32,
        entry: &AddressEntry,
    ) {
        self.entry_row(report, kind, ranked_by, rank);
        self.address.push(Some(text(entry.address)));
        self.no_flow();
        self.figures(entry.packets, entry.bytes, entry.lower_bound);
        self.distinct_sources
            .push(entry.distinct_sources.map(signed));
        self.distinct_destinations
            .push(entry.distinct_destinations.map(signed));
        self.sources_sketch
            .push(sketch(entry.distinct_sources_sketch.as_deref()));
        self.destinations_sketch
            .push(sketch(entry.distinct_destinations_sketch.as_deref()));
        self.no_prefix();
    }

    fn prefix_row(
        &mut self,
        report: &IntervalReport,
        kind: &str,
        ranked_by: &str,
        rank: i32,
        entry: &PrefixEntry,
    ) {
        self.entry_row(report, kind, ranked_by, rank);
        self.no_address();
        self.no_flow();
        self.figures(entry.packets, entry.bytes, entry.lower_bound);
        self.no_fans();
        self.prefix.push(Some(text(entry.prefix)));
        self.prefix_length.push(Some(i32::from(entry.length)));
        self.distinct_addresses
            .push(entry.distinct_addresses.map(signed));
        self.addresses_sketch
            .push(sketch(entry.distinct_addresses_sketch.as_deref()));
    }

    /// The columns every list entry has beyond [`Columns::start_row`], and the interval's own
    /// columns left null.
    fn entry_row(&mut self, report: &IntervalReport, kind: &str, ranked_by: &str, rank: i32) {
        self.start_row(report, kind);
        self.ranked_by.push(Some(text(ranked_by)));
        self.rank.push(Some(rank));
        self.unparsed_packets.push(None);
        self.dropped_packets.push(None);
        self.counting.push(None);
    }

    fn figures(&mut self, packets: u64, bytes: u64, lower_bound: LowerBound) {
        self.packets.push(signed(packets));
        self.bytes.push(signed(bytes));
        self.packets_lower_bound.push(Some(lower_bound.packets));
        self.bytes_lower_bound.push(Some(lower_bound.bytes));
    }

    fn no_address(&mut self) {
        self.address.push(None);
    }

    fn no_flow(&mut self) {
        self.src.push(None);
        self.dst.push(None);
        self.src_port.push(None);
        self.dst_port.push(None);
        self.protocol.push(None);
    }

    fn no_fans(&mut self) {
        self.distinct_sources.push(None);
        self.distinct_destinations.push(None);
        self.sources_sketch.push(None);
        self.destinations_sketch.push(None);
    }

    fn no_prefix(&mut self) {
        self.prefix.push(None);
        self.prefix_length.push(None);
        self.distinct_addresses.push(None);
        self.addresses_sketch.push(None);
    }
}

fn write_parquet(columns: &Columns) -> parquet::errors::Result<Vec<u8>> {
    let schema = Arc::new(parquet::schema::parser::parse_message_type(SCHEMA)?);
    let properties = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(concat!("hhmon ", env!("CARGO_PKG_VERSION")).to_owned())
            .build(),
    );
    let mut writer = SerializedFileWriter::new(Vec::new(), schema, properties)?;
    let mut group = writer.next_row_group()?;
    let mut index = 0;
    while let Some(mut column) = group.next_column()? {
        let c = columns;
        match index {
            0 => required::<ByteArrayType>(&mut column, &c.sensor),
            1 => required::<Int64Type>(&mut column, &c.start_unix),
            2 => required::<Int64Type>(&mut column, &c.interval_start),
            3 => required::<Int64Type>(&mut column, &c.seconds),
            4 => required::<ByteArrayType>(&mut column, &c.kind),
            5 => optional::<ByteArrayType>(&mut column, &c.ranked_by),
            6 => optional::<Int32Type>(&mut column, &c.rank),
            7 => optional::<ByteArrayType>(&mut column, &c.address),
            8 => optional::<ByteArrayType>(&mut column, &c.src),
            9 => optional::<ByteArrayType>(&mut column, &c.dst),
            10 => optional::<Int32Type>(&mut column, &c.src_port),
            11 => optional::<Int32Type>(&mut column, &c.dst_port),
            12 => optional::<Int32Type>(&mut column, &c.protocol),
            13 => required::<Int64Type>(&mut column, &c.packets),
            14 => required::<Int64Type>(&mut column, &c.bytes),
            15 => optional::<BoolType>(&mut column, &c.packets_lower_bound),
            16 => optional::<BoolType>(&mut column, &c.bytes_lower_bound),
            17 => optional::<Int64Type>(&mut column, &c.distinct_sources),
            18 => optional::<Int64Type>(&mut column, &c.distinct_destinations),
            19 => optional::<ByteArrayType>(&mut column, &c.sources_sketch),
            20 => optional::<ByteArrayType>(&mut column, &c.destinations_sketch),
            21 => optional::<Int64Type>(&mut column, &c.unparsed_packets),
            22 => optional::<Int64Type>(&mut column, &c.dropped_packets),
            23 => optional::<ByteArrayType>(&mut column, &c.counting),
            24 => optional::<ByteArrayType>(&mut column, &c.prefix),
            25 => optional::<Int32Type>(&mut column, &c.prefix_length),
            26 => optional::<Int64Type>(&mut column, &c.distinct_addresses),
            27 => optional::<ByteArrayType>(&mut column, &c.addresses_sketch),
            _ => Err(parquet::errors::ParquetError::General(format!(
                "the export schema has more columns than hhmon writes ({index})"
            ))),
        }?;
        column.close()?;
        index += 1;
    }
    group.close()?;
    writer.into_inner()
}

fn required<T: parquet::data_type::DataType>(
    column: &mut parquet::file::writer::SerializedColumnWriter<'_>,
    values: &[T::T],
) -> parquet::errors::Result<()> {
    column
        .typed::<T>()
        .write_batch(values, None, None)
        .map(drop)
}

fn optional<T: parquet::data_type::DataType>(
    column: &mut parquet::file::writer::SerializedColumnWriter<'_>,
    values: &Optional<T::T>,
) -> parquet::errors::Result<()> {
    column
        .typed::<T>()
        .write_batch(&values.values, Some(&values.levels), None)
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use serde_json::{json, Value};
    use std::io::Write as _;

    fn exported(report: &IntervalReport) -> Vec<Value> {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&to_parquet(std::slice::from_ref(report)).unwrap())
            .unwrap();
        SerializedFileReader::new(file)
            .unwrap()
            .get_row_iter(None)
            .unwrap()
            .map(|row| row.unwrap().to_json_value())
            .collect()
    }

    #[test]
    fn prefix_rows_are_ranked_within_their_length_and_address_family() {
        let entry = |text: &str, packets: u64| PrefixEntry {
            distinct_addresses: Some(packets),
            ..PrefixEntry::new(text.parse().unwrap(), packets, packets * 100)
        };
        let mut report = crate::sinks::snapshot::tests::report(100);
        // An IPv4 /32 list right before an IPv6 /32 list: two lists of one length.
        report.top_destination_prefixes = vec![
            entry("10.0.0.0/8", 9),
            entry("192.0.0.0/8", 3),
            entry("10.1.2.3/32", 5),
            entry("2001:db8::/32", 4),
            entry("2001:db9::/32", 2),
        ];
        let rows: Vec<Value> = exported(&report)
            .into_iter()
            .filter(|row| row["kind"] == "destination_prefix")
            .collect();
        let ranks: Vec<(&str, i64, i64)> = rows
            .iter()
            .map(|row| {
                (
                    row["prefix"].as_str().unwrap(),
                    row["prefix_length"].as_i64().unwrap(),
                    row["rank"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            ranks,
            [
                ("10.0.0.0/8", 8, 1),
                ("192.0.0.0/8", 8, 2),
                ("10.1.2.3/32", 32, 1),
                ("2001:db8::/32", 32, 1),
                ("2001:db9::/32", 32, 2),
            ]
        );
        let first = &rows[0];
        assert_eq!(first["ranked_by"], json!("packets"));
        assert_eq!(
            (
                &first["packets"],
                &first["bytes"],
                &first["distinct_addresses"]
            ),
            (&json!(9), &json!(900), &json!(9))
        );
        for column in ["address", "src", "distinct_sources", "addresses_sketch"] {
            assert!(first[column].is_null(), "{column}: {first}");
        }
        // Rows of other kinds have no prefix columns.
        for row in exported(&report) {
            if row["kind"] != "destination_prefix" {
                assert!(
                    row["prefix"].is_null() && row["prefix_length"].is_null(),
                    "{row}"
                );
            }
        }
    }
}
