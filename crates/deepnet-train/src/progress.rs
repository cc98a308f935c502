//! Progress of a training run on stderr: an `indicatif` bar per epoch showing batch `i/n`, the
//! running loss and images per second when stderr is a terminal; plain lines (about every 10% of
//! an epoch and at its end) when it is not, so logs of CI and batch jobs stay readable; nothing in
//! quiet mode (`--json`, whose stdout must hold only the summary).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    /// An animated bar (stderr is a terminal).
    Bar,
    /// Plain lines, about one per 10% of an epoch and one at its end.
    Plain,
    /// Nothing.
    Quiet,
}

impl ProgressMode {
    /// `Quiet` when `quiet`, else `Bar` if stderr is a terminal and `Plain` otherwise.
    pub fn auto(quiet: bool) -> Self {
        if quiet {
            ProgressMode::Quiet
        } else if std::io::stderr().is_terminal() {
            ProgressMode::Bar
        } else {
            ProgressMode::Plain
        }
    }
}

type Sink = Arc<Mutex<Box<dyn Write + Send>>>;

/// Creates one [`EpochProgress`] per epoch.
pub struct Progress {
    mode: ProgressMode,
    sink: Sink,
    unit: String,
}

impl Progress {
    /// A reporter writing to stderr in `mode`.
    pub fn new(mode: ProgressMode) -> Self {
        Self::with_writer(mode, Box::new(std::io::stderr()))
    }

    /// A reporter whose plain lines go to `writer` (the bar always draws on stderr); for tests
    /// and log files.
    pub fn with_writer(mode: ProgressMode, writer: Box<dyn Write + Send>) -> Self {
        Progress {
            mode,
            sink: Arc::new(Mutex::new(writer)),
            unit: "img".into(),
        }
    }

    /// Names the samples in the throughput (`img` by default: `img/s`).
    pub fn unit(mut self, unit: &str) -> Self {
        self.unit = unit.to_string();
        self
    }

    /// The mode in use.
    pub fn mode(&self) -> ProgressMode {
        self.mode
    }

    /// Starts reporting epoch `epoch` of `epochs` (1-based), which has `batches` batches.
    pub fn epoch(&self, epoch: usize, epochs: usize, batches: usize) -> EpochProgress {
        let bar = (self.mode == ProgressMode::Bar).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(batches as u64), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{prefix} [{bar:30.cyan/blue}] {pos}/{len} {msg} [{elapsed_precise}<{eta_precise}]",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(format!("epoch {epoch}/{epochs}"));
            bar
        });
        EpochProgress {
            mode: self.mode,
            sink: self.sink.clone(),
            unit: self.unit.clone(),
            bar,
            epoch,
            epochs,
            batches,
            next_tenth: 1,
            start: Instant::now(),
            last: None,
        }
    }

    /// Prints a line between epochs (a summary), above any bar; nothing in quiet mode.
    pub fn println(&self, line: &str) {
        match self.mode {
            ProgressMode::Quiet => {}
            ProgressMode::Bar => eprintln!("{line}"),
            ProgressMode::Plain => {
                let mut w = self.sink.lock().unwrap_or_else(|e| e.into_inner());
                let _ = writeln!(w, "{line}");
                let _ = w.flush();
            }
        }
    }
}

/// The progress of one epoch; finish it with [`EpochProgress::finish`] (dropping it also ends the
/// bar).
pub struct EpochProgress {
    mode: ProgressMode,
    sink: Sink,
    unit: String,
    bar: Option<ProgressBar>,
    epoch: usize,
    epochs: usize,
    batches: usize,
    next_tenth: usize,
    start: Instant,
    last: Option<(usize, f64, f64)>,
}

