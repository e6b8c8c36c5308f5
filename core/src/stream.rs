//! The stream pipeline: denoise and temporal stability around the upscaler, shared by the element (a
//! stream of frames) and the bridge (one image: the same code with one frame, so only
//! its spatial part acts).
//!
//! Per frame, at the input resolution:
//! 1. measure the noise level ([`crate::denoise::estimate_noise`]), smoothed over time;
//! 2. spatial edge-preserving denoise, `denoise` strength;
//! 3. with `temporal` > 0 and a previous frame: block motion from the previous result
//!    to this frame, the previous result moved along it, and a recursive average whose
//!    weight per pixel is a confidence that the moved history matches this frame.
//!    Pixels that moved wrongly or were uncovered get confidence 0 and fall back to the
//!    spatial result (no ghosting); when most of the frame mismatches, it is a scene
//!    cut and the history is dropped;
//! 4. the model upscales the result. The output is stable where the input is: the
//!    model is deterministic, so a static, temporally denoised input gives the same
//!    upscaled pixels frame after frame. (An extra blend of the previous upscaled
//!    output was tried and removed: even restricted to zero-motion blocks and blending
//!    the model's raw output, it cost up to 1.2 dB on handheld footage through
//!    sub-pixel motion, and static scenes met their flicker target without it.)
//!
//! It holds no frames back: latency is 0 frames. Memory: one previous result and one
//! count plane at the input size.

use std::borrow::BorrowMut;

use crate::{
    denoise::{
        compensate, compensate_plane, estimate_motion, estimate_noise, spatial_denoise, DenoiseSettings, RgbPlanes,
    },
    pixels::{ImageMut, ImageRef},
    upscaler::{Control, Upscaler},
    CoreError, ParameterError, Result,
};

/// Frames a moving pixel averages over at most (see `process`).
const MOVING_HISTORY: f32 = 2.0;

/// Per-pixel confidence that the moved history shows the same content as the current
/// frame: 1 while the local difference is what noise explains, 0 beyond ~3 sigma.
fn confidence(current: &RgbPlanes, history: &RgbPlanes, sigma: f32) -> Vec<f32> {
    let (w, h, n) = (current.width, current.height, current.plane_len());
    let diff: Vec<f32> = (0..n)
        .map(|i| (0..3).map(|c| (current.data[c * n + i] - history.data[c * n + i]).abs()).sum::<f32>() / 3.0)
        .collect();
    // 3x3 mean over 3 channels: for noise alone (a clean history against a frame with
    // noise sigma) it is 0.8 sigma +- 0.12 sigma, so anything past ~1.1 sigma is content
    // that does not line up, and must not be averaged in.
    let sigma = sigma.max(0.5 / 255.0);
    let (low, high) = (1.1 * sigma, 1.6 * sigma);
    let mut conf = vec![0.0; n];
    for y in 0..h {
        for x in 0..w {
            let mut sum = 0.0;
            let mut count = 0.0;
            for yy in y.saturating_sub(1)..(y + 2).min(h) {
                for xx in x.saturating_sub(1)..(x + 2).min(w) {
                    sum += diff[yy * w + xx];
                    count += 1.0;
                }
            }
            let mean = sum / count;
            conf[y * w + x] = ((high - mean) / (high - low)).clamp(0.0, 1.0);
        }
    }
    conf
}

struct History {
    result: RgbPlanes,
    count: Vec<f32>,
    sigma: f32,
}

/// What happened to the last frame (for logs, tests and the evaluation).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FrameReport {
    pub noise_sigma: f32,
    pub scene_cut: bool,
    /// Mean confidence of the temporal history (0 without history).
    pub mean_confidence: f32,
}

/// An [`Upscaler`] with denoise and temporal state: one per stream, or one per image
/// (`FrameUpscaler<&mut Upscaler>` wraps a borrowed upscaler for one image).
pub struct FrameUpscaler<U: BorrowMut<Upscaler> = Upscaler> {
    upscaler: U,
    settings: DenoiseSettings,
    history: Option<History>,
    last: FrameReport,
}

impl<U: BorrowMut<Upscaler>> FrameUpscaler<U> {
    pub fn new(upscaler: U, settings: DenoiseSettings) -> Self {
        Self { upscaler, settings, history: None, last: FrameReport::default() }
    }

