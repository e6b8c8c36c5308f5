//! The OpenVINO backend (CPU): finding and loading its C library once per process,
//! compiling our ONNX files directly, and inference that a cancel stops mid-run.

use std::{
    path::{Path, PathBuf},
    sync::{atomic::AtomicBool, OnceLock},
};

use aiupscale_models::metadata::{PHASES, SE_MEAN_PREFIX};
use openvino::{
    Core, DeviceType, ElementType, InferRequest, InferenceError, InferenceErrorKind, Model, PartialShape, PropertyKey,
    RwPropertyKey, Shape, Tensor,
};

use super::{is_set, Backend, Loaded, Precision, CANCEL_POLL};
use crate::{
    error::{InferenceError as RunError, ModelLoadError, SetupError},
    runtime::SessionConfig,
    CoreError, Result,
};

/// The C library the PyPI wheel `openvino==2026.4.1` ships (versioned name only).
pub const OPENVINO_LIBRARY_FILE: &str = "libopenvino_c.so.2641";

/// Where `scripts/setup` installs OpenVINO in the checkout this code runs from (found
/// as ONNX Runtime's is, see `runtime::library_candidates`).
fn project_library() -> Option<PathBuf> {
    Some(crate::libraries::project_deps_dir()?.join("openvino").join(OPENVINO_LIBRARY_FILE))
}

/// Candidate library paths in the order they are tried: `AIUPSCALE_OPENVINO_LIB` (the
/// file or its folder), the project-local install, the user's data folder, then the
/// system library path.
pub fn library_candidates() -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(path) = env_override() {
        candidates.push(path);
    }
    candidates.extend(project_library());
    if let Some(dir) = crate::libraries::user_library_dir() {
        candidates.push(dir.join("openvino").join(OPENVINO_LIBRARY_FILE));
    }
    candidates.push(PathBuf::from(OPENVINO_LIBRARY_FILE));
    candidates
}

fn env_override() -> Option<PathBuf> {
    let value = PathBuf::from(std::env::var_os("AIUPSCALE_OPENVINO_LIB").filter(|v| !v.is_empty())?);
    Some(if value.is_dir() { value.join(OPENVINO_LIBRARY_FILE) } else { value })
}

/// An explicitly set variable that points nowhere is an error, not a silent fallback
/// to another copy.
fn choose_library() -> std::result::Result<PathBuf, String> {
    if let Some(path) = env_override() {
        return if path.is_file() { Ok(path) } else { Err(format!("AIUPSCALE_OPENVINO_LIB={}", path.display())) };
    }
    let candidates = library_candidates();
    if let Some(found) = candidates.iter().find(|c| c.is_absolute() && c.is_file()) {
        return Ok(found.clone());
    }
    if let Some(bare) = candidates.iter().find(|c| !c.is_absolute() && crate::libraries::loader_finds(c)) {
        return Ok(bare.clone());
    }
    Err(candidates.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(", "))
}

enum LoadFailure {
    NotFound { searched: String },
    Load { path: PathBuf, reason: String },
}

/// Loads the library and checks that a core with the CPU plugin comes up; the outcome
/// is remembered for the process (the library cannot be unloaded or swapped).
fn load() -> Result<()> {
    static LOADED: OnceLock<std::result::Result<(), LoadFailure>> = OnceLock::new();
    let loaded = LOADED.get_or_init(|| {
        let path = choose_library().map_err(|searched| LoadFailure::NotFound { searched })?;
        let fail = |reason: String| LoadFailure::Load { path: path.clone(), reason };
        openvino_sys::library::load_from(&path).map_err(fail)?;
        let core = Core::new().map_err(|e| fail(e.to_string()))?;
        let devices = core.available_devices().map_err(|e| fail(e.to_string()))?;
        if !devices.contains(&DeviceType::CPU) {
            return Err(fail(format!(
                "no CPU device (found {devices:?}); libopenvino_intel_cpu_plugin.so must be next to it"
            )));
        }
        Ok(())
    });
    match loaded {
        Ok(()) => Ok(()),
        Err(LoadFailure::NotFound { searched }) => {
            Err(CoreError::Setup(SetupError::OpenVinoNotFound { searched: searched.clone() }))
        }
        Err(LoadFailure::Load { path, reason }) => {
            Err(CoreError::Setup(SetupError::OpenVinoLoad { path: path.clone(), reason: reason.clone() }))
        }
    }
}

/// Whether OpenVINO's libraries are here and load (what `Engine::Auto` asks).
pub fn available() -> bool {
    load().is_ok()
}

