//! The upscaler: a model (or a classic filter) applied tile by tile, then resampled
//! to the exact requested size.

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicBool, Ordering},
};

use aiupscale_models::{cache::ModelCache, Catalog};

use crate::{
    colorfix::match_colors,
    engine::{Backend, Engine, Precision},
    pixels::{
        check_dimensions, phases_to_planar, read_tile, write_tile, write_tile_phases_u8, Image, ImageMut, ImageRef,
        PlaneRect,
    },
    pooled::{Means, PooledStages},
    resample::{resample, Filter},
    runtime::{is_light_model, prefers_blocked_layout, Device, SessionConfig},
    tiling::{auto_tile_shape, TilePlan, TileSpec},
    CoreError, ModelLoadError, ParameterError, Result, SetupError,
};

/// Which model to load: a catalog name or a path to an `.onnx` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    Catalog(String),
    File(PathBuf),
}

impl ModelSource {
    /// A path-looking argument (a separator or an `.onnx` suffix) is a file; the rest
    /// are catalog names.
    pub fn parse(text: &str) -> Self {
        if text.ends_with(".onnx") || text.contains(std::path::MAIN_SEPARATOR) {
            ModelSource::File(PathBuf::from(text))
        } else {
            ModelSource::Catalog(text.to_owned())
        }
    }
}

/// What the core knows about a loaded model; the scale and border are measured
/// from the model itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub name: String,
    pub scale: u32,
    pub border: u32,
    pub tile_multiple: u32,
    pub default_overlap: u32,
    /// Overlap at the image's own edges (see `TileSpec::edge_overlap`).
    pub edge_overlap: u32,
    pub flops_per_pixel: Option<f64>,
}

/// Settings of an [`Upscaler`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpscalerConfig {
    pub session: SessionConfig,
    /// Tile side in input pixels, context included; `None` picks the cheapest tile
    /// shape within the memory bound for each image.
    pub tile_size: Option<u32>,
    /// Context pixels per tile side; `None` uses the model's recommended overlap.
    pub overlap: Option<u32>,
    /// Filter from the model's native scale to the requested size.
    pub resample: Filter,
    /// Move the output's local mean colour back onto the input's ([`crate::colorfix`]);
    /// `None` decides per model with [`fixes_colors`].
    pub color_fix: Option<bool>,
}

impl Default for UpscalerConfig {
    fn default() -> Self {
        Self {
            session: SessionConfig::default(),
            tile_size: None,
            overlap: None,
            resample: Filter::Lanczos3,
            color_fix: None,
        }
    }
}

/// Whether a model's colours are corrected by default: the convolutional models
/// (Real-ESRGAN, animevideov3, waifu2x: over 1e5 FLOPs per pixel, and files of unknown
/// cost) shifted mean colours by up to 10/255 in docs/QUALITY.md; Anime4K stayed within
/// 1/255, and its real-time budget has no room for the extra pass.
pub fn fixes_colors(info: &ModelInfo) -> bool {
    !is_light_model(info.flops_per_pixel)
}

/// Output size requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// Multiply both sides (any factor > 0, e.g. 3.5).
    Factor(f64),
    /// Exactly this size.
    Size { width: u32, height: u32 },
    /// The largest size that fits in the box and keeps the aspect ratio.
    Fit { width: u32, height: u32 },
}

impl Target {
    pub fn output_size(&self, width: u32, height: u32) -> Result<(u32, u32)> {
        let (w, h) = match *self {
            Target::Factor(f) if !(f.is_finite() && f > 0.0) => {
                return Err(CoreError::Parameter(ParameterError::ScaleFactor { factor: f }))
            }
            Target::Factor(f) => ((f64::from(width) * f).round(), (f64::from(height) * f).round()),
            Target::Size { width: w, height: h } => (f64::from(w), f64::from(h)),
            Target::Fit { width: bw, height: bh } => {
                if bw == 0 || bh == 0 {
                    return Err(CoreError::Parameter(ParameterError::EmptyFitBox { width: bw, height: bh }));
                }
                let f = (f64::from(bw) / f64::from(width)).min(f64::from(bh) / f64::from(height));
                ((f64::from(width) * f).round().min(f64::from(bw)), (f64::from(height) * f).round().min(f64::from(bh)))
            }
        };
        let (w, h) = (w.max(1.0) as u64, h.max(1.0) as u64);
        check_dimensions(w, h)?;
        Ok((w as u32, h as u32))
    }
}

