//! Denoise building blocks, at the input resolution: the noise level
//! ([`estimate_noise`]), an edge-preserving spatial denoise, and block motion
//! with compensation for the temporal part. [`crate::stream::FrameUpscaler`] puts them
//! together around the upscaler.

mod motion;
mod planes;
mod spatial;

pub(crate) use motion::compensate_plane;
pub use motion::{compensate, estimate as estimate_motion, MotionField};
pub use planes::RgbPlanes;
pub use spatial::{denoise as spatial_denoise, estimate_noise};

/// Strengths in 0..=1. The defaults leave frames exactly as the model makes them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DenoiseSettings {
    /// Spatial denoise before upscaling.
    pub denoise: f32,
    /// Temporal denoise, which also stabilises the output (needs a stream of frames).
    pub temporal: f32,
}

impl DenoiseSettings {
    pub fn is_off(&self) -> bool {
        self.denoise <= 0.0 && self.temporal <= 0.0
    }

    /// Frames of history a static pixel averages over at most.
    pub(crate) fn max_history(&self) -> f32 {
        1.0 + 31.0 * self.temporal.clamp(0.0, 1.0)
    }
}