/// Input sizes (width, height) whose use counts are kept.
const SEEN_SHAPES: usize = 64;

pub(crate) struct OvBackend {
    core: Core,
    /// The model as read, reshaped to each fixed shape before it is compiled.
    model: Model,
    /// Compiled for any input size; runs a size the first time it is seen.
    dynamic: InferRequest,
    /// A request compiled for the most used input size (`None`: that compile failed and
    /// the dynamic request runs it): OpenVINO's CPU kernels run faster on a shape known
    /// at compile time (BENCHMARKS.md, "Fixed-shape compile"). One only, since each
    /// holds its own activation memory: a video's frame size, a photo's inner tiles.
    fixed: Option<((usize, usize), Option<InferRequest>)>,
    /// How often each size ran.
    seen: Vec<((usize, usize), u64)>,
    /// Only a graph with the image as its sole input is reshaped (a stage graph's SE
    /// means stay dynamic).
    reshapable: bool,
    pub precision: Precision,
}

/// OpenVINO's error with what was being done (its messages are often empty).
#[derive(Debug, thiserror::Error)]
#[error("{action}: {source}")]
struct OvError {
    action: &'static str,
    source: InferenceError,
}

/// A load-time failure (reading, compiling) as `CoreError::ModelLoad`.
fn load_err<'a>(model: &'a str, action: &'static str) -> impl Fn(InferenceError) -> CoreError + 'a {
    move |source| {
        CoreError::Model(ModelLoadError::Load {
            model: model.to_owned(),
            engine: "OpenVINO",
            source: Box::new(OvError { action, source }),
        })
    }
}

/// A run-time failure as `CoreError::Inference`.
fn run_err<'a>(model: &'a str, action: &'static str) -> impl Fn(InferenceError) -> CoreError + 'a {
    move |source| {
        CoreError::Inference(RunError::Run {
            model: model.to_owned(),
            engine: "OpenVINO",
            source: Box::new(OvError { action, source }),
        })
    }
}

impl OvBackend {
    /// Compiles `path` for the CPU at `precision` (already resolved from `auto`).
    pub fn open(path: &Path, model: &str, config: &SessionConfig, precision: Precision) -> Result<Loaded> {
        load()?;
        let hint = match precision {
            Precision::Fp32 | Precision::Auto => "f32",
            Precision::Bf16 => "bf16",
            // The caller passes the QDQ file (`crate::quantize`): its convs run on int8
            // kernels; the float rest stays f32 (bf16 there cost accuracy for little).
            Precision::Int8 => "f32",
        };
        let setup = |e: openvino::SetupError| {
            CoreError::Setup(SetupError::OpenVinoLoad {
                path: PathBuf::from(OPENVINO_LIBRARY_FILE),
                reason: e.to_string(),
            })
        };
        // One core per model: compile options are core properties in this binding.
        let mut core = Core::new().map_err(setup)?;
        let threads = config.threads.to_string();
        let mut properties = vec![
            (RwPropertyKey::HintInferencePrecision, hint),
            // One stream: a tile at a time gets every thread (latency, not throughput).
            (RwPropertyKey::HintPerformanceMode, "LATENCY"),
            (RwPropertyKey::NumStreams, "1"),
            // Pinning threads to cores fights other processes on shared machines.
            (RwPropertyKey::HintEnableCpuPinning, "NO"),
        ];
        if config.threads > 0 {
            properties.push((RwPropertyKey::InferenceNumThreads, threads.as_str()));
        }
        core.set_properties(&DeviceType::CPU, properties).map_err(load_err(model, "configuring the CPU device"))?;
        let path_text =
            path.to_str().ok_or_else(|| CoreError::Model(ModelLoadError::FileMissing { path: path.to_owned() }))?;
        let read = core.read_model_from_file(path_text, "").map_err(load_err(model, "reading the ONNX file"))?;
        let shape_err = |actual: String| {
            CoreError::Model(ModelLoadError::Shape {
                model: model.to_owned(),
                actual,
                expected: "one float32 input [1,3,H,W] and an image output [1,3,H*s,W*s]".into(),
            })
        };
        let inputs = read.get_inputs_len().map_err(load_err(model, "reading the inputs"))?;
        // Besides the image, only the SE means of a stage graph (aiupscale_models::stages).
        for index in 1..inputs {
            let name = read
                .get_input_by_index(index)
                .and_then(|node| node.get_name())
                .map_err(load_err(model, "reading the inputs"))?;
            if !name.starts_with(SE_MEAN_PREFIX) {
                return Err(shape_err(format!("{inputs} inputs ({name:?} besides the image)")));
            }
        }
        let shape = read
            .get_input_by_index(0)
            .and_then(|node| node.get_partial_shape())
            .map_err(load_err(model, "reading the input shape"))?;
        let rank = shape.get_rank();
        if rank.is_dynamic() || rank.get_max() != 4 {
            return Err(shape_err(format!("input of rank {}..{}", rank.get_min(), rank.get_max())));
        }
        let channels = shape.get_dimensions()[1];
        if !channels.is_dynamic() && channels.get_max() != 3 {
            return Err(shape_err(format!("input with {} channels", channels.get_max())));
        }
        // The dynamic compile validates the model here, at construction, and runs every
        // size the first time it is seen.
        let mut compiled = core.compile_model(&read, DeviceType::CPU).map_err(load_err(model, "compiling"))?;
        let precision = match compiled.get_property(&PropertyKey::Rw(RwPropertyKey::HintInferencePrecision)) {
            _ if precision == Precision::Int8 => Precision::Int8,
            // A CPU without bf16 arithmetic keeps f32; report what runs.
            Ok(value) if value == "bf16" => Precision::Bf16,
            _ => Precision::Fp32,
        };
        let dynamic = compiled.create_infer_request().map_err(load_err(model, "creating an infer request"))?;
        let phases = onnx_metadata(path, PHASES.0).is_some_and(|v| v == PHASES.1);
        let backend =
            OvBackend { core, model: read, dynamic, fixed: None, seen: Vec::new(), reshapable: inputs == 1, precision };
        Ok(Loaded { backend: Backend::OpenVino(Box::new(backend)), phases })
    }

