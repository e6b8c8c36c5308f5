//! Film-like grain added after upscaling: models output smooth, "plastic" surfaces, and
//! a little fine grain gives back a photographic look.
//!
//! The grain is luminance-only (the same offset on R, G and B, so no colour speckle),
//! strongest in the mid-tones and weaker towards black and white, as film grain is. Its
//! pattern is a pure function of (seed, x, y): the same image and seed always give the
//! same output, whatever the tiling or thread count, and nothing is kept between calls.

use crate::{pixels::SampleType, ImageMut, ParameterError, Result};

/// Standard deviation of the grain at strength 1 in the mid-tones, as a fraction of full
/// scale (about 10/255): visible but finer than the noise of the camcorder tapes the
/// project restores.
pub const SIGMA_AT_FULL_STRENGTH: f32 = 0.04;

/// Share of the mid-tone grain left at pure black and pure white.
const EDGE_WEIGHT: f32 = 0.25;

/// Grain strength and the seed of its pattern.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grain {
    strength: f32,
    seed: u64,
}

impl Grain {
    /// Strength 0 (off) to 1; an error names the value outside that range.
    pub fn new(strength: f32, seed: u64) -> Result<Self> {
        if !(0.0..=1.0).contains(&strength) {
            return Err(ParameterError::Grain { strength }.into());
        }
        Ok(Self { strength, seed })
    }