/// Progress reporting and cancellation.
#[derive(Default)]
pub struct Control<'a> {
    /// Called with the fraction done (0..=1) after each tile.
    pub progress: Option<&'a mut dyn FnMut(f32)>,
    /// When set, the run stops with [`CoreError::Cancelled`]: before the next tile, and
    /// inside a running tile within about a second (the engines' own cancel).
    pub cancel: Option<&'a AtomicBool>,
}

impl Control<'_> {
    fn cancelled(&self) -> bool {
        self.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
    }

    fn report(&mut self, fraction: f32) {
        if let Some(progress) = self.progress.as_mut() {
            progress(fraction);
        }
    }
}

struct OnnxModel {
    backend: Backend,
    info: ModelInfo,
    /// The output is in phase layout (`aiupscale_models::metadata::PHASES`).
    phases: bool,
    /// For models whose SE blocks average over the whole input (catalog
    /// `global_pooling`): their stages, loaded when an image first needs several tiles.
    pooling: Option<Pooling>,
}

struct Pooling {
    path: PathBuf,
    session: SessionConfig,
    stages: Option<PooledStages>,
}

enum Kind {
    Onnx(Box<OnnxModel>),
    Classic,
}

/// Upscales images with one model (or a classic filter). Not `Sync`: inference
/// needs `&mut self`; make one per thread.
pub struct Upscaler {
    kind: Kind,
    config: UpscalerConfig,
}

/// The tile budget per model: x4 models with heavy bodies keep 320x320 tiles (their
/// 4x-resolution activations dominate memory: Real-ESRGAN x4plus peaks at ~2.5 GB
/// there, measured with ONNX Runtime); Anime4K-class models (a few thousand FLOPs and
/// at most 16 channels per pixel) take a whole 1080p frame, since per-tile overhead is
/// what they pay for; others may use 512x512.
fn max_tile_pixels(info: &ModelInfo) -> u64 {
    if is_light_model(info.flops_per_pixel) {
        1920 * 1088
    } else if info.scale >= 4 && info.flops_per_pixel.is_none_or(|f| f > 5e6) {
        320 * 320
    } else {
        512 * 512
    }
}

impl Upscaler {
    /// Loads a model from the catalog (through the local model cache) or a file.
    pub fn new(source: &ModelSource, config: UpscalerConfig) -> Result<Self> {
        Self::with_cache(source, config, &ModelCache::from_env()?)
    }

    pub fn with_cache(source: &ModelSource, config: UpscalerConfig, cache: &ModelCache) -> Result<Self> {
        let model = match source {
            ModelSource::Catalog(name) => {
                let entry = Catalog::builtin().require(name)?;
                // int8 runs its own file, built from this one (`crate::quantize`).
                let path = if crate::quantize::wants_int8(name, &config.session) {
                    cache.locate_int8(entry)?.0
                } else {
                    cache.locate_verified(entry)?
                };
                let hint = ModelInfo {
                    name: entry.name.clone(),
                    scale: entry.scale,
                    border: entry.border,
                    tile_multiple: entry.tile_multiple,
                    default_overlap: entry.overlap,
                    edge_overlap: entry.edge_overlap(),
                    flops_per_pixel: (entry.flops_per_pixel > 0.0).then_some(entry.flops_per_pixel),
                };
                let session = SessionConfig {
                    blocked_layout: config
                        .session
                        .blocked_layout
                        .or(Some(prefers_blocked_layout(hint.flops_per_pixel))),
                    ..config.session
                };
                let mut model = load_model(&path, Some(hint), &session)?;
                if entry.global_pooling {
                    model.pooling = Some(Pooling { path, session, stages: None });
                }
                model
            }
            ModelSource::File(_) if config.session.precision == Precision::Int8 => {
                return Err(CoreError::Setup(SetupError::PrecisionUnavailable {
                    engine: config.session.engine.name(),
                    precision: "int8",
                    reason: "int8 models are built from catalog models (calibrated, stored in the model cache); \
                             a file runs as it is, in fp32 or bf16"
                        .into(),
                }))
            }
            ModelSource::File(path) => load_model(path, None, &config.session)?,
        };
        Ok(Self { kind: Kind::Onnx(Box::new(model)), config })
    }