    pub fn upscaler(&self) -> &Upscaler {
        self.upscaler.borrow()
    }

    pub fn settings(&self) -> DenoiseSettings {
        self.settings
    }

    pub fn set_settings(&mut self, settings: DenoiseSettings) {
        if settings.temporal <= 0.0 {
            self.history = None;
        }
        self.settings = settings;
    }

    /// Forgets the history (flush, seek, new stream).
    pub fn reset(&mut self) {
        self.history = None;
    }

    pub fn last_report(&self) -> FrameReport {
        self.last
    }

    /// Denoises, upscales and stabilises one frame into `dst` (same format as `src`).
    pub fn process(&mut self, src: &ImageRef<'_>, dst: &mut ImageMut<'_>, control: &mut Control<'_>) -> Result<()> {
        if self.settings.is_off() {
            self.history = None;
            return self.upscaler.borrow_mut().upscale(src, dst, control);
        }
        if src.format() != dst.format() {
            return Err(CoreError::Parameter(ParameterError::FormatMismatch {
                src: src.format().to_string(),
                dst: dst.format().to_string(),
            }));
        }
        let (frame, alpha) = RgbPlanes::from_image(src);
        let (w, h) = (frame.width, frame.height);
        if self.history.as_ref().is_some_and(|hist| (hist.result.width, hist.result.height) != (w, h)) {
            self.history = None;
        }
        // Per channel: luma averages independent channel noise down by ~1/1.5.
        let measured = (0..3).map(|c| estimate_noise(frame.plane(c), w, h)).sum::<f32>() / 3.0;
        let mut report = FrameReport::default();
        let temporal = self.settings.temporal > 0.0;
        // Match the history to this frame first: a scene cut must not carry anything of
        // the old scene, not even its noise level.
        let matched = self.history.take().filter(|_| temporal).and_then(|history| {
            let field = estimate_motion(&history.result.luma(), &frame.luma(), w, h);
            let moved = compensate(&history.result, &field);
            let conf = confidence(&frame, &moved, history.sigma);
            report.mean_confidence = conf.iter().sum::<f32>() / conf.len() as f32;
            report.scene_cut = report.mean_confidence < 0.25;
            (!report.scene_cut).then_some((history, field, moved, conf))
        });
        let sigma = matched.as_ref().map_or(measured, |(history, ..)| 0.8 * history.sigma + 0.2 * measured);
        report.noise_sigma = sigma;
        let spatial = spatial_denoise(&frame, sigma, self.settings.denoise);

        let (result, count) = match matched {
            Some((history, field, moved, conf)) => {
                let moved_count = compensate_plane(&history.count, w, h, &field);
                let max_history = self.settings.max_history();
                let n = w * h;
                let mut result = spatial;
                let mut count = vec![0.0; n];
                for i in 0..n {
                    let c = conf[i];
                    // A running mean over the frames seen, while they agree.
                    // Integer-pel compensation is off by up to half a pixel where things
                    // move: a long mean there turns into blur, so moving pixels keep a
                    // short history.
                    let (x, y) = (i % w, i / w);
                    let cap =
                        if field.vector_at(x, y) == (0, 0) { max_history } else { max_history.min(MOVING_HISTORY) };
                    let frames = if c > 0.0 { moved_count[i].min(cap - 1.0) } else { 0.0 };
                    let weight = c * frames / (frames + 1.0);
                    for ch in 0..3 {
                        let k = ch * n + i;
                        result.data[k] += weight * (moved.data[k] - result.data[k]);
                    }
                    // A mismatch restarts the history at this frame.
                    count[i] = if c > 0.5 { frames + 1.0 } else { 1.0 };
                }
                (result, count)
            }
            None => (spatial, vec![1.0; w * h]),
        };

        let low = result.to_float_image(alpha.as_deref())?;
        let mut high = crate::pixels::Image::new(dst.width(), dst.height(), low.format())?;
        self.upscaler.borrow_mut().upscale(&low.as_ref(), &mut high.as_mut(), control)?;
        let (output, out_alpha) = RgbPlanes::from_image(&high.as_ref());
        output.write_into(dst, out_alpha.as_deref());
        if temporal {
            self.history = Some(History { result, count, sigma });
        }
        self.last = report;
        Ok(())
    }
}