    /// The request for an input of `size`: a size used at least twice, and more often
    /// than the size compiled so far, gets the fixed-shape request; a one-off size
    /// costs no compile.
    fn request_for(&mut self, size: (usize, usize)) -> &mut InferRequest {
        if !self.reshapable {
            return &mut self.dynamic;
        }
        let uses = self.count_use(size);
        let fixed = self.fixed.as_ref().map(|(s, _)| *s);
        if fixed != Some(size) && uses >= 2 && fixed.is_none_or(|s| uses > self.uses(s)) {
            // Free the old request's memory before compiling; a failed compile is
            // remembered as None, not retried every tile.
            self.fixed = None;
            self.fixed = Some((size, self.compile_fixed(size).ok()));
        }
        match &mut self.fixed {
            Some((s, Some(request))) if *s == size => request,
            _ => &mut self.dynamic,
        }
    }

    fn uses(&self, size: (usize, usize)) -> u64 {
        self.seen.iter().find(|(s, _)| *s == size).map_or(0, |(_, n)| *n)
    }

    /// Counts one use of `size` and returns its count; when the list is full, the least
    /// used size other than the fixed one makes room.
    fn count_use(&mut self, size: (usize, usize)) -> u64 {
        if let Some((_, n)) = self.seen.iter_mut().find(|(s, _)| *s == size) {
            *n += 1;
            return *n;
        }
        if self.seen.len() == SEEN_SHAPES {
            let fixed = self.fixed.as_ref().map(|(s, _)| *s);
            if let Some(i) =
                (0..self.seen.len()).filter(|&i| Some(self.seen[i].0) != fixed).min_by_key(|&i| self.seen[i].1)
            {
                self.seen.remove(i);
            }
        }
        self.seen.push((size, 1));
        1
    }

    fn compile_fixed(&mut self, (width, height): (usize, usize)) -> std::result::Result<InferRequest, InferenceError> {
        let shape = PartialShape::new_static(4, &[1, 3, height as i64, width as i64])?;
        self.model.reshape_single_input(&shape)?;
        self.core.compile_model(&self.model, DeviceType::CPU)?.create_infer_request()
    }