    /// A classic resampler behind the same API (the baseline for comparisons).
    pub fn classic(filter: Filter) -> Self {
        Self { kind: Kind::Classic, config: UpscalerConfig { resample: filter, ..Default::default() } }
    }

    pub fn info(&self) -> Option<&ModelInfo> {
        match &self.kind {
            Kind::Onnx(m) => Some(&m.info),
            Kind::Classic => None,
        }
    }

    /// The device inference actually runs on.
    pub fn device(&self) -> Device {
        match &self.kind {
            Kind::Onnx(m) => m.backend.device(),
            Kind::Classic => Device::Cpu,
        }
    }

    /// Why `Device::Auto` runs on the CPU although a GPU provider was offered (the
    /// provider's own error), for the fronts to log.
    pub fn device_fallback(&self) -> Option<&str> {
        match &self.kind {
            Kind::Onnx(m) => m.backend.device_fallback(),
            Kind::Classic => None,
        }
    }

    /// The engine inference actually runs on (`None` for a classic filter).
    pub fn inference_engine(&self) -> Option<Engine> {
        match &self.kind {
            Kind::Onnx(m) => Some(m.backend.engine()),
            Kind::Classic => None,
        }
    }

    /// The precision inference actually runs in (`None` for a classic filter).
    pub fn precision(&self) -> Option<Precision> {
        match &self.kind {
            Kind::Onnx(m) => Some(m.backend.precision()),
            Kind::Classic => None,
        }
    }

    /// Where and how inference runs, for logs: "cpu (openvino, bf16)", "cuda (ort, fp32)",
    /// "cpu" for a classic filter; with the reason when `Device::Auto` fell back.
    pub fn runs_on(&self) -> String {
        let mut text = match (self.inference_engine(), self.precision()) {
            (Some(engine), Some(precision)) => {
                format!("{} ({}, {})", self.device().name(), engine.name(), precision.name())
            }
            _ => self.device().name().to_owned(),
        };
        if let Some(why) = self.device_fallback() {
            text.push_str(&format!("; device auto fell back to the CPU: {why}"));
        }
        text
    }

    /// The model's native scale (1 for a classic filter).
    pub fn native_scale(&self) -> u32 {
        self.info().map_or(1, |i| i.scale)
    }

    pub fn config(&self) -> &UpscalerConfig {
        &self.config
    }

    /// Checks what [`Upscaler::upscale`] would refuse for a `src` input and a `dst`
    /// output (both sizes, the model's native size, the tiling), before any frame: a
    /// stream can then be refused when it is set up rather than at its first frame.
    pub fn check_sizes(&self, src: (u32, u32), dst: (u32, u32)) -> Result<()> {
        for (width, height) in [src, dst] {
            check_dimensions(u64::from(width), u64::from(height))?;
        }
        let model = match &self.kind {
            Kind::Onnx(model) if dst.0 > src.0 || dst.1 > src.1 || model.info.scale == 1 => model,
            // As in `upscale`: a classic filter, or no growth, only resamples.
            _ => return Ok(()),
        };
        let scale = u64::from(model.info.scale);
        check_dimensions(u64::from(src.0) * scale, u64::from(src.1) * scale)?;
        model.tile_plan(src.0, src.1, &self.config).map(drop)
    }

    /// Upscales `src` to a new image of the size `target` asks for.
    pub fn upscale_to(&mut self, src: &ImageRef<'_>, target: Target, control: &mut Control<'_>) -> Result<Image> {
        let (w, h) = target.output_size(src.width(), src.height())?;
        let mut out = Image::new(w, h, src.format())?;
        self.upscale(src, &mut out.as_mut(), control)?;
        Ok(out)
    }

