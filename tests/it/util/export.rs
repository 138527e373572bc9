//! Reading an export tree back as Spark would: every Parquet file whose path has no hidden
//! component, each row as a JSON object.

use std::path::{Path, PathBuf};

use parquet::file::reader::{FileReader, SerializedFileReader};
use serde_json::Value;

/// The published files under `root`, sorted: every file whose path has no component starting
/// with a dot. Fails the test on a visible file that is not a whole Parquet export file.
pub fn published_files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else {
                assert!(
                    name.starts_with("hhmon-") && name.ends_with(".parquet"),
                    "unexpected file {}",
                    path.display()
                );
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Every row of one export file; fails the test when the file is not whole.
pub fn rows(path: &Path) -> Vec<Value> {
    let file = std::fs::File::open(path).unwrap();
    let reader = SerializedFileReader::new(file)
        .unwrap_or_else(|e| panic!("{} is not whole: {e}", path.display()));
    assert_eq!(reader.metadata().num_row_groups(), 1, "{}", path.display());
    reader
        .get_row_iter(None)
        .unwrap()
        .map(|row| row.unwrap().to_json_value())
        .collect()
}

/// Every row of every published file under `root`.
pub fn published_rows(root: &Path) -> Vec<Value> {
    published_files(root)
        .iter()
        .flat_map(|path| rows(path))
        .collect()
}
