//! Scene changes near planned cuts: frames decoded only in the window around each cut,
//! shrunk to 32x32 luma thumbnails, compared with the frame before. A cut at a scene
//! change keeps segments apart in content, and the temporal filter resets there anyway
//! (so such a segment needs no re-priming).

use std::{path::Path, sync::atomic::AtomicBool};

use anyhow::{Context, Result};
use gstreamer as gst;
use gstreamer::prelude::*;

use super::gst::{self as g, Running};

/// Mean absolute luma difference (0..1) of two consecutive thumbnails from which a
/// keyframe counts as a scene change: well above motion within a shot at this size
/// (measured on bikes: at most 0.05 within its shots, 0.28 at its own cut and
/// 0.23 at a cut to carphone).
pub const THRESHOLD: f64 = 0.12;

const SIDE: i32 = 32;

/// The score of each source frame in `first..=last` (indices into `pts`, the source's
/// frame timestamps in order): its thumbnail's mean absolute difference to the frame
/// before (0 for frame 0). Decodes from the keyframe at or before `first - 1`.
pub fn scores(source: &Path, pts: &[u64], first: usize, last: usize, cancel: &AtomicBool) -> Result<Vec<f64>> {
    g::init()?;
    let pipeline = Running(gst::Pipeline::new());
    let filesrc = g::make("filesrc")?;
    filesrc.set_property("location", source);
    let decodebin = g::make("decodebin")?;
    let tail = [g::make("videoconvert")?, g::make("videoscale")?, g::make("capsfilter")?];
    // Stretched, not letterboxed: black borders would dilute every difference.
    tail[1].set_property("add-borders", false);
    tail[2].set_property(
        "caps",
        gst::Caps::builder("video/x-raw")
            .field("format", "GRAY8")
            .field("width", SIDE)
            .field("height", SIDE)
            .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
            .build(),
    );
    let sink = g::app_sink(None)?;
    pipeline.add_many([&filesrc, &decodebin])?;
    pipeline.add_many(&tail)?;
    pipeline.add(&sink)?;
    filesrc.link(&decodebin)?;
    gst::Element::link_many(tail.iter().chain(std::iter::once(&sink)))?;
    let head = tail[0].static_pad("sink").expect("videoconvert has a sink pad");
    g::link_first_video(&pipeline, &decodebin, head);
    g::set_state(&pipeline, gst::State::Paused).with_context(|| format!("cannot decode {}", source.display()))?;
    let from = first.saturating_sub(1);
    if from > 0 {
        g::seek_key_before(&pipeline, pts[from])?;
    }
    g::set_state(&pipeline, gst::State::Playing)?;
    let mut thumbs: Vec<Option<Vec<u8>>> = vec![None; last + 1 - from];
    while let Some(sample) = g::pull(&pipeline, &sink, cancel)? {
        let Some(buffer) = sample.buffer() else { continue };
        let Some(t) = buffer.pts().map(|t| t.nseconds()) else { continue };
        if t > pts[last] {
            break;
        }
        let Ok(i) = pts.binary_search(&t) else { continue };
        if i >= from {
            let map = buffer.map_readable().context("cannot read a decoded frame")?;
            // Rows may be padded: take SIDE bytes of each.
            let stride = map.len() / SIDE as usize;
            thumbs[i - from] = Some(map.chunks(stride).flat_map(|row| &row[..SIDE as usize]).copied().collect());
        }
    }
    Ok((first..=last)
        .map(|i| match (i.checked_sub(1).and_then(|p| thumbs.get(p.wrapping_sub(from))), thumbs.get(i - from)) {
            (Some(Some(a)), Some(Some(b))) => difference(a, b),
            _ => 0.0,
        })
        .collect())
}

/// Mean absolute difference of two thumbnails, 0..1.
fn difference(a: &[u8], b: &[u8]) -> f64 {
    let sum: u64 = a.iter().zip(b).map(|(&x, &y)| u64::from(x.abs_diff(y))).sum();
    sum as f64 / (a.len().max(1) as f64 * 255.0)
}