    /// Upscales `src` into `dst` (same pixel format, any size): the model at its native
    /// scale, tile by tile, then the configured filter to `dst`'s exact size.
    pub fn upscale(&mut self, src: &ImageRef<'_>, dst: &mut ImageMut<'_>, control: &mut Control<'_>) -> Result<()> {
        if src.format() != dst.format() {
            return Err(CoreError::Parameter(ParameterError::FormatMismatch {
                src: src.format().to_string(),
                dst: dst.format().to_string(),
            }));
        }
        let config = self.config;
        let model = match &mut self.kind {
            // A scale-1 model (denoise only) runs at any output size.
            Kind::Onnx(model) if dst.width() > src.width() || dst.height() > src.height() || model.info.scale == 1 => {
                model
            }
            // A classic filter, or an enlarging model asked for no growth: the model adds nothing.
            _ => {
                resample(src, dst, config.resample)?;
                control.report(1.0);
                return Ok(());
            }
        };
        let scale = model.info.scale;
        let (native_w, native_h) =
            (u64::from(src.width()) * u64::from(scale), u64::from(src.height()) * u64::from(scale));
        check_dimensions(native_w, native_h)?;
        if (native_w, native_h) == (u64::from(dst.width()), u64::from(dst.height())) {
            model.run_tiled(src, dst, &config, control)?;
        } else {
            let mut native = Image::new(native_w as u32, native_h as u32, src.format())?;
            model.run_tiled(src, &mut native.as_mut(), &config, control)?;
            resample(&native.as_ref(), dst, config.resample)?;
        }
        if config.color_fix.unwrap_or_else(|| fixes_colors(&model.info)) {
            match_colors(src, dst, config.session.threads)?;
        }
        Ok(())
    }
}

fn load_model(path: &Path, hint: Option<ModelInfo>, config: &SessionConfig) -> Result<OnnxModel> {
    let name = hint.as_ref().map_or_else(|| path.display().to_string(), |h| h.name.clone());
    let loaded = Backend::open(path, &name, config)?;
    let mut model = OnnxModel {
        backend: loaded.backend,
        phases: loaded.phases,
        pooling: None,
        info: ModelInfo {
            name: name.clone(),
            scale: 1,
            border: 0,
            tile_multiple: 1,
            default_overlap: 16,
            edge_overlap: 16,
            flops_per_pixel: None,
        },
    };
    model.info = model.probe(hint)?;
    Ok(model)
}

impl OnnxModel {
    /// Runs the model; the output as `[1, 3, H, W]` planes whatever its layout.
    fn infer(
        &mut self,
        tensor: &[f32],
        (width, height): (usize, usize),
        means: Option<&Means>,
        cancel: Option<&AtomicBool>,
    ) -> Result<(Vec<i64>, Vec<f32>)> {
        let phases = self.phases;
        self.infer_with(tensor, (width, height), means, cancel, |shape, data| {
            match phase_scale(shape).filter(|_| phases) {
                Some(s) => {
                    let (h, w) = (shape[2] as usize, shape[3] as usize);
                    (vec![1, 3, (s * h) as i64, (s * w) as i64], phases_to_planar(data, s, w, h))
                }
                None => (shape.to_vec(), data.to_vec()),
            }
        })
    }

    /// Runs the model and hands its output (shape, data) to `use_output` while the
    /// engine still owns it: no copy of the (scale² times larger) output tensor. With
    /// `means`, the last of the staged graphs runs with them (see [`crate::pooled`]).
    fn infer_with<R>(
        &mut self,
        tensor: &[f32],
        size: (usize, usize),
        means: Option<&Means>,
        cancel: Option<&AtomicBool>,
        use_output: impl FnOnce(&[i64], &[f32]) -> R,
    ) -> Result<R> {
        let name = &self.info.name;
        match (means, self.pooling.as_mut().and_then(|p| p.stages.as_mut())) {
            (Some(means), Some(stages)) => stages.infer_last_with(name, tensor, size, means, cancel, use_output),
            _ => self.backend.infer_with(name, tensor, size, &[], cancel, use_output),
        }
    }

