//! Where the crate's own files are: the shipped captures, dashboards, docs and units. Shared
//! by both test binaries; knows nothing of what the files hold.

use std::path::PathBuf;

/// `relative`, a path inside the crate.
pub fn path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The shipped capture `name` in `captures/`.
pub fn capture(name: &str) -> PathBuf {
    path("captures").join(name)
}
