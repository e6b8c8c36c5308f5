//! The plan of a video job (`PARTS/plan.json`, schema in docs/VIDEO.md): the source,
//! the settings and their hash, every frame's timestamp, and the segments, cut at
//! keyframes so each one decodes on its own.

use std::{
    path::{Path, PathBuf},
    sync::atomic::AtomicBool,
};

use aiupscale_core::{
    models::{Catalog, ContentChoice},
    ModelSource, SessionConfig, Upscaler, UpscalerConfig,
};
use anyhow::{bail, Context, Result};
use gstreamer as gst;
use gstreamer::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{
    cli::{value_name, Codec, Deinterlace, JobArgs},
    gst::{self as g, Running},
};
use crate::cli::usage;

pub const PLAN_FILE: &str = "plan.json";
pub const VERSION: u32 = 1;

/// Everything that decides the output: any change invalidates a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// `--model` as given (a path made absolute), or the catalog's video model for the scale.
    pub model: String,
    pub scale: f64,
    /// 0 = chosen per frame size.
    pub tile_size: u32,
    pub device: String,
    pub engine: String,
    pub precision: String,
    pub denoise: f32,
    pub temporal: f32,
    pub codec: String,
    /// None for the lossless/intra codecs (ffv1, prores).
    pub crf: Option<u8>,
    pub preset: String,
    pub deinterlace: String,
    pub segment_frames: u32,
}

/// The source file, to notice when it changed under a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub path: PathBuf,
    pub size: u64,
    pub modified_ns: u128,
}

/// A stream copied as it is into OUT (audio, subtitles, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stream {
    /// audio, subtitle or data.
    pub kind: String,
    pub caps: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub index: usize,
    /// Index of its first frame in `Plan::pts`.
    pub first_frame: usize,
    pub frames: usize,
    /// Frames before `first_frame` run through the element and dropped (the temporal
    /// filter's history, so a segment's output does not depend on where it starts).
    pub preroll_frames: usize,
    /// It starts at a scene change (so without temporal history: no preroll).
    #[serde(default)]
    pub scene_cut: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub version: u32,
    pub source: Source,
    pub settings: Settings,
    /// sha256 of `settings` and `source` (hex).
    pub settings_hash: String,
    /// Inference threads (0 = all cores): not part of the hash, a segment may override it.
    pub threads: u32,
    pub width: u32,
    pub height: u32,
    pub interlaced: bool,
    /// Output frames.
    pub frames: usize,
    /// Presentation timestamp of every output frame, ns, in order.
    pub pts: Vec<u64>,
    /// Duration of the last frame, ns.
    pub last_duration: u64,
    pub streams: Vec<Stream>,
    pub segments: Vec<Segment>,
}

/// Frames of temporal history re-run before a segment's first frame.
pub const TEMPORAL_PREROLL: usize = 4;

