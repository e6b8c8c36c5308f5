//! The command line of `aiupscale video` (clap definitions only). The forms are a
//! contract with the cluster driver (cluster/) and docs/VIDEO.md: keep them.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use crate::cli::EngineArgs;

/// `video IN OUT [options]`, or one of the steps `plan`, `segment`, `merge`.
#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct VideoCommand {
    #[command(subcommand)]
    pub step: Option<VideoStep>,
    /// Input video: anything GStreamer's decodebin plays.
    #[arg(value_name = "IN", required = true)]
    pub input: Option<PathBuf>,
    /// Output video; the container follows the extension: .mkv, .mp4 or .mov. The work
    /// folder OUT.parts/ next to it holds the plan and finished segments until the end.
    #[arg(value_name = "OUT", required = true)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub job: JobArgs,
    #[command(flatten)]
    pub run: RunArgs,
    /// Keep OUT.parts/ after OUT is written (it is removed by default).
    #[arg(long)]
    pub keep_parts: bool,
    /// Instead of OUT, render clips of SECONDS (default 2) at 10%, 50% and 90% of IN as
    /// OUT-STEM.preview-1.EXT .. -3 (the job's settings, streams included), or with
    /// `still` one PNG per position: the source frame scaled with Lanczos | upscaled.
    #[arg(long, value_name = "SECONDS|still", num_args = 0..=1, default_missing_value = "2",
          value_parser = super::preview::parse, conflicts_with = "keep_parts")]
    pub preview: Option<super::preview::Preview>,
}

impl VideoCommand {
    /// Whether progress (and so errors) go to stderr as JSON lines.
    pub fn progress_json(&self) -> bool {
        match &self.step {
            None => self.run.progress == ProgressMode::Json || self.job.engine.progress_json,
            Some(VideoStep::Segment(a)) => a.run.progress == ProgressMode::Json,
            Some(VideoStep::Merge(a)) => a.run.progress == ProgressMode::Json,
            Some(VideoStep::Plan(_)) => false,
        }
    }
}

#[derive(Debug, Clone, Subcommand)]
pub enum VideoStep {
    /// Scan IN and write the plan (PARTS/plan.json): segments cut at keyframes, at scene
    /// changes where one is near.
    Plan(PlanArgs),
    /// Upscale and encode segment N of a plan (0-based); a verified segment is skipped.
    Segment(SegmentArgs),
    /// Join the segments with IN's other streams into OUT; refuses while any is missing.
    Merge(MergeArgs),
}

#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    #[arg(value_name = "IN")]
    pub input: PathBuf,
    /// The work folder (created if needed).
    #[arg(value_name = "PARTS")]
    pub parts: PathBuf,
    #[command(flatten)]
    pub job: JobArgs,
    /// Print one JSON object on stdout: {"version":1,"segments":N,"frames":F,"parts":"..."}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct SegmentArgs {
    #[arg(value_name = "PARTS")]
    pub parts: PathBuf,
    /// Segment number, 0-based.
    #[arg(value_name = "N")]
    pub index: usize,
    /// Inference threads on this machine (default: the plan's --threads).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=1024))]
    pub threads: Option<u32>,
    #[command(flatten)]
    pub run: RunArgs,
    /// Print nothing but errors.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    #[arg(value_name = "PARTS")]
    pub parts: PathBuf,
    /// Output video (.mkv, .mp4 or .mov).
    #[arg(value_name = "OUT")]
    pub output: PathBuf,
    #[command(flatten)]
    pub run: RunArgs,
    /// Print nothing but errors.
    #[arg(short, long)]
    pub quiet: bool,
}

/// What a plan fixes: every option here is recorded in plan.json, and all but
/// `--threads` are part of its settings hash.
#[derive(Debug, Clone, Args)]
pub struct JobArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Motion-compensated temporal stabilisation, 0 (off) to 1 (the element's `temporal`).
    #[arg(long, value_name = "STRENGTH", default_value_t = 0.0, value_parser = crate::cli::parse_strength)]
    pub temporal: f32,
    /// Video codec of OUT. Default x264 (CRF 16): visually lossless at a tenth of ffv1's size.
    #[arg(long, value_name = "CODEC", default_value = "x264")]
    pub codec: Codec,
    /// Constant rate factor of x264/x265 (0 best .. 51); default 16 (x264), 18 (x265).
    #[arg(long, value_name = "CRF", value_parser = clap::value_parser!(u8).range(0..=51))]
    pub crf: Option<u8>,
    /// Encoder speed preset of x264/x265.
    #[arg(long, value_name = "PRESET", default_value = "medium")]
    pub preset: Preset,
    /// Interlaced sources: auto (deinterlace when the caps say interlaced, one frame per
    /// frame), off, field-rate (one frame per field), frame-rate.
    #[arg(long, value_name = "MODE", default_value = "auto")]
    pub deinterlace: Deinterlace,
    /// Target segment length in frames; a cut goes to a keyframe at a scene change within
    /// a quarter of it, else to the next keyframe.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub segment_frames: u32,
}

/// How progress is shown (not part of the plan).
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// auto: a bar when stderr is a terminal; json: one JSON line a second on stderr
    /// (docs/BRIDGE.md); none.
    #[arg(long, value_name = "MODE", default_value = "auto")]
    pub progress: ProgressMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    Auto,
    Json,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Codec {
    X264,
    X265,
    Ffv1,
    Prores,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    Ultrafast,
    Superfast,
    Veryfast,
    Faster,
    Fast,
    Medium,
    Slow,
    Slower,
    Veryslow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Deinterlace {
    Auto,
    Off,
    FieldRate,
    FrameRate,
}

/// The name clap shows for a value (and the plan records).
pub fn value_name(value: &impl ValueEnum) -> String {
    value.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default()
}
