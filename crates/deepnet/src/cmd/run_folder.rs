//! Where a training run writes: `runs/<model>-<dataset>-<local date and time>`, never over
//! another run.

use super::common::CliResult;
use std::path::{Path, PathBuf};

/// The local date and time as `2026-11-29_20-35-07` (UTC where the local zone is unknown).
pub fn local_stamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    #[cfg(unix)]
    {
        let t: libc::time_t = secs as libc::time_t;
        // SAFETY: localtime_r only writes the tm it is given; both pointers are valid
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        if !unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
            return format!(
                "{:04}-{:02}-{:02}_{:02}-{:02}-{:02}",
                tm.tm_year + 1900,
                tm.tm_mon + 1,
                tm.tm_mday,
                tm.tm_hour,
                tm.tm_min,
                tm.tm_sec
            );
        }
    }
    // civil date from days since 1970-01-01 (Howard Hinnant's algorithm), UTC
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}_{:02}-{:02}-{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The run folder of `train`: `--out`, or `runs/<model>-<dataset>-<local date and time>`
/// (with `-2`, `-3`, ... if that exists). A folder that already holds a run (`metrics.csv`) is
/// refused rather than overwritten.
pub fn run_dir(out: Option<&Path>, model: &str, dataset: &str) -> CliResult<PathBuf> {
    let dir = match out {
        Some(p) => p.to_path_buf(),
        None => {
            let base = format!("runs/{model}-{dataset}-{}", local_stamp());
            let mut dir = PathBuf::from(&base);
            let mut k = 2;
            while dir.exists() {
                dir = PathBuf::from(format!("{base}-{k}"));
                k += 1;
            }
            dir
        }
    };
    if dir.join("metrics.csv").exists() {
        return Err(format!(
            "--out {}: already holds a run (metrics.csv); give another folder or remove it",
            dir.display()
        ));
    }
    Ok(dir)
}
