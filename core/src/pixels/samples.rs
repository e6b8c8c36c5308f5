//! One sample of a packed pixel to and from a float in [0,1]: the arithmetic every
//! reader and writer of packed images shares.

use super::SampleType;

/// Sample `index` (in samples, not bytes) of `row` as a float: integers scaled to
/// [0,1], floats as they are. 16-bit and float samples are native-endian.
#[inline]
pub fn read_sample(row: &[u8], index: usize, sample: SampleType) -> f32 {
    match sample {
        SampleType::U8 => f32::from(row[index]) * (1.0 / 255.0),
        SampleType::U16 => f32::from(u16::from_ne_bytes([row[2 * index], row[2 * index + 1]])) * (1.0 / 65535.0),
        SampleType::F32 => {
            let b = &row[4 * index..4 * index + 4];
            f32::from_ne_bytes([b[0], b[1], b[2], b[3]])
        }
    }
}

/// 0..1 to 8 bits, rounded: `x + 0.5` truncated is `round()` for x >= 0 (and `as`
/// saturates, NaN -> 0), without a libm call per sample on baseline x86-64 (no SSE4.1
/// rounding instruction).
#[inline]
pub(crate) fn quantise_u8(value: f32) -> u8 {
    (value.clamp(0.0, 1.0) * 255.0 + 0.5) as u8
}

/// Writes `value` as sample `index` of `row`: integers clamped to [0,1] and rounded,
/// floats as they are.
#[inline]
pub fn write_sample(row: &mut [u8], index: usize, sample: SampleType, value: f32) {
    match sample {
        SampleType::U8 => row[index] = quantise_u8(value),
        SampleType::U16 => {
            let v = (value.clamp(0.0, 1.0) * 65535.0 + 0.5) as u16;
            row[2 * index..2 * index + 2].copy_from_slice(&v.to_ne_bytes());
        }
        SampleType::F32 => row[4 * index..4 * index + 4].copy_from_slice(&value.to_ne_bytes()),
    }
}
