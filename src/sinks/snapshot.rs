//! The JSON snapshot sink: one file per closed interval, written atomically, with a `latest.json`
//! copy and optional rotation. Knows nothing of how reports are computed.
//!
//! Layout of the directory:
//! - `hhmon-<start_unix>.json`: one interval, `start_unix` zero-padded to 12 digits so that
//!   lexical order is time order (until the year 33658; rotation compares the numbers). Compact JSON, one object, then a
//!   newline; its shape is `docs/snapshot.schema.json`.
//! - `latest.json`: a copy of the snapshot written last.
//! - `.<name>.tmp`: a file being written. Readers never see one under a final name: it is
//!   written whole, then renamed over the final name.
//!
//! When the files reach the disk for good is the [`Durability`]: a live capture fsyncs every
//! file before its rename and the directory after it, so a power cut loses at most the
//! interval being written; a replay, which can be run again, settles the whole directory once
//! at its end ([`SnapshotWriter::settle`], one `syncfs`): for a replay of 59 short intervals
//! that cuts what the snapshots cost from about 41 ms to about 7.5 ms (docs/BENCHMARKS.md,
//! "Snapshot durability").
//!
//! One writer per directory: a new writer removes the temporary files a crashed one left.
//!
//! Rotation ([`Retention`]) runs after each write, by count and by age. Age is measured in
//! packet time, from the newest interval on disk, so a replay of an old capture rotates exactly
//! as the live capture did, and a wrong wall clock cannot empty the directory.

use crate::report::IntervalReport;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

const PREFIX: &str = "hhmon-";
const SUFFIX: &str = ".json";
/// Digits of `start_unix` in a file name.
const DIGITS: usize = 12;
const LATEST: &str = "latest.json";

/// One report as a snapshot holds it: compact JSON, one object, without the file's final
/// newline. What the JSON API serves too, so a report fetched and a snapshot read are the
/// same bytes.
///
/// # Errors
///
/// Whatever serde_json reports; the report's types all serialize, so in practice none.
pub fn render(report: &IntervalReport) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(report)
}

/// Errors of the snapshot sink. Each names the file or directory and the cause.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The directory could not be created or listed.
    #[error("snapshot directory {path}: {source}")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A snapshot could not be written (full disk, directory gone or read-only, ...). The
    /// previous file of that name, if any, is left as it was.
    #[error("cannot write snapshot {path}: {source}")]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A stale temporary file or an old snapshot could not be removed. The new snapshot and
    /// `latest.json` were written.
    #[error("cannot remove {path}: {source}")]
    Remove {
        /// The file that stays.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// Which interval files survive a write; `latest.json` always does. The default keeps all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Keep only the newest this many interval files (`Some(0)` leaves just `latest.json`).
    pub count: Option<usize>,
    /// Keep only interval files whose start is at most this far behind the newest one's start.
    pub age: Option<Duration>,
}

/// When written snapshots are made durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// Every snapshot before the next is written (fsync of the file, then of the directory).
    #[default]
    EachSnapshot,
    /// Once, when [`SnapshotWriter::settle`] is called.
    AtEnd,
}

/// Writes interval reports as JSON files into one directory.
#[derive(Debug)]
pub struct SnapshotWriter {
    dir: PathBuf,
    retention: Retention,
    durability: Durability,
}

impl SnapshotWriter {
    /// A writer into `dir`, created if missing; stale temporary files from a crash are removed.
    /// After each write, interval files beyond `retention` are removed; files are made durable
    /// as `durability` says.
    ///
    /// # Errors
    ///
    /// [`Error::Directory`] when `dir` cannot be created or listed, [`Error::Remove`] when a
    /// stale temporary file cannot be removed.
    pub fn new(dir: &Path, retention: Retention, durability: Durability) -> Result<Self, Error> {
        let directory_error = |source| Error::Directory {
            path: dir.to_path_buf(),
            source,
        };
        fs::create_dir_all(dir).map_err(directory_error)?;
        for entry in fs::read_dir(dir).map_err(directory_error)? {
            let path = entry.map_err(directory_error)?.path();
            if path
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(is_temporary)
            {
                fs::remove_file(&path).map_err(|source| Error::Remove { path, source })?;
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            retention,
            durability,
        })
    }

    /// The file a report for the interval starting at `start_unix` goes to.
    pub fn path_for(&self, start_unix: u64) -> PathBuf {
        self.dir.join(snapshot_name(start_unix))
    }