    /// Runs asynchronously and waits in [`CANCEL_POLL`] steps; a raised `cancel` cancels
    /// the request (the CPU plugin stops between graph nodes).
    pub fn infer_with<R>(
        &mut self,
        model: &str,
        tensor: &[f32],
        (width, height): (usize, usize),
        vectors: &[(&str, &[f32])],
        cancel: Option<&AtomicBool>,
        use_output: impl FnOnce(&[i64], &[f32]) -> R,
    ) -> Result<R> {
        if is_set(cancel) {
            return Err(CoreError::Cancelled);
        }
        let err = |action| run_err(model, action);
        let shape = Shape::new(&[1, 3, height as i64, width as i64]).map_err(err("shaping the input"))?;
        let mut input = Tensor::new(ElementType::F32, &shape).map_err(err("allocating the input"))?;
        input.get_data_mut::<f32>().map_err(err("writing the input"))?.copy_from_slice(tensor);
        let request = self.request_for((width, height));
        request.set_input_tensor_by_index(0, &input).map_err(err("setting the input"))?;
        for &(name, values) in vectors {
            let shape = Shape::new(&[1, values.len() as i64, 1, 1]).map_err(err("shaping an SE mean"))?;
            let mut vector = Tensor::new(ElementType::F32, &shape).map_err(err("allocating an SE mean"))?;
            vector.get_data_mut::<f32>().map_err(err("writing an SE mean"))?.copy_from_slice(values);
            request.set_tensor(name, &vector).map_err(err("setting an SE mean"))?;
        }
        request.infer_async().map_err(err("starting inference"))?;
        let poll = CANCEL_POLL.as_millis() as i64;
        loop {
            match request.wait(poll) {
                Ok(()) => break,
                Err(e) if e.kind == InferenceErrorKind::ResultNotReady => {
                    if is_set(cancel) {
                        let _ = request.cancel();
                        // The request must be idle before its tensors are touched again.
                        while matches!(request.wait(poll), Err(e) if e.kind == InferenceErrorKind::ResultNotReady) {}
                        return Err(CoreError::Cancelled);
                    }
                }
                Err(e) => return Err(err("running inference")(e)),
            }
        }
        let output = request.get_output_tensor().map_err(err("reading the output"))?;
        let dims = output.get_shape().map_err(err("reading the output shape"))?.get_dimensions().to_vec();
        let data = output.get_data::<f32>().map_err(err("reading the output"))?;
        Ok(use_output(&dims, data))
    }
}

/// One `metadata_props` value of an ONNX file (OpenVINO's C API does not expose them).
fn onnx_metadata(path: &Path, key: &str) -> Option<String> {
    use prost::Message;
    #[derive(Clone, PartialEq, prost::Message)]
    struct Entry {
        #[prost(string, tag = "1")]
        key: String,
        #[prost(string, tag = "2")]
        value: String,
    }
    /// Only field 14 of `ModelProto`; prost skips the rest, weights included.
    #[derive(Clone, PartialEq, prost::Message)]
    struct MetadataOnly {
        #[prost(message, repeated, tag = "14")]
        metadata_props: Vec<Entry>,
    }
    let bytes = std::fs::read(path).ok()?;
    let model = MetadataOnly::decode(bytes.as_slice()).ok()?;
    model.metadata_props.into_iter().find(|e| e.key == key).map(|e| e.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(backend: &mut OvBackend, (w, h): (usize, usize)) -> Vec<f32> {
        let input: Vec<f32> = (0..3 * w * h).map(|i| (i % 251) as f32 / 250.0).collect();
        backend.infer_with("smooth_x2", &input, (w, h), &[], None, |_, out| out.to_vec()).unwrap()
    }

    #[test]
    fn the_most_used_size_gets_a_fixed_shape_request_with_the_same_output() {
        let path = aiupscale_testkit::tiny_model("smooth_x2");
        let config = SessionConfig { threads: 1, ..SessionConfig::default() };
        let Loaded { backend, .. } = OvBackend::open(&path, "smooth_x2", &config, Precision::Fp32).unwrap();
        let Backend::OpenVino(mut ov) = backend else { panic!("not OpenVINO") };
        let fixed = |ov: &OvBackend| ov.fixed.as_ref().map(|(s, r)| (*s, r.is_some()));
        let first = run(&mut ov, (40, 24));
        assert_eq!(fixed(&ov), None, "a size seen once runs on the dynamic request");
        let second = run(&mut ov, (40, 24));
        assert_eq!(fixed(&ov), Some(((40, 24), true)), "the second run compiles the shape");
        assert_eq!(first, second);
        // Edge tiles: other sizes, used less often, run on the dynamic request.
        for _ in 0..2 {
            run(&mut ov, (24, 40));
        }
        run(&mut ov, (40, 24));
        assert_eq!(fixed(&ov), Some(((40, 24), true)));
        // A size that comes to be used more often takes the fixed request over.
        for _ in 0..3 {
            run(&mut ov, (24, 40));
        }
        assert_eq!(fixed(&ov), Some(((24, 40), true)));
        assert_eq!(run(&mut ov, (40, 24)), first, "the old size runs on the dynamic request");
    }
}
