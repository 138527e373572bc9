//! The export sink: every closed interval into a directory tree a data lake can hold, for
//! Spark and its peers to merge across sensors. Knows nothing of how reports are computed or
//! who reads the tree.
//!
//! Layout under the export directory (Hive-style partitions, Parquet files):
//! - `date=YYYY-MM-DD/sensor=NAME/hhmon-<start_unix>.parquet`: the intervals of one roll period
//!   (an hour by default) of one sensor, `start_unix` being that of its first interval, 12
//!   digits. One row group; its rows are described in `docs/export.md`. `NAME` is the sensor
//!   name with every byte outside `[A-Za-z0-9._-]` written `%XX`, as Hive escapes partition
//!   values.
//! - `.hhmon-staging/sensor=NAME/<period_start>/hhmon-<start_unix>.json`: the intervals of a period
//!   not yet published, each a snapshot (`docs/snapshot.schema.json`) written atomically. Spark,
//!   Hive, Trino and `hdfs dfs -put` skip names starting with a dot, so readers never see one.
//!
//! A period is published when an interval of a later period arrives, and at the end of a run:
//! its staged intervals become one Parquet file, written under a hidden temporary name and
//! renamed into place, then the staging directory of the period is renamed to `.published` and
//! removed. A crash (kill -9, power cut) therefore loses nothing that was staged: the next
//! writer for the same sensor publishes what it finds. Publishing a period again writes the
//! same file name over the same content, so a crash between the rename of the file and the
//! removal of the staging directory yields no duplicate. A run that ends in the middle of a
//! period publishes it; a later run adds a second file for that period, named by its own first
//! interval. A failed write (full disk, read-only directory) leaves the staged intervals in
//! place, to be published by the next write that succeeds.
//!
//! Durability follows the snapshots' ([`Durability`]): a live capture fsyncs every staged file
//! and every published file and directory; a replay settles the tree once at its end.
//!
//! What a published file holds, row by row, is the `rows` submodule's business.

mod rows;

pub use rows::SCHEMA;

use super::snapshot::{self, replace_atomically, Durability};
use crate::report::IntervalReport;
use rows::to_parquet;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

const STAGING: &str = ".hhmon-staging";
const PUBLISHED: &str = ".published";
const PREFIX: &str = "hhmon-";
const STAGED_SUFFIX: &str = ".json";
const EXPORT_SUFFIX: &str = ".parquet";
const SECONDS_PER_DAY: u64 = 86_400;

/// The default roll period: one file per sensor and hour.
pub const DEFAULT_ROLL: Duration = Duration::from_secs(3600);

/// Errors of the export sink. Each names the file or directory and the cause.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A directory of the tree could not be created, listed or synced.
    #[error("export directory {path}: {source}")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// An interval could not be staged, or a period could not be published; what was staged
    /// stays staged.
    #[error("cannot write export file {path}: {source}")]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A staged interval could not be read back. It is left out of the published file and
    /// removed with its period.
    #[error("cannot read staged interval {path}: {reason}")]
    Staged {
        /// The staged file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl From<snapshot::Error> for Error {
    fn from(error: snapshot::Error) -> Self {
        match error {
            snapshot::Error::Directory { path, source }
            | snapshot::Error::Remove { path, source } => Error::Directory { path, source },
            snapshot::Error::Write { path, source } => Error::Write { path, source },
        }
    }
}

/// Whether `roll` can be an export roll period: whole seconds that divide a day, so that a
/// period never spans two dates.
#[must_use]
pub fn is_valid_roll(roll: Duration) -> bool {
    let seconds = roll.as_secs();
    roll.subsec_nanos() == 0 && seconds > 0 && SECONDS_PER_DAY % seconds == 0
}

/// Writes interval reports into an export tree, for one sensor.
#[derive(Debug)]
pub struct ExportWriter {
    root: PathBuf,
    /// `sensor=NAME`: the sensor's partition directory, also its staging directory.
    partition: String,
    staging: PathBuf,
    roll_secs: u64,
    durability: Durability,
}