    /// Measures scale and border by running the model on small inputs: with input
    /// side n the output side is scale * (n - 2 * border). Catalog entries are checked
    /// against the catalog; files get both values from two probes.
    fn probe(&mut self, hint: Option<ModelInfo>) -> Result<ModelInfo> {
        let multiple = hint.as_ref().map_or(8, |h| h.tile_multiple.max(1));
        let base = hint.as_ref().map_or(16, |h| 2 * h.border + 8).div_ceil(multiple) * multiple;
        let sides = [base, base + 8 * multiple];
        let mut outs = Vec::new();
        for &n in &sides {
            let n = n as usize;
            let (shape, _) = self.infer(&vec![0.5; 3 * n * n], (n, n), None, None)?;
            if shape.len() != 4 || shape[0] != 1 || shape[1] != 3 || shape[2] != shape[3] {
                return Err(CoreError::Model(ModelLoadError::Shape {
                    model: self.info.name.clone(),
                    actual: format!("output shape {shape:?} for a {n}x{n} input"),
                    expected: "[1,3,H,W] with the input's aspect ratio".into(),
                }));
            }
            outs.push(shape[2]);
            if hint.is_some() {
                break;
            }
        }
        let shape_err = |actual: String, expected: String| {
            CoreError::Model(ModelLoadError::Shape { model: self.info.name.clone(), actual, expected })
        };
        match hint {
            Some(hint) => {
                let expected = i64::from(hint.scale) * (i64::from(sides[0]) - 2 * i64::from(hint.border));
                if outs[0] != expected {
                    return Err(shape_err(
                        format!("output side {} for input side {}", outs[0], sides[0]),
                        format!(
                            "{expected} (catalog: scale {}, border {}); re-fetch the model",
                            hint.scale, hint.border
                        ),
                    ));
                }
                Ok(hint)
            }
            None => {
                let (n1, n2) = (i64::from(sides[0]), i64::from(sides[1]));
                let delta = outs[1] - outs[0];
                let scale = delta / (n2 - n1);
                let twice_border = if scale > 0 { n1 - outs[0] / scale } else { -1 };
                if scale < 1
                    || delta % (n2 - n1) != 0
                    || outs[0] % scale != 0
                    || twice_border < 0
                    || twice_border % 2 != 0
                {
                    return Err(shape_err(
                        format!("output sides {} and {} for input sides {n1} and {n2}", outs[0], outs[1]),
                        "an integer scale s >= 1 with output = s * (input - 2 * border)".into(),
                    ));
                }
                Ok(ModelInfo { scale: scale as u32, border: (twice_border / 2) as u32, ..self.info.clone() })
            }
        }
    }

    /// The tiles for a `width` x `height` input with `config`'s tile size and overlap.
    fn tile_plan(&self, width: u32, height: u32, config: &UpscalerConfig) -> Result<TilePlan> {
        let info = &self.info;
        let overlap = config.overlap.unwrap_or(info.default_overlap);
        // A user-chosen overlap applies at the edges too, unless the model needs less.
        let edge_overlap = info.edge_overlap.min(overlap);
        let spec = TileSpec {
            tile_width: 0,
            tile_height: 0,
            overlap,
            border: info.border,
            multiple: info.tile_multiple,
            edge_overlap,
        };
        let (tile_width, tile_height) = match config.tile_size {
            Some(t) => (t, t),
            None => auto_tile_shape(
                width,
                height,
                spec.context(),
                spec.edge_context(),
                info.tile_multiple,
                max_tile_pixels(info),
            ),
        };
        TilePlan::new(width, height, &TileSpec { tile_width, tile_height, ..spec })
    }

