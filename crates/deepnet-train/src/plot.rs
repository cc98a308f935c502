//! PNG line plots (loss and accuracy curves, per-layer gradient norms) drawn with `plotters` on its
//! bitmap backend. Text uses the DejaVu Sans font shipped in `assets/` (registered with plotters as
//! `sans-serif`), so plots render the same on machines without system fonts. Files are written
//! atomically; non-finite points (and, on a log scale, non-positive ones) are skipped.

use crate::atomic::write_atomic_with;
use crate::error::{Result, TrainError};
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use std::ops::Range;
use std::path::Path;
use std::sync::Once;

/// DejaVu Sans (Bitstream Vera license with public-domain DejaVu changes; see
/// `assets/LICENSE-DejaVu.txt`).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

pub(crate) fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // the shipped font is valid; a failure would only mean text-less plots erroring later
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Default plot size in pixels.
pub const DEFAULT_SIZE: (u32, u32) = (900, 560);

/// A line plot's labels, scale and size. Build with [`Plot::new`] and the setters, then
/// [`Plot::draw`].
#[derive(Clone, Debug)]
pub struct Plot {
    title: String,
    x_label: String,
    y_label: String,
    log_y: bool,
    size: (u32, u32),
}

impl Plot {
    /// A plot with this title, x label `epoch`, no y label, linear scale and [`DEFAULT_SIZE`].
    pub fn new(title: impl Into<String>) -> Self {
        Plot {
            title: title.into(),
            x_label: "epoch".into(),
            y_label: String::new(),
            log_y: false,
            size: DEFAULT_SIZE,
        }
    }

    /// Sets the x-axis label.
    pub fn x_label(mut self, label: impl Into<String>) -> Self {
        self.x_label = label.into();
        self
    }

    /// Sets the y-axis label.
    pub fn y_label(mut self, label: impl Into<String>) -> Self {
        self.y_label = label.into();
        self
    }

    /// Uses a logarithmic y axis (non-positive values are then skipped).
    pub fn log_y(mut self, on: bool) -> Self {
        self.log_y = on;
        self
    }

    /// Sets the image size in pixels.
    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.size = (width, height);
        self
    }

    /// Draws one line per `(name, points)` series and writes the PNG to `path` atomically.
    pub fn draw(&self, path: impl AsRef<Path>, series: &[(&str, Vec<(f64, f64)>)]) -> Result<()> {
        let path = path.as_ref();
        register_font();
        let log_y = self.log_y;
        let clean: Vec<(&str, Vec<(f64, f64)>)> = series
            .iter()
            .map(|(name, pts)| {
                let kept = pts
                    .iter()
                    .copied()
                    .filter(|&(x, y)| x.is_finite() && y.is_finite() && (!log_y || y > 0.0))
                    .collect();
                (*name, kept)
            })
            .collect();
        let all = || clean.iter().flat_map(|(_, p)| p.iter().copied());
        let x_range = padded(all().map(|p| p.0), false, (0.0, 1.0));
        let y_range = padded(
            all().map(|p| p.1),
            log_y,
            if log_y { (0.1, 1.0) } else { (0.0, 1.0) },
        );

        let mut plot_err = None;
        let res = write_atomic_with(path, |tmp| {
            let r = if log_y {
                self.render(tmp, x_range.clone(), y_range.clone().log_scale(), &clean)
            } else {
                self.render(tmp, x_range.clone(), y_range.clone(), &clean)
            };
            r.map_err(|msg| {
                plot_err = Some(msg);
                std::io::Error::other("plotting failed")
            })
        });
        match (res, plot_err) {
            (_, Some(msg)) => Err(TrainError::Plot {
                path: path.to_path_buf(),
                msg,
            }),
            (Err(e), None) => Err(TrainError::io(path, e)),
            (Ok(()), None) => Ok(()),
        }
    }

    fn render<Y>(
        &self,
        file: &Path,
        x_range: Range<f64>,
        y_range: Y,
        series: &[(&str, Vec<(f64, f64)>)],
    ) -> std::result::Result<(), String>
    where
        Y: AsRangedCoord<Value = f64>,
        Y::CoordDescType: ValueFormatter<f64>,
    {
        let e = |e: &dyn std::fmt::Display| e.to_string();
        let root = BitMapBackend::new(file, self.size).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&self.title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x_range, y_range)
            .map_err(|x| e(&x))?;
        let log_y = self.log_y;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .y_label_formatter(&|v: &f64| fmt_tick(*v, log_y))
            .x_label_formatter(&|v: &f64| fmt_tick(*v, false))
            .draw()
            .map_err(|x| e(&x))?;
        let mut labelled = false;
        for (i, (name, pts)) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let style = color.stroke_width(2);
            let drawn = if pts.len() == 1 {
                chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
            } else {
                chart.draw_series(LineSeries::new(pts.iter().copied(), style))
            }
            .map_err(|x| e(&x))?;
            if !name.is_empty() {
                labelled = true;
                drawn.label(*name).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            }
        }
        if labelled {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(|x| e(&x))?;
        }
        root.present().map_err(|x| e(&x))?;
        Ok(())
    }
}

