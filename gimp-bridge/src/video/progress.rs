//! Progress of a video job: an indicatif bar (frames done/total, fps, ETA) when stderr
//! is a terminal, or `--progress json`: one line a second on stderr,
//! `{"frames_done":D,"frames_total":F,"frames_processed":P,"fps":X,"eta_s":Y}`
//! (schema in docs/BRIDGE.md). Frames of verified segments that were skipped count as
//! done, not as processed.

use std::{
    io::IsTerminal,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::cli::ProgressMode;
use crate::progress::json_line;

#[derive(Default)]
pub struct Counters {
    /// Frames upscaled and encoded by this run.
    pub processed: Arc<AtomicU64>,
    /// Frames of segments found finished.
    pub skipped: AtomicU64,
}

impl Counters {
    fn done(&self) -> u64 {
        self.processed.load(Ordering::Relaxed) + self.skipped.load(Ordering::Relaxed)
    }
}

pub struct Reporter {
    pub counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub json: bool,
}

/// One JSON progress object.
fn snapshot(counters: &Counters, total: u64, started: Instant) -> serde_json::Value {
    let processed = counters.processed.load(Ordering::Relaxed);
    let done = counters.done();
    let elapsed = started.elapsed().as_secs_f64();
    let fps = if elapsed > 0.0 { processed as f64 / elapsed } else { 0.0 };
    let eta = (fps > 0.0).then(|| ((total.saturating_sub(done)) as f64 / fps).round());
    json!({
        "frames_done": done, "frames_total": total, "frames_processed": processed,
        "fps": (fps * 100.0).round() / 100.0, "eta_s": eta,
    })
}

impl Reporter {
    pub fn start(mode: ProgressMode, quiet: bool, total: u64) -> Self {
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let json = mode == ProgressMode::Json;
        let bar = mode == ProgressMode::Auto && !quiet && std::io::stderr().is_terminal();
        let thread = (json || bar).then(|| {
            let (counters, stop) = (counters.clone(), stop.clone());
            std::thread::spawn(move || report(&counters, &stop, total, json))
        });
        Reporter { counters, stop, thread, json }
    }

    /// Stops reporting; a JSON run gets a last line with the final counts.
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.counters.processed.load(Ordering::Relaxed)
    }
}

fn report(counters: &Counters, stop: &AtomicBool, total: u64, json: bool) {
    let started = Instant::now();
    let bar = (!json).then(|| {
        let bar = ProgressBar::new(total);
        let template = "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} frames {msg}";
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    });
    let mut last_json = Instant::now();
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        let value = snapshot(counters, total, started);
        if let Some(bar) = &bar {
            bar.set_position(counters.done());
            let eta = value["eta_s"]
                .as_f64()
                .map_or("?".to_owned(), |s| crate::progress::seconds(Duration::from_secs_f64(s)));
            bar.set_message(format!("{} fps, ETA {eta}", value["fps"]));
        } else if stopping || last_json.elapsed() >= Duration::from_secs(1) {
            json_line(&value);
            last_json = Instant::now();
        }
        if stopping {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}
