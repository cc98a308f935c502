//! What the integration tests share: finding `../shared/data`.

use std::path::{Path, PathBuf};

/// `../shared/data/<rel>` (a file or folder) when it exists; otherwise `None`, after printing
/// that the test is skipped and why.
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "skipped: {} is missing (it comes with the shared data folder)",
            p.display()
        );
        None
    }
}