impl Settings {
    /// The settings of a command line; resolves the model and scale defaults.
    pub fn new(job: &JobArgs) -> Result<Self> {
        let engine = &job.engine;
        if engine.classic.is_some() {
            return Err(usage("--classic is for images; video runs a model in the aiupscale element"));
        }
        if job.crf.is_some() && matches!(job.codec, Codec::Ffv1 | Codec::Prores) {
            return Err(usage(format!("--crf applies to x264 and x265, not to {}", value_name(&job.codec))));
        }
        let model = engine.model.as_deref().map(ModelSource::parse);
        let scale = match (engine.scale, &model) {
            (Some(scale), _) => scale,
            (None, None) => 2.0,
            (None, Some(ModelSource::Catalog(name))) => f64::from(Catalog::builtin().require(name)?.scale),
            (None, Some(source @ ModelSource::File(path))) => {
                let config = UpscalerConfig { session: SessionConfig::default(), ..UpscalerConfig::default() };
                let upscaler =
                    Upscaler::new(source, config).with_context(|| format!("cannot load model {}", path.display()))?;
                f64::from(upscaler.native_scale())
            }
        };
        if !(1.0..=16.0).contains(&scale) {
            return Err(usage(format!("--scale {scale} is outside the element's range 1..=16")));
        }
        if let Some(tile) = engine.tile_size.filter(|t| !(16..=4096).contains(t)) {
            return Err(usage(format!("--tile-size {tile} is outside the element's range 16..=4096")));
        }
        let model = match model {
            // Video defaults to real camera footage, the element's own default content.
            None => Catalog::builtin()
                .default_model(engine.content.map_or(ContentChoice::Footage, |c| c.choice()), scale)?
                .name
                .clone(),
            Some(ModelSource::Catalog(name)) => name,
            Some(ModelSource::File(path)) => std::path::absolute(&path)
                .with_context(|| format!("cannot resolve {}", path.display()))?
                .display()
                .to_string(),
        };
        let crf = match job.codec {
            Codec::X264 => Some(job.crf.unwrap_or(16)),
            Codec::X265 => Some(job.crf.unwrap_or(18)),
            Codec::Ffv1 | Codec::Prores => None,
        };
        Ok(Settings {
            model,
            scale,
            tile_size: engine.tile_size.unwrap_or(0),
            device: engine.device.name().to_owned(),
            engine: engine.engine.name().to_owned(),
            precision: engine.precision.name().to_owned(),
            denoise: engine.denoise,
            temporal: job.temporal,
            codec: value_name(&job.codec),
            crf,
            preset: value_name(&job.preset),
            deinterlace: value_name(&job.deinterlace),
            segment_frames: job.segment_frames,
        })
    }

    /// The model's display name (a file's stem, or the catalog name).
    pub fn model_name(&self) -> String {
        match ModelSource::parse(&self.model) {
            ModelSource::File(path) => path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
            ModelSource::Catalog(name) => name,
        }
    }

    pub fn codec(&self) -> Codec {
        clap::ValueEnum::from_str(&self.codec, true).unwrap_or(Codec::X264)
    }

    pub fn deinterlace(&self) -> Deinterlace {
        clap::ValueEnum::from_str(&self.deinterlace, true).unwrap_or(Deinterlace::Auto)
    }
}

impl Source {
    pub fn of(path: &Path) -> Result<Self> {
        let path = std::fs::canonicalize(path).with_context(|| format!("cannot open {}", path.display()))?;
        let meta = std::fs::metadata(&path).with_context(|| format!("cannot read {}", path.display()))?;
        if !meta.is_file() {
            return Err(usage(format!("{} is not a file", path.display())));
        }
        let modified_ns =
            meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
        Ok(Source { path, size: meta.len(), modified_ns })
    }
}

