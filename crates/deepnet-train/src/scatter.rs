//! Scatter plots of labelled 2-D points, one panel per point set side by side (e.g. the 2-D
//! codes of MNIST test digits under PCA and under an autoencoder), each point coloured by its
//! class, with a legend of the classes. Drawn with plotters (the font of [`crate::plot`]) and
//! written atomically.

use crate::atomic::write_atomic_with;
use crate::error::{Result, TrainError};
use crate::plot::register_font;
use plotters::prelude::*;
use std::path::Path;

/// Ten well-separated colours (the "tab10" palette), class `c` gets `CLASSES[c % 10]`.
const CLASSES: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// One panel: a title and `(x, y, class)` points.
pub type ScatterPanel = (String, Vec<(f64, f64, usize)>);

/// Draws `panels` side by side, each `panel_size` pixels, and writes the PNG to `path`.
/// Non-finite points are skipped; errors name the file.
pub fn save_scatter_panels(
    path: impl AsRef<Path>,
    panels: &[ScatterPanel],
    panel_size: (u32, u32),
) -> Result<()> {
    let path = path.as_ref();
    if panels.is_empty() {
        return Err(TrainError::Config(format!(
            "{}: a scatter plot needs at least one panel",
            path.display()
        )));
    }
    register_font();
    let size = (panel_size.0 * panels.len() as u32, panel_size.1);
    let mut draw_err = None;
    let res = write_atomic_with(path, |tmp| {
        render(tmp, size, panels).map_err(|msg| {
            draw_err = Some(msg);
            std::io::Error::other("plotting failed")
        })
    });
    match (res, draw_err) {
        (_, Some(msg)) => Err(TrainError::Plot {
            path: path.to_path_buf(),
            msg,
        }),
        (Err(e), None) => Err(TrainError::io(path, e)),
        (Ok(()), None) => Ok(()),
    }
}

/// The range of `v` with a 5% margin (a unit range around a single value).
fn range(v: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = v.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), x| {
        (l.min(x), h.max(x))
    });
    if lo > hi {
        return 0.0..1.0;
    }
    let pad = if hi > lo { (hi - lo) * 0.05 } else { 0.5 };
    lo - pad..hi + pad
}

fn render(
    file: &Path,
    size: (u32, u32),
    panels: &[ScatterPanel],
) -> std::result::Result<(), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let root = BitMapBackend::new(file, size).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    for (area, (title, pts)) in root.split_evenly((1, panels.len())).iter().zip(panels) {
        let pts: Vec<_> = pts
            .iter()
            .copied()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .collect();
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(45)
            .build_cartesian_2d(
                range(pts.iter().map(|p| p.0)),
                range(pts.iter().map(|p| p.1)),
            )
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .disable_mesh()
            .draw()
            .map_err(|x| e(&x))?;
        let mut classes: Vec<usize> = pts.iter().map(|p| p.2).collect();
        classes.sort_unstable();
        classes.dedup();
        for c in classes {
            let (r, g, b) = CLASSES[c % CLASSES.len()];
            let color = RGBColor(r, g, b).mix(0.6);
            chart
                .draw_series(
                    pts.iter()
                        .filter(|p| p.2 == c)
                        .map(|p| Circle::new((p.0, p.1), 1, color.filled())),
                )
                .map_err(|x| e(&x))?
                .label(c.to_string())
                .legend(move |(x, y)| Circle::new((x, y), 4, RGBColor(r, g, b).filled()));
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atomic::tests::temp_dir;

    #[test]
    fn panels_are_drawn_side_by_side_and_empty_input_is_an_error() {
        let d = temp_dir("scatter");
        let p = d.join("codes.png");
        let pts: Vec<(f64, f64, usize)> = (0..100)
            .map(|i| ((i as f64).sin(), (i as f64).cos(), i % 10))
            .collect();
        let panels = vec![("a".to_string(), pts.clone()), ("b".to_string(), pts)];
        save_scatter_panels(&p, &panels, (300, 250)).unwrap();
        let b = std::fs::read(&p).unwrap();
        assert_eq!(&b[12..16], b"IHDR");
        let be = |i: usize| u32::from_be_bytes(b[i..i + 4].try_into().unwrap());
        assert_eq!((be(16), be(20)), (600, 250));
        let e = save_scatter_panels(&p, &[], (300, 250))
            .unwrap_err()
            .to_string();
        assert!(e.contains("codes.png") && e.contains("one panel"), "{e}");
    }
}