    /// Writes `report` to its interval file and to `latest.json`, then applies rotation.
    /// Returns the interval file written. A report for an interval already on disk replaces it.
    ///
    /// # Errors
    ///
    /// [`Error::Write`] when either file cannot be written (nothing half-written is left
    /// behind), [`Error::Directory`] or [`Error::Remove`] when rotation fails.
    pub fn write(&mut self, report: &IntervalReport) -> Result<PathBuf, Error> {
        let path = self.path_for(report.interval.start_unix);
        let mut json = render(report).map_err(|error| Error::Write {
            path: path.clone(),
            source: error.into(),
        })?;
        json.push(b'\n');
        let each = self.durability == Durability::EachSnapshot;
        replace_atomically(&path, &json, each)?;
        replace_atomically(&self.dir.join(LATEST), &json, each)?;
        if each {
            // Makes both renames durable.
            File::open(&self.dir)
                .and_then(|dir| dir.sync_all())
                .map_err(|source| Error::Write {
                    path: self.dir.clone(),
                    source,
                })?;
        }
        if self.retention != Retention::default() {
            self.rotate()?;
        }
        Ok(path)
    }

    /// Makes every snapshot written so far durable, with their renames: one `syncfs` of the
    /// directory's file system. Nothing to do when each write was made durable already.
    ///
    /// # Errors
    ///
    /// [`Error::Write`] naming the directory when the file system cannot be synced (its
    /// files may then not survive a power cut).
    pub fn settle(&self) -> Result<(), Error> {
        if self.durability == Durability::EachSnapshot {
            return Ok(());
        }
        sync_file_system(&self.dir).map_err(|source| Error::Write {
            path: self.dir.clone(),
            source,
        })
    }

    /// Removes the interval files the retention does not keep. Sorts by number, not name, so
    /// that a corrupt far-future timestamp with more than 12 digits still counts as the newest.
    fn rotate(&self) -> Result<(), Error> {
        let directory_error = |source| Error::Directory {
            path: self.dir.clone(),
            source,
        };
        let mut snapshots = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(directory_error)? {
            let name = entry.map_err(directory_error)?.file_name();
            if let Some(start) = name.to_str().and_then(snapshot_start) {
                snapshots.push((start, name));
            }
        }
        snapshots.sort_unstable();
        let over_count = self
            .retention
            .count
            .map_or(0, |keep| snapshots.len().saturating_sub(keep));
        let too_old = match (self.retention.age, snapshots.last()) {
            (Some(age), Some(&(newest, _))) => {
                let oldest_kept = newest.saturating_sub(age.as_secs());
                snapshots.partition_point(|&(start, _)| start < oldest_kept)
            }
            _ => 0,
        };
        for (_, name) in snapshots.drain(..over_count.max(too_old)) {
            let path = self.dir.join(name);
            fs::remove_file(&path).map_err(|source| Error::Remove { path, source })?;
        }
        Ok(())
    }
}

fn snapshot_name(start_unix: u64) -> String {
    format!("{PREFIX}{start_unix:0DIGITS$}{SUFFIX}")
}

/// The interval start of a snapshot file name: `hhmon-`, at least 12 digits, `.json`.
/// Temporary files start with a dot and never match.
fn snapshot_start(name: &str) -> Option<u64> {
    name.strip_prefix(PREFIX)
        .and_then(|rest| rest.strip_suffix(SUFFIX))
        .filter(|digits| digits.len() >= DIGITS && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse().ok())
}

fn is_temporary(name: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|rest| rest.strip_suffix(".tmp"))
        .is_some_and(|final_name| snapshot_start(final_name).is_some() || final_name == LATEST)
}

/// Makes everything written on the file system holding `dir` durable: one `syncfs`.
pub(crate) fn sync_file_system(dir: &Path) -> io::Result<()> {
    File::open(dir).and_then(|dir| nix::unistd::syncfs(&dir).map_err(io::Error::from))
}