/// The hash that identifies a job: settings and source.
pub fn settings_hash(settings: &Settings, source: &Source) -> String {
    let text = serde_json::to_string(&(settings, source)).expect("plain data serialises");
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// "scale 2 -> 4, crf 16 -> 18": the fields that differ between two settings.
pub fn differences(old: &Settings, new: &Settings) -> Vec<String> {
    let (old, new) = (serde_json::to_value(old).unwrap_or_default(), serde_json::to_value(new).unwrap_or_default());
    let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else { return Vec::new() };
    old.iter()
        .filter(|(key, value)| new.get(*key) != Some(value))
        .map(|(key, value)| {
            format!("{} {value} -> {}", key.replace('_', "-"), new.get(key).cloned().unwrap_or_default())
        })
        .collect()
}

impl Plan {
    pub fn path(parts: &Path) -> PathBuf {
        parts.join(PLAN_FILE)
    }

    pub fn load(parts: &Path) -> Result<Self> {
        let path = Self::path(parts);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("no plan at {} (run `aiupscale video plan IN PARTS` first)", path.display()))?;
        let plan: Plan = serde_json::from_str(&text).with_context(|| format!("{} is not a plan", path.display()))?;
        if plan.version != VERSION {
            bail!("{} is a version {} plan; this aiupscale reads version {VERSION}", path.display(), plan.version);
        }
        Ok(plan)
    }

    /// Writes plan.json atomically (temp file, fsync, rename).
    pub fn save(&self, parts: &Path) -> Result<()> {
        let text = serde_json::to_string(self)?;
        super::files::write_atomic(&Self::path(parts), text.as_bytes())
    }

    /// Refuses a plan made for another source or other settings, saying what changed
    /// and how to start over.
    pub fn check_matches(&self, parts: &Path, source: &Source, settings: &Settings) -> Result<()> {
        let start_over = format!(
            "to start over, delete {} (its finished segments are lost); to finish this job, run the command it was \
             planned with",
            parts.display()
        );
        if self.source != *source {
            bail!(
                "{} was planned for {} ({} bytes) and the source is now {} ({} bytes, or modified since); {start_over}",
                parts.display(),
                self.source.path.display(),
                self.source.size,
                source.path.display(),
                source.size
            );
        }
        let changed = differences(&self.settings, settings);
        if !changed.is_empty() {
            bail!("the settings changed since {} was planned: {}; {start_over}", parts.display(), changed.join(", "));
        }
        Ok(())
    }

    pub fn segment_pts(&self, segment: &Segment) -> &[u64] {
        &self.pts[segment.first_frame..segment.first_frame + segment.frames]
    }

    /// The pts just after a segment's last frame (the next segment's first), if any.
    pub fn end_pts(&self, segment: &Segment) -> Option<u64> {
        self.pts.get(segment.first_frame + segment.frames).copied()
    }
}

/// What a scan of the source found: the video frames in presentation order, which
/// are keyframes, and the other streams.
struct Scan {
    /// (pts, keyframe), sorted by pts.
    frames: Vec<(u64, bool)>,
    last_duration: u64,
    caps: gst::Caps,
    streams: Vec<Stream>,
}

/// Reads the source's container without decoding: every video frame's pts and
/// keyframe flag, and the other streams' caps.
fn scan(source: &Path, cancel: &AtomicBool) -> Result<Scan> {
    g::init()?;
    let pipeline = Running(gst::Pipeline::new());
    let filesrc = g::make("filesrc")?;
    filesrc.set_property("location", source);
    let parsebin = g::make("parsebin")?;
    let sink = g::app_sink(None)?;
    pipeline.add_many([&filesrc, &parsebin, &sink])?;
    filesrc.link(&parsebin)?;
    let streams = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Stream>::new()));
    let video_linked = std::sync::Arc::new(AtomicBool::new(false));
    {
        let (pipeline, sink, streams, video_linked) =
            (pipeline.0.downgrade(), sink.clone(), streams.clone(), video_linked.clone());
        parsebin.connect_pad_added(move |_, pad| {
            let Some(pipeline) = pipeline.upgrade() else { return };
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let name = caps.structure(0).map(|s| s.name().to_string()).unwrap_or_default();
            let is_video = name.starts_with("video/") || name.starts_with("image/");
            if is_video && !video_linked.swap(true, std::sync::atomic::Ordering::SeqCst) {
                let _ = pad.link(&sink.static_pad("sink").expect("appsink has a sink pad"));
                return;
            }
            let kind = if name.starts_with("audio/") {
                "audio"
            } else if name.starts_with("text/") || name.starts_with("subpicture/") || name.contains("subtitle") {
                "subtitle"
            } else if is_video {
                "video"
            } else {
                "data"
            };
            streams
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Stream { kind: kind.into(), caps: caps.to_string() });
            if let Ok(discard) = g::discard() {
                let _ = pipeline.add(&discard);
                let _ = discard.sync_state_with_parent();
                let _ = pad.link(&discard.static_pad("sink").expect("fakesink has a sink pad"));
            }
        });
    }
    g::set_state(&pipeline, gst::State::Playing).with_context(|| format!("cannot read {}", source.display()))?;
    let mut frames = Vec::new();
    let mut caps = None;
    let mut last_duration = 0;
    while let Some(sample) = g::pull(&pipeline, &sink, cancel)? {
        let Some(buffer) = sample.buffer() else { continue };
        let Some(pts) = buffer.pts() else {
            bail!("frame {} of {} has no timestamp; re-mux the file", frames.len(), source.display());
        };
        frames.push((pts.nseconds(), !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT)));
        last_duration = buffer.duration().map_or(0, |d| d.nseconds());
        if caps.is_none() {
            caps = sample.caps_owned();
        }
    }
    if !video_linked.load(std::sync::atomic::Ordering::SeqCst) || frames.is_empty() {
        bail!("{} has no video frames", source.display());
    }
    frames.sort_unstable_by_key(|f| f.0);
    if let Some(w) = frames.windows(2).find(|w| w[0].0 == w[1].0) {
        bail!("two frames of {} share the timestamp {} ns; re-mux the file", source.display(), w[0].0);
    }
    if last_duration == 0 {
        last_duration = frames.windows(2).last().map_or(40_000_000, |w| w[1].0 - w[0].0);
    }
    let streams = streams.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(Scan { frames, last_duration, caps: caps.context("no caps on the video stream")?, streams })
}

