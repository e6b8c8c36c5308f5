//! Finding and loading ONNX Runtime (once per process) and building sessions on the
//! requested execution provider.

use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
};

use ort::{
    environment::Environment,
    ep::{self, ExecutionProvider},
    session::{
        builder::{GraphOptimizationLevel, SessionBuilder},
        Session,
    },
};

use crate::libraries::{loader_finds, user_library_dir};
use crate::{
    engine::{Engine, Precision},
    libraries::project_deps_dir,
    CoreError, ModelLoadError, Result, SetupError,
};

/// The library file the PyPI wheel `onnxruntime==1.31.1` ships (it has no unversioned name).
pub const ORT_LIBRARY_FILE: &str = "libonnxruntime.so.1.31.1";

/// Where `scripts/setup` installs ONNX Runtime in the checkout this code runs from.
fn project_library() -> Option<PathBuf> {
    Some(project_deps_dir()?.join("ort/onnxruntime/capi").join(ORT_LIBRARY_FILE))
}

/// Candidate library paths in the order they are tried: `AIUPSCALE_ORT_LIB`,
/// `ORT_DYLIB_PATH`, the project-local install, the user's data folder, then the
/// system library path (a bare file name, resolved by the dynamic loader).
pub fn library_candidates() -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    for var in ["AIUPSCALE_ORT_LIB", "ORT_DYLIB_PATH"] {
        if let Some(value) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            candidates.push(PathBuf::from(value));
        }
    }
    candidates.extend(project_library());
    if let Some(dir) = user_library_dir() {
        candidates.push(dir.join(ORT_LIBRARY_FILE));
    }
    candidates.push(PathBuf::from(ORT_LIBRARY_FILE));
    candidates.push(PathBuf::from("libonnxruntime.so"));
    candidates
}

/// Picks the first candidate that exists; bare names are left to the loader. An
/// explicitly set variable that points nowhere is an error, not a silent fallback.
/// The error is what was searched.
fn choose_library() -> std::result::Result<PathBuf, String> {
    for var in ["AIUPSCALE_ORT_LIB", "ORT_DYLIB_PATH"] {
        if let Some(value) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            let path = PathBuf::from(value);
            return if path.is_file() { Ok(path) } else { Err(format!("{var}={}", path.display())) };
        }
    }
    let candidates = library_candidates();
    for candidate in &candidates {
        if candidate.is_absolute() && candidate.is_file() {
            return Ok(candidate.clone());
        }
    }
    // Bare names: only worth trying when the loader can find them, else ort logs noise.
    for candidate in candidates.iter().filter(|c| !c.is_absolute()) {
        if loader_finds(candidate) {
            return Ok(candidate.clone());
        }
    }
    Err(candidates.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(", "))
}

/// Why the runtime could not be loaded, kept so later calls report the same thing.
enum LoadFailure {
    NotFound { searched: String },
    Load { path: PathBuf, reason: String },
}

/// The process-wide ONNX Runtime environment, loaded on first use. A failure is
/// remembered and returned again (as a fresh error) instead of retrying the load.
pub fn environment() -> Result<&'static Environment> {
    static ENV: OnceLock<std::result::Result<Environment, LoadFailure>> = OnceLock::new();
    let loaded = ENV.get_or_init(|| {
        let path = choose_library().map_err(|searched| LoadFailure::NotFound { searched })?;
        let load_failure = |reason: String| LoadFailure::Load { path: path.clone(), reason };
        let builder = ort::init_from(&path).map_err(|e| load_failure(e.to_string()))?;
        builder.with_name("aiupscale").build().map_err(|e| load_failure(e.to_string()))
    });
    match loaded {
        Ok(env) => Ok(env),
        Err(LoadFailure::NotFound { searched }) => {
            Err(CoreError::Setup(SetupError::RuntimeNotFound { searched: searched.clone() }))
        }
        Err(LoadFailure::Load { path, reason }) => {
            Err(CoreError::Setup(SetupError::RuntimeLoad { path: path.clone(), reason: reason.clone() }))
        }
    }
}

/// Where inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Device {
    #[default]
    Cpu,
    Cuda,
    TensorRt,
    /// The fastest provider that works here: TensorRT, then CUDA, then CPU.
    Auto,
}

impl Device {
    pub fn name(self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
            Device::TensorRt => "tensorrt",
            Device::Auto => "auto",
        }
    }
}

impl std::str::FromStr for Device {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda),
            "tensorrt" | "trt" => Ok(Device::TensorRt),
            "auto" => Ok(Device::Auto),
            other => Err(format!("unknown device {other:?}; expected cpu, cuda, tensorrt or auto")),
        }
    }
}

/// How sessions are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    pub device: Device,
    /// Intra-op threads; 0 lets ONNX Runtime decide (one per core).
    pub threads: usize,
    /// Busy-waiting between ops. Off by default: on 2 shared cores it was 1.5-2x slower.
    pub spinning: bool,
    /// ONNX Runtime's blocked channel layout (NCHWc, optimisation level "all"); `None`
    /// decides per model with [`prefers_blocked_layout`].
    pub blocked_layout: Option<bool>,
    /// Which engine runs the model ([`Engine::Auto`]: OpenVINO on the CPU when it loads).
    pub engine: Engine,
    /// Arithmetic precision ([`Precision::Auto`]: per model, see [`crate::auto_precision`]).
    pub precision: Precision,
    /// ONNX Runtime's CPU arena, which keeps a session's peak activations allocated
    /// between runs (faster repeated runs). Off for sessions that take turns, such as the
    /// pooled stage graphs, where each arena would hold its own peak at once.
    pub memory_arena: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            threads: 0,
            spinning: false,
            blocked_layout: None,
            engine: Engine::Auto,
            precision: Precision::Auto,
            memory_arena: true,
        }
    }
}