/// A tick label: scientific notation for tiny/huge magnitudes or on a log axis.
fn fmt_tick(v: f64, log: bool) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if log || !(1e-3..1e5).contains(&a) {
        format!("{v:.0e}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// The range covering `values` with a small margin (multiplicative on a log scale); `default`
/// when there are none.
fn padded(values: impl Iterator<Item = f64>, log: bool, default: (f64, f64)) -> Range<f64> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return default.0..default.1;
    }
    if log {
        let (l, h) = (lo.log10(), hi.log10());
        let pad = ((h - l) * 0.05).max(0.1);
        10f64.powf(l - pad)..10f64.powf(h + pad)
    } else if lo == hi {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        lo - pad..hi + pad
    } else {
        let pad = (hi - lo) * 0.05;
        lo - pad..hi + pad
    }
}

/// Draws curves (loss or accuracy over epochs, x label `epoch`) at [`DEFAULT_SIZE`] and writes
/// the PNG atomically. `log_y` uses a logarithmic y axis.
pub fn plot_curves(
    path: impl AsRef<Path>,
    title: &str,
    series: &[(&str, Vec<(f64, f64)>)],
    y_label: &str,
    log_y: bool,
) -> Result<()> {
    Plot::new(title)
        .y_label(y_label)
        .log_y(log_y)
        .draw(path, series)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atomic::tests::temp_dir;

    /// Width and height from a PNG's IHDR chunk, after checking the signature.
    fn png_size(bytes: &[u8]) -> (u32, u32) {
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
        assert_eq!(&bytes[12..16], b"IHDR");
        let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        (w, h)
    }

    #[test]
    fn writes_png_of_requested_size() {
        let d = temp_dir("plot");
        let p = d.join("loss.png");
        let train: Vec<(f64, f64)> = (1..=10).map(|e| (e as f64, 2.0 / e as f64)).collect();
        let test: Vec<(f64, f64)> = (1..=10).map(|e| (e as f64, 2.5 / e as f64)).collect();
        Plot::new("loss")
            .y_label("cross-entropy")
            .size(640, 480)
            .draw(&p, &[("train", train.clone()), ("test", test)])
            .unwrap();
        assert_eq!(png_size(&std::fs::read(&p).unwrap()), (640, 480));
        plot_curves(&p, "loss", &[("train", train)], "loss", false).unwrap();
        assert_eq!(png_size(&std::fs::read(&p).unwrap()), DEFAULT_SIZE);
        // only the PNG is left: the temporary file was renamed
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn log_scale_over_many_decades() {
        let d = temp_dir("plot-log");
        let p = d.join("gradient_norms.png");
        let a: Vec<(f64, f64)> = (0..=8)
            .map(|i| (i as f64 * 100.0, 10f64.powi(-i)))
            .collect();
        let b: Vec<(f64, f64)> = (0..=8).map(|i| (i as f64 * 100.0, 0.5)).collect();
        Plot::new("gradient norms")
            .x_label("step")
            .y_label("L2 norm")
            .log_y(true)
            .size(500, 300)
            .draw(&p, &[("layers.0", a), ("fc", b)])
            .unwrap();
        assert_eq!(png_size(&std::fs::read(&p).unwrap()), (500, 300));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn non_finite_and_degenerate_series_do_not_panic() {
        let d = temp_dir("plot-nan");
        let p = d.join("acc.png");
        let s = vec![
            (1.0, 0.5),
            (2.0, f64::NAN),
            (3.0, f64::INFINITY),
            (f64::NAN, 1.0),
            (4.0, 0.0),
            (5.0, -1.0),
        ];
        for log in [false, true] {
            plot_curves(&p, "acc", &[("a", s.clone())], "accuracy", log).unwrap();
            png_size(&std::fs::read(&p).unwrap());
        }
        // empty, all-NaN, single point, constant
        plot_curves(&p, "empty", &[], "", false).unwrap();
        plot_curves(&p, "nan", &[("n", vec![(1.0, f64::NAN)])], "", true).unwrap();
        plot_curves(&p, "one", &[("o", vec![(1.0, 2.0)])], "", false).unwrap();
        plot_curves(
            &p,
            "flat",
            &[("f", vec![(1.0, 0.0), (2.0, 0.0)])],
            "",
            false,
        )
        .unwrap();
        png_size(&std::fs::read(&p).unwrap());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn unwritable_path_errors_naming_it() {
        let e = plot_curves("/nonexistent-dir/x.png", "t", &[], "", false).unwrap_err();
        assert!(e.to_string().contains("/nonexistent-dir/x.png"), "{e}");
    }

    #[test]
    fn tick_labels() {
        assert_eq!(fmt_tick(0.0, false), "0");
        assert_eq!(fmt_tick(0.25, false), "0.25");
        assert_eq!(fmt_tick(3.0, false), "3");
        assert_eq!(fmt_tick(1e-8, true), "1e-8");
        assert_eq!(fmt_tick(1e-5, false), "1e-5");
    }
}
