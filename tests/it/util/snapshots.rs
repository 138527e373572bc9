//! Reading a snapshot directory in the whole-program tests: the interval snapshots, oldest
//! first (their names carry the zero-padded start), without `latest.json`.

use hhmon::report::IntervalReport;
use std::path::{Path, PathBuf};

/// The interval snapshots in `dir`, oldest first.
pub fn interval_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.file_name().unwrap() != "latest.json")
        .collect();
    files.sort();
    files
}

/// The report a snapshot file holds.
pub fn read(path: &Path) -> IntervalReport {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}