/// The blocked layout pays off for wide convolutions (64 channels: animevideov3 ran
/// 1.16x slower without it); Anime4K-class networks (8-16 channels, a few thousand FLOPs
/// per pixel) pad to 16-channel blocks and convert layouts around depth-to-space:
/// anime4k-x2-s at 720x480 took 42 ms with it, 34 ms without (raw ORT, alternated).
pub fn prefers_blocked_layout(flops_per_pixel: Option<f64>) -> bool {
    !is_light_model(flops_per_pixel)
}

/// Anime4K-class: under 1e5 FLOPs per input pixel (known cost only). Such models get
/// the plain layout, whole-frame tiles and no colour correction.
pub fn is_light_model(flops_per_pixel: Option<f64>) -> bool {
    flops_per_pixel.is_some_and(|f| f < 1e5)
}

fn builder_err(e: ort::Error<SessionBuilder>) -> ort::Error {
    ort::Error::from(e)
}

fn provider_available<E: ExecutionProvider>() -> bool {
    E::is_available().unwrap_or(false)
}

/// A session and where it runs.
pub struct BuiltSession {
    pub session: Session,
    pub device: Device,
    /// Why `Device::Auto` fell back to the CPU although a GPU provider was offered.
    pub fallback: Option<String>,
}

/// Builds a session for the ONNX model at `path` and reports which device it got.
/// An explicit CUDA/TensorRT request that cannot be met is an error; only `Auto`
/// falls back to the CPU, and says why.
pub fn build_session(path: &Path, model: &str, config: &SessionConfig) -> Result<BuiltSession> {
    let env = environment()?;
    let load_err = |source: ort::Error| {
        CoreError::Model(ModelLoadError::Load {
            model: model.to_owned(),
            engine: "ONNX Runtime",
            source: source.into(),
        })
    };
    let mut builder = Session::builder(env)
        .and_then(|b| {
            let level = if config.blocked_layout.unwrap_or(true) {
                GraphOptimizationLevel::All
            } else {
                GraphOptimizationLevel::Level2
            };
            b.with_optimization_level(level).map_err(builder_err)
        })
        .and_then(|b| b.with_intra_op_spinning(config.spinning).map_err(builder_err))
        .and_then(|b| b.with_inter_op_spinning(config.spinning).map_err(builder_err))
        .map_err(load_err)?;
    if config.threads > 0 {
        builder = builder.with_intra_threads(config.threads).map_err(builder_err).map_err(load_err)?;
    }
    if !config.memory_arena {
        let cpu = ep::CPU::default().with_arena_allocator(false).build();
        builder = builder.with_execution_providers([cpu]).map_err(builder_err).map_err(load_err)?;
    }
    let mut fallback = None;
    let chosen = match config.device {
        Device::Cpu => Device::Cpu,
        Device::Cuda | Device::TensorRt => {
            let (name, available) = match config.device {
                Device::Cuda => ("cuda", provider_available::<ep::CUDA>()),
                _ => ("tensorrt", provider_available::<ep::TensorRT>()),
            };
            if !available {
                return Err(CoreError::Setup(SetupError::DeviceUnavailable {
                    requested: name,
                    reason: "the loaded ONNX Runtime was built without it; install onnxruntime-gpu 1.31 with the NVIDIA runtime wheels and point AIUPSCALE_ORT_LIB at its libonnxruntime.so".into(),
                }));
            }
            let dispatch = match config.device {
                Device::Cuda => ep::CUDA::default().build().error_on_failure(),
                _ => ep::TensorRT::default().with_fp16(true).build().error_on_failure(),
            };
            builder = builder.with_execution_providers([dispatch]).map_err(|e| {
                CoreError::Setup(SetupError::DeviceUnavailable { requested: name, reason: builder_err(e).to_string() })
            })?;
            config.device
        }
        Device::Auto => {
            let mut providers = Vec::new();
            let mut chosen = Device::Cpu;
            if provider_available::<ep::CUDA>() {
                providers.push(ep::CUDA::default().build().error_on_failure());
                chosen = Device::Cuda;
            }
            if provider_available::<ep::TensorRT>() {
                providers.insert(0, ep::TensorRT::default().with_fp16(true).build().error_on_failure());
                chosen = Device::TensorRt;
            }
            if providers.is_empty() {
                Device::Cpu
            } else {
                match builder.clone().with_execution_providers(&providers) {
                    Ok(b) => {
                        builder = b;
                        chosen
                    }
                    Err(e) => {
                        fallback = Some(format!("{} did not start: {}", chosen.name(), builder_err(e)));
                        Device::Cpu
                    }
                }
            }
        }
    };
    if !path.is_file() {
        return Err(CoreError::Model(ModelLoadError::FileMissing { path: path.to_owned() }));
    }
    let session = builder.commit_from_file(path).map_err(load_err)?;
    Ok(BuiltSession { session, device: chosen, fallback })
}
