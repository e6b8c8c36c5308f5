//! The ONNX Runtime backend: CPU, CUDA and TensorRT sessions (built in `runtime.rs`).

use std::{
    path::Path,
    sync::atomic::{AtomicBool, Ordering},
};

use aiupscale_models::metadata::{PHASES, SE_MEAN_PREFIX};
use ort::{
    ep::{self, ExecutionProvider},
    session::{RunOptions, Session},
    value::TensorRef,
};

use super::{is_set, Backend, Loaded, Precision, CANCEL_POLL};
use crate::{
    runtime::{build_session, BuiltSession, Device, SessionConfig},
    CoreError, InferenceError, ModelLoadError, Result, SetupError,
};

pub(crate) struct OrtBackend {
    session: Session,
    input: String,
    output: String,
    pub device: Device,
    /// Why `Device::Auto` runs on the CPU although a GPU provider was offered.
    pub fallback: Option<String>,
    pub precision: Precision,
    /// Carries the terminate flag into a running `Session::run`.
    run_options: RunOptions,
}

/// Whether the loaded ONNX Runtime offers a GPU provider (for `Engine::Auto` with
/// `Device::Auto`).
pub(crate) fn gpu_available() -> bool {
    crate::runtime::environment().is_ok()
        && (ep::CUDA::is_available().unwrap_or(false) || ep::TensorRT::is_available().unwrap_or(false))
}

impl OrtBackend {
    /// Only fp32: an explicit bf16/int8 request is an error, `auto` gets fp32.
    pub fn open(path: &Path, model: &str, config: &SessionConfig) -> Result<Loaded> {
        if matches!(config.precision, Precision::Bf16 | Precision::Int8) {
            return Err(CoreError::Setup(SetupError::PrecisionUnavailable {
                engine: "ort",
                precision: config.precision.name(),
                reason: "ONNX Runtime runs these models in fp32 only; use engine openvino".into(),
            }));
        }
        let BuiltSession { session, device, fallback } = build_session(path, model, config)?;
        let shape_err = |actual: String| {
            CoreError::Model(ModelLoadError::Shape {
                model: model.to_owned(),
                actual,
                expected: "one float32 input [1,3,H,W] and an image output [1,3,H*s,W*s]".into(),
            })
        };
        let (Some(input), Some(output)) = (session.inputs().first(), session.outputs().first()) else {
            return Err(shape_err(format!(
                "{} inputs and {} outputs",
                session.inputs().len(),
                session.outputs().len()
            )));
        };
        // Besides the image, only the SE means of a stage graph (aiupscale_models::stages).
        if session.inputs().iter().skip(1).any(|i| !i.name().starts_with(SE_MEAN_PREFIX)) {
            return Err(shape_err(format!("{} inputs", session.inputs().len())));
        }
        match input.dtype().tensor_shape() {
            Some(shape) => {
                let dims: Vec<i64> = shape.iter().copied().collect();
                if dims.len() != 4 || (dims[1] != 3 && dims[1] != -1) {
                    return Err(shape_err(format!("input {} has shape {dims:?}", input.name())));
                }
            }
            None => return Err(shape_err(format!("input {} is not a tensor", input.name()))),
        }
        let phases = session.metadata().ok().and_then(|m| m.custom(PHASES.0)).is_some_and(|v| v == PHASES.1);
        let run_options = RunOptions::new().map_err(|source| {
            CoreError::Model(ModelLoadError::Load {
                model: model.to_owned(),
                engine: "ONNX Runtime",
                source: source.into(),
            })
        })?;
        let backend = OrtBackend {
            input: input.name().to_owned(),
            output: output.name().to_owned(),
            session,
            device,
            fallback,
            precision: Precision::Fp32,
            run_options,
        };
        Ok(Loaded { backend: Backend::Ort(Box::new(backend)), phases })
    }

    pub fn infer_with<R>(
        &mut self,
        model: &str,
        tensor: &[f32],
        (width, height): (usize, usize),
        vectors: &[(&str, &[f32])],
        cancel: Option<&AtomicBool>,
        use_output: impl FnOnce(&[i64], &[f32]) -> R,
    ) -> Result<R> {
        let infer_err = |source: ort::Error| {
            CoreError::Inference(InferenceError::Run {
                model: model.to_owned(),
                engine: "ONNX Runtime",
                source: source.into(),
            })
        };
        let input = TensorRef::from_array_view(([1usize, 3, height, width], tensor)).map_err(infer_err)?;
        let mut inputs = ort::inputs![self.input.as_str() => input];
        for &(name, values) in vectors {
            let vector = TensorRef::from_array_view(([1usize, values.len(), 1, 1], values)).map_err(infer_err)?;
            inputs.push((name.into(), vector.into()));
        }
        let Some(cancel) = cancel else {
            let outputs = self.session.run_with_options(inputs, &self.run_options).map_err(infer_err)?;
            let (shape, data) = outputs[self.output.as_str()].try_extract_tensor::<f32>().map_err(infer_err)?;
            return Ok(use_output(shape, data));
        };
        if cancel.load(Ordering::Relaxed) {
            return Err(CoreError::Cancelled);
        }
        // A watcher sets ONNX Runtime's terminate flag when `cancel` is raised; the run
        // then stops at its next node instead of finishing the tile.
        let finished = AtomicBool::new(false);
        let (session, run_options, output) = (&mut self.session, &self.run_options, self.output.as_str());
        let result = std::thread::scope(|scope| {
            let watcher = scope.spawn(|| {
                while !finished.load(Ordering::Acquire) {
                    if cancel.load(Ordering::Relaxed) {
                        // Failing to set the flag only means the tile runs to its end.
                        let _ = run_options.terminate();
                        return;
                    }
                    std::thread::park_timeout(CANCEL_POLL);
                }
            });
            let outcome = session.run_with_options(inputs, run_options).map_err(infer_err).and_then(|outputs| {
                let (shape, data) = outputs[output].try_extract_tensor::<f32>().map_err(infer_err)?;
                Ok(use_output(shape, data))
            });
            finished.store(true, Ordering::Release);
            watcher.thread().unpark();
            outcome
        });
        if is_set(Some(cancel)) {
            // Re-arm the options for the next run (also after a run that finished anyway).
            let _ = self.run_options.unterminate();
            return Err(CoreError::Cancelled);
        }
        result
    }
}