impl ExportWriter {
    /// A writer into the tree at `root` (created if missing) for `sensor`, one file per
    /// `roll` (which [`is_valid_roll`] must accept; others are taken as an hour). Leftovers of
    /// a crashed writer are cleaned up; the periods it staged are published with the next
    /// write or at [`ExportWriter::finish`]. The tree below `root` is made as writes need it,
    /// so a root that is full or read-only fails each write, as a snapshot directory does,
    /// rather than the start.
    ///
    /// # Errors
    ///
    /// [`Error::Directory`] when `root` cannot be created, or a crashed writer's leftovers
    /// cannot be listed or removed.
    pub fn new(
        root: &Path,
        sensor: &str,
        roll: Duration,
        durability: Durability,
    ) -> Result<Self, Error> {
        fs::create_dir_all(root).map_err(|source| Error::Directory {
            path: root.to_path_buf(),
            source,
        })?;
        let partition = format!("sensor={}", escape_partition_value(sensor));
        let roll_secs = if is_valid_roll(roll) {
            roll.as_secs()
        } else {
            DEFAULT_ROLL.as_secs()
        };
        let writer = Self {
            staging: root.join(STAGING).join(&partition),
            root: root.to_path_buf(),
            partition,
            roll_secs,
            durability,
        };
        for name in writer.staged_names()? {
            if name.ends_with(PUBLISHED) {
                let path = writer.staging.join(name);
                fs::remove_dir_all(&path).map_err(|source| Error::Directory { path, source })?;
            }
        }
        Ok(writer)
    }

    /// The file the period starting at `period_start`, whose first interval starts at
    /// `first_start`, is published as.
    pub fn path_for(&self, period_start: u64, first_start: u64) -> PathBuf {
        self.partition_dir(period_start)
            .join(format!("{PREFIX}{first_start:012}{EXPORT_SUFFIX}"))
    }

    /// Stages `report`, then publishes every staged period that ended before its interval
    /// started.
    ///
    /// # Errors
    ///
    /// [`Error::Write`] when the report cannot be staged or a period published (what was
    /// staged before stays staged), [`Error::Directory`], [`Error::Staged`].
    pub fn write(&mut self, report: &IntervalReport) -> Result<(), Error> {
        let start = report.interval.start_unix;
        let period = start - start % self.roll_secs;
        let staged = self.stage(period, report);
        let published = self.publish_before(Some(period));
        staged.and(published)
    }

