//! `video IN OUT --preview [SECONDS|still]`: short clips at 10%, 50% and 90% of the
//! source (`OUT-STEM.preview-N.EXT`), or one side-by-side PNG per position, so settings
//! can be judged before hours of work. Each is the job's own plan restricted to a few
//! frames, run by the segment and merge steps in a temp folder next to OUT that is
//! removed afterwards; the job's `OUT.parts/` and OUT are never touched.

use std::{
    path::{Path, PathBuf},
    sync::atomic::AtomicBool,
};

use aiupscale_core::{resample, Channels, ImageMut, ImageRef, PixelFormat, SampleType};
use anyhow::{bail, Context, Result};
use gstreamer as gst;
use gstreamer::prelude::*;

use super::{
    cli::{Deinterlace, VideoCommand},
    encode::Container,
    files,
    gst::{self as g, Running},
    merge::{self, Clip},
    plan::{self, Plan, Segment, Settings, Source},
    progress::Reporter,
    segment,
};
use crate::cli::usage;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Preview {
    /// Clips of this many seconds.
    Clip(f64),
    /// One side-by-side still per position.
    Still,
}

/// Where the previews are taken, as fractions of the source's duration.
pub const POSITIONS: [f64; 3] = [0.1, 0.5, 0.9];

/// The longest clip: a preview is minutes of work at most, not a second job.
const MAX_SECONDS: f64 = 600.0;

/// clap's parser for `--preview`: seconds (0 < s <= 600) or `still`.
pub fn parse(value: &str) -> Result<Preview, String> {
    if value.eq_ignore_ascii_case("still") {
        return Ok(Preview::Still);
    }
    match value.parse::<f64>() {
        Ok(s) if s > 0.0 && s <= MAX_SECONDS => Ok(Preview::Clip(s)),
        _ => Err(format!("expected SECONDS (more than 0, at most {MAX_SECONDS}) or `still`, got {value:?}")),
    }
}

/// `OUT-STEM.preview-N.EXT` next to OUT (N from 1).
pub fn preview_path(output: &Path, n: usize, ext: &str) -> PathBuf {
    let stem = output.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    output.with_file_name(format!("{stem}.preview-{n}.{ext}"))
}

/// Frames `first..end` of the plan for a preview at `position` lasting `length` ns
/// (moved back where it would run past the end; one frame at least).
fn frames_at(plan: &Plan, position: f64, length: u64, whole_frames: usize) -> (usize, usize) {
    let (start, n) = (plan.pts[0], plan.pts.len());
    let duration = plan.pts[n - 1] + plan.last_duration - start;
    let at = ((duration as f64 * position) as u64).min(duration.saturating_sub(length));
    let mut first = plan.pts.partition_point(|&p| p < start + at).min(n - 1);
    // At field rate, start at a frame's first field (the source frame the still shows).
    first -= first % whole_frames;
    let end = plan.pts.partition_point(|&p| p < plan.pts[first] + length).max(first + 1);
    (first, end)
}

