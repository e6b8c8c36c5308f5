//! What every upscale shares: the settings (model choice, output size), the loaded
//! models, and one image file end to end. The commands: [`crate::single`] (one file)
//! and [`crate::batch`] (a folder).

use std::path::Path;

use aiupscale_core::{
    models::{Catalog, Content},
    Control, CoreError, Device, Filter, Image, ModelSource, SessionConfig, Target, Upscaler, UpscalerConfig,
};
use anyhow::{Context, Result};

use crate::{budget::Budget, cancel::Cancel, cli::EngineArgs, io};

/// The scale used when neither --scale, a size, nor a model says otherwise.
pub const DEFAULT_SCALE: f64 = 4.0;

/// What to run and how big the result is, from the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    pub model: Option<ModelSource>,
    pub classic: Option<Filter>,
    pub scale: Option<f64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub config: UpscalerConfig,
    /// JPEG quality of image outputs.
    pub quality: u8,
    /// Spatial denoise strength (the single-frame case of the core's temporal path).
    pub denoise: f32,
    /// Memory one image may take.
    pub budget: Budget,
}

impl Settings {
    /// The settings of a parsed command line (clap has checked each value's range).
    pub fn new(engine: &EngineArgs, width: Option<u32>, height: Option<u32>) -> Self {
        Self {
            model: engine.model.as_deref().map(ModelSource::parse),
            classic: engine.classic,
            scale: engine.scale,
            width,
            height,
            config: UpscalerConfig {
                session: SessionConfig {
                    device: engine.device,
                    threads: engine.threads as usize,
                    engine: engine.engine,
                    precision: engine.precision,
                    ..SessionConfig::default()
                },
                tile_size: engine.tile_size,
                overlap: None,
                resample: engine.filter,
                color_fix: None,
            },
            quality: 95,
            denoise: engine.denoise,
            budget: Budget::new(engine.max_memory),
        }
    }

    /// The model for a `width`x`height` input (`None`: a classic filter, --classic or
    /// else --filter). Without --model, the photo model for the requested factor.
    pub fn source_for(&self, width: u32, height: u32) -> Option<ModelSource> {
        if self.classic.is_some() {
            return None;
        }
        if let Some(model) = &self.model {
            return Some(model.clone());
        }
        let factor = match (self.scale, self.width, self.height) {
            (Some(s), _, _) => s,
            (None, Some(w), Some(h)) => (f64::from(w) / f64::from(width)).min(f64::from(h) / f64::from(height)),
            (None, Some(w), None) => f64::from(w) / f64::from(width),
            (None, None, Some(h)) => f64::from(h) / f64::from(height),
            (None, None, None) => DEFAULT_SCALE,
        };
        if factor <= 1.0 {
            return None; // Not larger: no model adds anything, the --filter resamples.
        }
        Some(ModelSource::Catalog(Catalog::builtin().default_for(factor, Content::Photo).name.clone()))
    }

    /// The output size request for an input of `width`x`height`; `native` is the
    /// model's scale (`None` for the classic filter).
    pub fn target(&self, width: u32, height: u32, native: Option<u32>) -> Target {
        let keep_aspect = |num: u32, den: u32, other: u32| {
            ((f64::from(other) * f64::from(num) / f64::from(den)).round() as u32).max(1)
        };
        match (self.scale, self.width, self.height) {
            (Some(s), _, _) => Target::Factor(s),
            (None, Some(w), Some(h)) => Target::Fit { width: w, height: h },
            (None, Some(w), None) => Target::Size { width: w, height: keep_aspect(w, width, height) },
            (None, None, Some(h)) => Target::Size { width: keep_aspect(h, height, width), height: h },
            (None, None, None) => Target::Factor(native.map_or(DEFAULT_SCALE, f64::from)),
        }
    }
}

/// Upscalers loaded so far (one per model), so a folder loads each model once.
#[derive(Default)]
pub struct Engines {
    loaded: Vec<(Option<ModelSource>, Upscaler)>,
}

impl Engines {
    pub fn get(&mut self, settings: &Settings, width: u32, height: u32) -> Result<&mut Upscaler> {
        let source = settings.source_for(width, height);
        let index = match self.loaded.iter().position(|(s, _)| *s == source) {
            Some(i) => i,
            None => {
                let upscaler = match (&source, settings.classic) {
                    (Some(source), _) => Upscaler::new(source, settings.config).with_context(|| {
                        format!(
                            "cannot load model {}",
                            match source {
                                ModelSource::Catalog(name) => name.clone(),
                                ModelSource::File(path) => path.display().to_string(),
                            }
                        )
                    })?,
                    (None, filter) => Upscaler::classic(filter.unwrap_or(settings.config.resample)),
                };
                self.loaded.push((source, upscaler));
                self.loaded.len() - 1
            }
        };
        Ok(&mut self.loaded[index].1)
    }
}