    /// Publishes every staged period, the current one included, and makes the tree durable.
    ///
    /// # Errors
    ///
    /// As [`ExportWriter::write`]; a period that fails stays staged for the next writer.
    pub fn finish(&mut self) -> Result<(), Error> {
        self.publish_before(None)?;
        if self.durability == Durability::AtEnd {
            snapshot::sync_file_system(&self.root).map_err(|source| Error::Directory {
                path: self.root.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// The names in the sensor's staging directory; none when it does not exist (yet).
    fn staged_names(&self) -> Result<Vec<String>, Error> {
        let listing_error = |source| Error::Directory {
            path: self.staging.clone(),
            source,
        };
        let entries = match fs::read_dir(&self.staging) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            entries => entries.map_err(listing_error)?,
        };
        let mut names = Vec::new();
        for entry in entries {
            let name = entry.map_err(listing_error)?.file_name();
            names.extend(name.to_str().map(str::to_owned));
        }
        Ok(names)
    }

    fn each(&self) -> bool {
        self.durability == Durability::EachSnapshot
    }

    fn partition_dir(&self, period_start: u64) -> PathBuf {
        let date = humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + Duration::from_secs(period_start),
        )
        .to_string();
        let day = date.get(..10).unwrap_or(&date);
        self.root.join(format!("date={day}")).join(&self.partition)
    }

    fn stage(&self, period: u64, report: &IntervalReport) -> Result<(), Error> {
        let dir = self.staging.join(period.to_string());
        create_dirs(&dir, self.each())?;
        let path = dir.join(format!(
            "{PREFIX}{:012}{STAGED_SUFFIX}",
            report.interval.start_unix
        ));
        let mut json = snapshot::render(report).map_err(|error| Error::Write {
            path: path.clone(),
            source: error.into(),
        })?;
        json.push(b'\n');
        replace_atomically(&path, &json, self.each())?;
        if self.each() {
            sync_dir(&dir)?;
        }
        Ok(())
    }

    /// Publishes the staged periods that start before `before` (all with `None`), oldest first;
    /// stops at the first that fails.
    fn publish_before(&self, before: Option<u64>) -> Result<(), Error> {
        let mut periods: Vec<u64> = self
            .staged_names()?
            .iter()
            .filter_map(|name| name.parse().ok())
            .filter(|&period| before.is_none_or(|before| period < before))
            .collect();
        periods.sort_unstable();
        let mut first_error = None;
        for period in periods {
            if let Err(error) = self.publish(period) {
                // A bad staged file must not hold the others back; a write error will fail the
                // next period too, so the first one is what to report.
                let keep_going = matches!(error, Error::Staged { .. });
                first_error.get_or_insert(error);
                if !keep_going {
                    break;
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn publish(&self, period: u64) -> Result<(), Error> {
        let dir = self.staging.join(period.to_string());
        let (reports, unreadable) = read_staged(&dir)?;
        if let Some(first) = reports.first() {
            let path = self.path_for(period, first.interval.start_unix);
            let bytes = to_parquet(&reports).map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })?;
            let partition = path.parent().unwrap_or(&self.root).to_path_buf();
            create_dirs(&partition, self.each())?;
            replace_atomically(&path, &bytes, self.each())?;
            if self.each() {
                sync_dir(&partition)?;
            }
        }
        let published = self.staging.join(format!("{period}{PUBLISHED}"));
        let remove_error = |source| Error::Directory {
            path: dir.clone(),
            source,
        };
        fs::rename(&dir, &published).map_err(remove_error)?;
        if self.each() {
            sync_dir(&self.staging)?;
        }
        fs::remove_dir_all(&published).map_err(remove_error)?;
        unreadable.map_or(Ok(()), Err)
    }
}

/// The staged reports of one period in time order, and the first file that could not be read.
fn read_staged(dir: &Path) -> Result<(Vec<IntervalReport>, Option<Error>), Error> {
    let listing_error = |source| Error::Directory {
        path: dir.to_path_buf(),
        source,
    };
    let mut reports = Vec::new();
    let mut unreadable = None;
    for entry in fs::read_dir(dir).map_err(listing_error)? {
        let path = entry.map_err(listing_error)?.path();
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default();
        // Temporary files of an interrupted write start with a dot; they go with the period.
        if !(name.starts_with(PREFIX) && name.ends_with(STAGED_SUFFIX)) {
            continue;
        }
        let read = fs::read(&path)
            .map_err(|error| error.to_string())
            .and_then(|bytes| {
                serde_json::from_slice::<IntervalReport>(&bytes).map_err(|error| error.to_string())
            });
        match read {
            Ok(report) => reports.push(report),
            Err(reason) => {
                unreadable.get_or_insert(Error::Staged { path, reason });
            }
        }
    }
    reports.sort_by_key(|report| report.interval.start_unix);
    Ok((reports, unreadable))
}

fn create_dirs(dir: &Path, sync: bool) -> Result<(), Error> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|source| Error::Directory {
        path: dir.to_path_buf(),
        source,
    })?;
    if sync {
        // The new directory entries, up to the export root's parent at most three levels up.
        for ancestor in dir.ancestors().skip(1).take(3) {
            sync_dir(ancestor)?;
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| Error::Directory {
            path: dir.to_path_buf(),
            source,
        })
}

/// A partition value as Hive writes it in a path: bytes outside `[A-Za-z0-9._-]` as `%XX`.
fn escape_partition_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-') {
            escaped.push(char::from(byte));
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::snapshot::tests::report;
    use base64::Engine as _;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::{Field, Row};

    const ROLL: Duration = Duration::from_secs(10);

    fn sensor_report(start_unix: u64) -> IntervalReport {
        IntervalReport {
            sensor: "edge-1".into(),
            ..report(start_unix)
        }
    }

    fn writer(root: &Path) -> ExportWriter {
        ExportWriter::new(root, "edge-1", ROLL, Durability::EachSnapshot).unwrap()
    }

    /// Every Parquet file under `root`, relative, sorted; hidden paths included.
    fn files(root: &Path) -> Vec<String> {
        let mut found = Vec::new();
        let mut pending = vec![root.to_path_buf()];
        while let Some(dir) = pending.pop() {
            for entry in fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    found.push(path.strip_prefix(root).unwrap().display().to_string());
                }
            }
        }
        found.sort();
        found
    }