    fn run_tiled(
        &mut self,
        src: &ImageRef<'_>,
        dst: &mut ImageMut<'_>,
        config: &UpscalerConfig,
        control: &mut Control<'_>,
    ) -> Result<()> {
        let info = self.info.clone();
        let plan = self.tile_plan(src.width(), src.height(), config)?;
        let (tw, th) = plan.tile_shape();
        let (tw, th) = (tw as usize, th as usize);
        let scale = info.scale as usize;
        let (ow, oh) = (scale * (tw - 2 * info.border as usize), scale * (th - 2 * info.border as usize));

        let has_alpha = src.format().channels.alpha_offset().is_some();
        let transparent = has_alpha && src.has_transparency();
        let mut rgb = vec![0.0f32; 3 * tw * th];
        let mut alpha_in = vec![0.0f32; if has_alpha { tw * th } else { 0 }];
        let mut alpha_rgb = vec![0.0f32; if transparent { 3 * tw * th } else { 0 }];
        let mut alpha_out = vec![1.0f32; if has_alpha { ow * oh } else { 0 }];
        let means = self.shared_means(src, &plan, transparent, control)?;
        let (color_means, alpha_means) = match &means {
            Some((color, alpha)) => (Some(color), alpha.as_ref()),
            None => (None, None),
        };
        // The stages' passes count towards progress as tiles too.
        let passes = means.as_ref().map_or(0, |(_, a)| self.stage_points() * (1 + usize::from(a.is_some())));
        let total = (plan.len() * (1 + passes)) as f32;
        let already = plan.len() * passes;
        for (done, (xt, yt)) in plan.tiles().enumerate() {
            let done = already + done;
            if control.cancelled() {
                return Err(CoreError::Cancelled);
            }
            let alpha_plane = has_alpha.then_some(&mut alpha_in[..]);
            read_tile(src, xt.input_start_pad, yt.input_start_pad, tw, th, &mut rgb, alpha_plane);
            let rect = PlaneRect {
                x: xt.output_offset(info.scale, info.border) as usize,
                y: yt.output_offset(info.scale, info.border) as usize,
                width: scale * (xt.input_end - xt.input_start) as usize,
                height: scale * (yt.input_end - yt.input_start) as usize,
            };
            let (dx, dy) = (xt.input_start * info.scale, yt.input_start * info.scale);
            let format = dst.format();
            let phases_fast = format.is_opaque_rgb8();
            if !transparent && (!self.phases || phases_fast) {
                // The common case: straight from ONNX Runtime's output into `dst`.
                let alpha = has_alpha.then_some(&alpha_out[..]);
                let expected = if self.phases {
                    [1, (3 * scale * scale) as i64, (oh / scale) as i64, (ow / scale) as i64]
                } else {
                    [1, 3, oh as i64, ow as i64]
                };
                let phases = self.phases;
                let shape_ok = self.infer_with(&rgb, (tw, th), color_means, control.cancel, |shape, color| {
                    let ok = shape == expected;
                    if ok && phases {
                        write_tile_phases_u8(dst, dx, dy, color, scale, ow / scale, rect, config.session.threads);
                    } else if ok {
                        write_tile(dst, dx, dy, color, alpha, ow, rect);
                    }
                    ok.then_some(()).ok_or_else(|| shape.to_vec())
                })?;
                if let Err(shape) = shape_ok {
                    return Err(self.shape_error(&shape, tw, th, ow, oh));
                }
                control.report((done + 1) as f32 / total);
                continue;
            }
            let color = self.run_tile(&rgb, (tw, th), (ow, oh), color_means, control.cancel)?;
            if !transparent {
                // Phase-layout output into a format without the fast path.
                let alpha = has_alpha.then_some(&alpha_out[..]);
                write_tile(dst, dx, dy, &color, alpha, ow, rect);
                control.report((done + 1) as f32 / total);
                continue;
            }
            // Alpha goes through the model too: the premultiplied colour can only be
            // divided by an alpha with the same edges (a bicubic alpha left black rims).
            for c in 0..3 {
                alpha_rgb[c * tw * th..(c + 1) * tw * th].copy_from_slice(&alpha_in);
            }
            let a = self.run_tile(&alpha_rgb, (tw, th), (ow, oh), alpha_means, control.cancel)?;
            let plane = ow * oh;
            for (i, out) in alpha_out.iter_mut().enumerate() {
                *out = (a[i] + a[plane + i] + a[2 * plane + i]) * (1.0 / 3.0);
            }
            let alpha = has_alpha.then_some(&alpha_out[..]);
            write_tile(dst, dx, dy, &color, alpha, ow, rect);
            control.report((done + 1) as f32 / total);
        }
        Ok(())
    }