/// Removes the temp work folder on every path out.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn run(command: &VideoCommand, input: &Path, output: &Path, preview: Preview, cancel: &AtomicBool) -> Result<()> {
    let job = &command.job;
    let container = Container::of(output)?;
    container.check(job.codec)?;
    let settings = Settings::new(job)?;
    if !input.exists() {
        return Err(usage(format!("{} does not exist", input.display())));
    }
    let source = Source::of(input)?;
    let work = WorkDir(files::temp_path(&super::parts_of(output)));
    let _ = std::fs::remove_dir_all(&work.0);
    std::fs::create_dir_all(&work.0).with_context(|| format!("cannot create {}", work.0.display()))?;
    // One segment of the whole source: the scan only, no scene detection; each preview
    // then narrows it to its frames.
    let whole = Settings { segment_frames: u32::MAX, ..settings };
    let plan = plan::make(source, whole, job.engine.threads, cancel)?;
    let extras = super::extras::read(&plan.source.path, plan.streams.len() + 1)?;
    if preview != Preview::Still {
        for warning in merge::left_out(&plan, container, &extras)? {
            eprintln!("warning: {warning}");
        }
    }
    let whole_frames = if plan.interlaced && plan.settings.deinterlace() == Deinterlace::FieldRate { 2 } else { 1 };
    let length = match preview {
        Preview::Clip(seconds) => (seconds * 1e9) as u64,
        Preview::Still => 1,
    };
    let ranges: Vec<(usize, usize)> = POSITIONS.iter().map(|&p| frames_at(&plan, p, length, whole_frames)).collect();
    let total = ranges.iter().map(|(first, end)| (end - first) as u64).sum();
    let mode = if job.engine.progress_json { super::cli::ProgressMode::Json } else { command.run.progress };
    let reporter = Reporter::start(mode, job.engine.quiet, total);
    let mut written = Vec::new();
    let mut result = Ok(());
    for (n, &(first, end)) in ranges.iter().enumerate() {
        let dir = work.0.join((n + 1).to_string());
        let preroll = if plan.settings.temporal > 0.0 { plan::TEMPORAL_PREROLL.min(first) } else { 0 };
        let segment =
            Segment { index: 0, first_frame: first, frames: end - first, preroll_frames: preroll, scene_cut: false };
        let clip = Plan { segments: vec![segment], ..plan.clone() };
        let step = std::fs::create_dir(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))
            .and_then(|()| segment::run(&dir, &clip, 0, job.engine.threads, &reporter.counters.processed, cancel))
            .and_then(|_| match preview {
                Preview::Clip(_) => {
                    let path = preview_path(output, n + 1, container.name());
                    let range = Clip { start: plan.pts[first], end: plan.pts.get(end).copied() };
                    merge::write(&dir, &clip, &path, &extras, Some(range), cancel).map(|()| path)
                }
                Preview::Still => {
                    let path = preview_path(output, n + 1, "png");
                    let png = side_by_side(&clip, &segment::segment_path(&dir, 0), first, cancel)?;
                    files::write_atomic(&path, &png).map(|()| path)
                }
            });
        match step {
            Ok(path) => written.push(path),
            Err(e) => {
                result = Err(e.context(format!("preview {} (frames {first} to {})", n + 1, end - 1)));
                break;
            }
        }
    }
    let json = reporter.json;
    reporter.finish();
    result?;
    if json {
        crate::progress::json_line(&serde_json::json!({ "done": true, "previews": written }));
    } else if !job.engine.quiet {
        for path in &written {
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// The still of frame `index`: the source frame scaled to the output size with
/// Lanczos on the left, the upscaled (and encoded) frame of `segment_file` on the right.
fn side_by_side(plan: &Plan, segment_file: &Path, index: usize, cancel: &AtomicBool) -> Result<Vec<u8>> {
    let pts = plan.pts[index];
    let upscaled = rgb_frame(segment_file, pts, cancel)?;
    // At field rate a frame's first field has the source frame's pts.
    let source = rgb_frame(&plan.source.path, pts, cancel)?;
    let (w, h) = (upscaled.width, upscaled.height);
    let format = PixelFormat::new(Channels::Rgb, SampleType::U8);
    let mut out = vec![0u8; (2 * w * h * 3) as usize];
    {
        let src = ImageRef::new(&source.data, source.width, source.height, source.stride, format)?;
        let mut left = ImageMut::new(&mut out, w, h, 2 * w as usize * 3, format)?;
        resample::resample(&src, &mut left, resample::Filter::Lanczos3)?;
    }
    let row = w as usize * 3;
    for (y, line) in out.chunks_mut(2 * row).enumerate() {
        line[row..].copy_from_slice(&upscaled.data[y * upscaled.stride..y * upscaled.stride + row]);
    }
    let mut png = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut png),
        &out,
        2 * w,
        h,
        image::ExtendedColorType::Rgb8,
    )
    .context("cannot encode the preview PNG")?;
    Ok(png)
}

struct Rgb {
    data: Vec<u8>,
    width: u32,
    height: u32,
    stride: usize,
}

/// The frame of a file with this pts, decoded to RGB at its own size.
fn rgb_frame(path: &Path, pts: u64, cancel: &AtomicBool) -> Result<Rgb> {
    g::init()?;
    let pipeline = Running(gst::Pipeline::new());
    let filesrc = g::make("filesrc")?;
    filesrc.set_property("location", path);
    let decodebin = g::make("decodebin")?;
    let convert = g::make("videoconvert")?;
    let sink = g::app_sink(Some(&gst::Caps::builder("video/x-raw").field("format", "RGB").build()))?;
    pipeline.add_many([&filesrc, &decodebin, &convert, &sink])?;
    filesrc.link(&decodebin)?;
    convert.link(&sink)?;
    let head = convert.static_pad("sink").expect("videoconvert has a sink pad");
    g::link_first_video(&pipeline, &decodebin, head);
    g::set_state(&pipeline, gst::State::Paused).with_context(|| format!("cannot decode {}", path.display()))?;
    if pts > 0 {
        g::seek_key_before(&pipeline, pts)?;
    }
    g::set_state(&pipeline, gst::State::Playing)?;
    while let Some(sample) = g::pull(&pipeline, &sink, cancel)? {
        let Some(buffer) = sample.buffer() else { continue };
        if buffer.pts().map(|t| t.nseconds()) != Some(pts) {
            continue;
        }
        let s = sample.caps().and_then(|c| c.structure(0)).context("a frame without caps")?;
        let (width, height) = (s.get::<i32>("width")? as u32, s.get::<i32>("height")? as u32);
        let data = buffer.map_readable().context("cannot read a decoded frame")?.to_vec();
        // Rows are padded to 4 bytes.
        let stride = data.len() / height.max(1) as usize;
        return Ok(Rgb { data, width, height, stride });
    }
    bail!("{} has no frame at {pts} ns", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_values() {
        assert_eq!(parse("2"), Ok(Preview::Clip(2.0)));
        assert_eq!(parse("0.5"), Ok(Preview::Clip(0.5)));
        assert_eq!(parse("STILL"), Ok(Preview::Still));
        for bad in ["0", "-1", "nan", "inf", "601", "soon", ""] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(preview_path(Path::new("/a/tape_x2.mkv"), 3, "png"), Path::new("/a/tape_x2.preview-3.png"));
    }
}