    fn rows(path: &Path) -> Vec<Row> {
        let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 1);
        reader
            .get_row_iter(None)
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn field<'a>(row: &'a Row, name: &str) -> &'a Field {
        row.get_column_iter()
            .find(|(column, _)| column.as_str() == name)
            .map(|(_, value)| value)
            .unwrap_or_else(|| panic!("no column {name}"))
    }

    fn text_of(row: &Row, name: &str) -> String {
        match field(row, name) {
            Field::Str(text) => text.clone(),
            Field::Null => String::new(),
            other => panic!("{name} is {other:?}"),
        }
    }

    fn long(row: &Row, name: &str) -> i64 {
        match field(row, name) {
            Field::Long(value) => *value,
            Field::Int(value) => i64::from(*value),
            Field::TimestampMicros(value) => *value,
            other => panic!("{name} is {other:?}"),
        }
    }

    fn binary(row: &Row, name: &str) -> Option<Vec<u8>> {
        match field(row, name) {
            Field::Bytes(bytes) => Some(bytes.data().to_vec()),
            Field::Null => None,
            other => panic!("{name} is {other:?}"),
        }
    }

    #[test]
    fn a_period_is_published_as_one_parquet_file_once_a_later_interval_arrives() {
        let root = tempfile::tempdir().unwrap();
        let mut export = writer(root.path());
        export.write(&sensor_report(100)).unwrap();
        export.write(&sensor_report(105)).unwrap();
        let published = "date=1970-01-01/sensor=edge-1/hhmon-000000000100.parquet";
        assert!(!files(root.path()).iter().any(|file| file == published));
        export.write(&sensor_report(110)).unwrap();
        let all = files(root.path());
        assert!(all.iter().any(|file| file == published), "{all:?}");

        let rows = rows(&root.path().join(published));
        // Per interval: its own row, and one row per entry of its six lists.
        assert_eq!(rows.len(), 2 * (1 + 6));
        let interval = &rows[0];
        let expected = sensor_report(100);
        assert_eq!(text_of(interval, "sensor"), "edge-1");
        assert_eq!(text_of(interval, "kind"), "interval");
        assert_eq!(long(interval, "start_unix"), 100);
        assert_eq!(long(interval, "interval_start"), 100_000_000);
        assert_eq!(long(interval, "packets"), 12);
        assert_eq!(long(interval, "bytes"), 3456);
        assert_eq!(long(interval, "unparsed_packets"), 1);
        let sources = expected.sketches.as_ref().unwrap().sources.as_str();
        assert_eq!(
            binary(interval, "sources_sketch"),
            Some(
                base64::engine::general_purpose::STANDARD
                    .decode(sources)
                    .unwrap()
            )
        );
        let kinds: Vec<(String, String)> = rows[..7]
            .iter()
            .map(|row| (text_of(row, "kind"), text_of(row, "ranked_by")))
            .collect();
        let expected_kinds = [
            ("interval", ""),
            ("flow", "packets"),
            ("flow", "bytes"),
            ("source", "packets"),
            ("source", "bytes"),
            ("destination", "packets"),
            ("destination", "bytes"),
        ];
        assert_eq!(
            kinds,
            expected_kinds.map(|(kind, by)| (kind.to_owned(), by.to_owned()))
        );
        let flow = &rows[1];
        assert_eq!(text_of(flow, "src"), "192.0.2.1");
        assert_eq!(text_of(flow, "dst"), "2001:db8::1");
        assert_eq!(long(flow, "src_port"), 443);
        assert_eq!(long(flow, "protocol"), 6);
        assert_eq!(long(flow, "rank"), 1);
        assert_eq!((long(flow, "packets"), long(flow, "bytes")), (11, 3000));
        assert_eq!(text_of(&rows[5], "address"), "192.0.2.1");
        assert_eq!(long(&rows[7], "start_unix"), 105);

        // The interval of the open period is published at the end.
        export.finish().unwrap();
        assert!(files(root.path())
            .iter()
            .any(|file| file == "date=1970-01-01/sensor=edge-1/hhmon-000000000110.parquet"));
        assert!(files(root.path())
            .iter()
            .all(|file| !file.contains(".hhmon-staging")));
    }

    #[test]
    fn what_a_killed_writer_staged_is_published_by_the_next_one() {
        let root = tempfile::tempdir().unwrap();
        let mut killed = writer(root.path());
        killed.write(&sensor_report(100)).unwrap();
        killed.write(&sensor_report(101)).unwrap();
        // Dropped without `finish`, as kill -9 would leave it.
        drop(killed);
        assert!(files(root.path())
            .iter()
            .all(|file| file.starts_with(STAGING)));

        let mut next = writer(root.path());
        next.write(&sensor_report(102)).unwrap();
        next.finish().unwrap();
        let rows = rows(
            &root
                .path()
                .join("date=1970-01-01/sensor=edge-1/hhmon-000000000100.parquet"),
        );
        let intervals: Vec<i64> = rows
            .iter()
            .filter(|row| text_of(row, "kind") == "interval")
            .map(|row| long(row, "start_unix"))
            .collect();
        assert_eq!(intervals, [100, 101, 102]);
    }

    #[test]
    fn publishing_again_after_a_crash_before_the_cleanup_writes_no_duplicate() {
        let root = tempfile::tempdir().unwrap();
        let mut export = writer(root.path());
        export.write(&sensor_report(100)).unwrap();
        export.write(&sensor_report(101)).unwrap();
        let staged = root.path().join(STAGING).join("sensor=edge-1").join("100");
        let copy = root.path().join("copy");
        fs::create_dir(&copy).unwrap();
        for entry in fs::read_dir(&staged).unwrap() {
            let path = entry.unwrap().path();
            fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
        }
        export.finish().unwrap();
        // The crash came after the rename of the file, before the staging was removed.
        fs::rename(&copy, &staged).unwrap();

        writer(root.path()).finish().unwrap();
        let published: Vec<String> = files(root.path())
            .into_iter()
            .filter(|file| file.ends_with(".parquet"))
            .collect();
        assert_eq!(
            published,
            ["date=1970-01-01/sensor=edge-1/hhmon-000000000100.parquet"]
        );
        let path = root.path().join(&published[0]);
        assert_eq!(rows(&path).len(), 2 * 7);
    }

    #[test]
    fn a_period_that_cannot_be_published_stays_staged_until_it_can() {
        let root = tempfile::tempdir().unwrap();
        let mut export = writer(root.path());
        // A file where the date directory goes: the publish fails, as on a read-only or full
        // file system, even for root.
        let blocker = root.path().join("date=1970-01-01");
        fs::write(&blocker, b"").unwrap();
        export.write(&sensor_report(100)).unwrap();
        let error = export.write(&sensor_report(110)).unwrap_err();
        assert!(error.to_string().contains("date=1970-01-01"), "{error}");
        assert!(export.finish().is_err());
        assert!(!files(root.path())
            .iter()
            .any(|file| file.ends_with(".parquet")));

        fs::remove_file(&blocker).unwrap();
        export.write(&sensor_report(120)).unwrap();
        export.finish().unwrap();
        let published: Vec<String> = files(root.path())
            .into_iter()
            .filter(|file| file.ends_with(".parquet"))
            .collect();
        assert_eq!(published.len(), 3, "{published:?}");
    }

    #[test]
    fn a_bad_staged_file_is_reported_and_does_not_hold_back_its_period() {
        let root = tempfile::tempdir().unwrap();
        let mut export = writer(root.path());
        export.write(&sensor_report(100)).unwrap();
        let bad = root
            .path()
            .join(STAGING)
            .join("sensor=edge-1/100/hhmon-000000000101.json");
        fs::write(&bad, b"{not json").unwrap();
        let error = export.finish().unwrap_err();
        assert!(matches!(error, Error::Staged { .. }), "{error}");
        let rows = rows(
            &root
                .path()
                .join("date=1970-01-01/sensor=edge-1/hhmon-000000000100.parquet"),
        );
        assert_eq!(rows.len(), 7);
    }

    #[test]
    fn periods_are_whole_seconds_that_divide_a_day() {
        for seconds in [1, 10, 60, 600, 3600, 7200, 86_400] {
            assert!(is_valid_roll(Duration::from_secs(seconds)), "{seconds}");
        }
        for roll in [
            Duration::ZERO,
            Duration::from_secs(7),
            Duration::from_secs(86_401),
            Duration::from_millis(1500),
        ] {
            assert!(!is_valid_roll(roll), "{roll:?}");
        }
    }

    #[test]
    fn partitions_are_dated_by_the_period_start_in_utc() {
        let root = tempfile::tempdir().unwrap();
        let export = writer(root.path());
        assert_eq!(
            export.path_for(1_700_000_000, 1_700_000_003),
            root.path()
                .join("date=2023-11-14/sensor=edge-1/hhmon-001700000003.parquet")
        );
        assert_eq!(escape_partition_value("a b/c=d%"), "a%20b%2Fc%3Dd%25");
        assert_eq!(escape_partition_value("edge-1.fra_2"), "edge-1.fra_2");
    }
}