/// Writes `bytes` to a temporary file beside `path`, fsyncs it if `sync`, and renames it over
/// `path`.
pub(crate) fn replace_atomically(path: &Path, bytes: &[u8], sync: bool) -> Result<(), Error> {
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{file_name}.tmp"));
    let written = File::create(&temporary)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            if sync {
                file.sync_all()?;
            }
            Ok(())
        })
        .and_then(|()| fs::rename(&temporary, path));
    written.map_err(|source| {
        // Best effort: the next writer's `new` removes it otherwise.
        let _ = fs::remove_file(&temporary);
        Error::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::decode::UnparsedReason;
    use crate::report::{AddressEntry, Counting, FlowEntry, ReasonCounts, Sketches, Totals};
    use crate::sketch::hll::DistinctCounter;

    fn reasons(reason: UnparsedReason, count: u64) -> ReasonCounts {
        let mut counts = ReasonCounts::default();
        counts[reason] = count;
        counts
    }

    /// A report with one entry in every list, for the sinks' tests.
    pub(crate) fn report(start_unix: u64) -> IntervalReport {
        let totals = Totals {
            packets: 12,
            bytes: 3456,
            unparsed_packets: 1,
            unparsed_by_reason: reasons(UnparsedReason::NotIp, 1),
            transport_truncated: 0,
            decap_fallback_by_reason: reasons(UnparsedReason::Truncated, 2),
        };
        let flow = FlowEntry {
            src: "192.0.2.1".parse().unwrap(),
            dst: "2001:db8::1".parse().unwrap(),
            src_port: 443,
            dst_port: 51000,
            protocol: 6,
            packets: 11,
            bytes: 3000,
            lower_bound: crate::report::LowerBound::NONE,
        };
        let address = AddressEntry::new("192.0.2.1".parse().unwrap(), 11, 3000);
        IntervalReport {
            counting: Counting::Exact,
            top_flows: vec![flow.clone()],
            top_flows_by_bytes: vec![flow],
            top_sources: vec![address.clone()],
            top_sources_by_bytes: vec![address.clone()],
            top_destinations: vec![address.clone()],
            top_destinations_by_bytes: vec![address],
            // hhmon always writes them, and a snapshot without them does not load.
            sketches: Some(Sketches {
                sources: DistinctCounter::default().to_base64(),
                destinations: DistinctCounter::default().to_base64(),
            }),
            ..crate::report::tests::listless(start_unix, totals)
        }
    }

    fn keep(count: usize) -> Retention {
        Retention {
            count: Some(count),
            age: None,
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn read_report(path: &Path) -> IntervalReport {
        serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn settled_at_the_end_the_files_are_the_same_and_never_half_written() {
        let (each, at_end) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for (dir, durability) in [
            (&each, Durability::EachSnapshot),
            (&at_end, Durability::AtEnd),
        ] {
            let mut writer = SnapshotWriter::new(dir.path(), keep(2), durability).unwrap();
            for start in [100, 110, 120] {
                writer.write(&report(start)).unwrap();
                // Whatever the durability, a reader sees only whole files under final names.
                assert!(names(dir.path()).iter().all(|name| !name.ends_with(".tmp")));
            }
            writer.settle().unwrap();
        }
        assert_eq!(names(each.path()), names(at_end.path()));
        for name in names(each.path()) {
            assert_eq!(
                fs::read(each.path().join(&name)).unwrap(),
                fs::read(at_end.path().join(&name)).unwrap(),
                "{name}"
            );
        }
    }

    #[test]
    fn settling_a_directory_that_is_gone_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("snapshots");
        let writer = SnapshotWriter::new(&gone, Retention::default(), Durability::AtEnd).unwrap();
        fs::remove_dir(&gone).unwrap();
        let error = writer.settle().unwrap_err();
        assert!(error.to_string().contains("snapshots"), "{error}");
    }

    #[test]
    fn a_written_snapshot_parses_back_to_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer =
            SnapshotWriter::new(dir.path(), Retention::default(), Durability::EachSnapshot)
                .unwrap();
        let report = report(1_700_000_000);
        let path = writer.write(&report).unwrap();
        assert_eq!(path, dir.path().join("hhmon-001700000000.json"));
        assert_eq!(read_report(&path), report);
        assert_eq!(read_report(&dir.path().join("latest.json")), report);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1, "one compact object, one line");
        assert_eq!(
            names(dir.path()),
            ["hhmon-001700000000.json", "latest.json"]
        );
    }

    #[test]
    fn keeps_only_the_newest_files_and_latest_is_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer =
            SnapshotWriter::new(dir.path(), keep(3), Durability::EachSnapshot).unwrap();
        for i in 0..5 {
            writer.write(&report(1_700_000_000 + 10 * i)).unwrap();
        }
        assert_eq!(
            names(dir.path()),
            [
                "hhmon-001700000020.json",
                "hhmon-001700000030.json",
                "hhmon-001700000040.json",
                "latest.json"
            ]
        );
        assert_eq!(
            fs::read(dir.path().join("latest.json")).unwrap(),
            fs::read(dir.path().join("hhmon-001700000040.json")).unwrap()
        );
    }

    #[test]
    fn without_a_limit_every_interval_stays() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer =
            SnapshotWriter::new(dir.path(), Retention::default(), Durability::EachSnapshot)
                .unwrap();
        for i in 0..5 {
            writer.write(&report(10 * i)).unwrap();
        }
        assert_eq!(names(dir.path()).len(), 6);
    }

    #[test]
    fn rotation_orders_by_time_even_past_twelve_digits() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer =
            SnapshotWriter::new(dir.path(), keep(1), Durability::EachSnapshot).unwrap();
        writer.write(&report(999_999_999_990)).unwrap();
        writer.write(&report(1_000_000_000_000)).unwrap();
        assert_eq!(
            names(dir.path()),
            ["hhmon-1000000000000.json", "latest.json"]
        );
    }

    #[test]
    fn new_creates_the_directory_and_removes_only_stale_temporary_files() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("a/b");
        fs::create_dir_all(&dir).unwrap();
        for name in [
            ".hhmon-001700000000.json.tmp",
            ".latest.json.tmp",
            "hhmon-001699999990.json",
            "notes.txt",
            ".other.tmp",
        ] {
            fs::write(dir.join(name), b"{").unwrap();
        }
        SnapshotWriter::new(&dir, Retention::default(), Durability::EachSnapshot).unwrap();
        assert_eq!(
            names(&dir),
            [".other.tmp", "hhmon-001699999990.json", "notes.txt"]
        );
        let fresh = parent.path().join("new/dir");
        SnapshotWriter::new(&fresh, Retention::default(), Durability::EachSnapshot).unwrap();
        assert!(fresh.is_dir());
    }

    #[test]
    fn rotation_leaves_foreign_files_alone() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("hhmon-notes.json"), b"{}").unwrap();
        let mut writer =
            SnapshotWriter::new(dir.path(), keep(0), Durability::EachSnapshot).unwrap();
        writer.write(&report(100)).unwrap();
        assert_eq!(names(dir.path()), ["hhmon-notes.json", "latest.json"]);
    }

    #[test]
    fn a_directory_under_a_regular_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, b"").unwrap();
        match SnapshotWriter::new(
            &file.join("snapshots"),
            Retention::default(),
            Durability::EachSnapshot,
        ) {
            Err(Error::Directory { path, .. }) => assert_eq!(path, file.join("snapshots")),
            other => panic!("expected a directory error, got {other:?}"),
        }
    }

    #[test]
    fn a_vanished_directory_is_a_write_error_and_leaves_nothing_behind() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("snapshots");
        let mut writer =
            SnapshotWriter::new(&dir, Retention::default(), Durability::EachSnapshot).unwrap();
        fs::remove_dir(&dir).unwrap();
        // A regular file where the directory was: every write below it fails.
        fs::write(&dir, b"").unwrap();
        match writer.write(&report(100)) {
            Err(Error::Write { path, .. }) => assert_eq!(path, dir.join("hhmon-000000000100.json")),
            other => panic!("expected a write error, got {other:?}"),
        }
        assert_eq!(names(parent.path()), ["snapshots"]);
    }

    #[test]
    fn age_rotation_keeps_the_intervals_within_the_age_of_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let age = Retention {
            count: None,
            age: Some(Duration::from_secs(25)),
        };
        let mut writer = SnapshotWriter::new(dir.path(), age, Durability::EachSnapshot).unwrap();
        for start in [100, 110, 120, 130] {
            writer.write(&report(start)).unwrap();
        }
        // 130 - 25 = 105: 100 goes, 110 stays.
        assert_eq!(
            names(dir.path()),
            [
                "hhmon-000000000110.json",
                "hhmon-000000000120.json",
                "hhmon-000000000130.json",
                "latest.json"
            ]
        );
        // An interval exactly at the age limit stays; a gap in time removes everything older.
        writer.write(&report(135)).unwrap();
        assert!(names(dir.path()).contains(&"hhmon-000000000110.json".to_owned()));
        writer.write(&report(1_000)).unwrap();
        assert_eq!(
            names(dir.path()),
            ["hhmon-000000001000.json", "latest.json"]
        );
    }

    #[test]
    fn count_and_age_together_keep_the_stricter() {
        let dir = tempfile::tempdir().unwrap();
        let both = Retention {
            count: Some(2),
            age: Some(Duration::from_secs(100)),
        };
        let mut writer = SnapshotWriter::new(dir.path(), both, Durability::EachSnapshot).unwrap();
        for start in [0, 10, 20, 200] {
            writer.write(&report(start)).unwrap();
        }
        // The count would keep 20 and 200; the age removes 20.
        assert_eq!(
            names(dir.path()),
            ["hhmon-000000000200.json", "latest.json"]
        );
        for start in [210, 220] {
            writer.write(&report(start)).unwrap();
        }
        // The age would keep all three; the count keeps two.
        assert_eq!(
            names(dir.path()),
            [
                "hhmon-000000000210.json",
                "hhmon-000000000220.json",
                "latest.json"
            ]
        );
    }
}