    fn run_tile(
        &mut self,
        tensor: &[f32],
        (tw, th): (usize, usize),
        (ow, oh): (usize, usize),
        means: Option<&Means>,
        cancel: Option<&AtomicBool>,
    ) -> Result<Vec<f32>> {
        let (shape, data) = self.infer(tensor, (tw, th), means, cancel)?;
        if shape != [1, 3, oh as i64, ow as i64] {
            return Err(self.shape_error(&shape, tw, th, ow, oh));
        }
        Ok(data)
    }

    fn stage_points(&self) -> usize {
        self.pooling.as_ref().and_then(|p| p.stages.as_ref()).map_or(0, PooledStages::points)
    }

    /// For a `global_pooling` model cut into several tiles: the mean of every SE point
    /// over the whole image (and over its alpha plane when that goes through the model
    /// too), so that each tile pools what one pass would. `None` otherwise: one tile
    /// pools the whole image by itself.
    fn shared_means(
        &mut self,
        src: &ImageRef<'_>,
        plan: &TilePlan,
        transparent: bool,
        control: &mut Control<'_>,
    ) -> Result<Option<(Means, Option<Means>)>> {
        let Some(pooling) = self.pooling.as_mut().filter(|_| plan.len() > 1) else { return Ok(None) };
        let info = &self.info;
        if pooling.stages.is_none() {
            // Two tile sides the model accepts (as `probe` uses).
            let base = (2 * info.border + 8).div_ceil(info.tile_multiple) * info.tile_multiple;
            let sides = [base, base + 8 * info.tile_multiple];
            pooling.stages = Some(PooledStages::load(&pooling.path, &info.name, &pooling.session, sides)?);
        }
        let stages = pooling.stages.as_mut().expect("loaded above");
        let (tw, th) = plan.tile_shape();
        let (tw, th) = (tw as usize, th as usize);
        let cancel = control.cancel;
        let passes = stages.points() * (1 + usize::from(transparent));
        let total = (plan.len() * (1 + passes)) as f32;
        let mut done = 0usize;
        let mut tile_done = || {
            if control.cancelled() {
                return Err(CoreError::Cancelled);
            }
            done += 1;
            control.report(done as f32 / total);
            Ok(())
        };
        let read_color = |xi: usize, yi: usize, rgb: &mut [f32]| {
            read_tile(src, plan.xs[xi].input_start_pad, plan.ys[yi].input_start_pad, tw, th, rgb, None);
        };
        let color = stages.means(&info.name, plan, read_color, cancel, &mut tile_done)?;
        if !transparent {
            return Ok(Some((color, None)));
        }
        // The alpha plane in all three channels, as the tile loop feeds it.
        let mut scratch = vec![0.0f32; 3 * tw * th];
        let mut alpha = vec![0.0f32; tw * th];
        let read_alpha = |xi: usize, yi: usize, planes: &mut [f32]| {
            let (x0, y0) = (plan.xs[xi].input_start_pad, plan.ys[yi].input_start_pad);
            read_tile(src, x0, y0, tw, th, &mut scratch, Some(&mut alpha));
            for plane in planes.chunks_exact_mut(tw * th) {
                plane.copy_from_slice(&alpha);
            }
        };
        let alpha = stages.means(&info.name, plan, read_alpha, cancel, &mut tile_done)?;
        Ok(Some((color, Some(alpha))))
    }

    fn shape_error(&self, shape: &[i64], tw: usize, th: usize, ow: usize, oh: usize) -> CoreError {
        CoreError::Model(ModelLoadError::Shape {
            model: self.info.name.clone(),
            actual: format!("output {shape:?} for a {tw}x{th} tile"),
            expected: format!("[1, 3, {oh}, {ow}]"),
        })
    }
}

/// The scale s of a phase-layout output shape `[1, 3*s*s, H, W]`.
fn phase_scale(shape: &[i64]) -> Option<usize> {
    let [1, channels, _, _] = shape else { return None };
    (1..=8usize).find(|s| 3 * (s * s) as i64 == *channels)
}