/// Cuts `keyframes` (one flag per output frame) into segments of about `target`
/// frames, each starting at a keyframe: at the keyframe with the strongest scene
/// change within `target / 4` of the planned cut (`scenes(lo, hi)` gives the scores of
/// frames `lo..=hi`), else at the first keyframe at or after it. A segment that starts
/// at a scene change needs no temporal history (`preroll` frames elsewhere).
pub fn cut(
    keyframes: &[bool],
    target: usize,
    preroll: usize,
    mut scenes: impl FnMut(usize, usize) -> Result<Vec<f64>>,
) -> Result<Vec<Segment>> {
    let n = keyframes.len();
    let mut starts = vec![(0, false)];
    loop {
        let planned = starts[starts.len() - 1].0 + target;
        if planned >= n {
            break;
        }
        let tolerance = target / 4;
        let (lo, hi) = ((planned - tolerance).max(starts[starts.len() - 1].0 + 1), (planned + tolerance).min(n - 1));
        let mut at_scene = None;
        if tolerance > 0 && keyframes[lo..=hi].iter().any(|&k| k) {
            let scores = scenes(lo, hi)?;
            at_scene = (lo..=hi)
                .filter(|&i| keyframes[i] && scores[i - lo] >= super::scenes::THRESHOLD)
                .max_by(|&a, &b| scores[a - lo].total_cmp(&scores[b - lo]).then(b.cmp(&a)));
        }
        match at_scene.map(|i| (i, true)).or_else(|| (planned..n).find(|&i| keyframes[i]).map(|i| (i, false))) {
            Some(start) => starts.push(start),
            None => break,
        }
    }
    let ends = starts.iter().skip(1).map(|s| s.0).chain(std::iter::once(n));
    Ok(starts
        .iter()
        .zip(ends)
        .enumerate()
        .map(|(index, (&(first_frame, scene_cut), end))| Segment {
            index,
            first_frame,
            frames: end - first_frame,
            preroll_frames: if scene_cut { 0 } else { preroll.min(first_frame) },
            scene_cut,
        })
        .collect())
}

