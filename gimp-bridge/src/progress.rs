//! Progress for people (an indicatif bar with ETA, only when stderr is a terminal) and
//! for programs (`--progress-json`: one JSON object a line on stderr).
//!
//! JSON lines, in order:
//! - `{"started":true,"width":W,"height":H,"model":"...","device":"cpu"}` once the model
//!   is loaded and the output size known (`upscale-raw`, and `upscale` of one file,
//!   which adds `"input"` and `"output"`);
//! - `{"progress":0.42}` as tiles finish (at most every 1 % or 0.25 s; for a folder,
//!   the fraction of the whole batch);
//! - at the end `{"done":true,"width":W,"height":H}` (a folder: `{"done":true,"ok":N,
//!   "skipped":N,"failed":N}`), or `{"error":"..."}`, with `"cancelled":true` and
//!   `"signal":"SIGTERM"` when a signal stopped the run.
//!
//! Folders add `{"file":"IN","status":"ok"|"skipped"|"failed",...}` per image. A reader
//! should ignore lines that are not JSON (a runtime library may log to stderr).

use std::{
    io::{IsTerminal, Write},
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

/// Writes one JSON line to stderr, flushed, in one piece.
pub fn json_line(value: &Value) {
    let mut line = value.to_string();
    line.push('\n');
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(line.as_bytes());
    let _ = err.flush();
}

/// Decides which progress fractions are worth reporting.
pub struct Throttle {
    last_value: f32,
    last_time: Option<Instant>,
}

impl Default for Throttle {
    fn default() -> Self {
        Self { last_value: 0.0, last_time: None }
    }
}

impl Throttle {
    /// The first report, the last one, and then every 1 % or 0.25 s.
    pub fn pass(&mut self, fraction: f32) -> bool {
        let due = match self.last_time {
            None => true,
            Some(t) => {
                fraction >= 1.0 || fraction - self.last_value >= 0.01 || t.elapsed() >= Duration::from_millis(250)
            }
        };
        if due && fraction > self.last_value || self.last_time.is_none() {
            self.last_value = fraction;
            self.last_time = Some(Instant::now());
            return true;
        }
        false
    }
}

/// Rounds a fraction for JSON (4 decimals are plenty for a progress bar).
pub fn round4(fraction: f32) -> f64 {
    (f64::from(fraction.clamp(0.0, 1.0)) * 10_000.0).round() / 10_000.0
}

/// Steps of a bar per image; tile progress moves the bar within one image.
pub const STEPS: u64 = 1000;

/// A bar over `images` images with ETA, or `None` when stderr is not a terminal.
pub fn bar(images: u64, quiet: bool) -> Option<ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(images * STEPS);
    let template = "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% ETA {eta} {msg}";
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    Some(bar)
}

/// Prints a line to stderr above the bar (or plainly without one).
pub fn say(bar: Option<&ProgressBar>, line: &str) {
    match bar {
        Some(bar) => bar.suspend(|| eprintln!("{line}")),
        None => eprintln!("{line}"),
    }
}

/// Formats a duration as "1.2 s" / "3 min 4 s".
pub fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1} s")
    } else {
        format!("{} min {} s", (s / 60.0).floor(), (s % 60.0).floor())
    }
}