    pub fn strength(&self) -> f32 {
        self.strength
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The same strength with another seed (e.g. one per video frame).
    pub fn with_seed(self, seed: u64) -> Self {
        Self { seed, ..self }
    }

    pub fn is_off(&self) -> bool {
        self.strength == 0.0
    }
}

/// How strongly grain shows at luminance `y` (0..1): 1 in the mid-tones, falling to
/// [`EDGE_WEIGHT`] at black and white.
pub fn luminance_weight(y: f32) -> f32 {
    let y = y.clamp(0.0, 1.0);
    EDGE_WEIGHT + (1.0 - EDGE_WEIGHT) * 4.0 * y * (1.0 - y)
}

/// SplitMix64's finaliser: a well-mixed 64-bit hash.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Zero-mean, unit-variance noise at pixel (x, y) for `seed`: the sum of four uniform
/// 16-bit draws from one hash (close to Gaussian, with no tail beyond +-3.5 sigma).
pub fn noise(seed: u64, x: u32, y: u32) -> f32 {
    let h = mix(mix(seed) ^ (u64::from(y) << 32 | u64::from(x)));
    let sum: f32 = (0..4).map(|i| ((h >> (16 * i)) & 0xFFFF) as f32 / 65535.0).sum();
    // Four uniforms on 0..1: mean 2, variance 4/12.
    (sum - 2.0) * 3f32.sqrt()
}

/// Adds grain to `image` in place (any layout; alpha and padding untouched).
pub fn add_grain(image: &mut ImageMut<'_>, grain: Grain) {
    if grain.is_off() {
        return;
    }
    let format = image.format();
    let (width, height, stride) = (image.width(), image.height(), image.stride());
    let bpp = format.bytes_per_pixel();
    let size = format.sample.bytes();
    let offsets = format.channels.rgb_offsets();
    let gray = format.channels.is_gray();
    let sigma = SIGMA_AT_FULL_STRENGTH * grain.strength;
    let data = image.data_mut();
    for y in 0..height {
        let row = &mut data[y as usize * stride..][..width as usize * bpp];
        for x in 0..width {
            let pixel = &mut row[x as usize * bpp..][..bpp];
            let [r, g, b] = offsets.map(|o| read(pixel, o * size, format.sample));
            // Rec. 601 luma weights, the project's default for the weighting only.
            let luma = if gray { r } else { 0.299 * r + 0.587 * g + 0.114 * b };
            let delta = sigma * luminance_weight(luma) * noise(grain.seed, x, y);
            let channels: &[usize] = if gray { &offsets[..1] } else { &offsets };
            for &o in channels {
                let value = read(pixel, o * size, format.sample) + delta;
                write(pixel, o * size, format.sample, value);
            }
        }
    }
}

fn read(pixel: &[u8], at: usize, sample: SampleType) -> f32 {
    match sample {
        SampleType::U8 => f32::from(pixel[at]) / 255.0,
        SampleType::U16 => f32::from(u16::from_ne_bytes([pixel[at], pixel[at + 1]])) / 65535.0,
        SampleType::F32 => f32::from_ne_bytes([pixel[at], pixel[at + 1], pixel[at + 2], pixel[at + 3]]),
    }
}

fn write(pixel: &mut [u8], at: usize, sample: SampleType, value: f32) {
    match sample {
        SampleType::U8 => pixel[at] = (value.clamp(0.0, 1.0) * 255.0 + 0.5) as u8,
        SampleType::U16 => {
            let v = (value.clamp(0.0, 1.0) * 65535.0 + 0.5) as u16;
            pixel[at..at + 2].copy_from_slice(&v.to_ne_bytes());
        }
        // Float keeps what lies outside 0..1 (the model's own overshoot, HDR).
        SampleType::F32 => pixel[at..at + 4].copy_from_slice(&value.to_ne_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Channels, Image, PixelFormat};

    fn flat(value: u8, w: u32, h: u32, channels: Channels) -> Image {
        let mut img = Image::new(w, h, PixelFormat::new(channels, SampleType::U8)).unwrap();
        img.data_mut().fill(value);
        img
    }

    fn grained(mut img: Image, strength: f32, seed: u64) -> Image {
        add_grain(&mut img.as_mut(), Grain::new(strength, seed).unwrap());
        img
    }

    #[test]
    fn the_same_seed_gives_the_same_output_and_another_seed_another() {
        let a = grained(flat(128, 64, 48, Channels::Rgb), 0.5, 7);
        let b = grained(flat(128, 64, 48, Channels::Rgb), 0.5, 7);
        let c = grained(flat(128, 64, 48, Channels::Rgb), 0.5, 8);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn strength_zero_changes_nothing() {
        let img = flat(77, 16, 16, Channels::Rgba);
        assert_eq!(grained(img.clone(), 0.0, 3), img);
    }

    #[test]
    fn out_of_range_strength_is_refused_with_its_value() {
        for bad in [-0.1, 1.5, f32::NAN] {
            let err = Grain::new(bad, 0).unwrap_err().to_string();
            assert!(err.contains(&bad.to_string()) && err.contains("0..=1"), "{err}");
        }
    }

    #[test]
    fn grain_is_luminance_only_zero_mean_and_of_the_documented_size() {
        let img = grained(flat(128, 256, 256, Channels::Rgb), 1.0, 42);
        let mut sum = 0.0f64;
        let mut sq = 0.0f64;
        for px in img.data().chunks(3) {
            assert!(px[0] == px[1] && px[1] == px[2], "colour speckle: {px:?}");
            let d = f64::from(px[0]) - 128.0;
            sum += d;
            sq += d * d;
        }
        let n = (256 * 256) as f64;
        let (mean, sd) = (sum / n, (sq / n - (sum / n).powi(2)).sqrt());
        let expected = f64::from(SIGMA_AT_FULL_STRENGTH * luminance_weight(128.0 / 255.0)) * 255.0;
        assert!(mean.abs() < 0.1, "mean shift {mean}");
        assert!((sd - expected).abs() < 0.05 * expected, "sd {sd}, expected {expected}");
    }

    #[test]
    fn grain_is_weaker_in_the_shadows_than_in_the_mid_tones() {
        let spread = |value: u8| {
            let img = grained(flat(value, 128, 128, Channels::Gray), 1.0, 1);
            let mean = img.data().iter().map(|&v| f64::from(v)).sum::<f64>() / img.data().len() as f64;
            (img.data().iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / img.data().len() as f64).sqrt()
        };
        let (dark, mid) = (spread(20), spread(128));
        assert!(dark < 0.6 * mid, "dark {dark}, mid {mid}");
        assert!(luminance_weight(0.0) == EDGE_WEIGHT && luminance_weight(0.5) == 1.0);
    }

    #[test]
    fn alpha_is_untouched_and_16_bit_and_float_get_the_same_pattern() {
        let img = grained(flat(100, 32, 32, Channels::Rgba), 1.0, 9);
        assert!(img.data().chunks(4).all(|p| p[3] == 100));
        let mut wide = Image::new(32, 32, PixelFormat::new(Channels::Rgb, SampleType::F32)).unwrap();
        for px in wide.data_mut().chunks_mut(4) {
            px.copy_from_slice(&(100.0f32 / 255.0).to_ne_bytes());
        }
        add_grain(&mut wide.as_mut(), Grain::new(1.0, 9).unwrap());
        for (i, px) in wide.data().chunks(12).enumerate() {
            let f = f32::from_ne_bytes([px[0], px[1], px[2], px[3]]) * 255.0;
            assert!((f - f32::from(img.data()[i * 4])).abs() <= 0.5 + 1e-3, "pixel {i}: {f} vs {}", img.data()[i * 4]);
        }
    }

    #[test]
    fn noise_is_unit_variance_and_decorrelated_between_neighbours() {
        let n = 200_000u32;
        let values: Vec<f32> = (0..n).map(|i| noise(5, i % 500, i / 500)).collect();
        let var = values.iter().map(|v| v * v).sum::<f32>() / n as f32;
        let lag: f32 = values.windows(2).map(|w| w[0] * w[1]).sum::<f32>() / (n - 1) as f32;
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
        assert!(lag.abs() < 0.01, "neighbour correlation {lag}");
    }
}