/// Scans the source and builds its plan.
pub fn make(source: Source, settings: Settings, threads: u32, cancel: &AtomicBool) -> Result<Plan> {
    let scan = scan(&source.path, cancel)?;
    let s = scan.caps.structure(0).context("empty video caps")?;
    let (width, height) = (s.get::<i32>("width").unwrap_or(0), s.get::<i32>("height").unwrap_or(0));
    let interlaced = s.get::<&str>("interlace-mode").is_ok_and(|m| m != "progressive");
    let field_rate = interlaced && settings.deinterlace() == Deinterlace::FieldRate;
    let mut keyframes: Vec<bool> = scan.frames.iter().map(|f| f.1).collect();
    let mut pts: Vec<u64> = scan.frames.iter().map(|f| f.0).collect();
    let mut last_duration = scan.last_duration;
    if field_rate {
        // yadif at field rate: each frame becomes two, the second half a frame later
        // (rounded down to the ns; the muxers' time scales then store it exactly).
        let durations: Vec<u64> =
            pts.windows(2).map(|w| w[1] - w[0]).chain(std::iter::once(scan.last_duration)).collect();
        pts = pts.iter().zip(&durations).flat_map(|(&p, &d)| [p, p + d / 2]).collect();
        keyframes = keyframes.iter().flat_map(|&k| [k, false]).collect();
        last_duration -= last_duration / 2;
    }
    let preroll = if settings.temporal > 0.0 { TEMPORAL_PREROLL } else { 0 };
    // Scene scores are of source frames; at field rate a frame's second field never
    // starts a segment.
    let per_frame = if field_rate { 2 } else { 1 };
    let source_pts: Vec<u64> = scan.frames.iter().map(|f| f.0).collect();
    let segments = cut(&keyframes, settings.segment_frames as usize, preroll, |lo, hi| {
        let first = lo / per_frame;
        let scores = super::scenes::scores(&source.path, &source_pts, first, hi / per_frame, cancel)?;
        Ok((lo..=hi).map(|i| if i % per_frame == 0 { scores[i / per_frame - first] } else { 0.0 }).collect())
    })?;
    let settings_hash = settings_hash(&settings, &source);
    Ok(Plan {
        version: VERSION,
        source,
        settings,
        settings_hash,
        threads,
        width: u32::try_from(width).unwrap_or(0),
        height: u32::try_from(height).unwrap_or(0),
        interlaced,
        frames: pts.len(),
        pts,
        last_duration,
        streams: scan.streams,
        segments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_scenes(lo: usize, hi: usize) -> Result<Vec<f64>> {
        Ok(vec![0.0; hi + 1 - lo])
    }

    #[test]
    fn segments_start_at_keyframes_and_cover_every_frame() {
        let mut keys = vec![false; 100];
        for k in [0, 10, 25, 31, 60, 99] {
            keys[k] = true;
        }
        let segments = cut(&keys, 20, 4, no_scenes).unwrap();
        let starts: Vec<usize> = segments.iter().map(|s| s.first_frame).collect();
        assert_eq!(starts, [0, 25, 60, 99]);
        assert_eq!(segments.iter().map(|s| s.frames).sum::<usize>(), 100);
        assert_eq!(segments[0].preroll_frames, 0);
        assert_eq!(segments[1].preroll_frames, 4);
        assert!(segments.iter().all(|s| keys[s.first_frame] && !s.scene_cut));
    }

    #[test]
    fn a_keyframe_at_a_scene_change_near_the_planned_cut_wins() {
        // All-intra: every frame a keyframe; scene changes at 47 and 90, none in
        // the third window: cuts planned 40 after each start, within 10).
        let keys = vec![true; 200];
        let score = |i: usize| match i {
            47 => 0.5,
            90 => 0.3,
            44 => 0.05,
            _ => 0.01,
        };
        let segments = cut(&keys, 40, 4, |lo, hi| Ok((lo..=hi).map(score).collect())).unwrap();
        let starts: Vec<(usize, bool, usize)> =
            segments.iter().map(|s| (s.first_frame, s.scene_cut, s.preroll_frames)).collect();
        assert_eq!(starts[..3], [(0, false, 0), (47, true, 0), (90, true, 0)]);
        assert_eq!(starts[3], (130, false, 4), "no scene change near 130: the planned cut, re-primed");
    }

    #[test]
    fn one_keyframe_is_one_segment() {
        let mut keys = vec![false; 50];
        keys[0] = true;
        assert_eq!(
            cut(&keys, 10, 0, no_scenes).unwrap(),
            [Segment { index: 0, first_frame: 0, frames: 50, preroll_frames: 0, scene_cut: false }]
        );
    }
}