/// A short name of what runs: the model, or "classic FILTER".
pub fn engine_name(upscaler: &Upscaler) -> String {
    match upscaler.info() {
        Some(info) => info.name.clone(),
        None => format!("classic {}", upscaler.config().resample.name()),
    }
}

/// Why one image was not written.
#[derive(Debug)]
pub enum Failure {
    /// The model could not be loaded: every other image would fail the same way.
    Fatal(anyhow::Error),
    /// This image failed.
    File(anyhow::Error),
    /// A signal cancelled the run; nothing was written.
    Cancelled,
}

/// A written image.
#[derive(Debug, Clone)]
pub struct Done {
    pub width: u32,
    pub height: u32,
    pub engine: String,
    pub device: Device,
    pub runs_on: String,
    pub warnings: Vec<String>,
}

/// What a run is about to do, for the `started` progress line.
pub struct Started<'a> {
    pub width: u32,
    pub height: u32,
    pub engine: &'a str,
    pub device: Device,
}

/// Upscales one image: the core's frame path with one frame (spatial denoise when
/// asked, exactly what the element does to the first frame of a stream), then the model.
pub fn upscale_image(
    upscaler: &mut Upscaler,
    denoise: f32,
    src: &aiupscale_core::ImageRef<'_>,
    target: aiupscale_core::Target,
    control: &mut Control<'_>,
) -> Result<Image, CoreError> {
    let (w, h) = target.output_size(src.width(), src.height())?;
    let mut out = Image::new(w, h, src.format())?;
    let settings = aiupscale_core::DenoiseSettings { denoise, temporal: 0.0 };
    aiupscale_core::FrameUpscaler::new(upscaler, settings).process(src, &mut out.as_mut(), control)?;
    Ok(out)
}

/// Upscales `input` to `output`: decode (EXIF orientation applied), upscale, encode to
/// a temp file beside `output`, rename. `output` is never partly written.
pub fn process(
    input: &Path,
    output: &Path,
    settings: &Settings,
    engines: &mut Engines,
    cancel: &Cancel,
    progress: &mut dyn FnMut(f32),
    started: &mut dyn FnMut(&Started<'_>),
) -> Result<Done, Failure> {
    if cancel.is_set() {
        return Err(Failure::Cancelled);
    }
    io::file_format(output).map_err(Failure::File)?;
    // Find out now, not after minutes of inference, that OUT's folder is not writable.
    drop(io::temp_beside(output).map_err(Failure::File)?);
    // Sizes and memory from the header: a small file may declare a huge image.
    let opened = io::open_image(input, &settings.budget).map_err(Failure::File)?;
    let (w, h) = (opened.width, opened.height);
    let upscaler = engines.get(settings, w, h).map_err(Failure::Fatal)?;
    let target = settings.target(w, h, upscaler.info().map(|i| i.scale));
    let engine = engine_name(upscaler);
    let device = upscaler.device();
    let runs_on = upscaler.runs_on();
    let (out_w, out_h) = target
        .output_size(w, h)
        .with_context(|| format!("{}: invalid output size", input.display()))
        .map_err(Failure::File)?;
    let needed = Budget::needed(w, h, out_w, out_h, opened.pixel_format.bytes_per_pixel());
    settings
        .budget
        .check(needed, &format!("upscaling {} ({w}x{h}) to {out_w}x{out_h}", input.display()))
        .map_err(Failure::File)?;
    let decoded = opened.decode().map_err(Failure::File)?;
    started(&Started { width: out_w, height: out_h, engine: &engine, device });
    let upscaled: Image = {
        let mut control = Control { progress: Some(progress), cancel: Some(cancel.flag()) };
        match upscale_image(upscaler, settings.denoise, &decoded.image.as_ref(), target, &mut control) {
            Ok(image) => image,
            Err(CoreError::Cancelled) => return Err(Failure::Cancelled),
            Err(e) => {
                return Err(Failure::File(anyhow::Error::new(e).context(format!("cannot upscale {}", input.display()))))
            }
        }
    };
    if cancel.is_set() {
        return Err(Failure::Cancelled);
    }
    let (tmp, warnings) =
        io::encode_to_temp(output, &upscaled, &decoded.metadata, settings.quality).map_err(Failure::File)?;
    if cancel.is_set() {
        return Err(Failure::Cancelled); // `tmp` is dropped: removed.
    }
    io::commit(tmp, output).map_err(Failure::File)?;
    Ok(Done { width: upscaled.width(), height: upscaled.height(), engine, device, runs_on, warnings })
}