impl EpochProgress {
    /// Reports that `done` batches (1-based count) are finished, with the running mean loss and
    /// the training throughput so far.
    pub fn update(&mut self, done: usize, running_loss: f64, images_per_sec: f64) {
        self.last = Some((done, running_loss, images_per_sec));
        match self.mode {
            ProgressMode::Quiet => {}
            ProgressMode::Bar => {
                if let Some(bar) = &self.bar {
                    bar.set_position(done as u64);
                    bar.set_message(format!(
                        "loss {running_loss:.4} {images_per_sec:.0} {}/s",
                        self.unit
                    ));
                }
            }
            ProgressMode::Plain => {
                // one line each time another tenth of the epoch is complete (not at the end:
                // `finish` prints that one)
                let mut crossed = false;
                while self.next_tenth < 10 && done * 10 >= self.next_tenth * self.batches {
                    self.next_tenth += 1;
                    crossed = true;
                }
                if crossed && done < self.batches {
                    self.line(&format!(
                        "batch {done}/{} loss {running_loss:.4} {images_per_sec:.0} {}/s",
                        self.batches, self.unit
                    ));
                }
            }
        }
    }

    /// Ends the epoch, printing `summary` (e.g. the epoch's test accuracy) after the bar or as the
    /// final plain line.
    pub fn finish(mut self, summary: &str) {
        match self.mode {
            ProgressMode::Quiet => {}
            ProgressMode::Bar => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_with_message(summary.to_string());
                }
            }
            ProgressMode::Plain => {
                let secs = self.start.elapsed().as_secs_f64();
                let mut line = format!("done in {secs:.1}s");
                if let Some((done, loss, ips)) = self.last {
                    line = format!(
                        "batch {done}/{} loss {loss:.4} {ips:.0} {}/s, {line}",
                        self.batches, self.unit
                    );
                }
                if !summary.is_empty() {
                    line.push_str(", ");
                    line.push_str(summary);
                }
                self.line(&line);
            }
        }
    }

    fn line(&self, text: &str) {
        let mut w = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(w, "epoch {}/{}: {text}", self.epoch, self.epochs);
        let _ = w.flush();
    }
}

impl Drop for EpochProgress {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl Write for Capture {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl Capture {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn plain_mode_prints_every_tenth_and_at_the_end() {
        let cap = Capture::default();
        let p = Progress::with_writer(ProgressMode::Plain, Box::new(cap.clone()));
        let mut e = p.epoch(2, 5, 100);
        for i in 1..=100 {
            e.update(i, 1.0 / i as f64, 1000.0);
        }
        e.finish("test acc 0.9");
        let text = cap.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 10, "{text}");
        assert!(lines[0].starts_with("epoch 2/5: batch 10/100 loss 0.1000 1000 img/s"));
        assert!(lines[8].contains("batch 90/100"));
        assert!(lines[9].contains("batch 100/100") && lines[9].ends_with("test acc 0.9"));
    }

    #[test]
    fn plain_mode_with_few_batches() {
        let cap = Capture::default();
        let p = Progress::with_writer(ProgressMode::Plain, Box::new(cap.clone()));
        let mut e = p.epoch(1, 1, 3);
        for i in 1..=3 {
            e.update(i, 0.5, 10.0);
        }
        e.finish("");
        let text = cap.text();
        // 1/3 and 2/3 each cross tenths, then the final line
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.contains("10 img/s"), "{text}");
        p.println("summary");
        assert!(cap.text().ends_with("summary\n"));
        // another unit names the throughput
        let units = Capture::default();
        let q =
            Progress::with_writer(ProgressMode::Plain, Box::new(units.clone())).unit("sequences");
        let mut e = q.epoch(1, 1, 2);
        e.update(1, 0.5, 10.0);
        e.finish("");
        assert!(units.text().contains("10 sequences/s,"), "{}", units.text());
    }

    #[test]
    fn quiet_mode_prints_nothing() {
        let cap = Capture::default();
        let p = Progress::with_writer(ProgressMode::Quiet, Box::new(cap.clone()));
        let mut e = p.epoch(1, 1, 10);
        for i in 1..=10 {
            e.update(i, 0.5, 10.0);
        }
        e.finish("done");
        p.println("x");
        assert!(cap.text().is_empty());
        assert_eq!(ProgressMode::auto(true), ProgressMode::Quiet);
    }

    #[test]
    fn bar_mode_does_not_panic() {
        let p = Progress::new(ProgressMode::Bar);
        let mut e = p.epoch(1, 1, 4);
        for i in 1..=4 {
            e.update(i, 0.5, 10.0);
        }
        e.finish("ok");
        let _dropped = p.epoch(2, 2, 4);
    }
}
