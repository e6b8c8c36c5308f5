//! Reader for ncnn's `.bin` weights: each layer's arrays, back to back, in layer order.
//!
//! A "tagged" array (conv/deconv weights; ncnn's `ModelBin::load(n, 0)`) starts with a
//! 4-byte little-endian tag that says how the values are stored; "raw" arrays (biases,
//! PReLU slopes; `load(n, 1)`) are plain fp32 without a tag.

/// fp16 values, padded to a multiple of 4 bytes.
const TAG_FP16: u32 = 0x0130_6B47;
/// int8 values (needs int8 scales, which this converter does not handle).
const TAG_INT8: u32 = 0x000D_4B38;
/// fp32 values, written by ncnn's int8 tooling for layers it keeps in float.
const TAG_FP32_ALT: u32 = 0x0002_C056;

pub struct WeightReader<'a> {
    bin: &'a [u8],
    pos: usize,
}

impl<'a> WeightReader<'a> {
    pub fn new(bin: &'a [u8]) -> Self {
        Self { bin, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.bin.len() - self.pos
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    fn take(&mut self, bytes: usize, what: &str) -> Result<&'a [u8], String> {
        if bytes > self.remaining() {
            return Err(format!(
                "{what} needs {bytes} bytes at offset {}, .bin has {} left",
                self.pos,
                self.remaining()
            ));
        }
        let slice = &self.bin[self.pos..self.pos + bytes];
        self.pos += bytes;
        Ok(slice)
    }

    /// `count` plain fp32 values (ncnn `load(count, 1)`).
    pub fn raw_f32(&mut self, count: usize, what: &str) -> Result<Vec<f32>, String> {
        if count > self.remaining() / 4 {
            return Err(format!("{what} needs {count} floats, .bin has {} left", self.remaining() / 4));
        }
        let bytes = self.take(count * 4, what)?;
        Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }

    /// `count` values behind a storage tag (ncnn `load(count, 0)`).
    pub fn tagged(&mut self, count: usize, what: &str) -> Result<Vec<f32>, String> {
        let tag_bytes = self.take(4, &format!("{what} (storage tag)"))?;
        let tag = u32::from_le_bytes([tag_bytes[0], tag_bytes[1], tag_bytes[2], tag_bytes[3]]);
        match tag {
            TAG_FP16 => {
                if count > self.remaining() / 2 {
                    return Err(format!(
                        "{what} needs {count} fp16 values ({} bytes), .bin has {} bytes left",
                        count * 2,
                        self.remaining()
                    ));
                }
                let bytes = self.take(align4(count * 2), what)?;
                Ok(bytes[..count * 2].chunks_exact(2).map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]]))).collect())
            }
            TAG_INT8 => {
                Err(format!("{what} is stored as int8 (tag {tag:#010x}); quantized ncnn models are not supported"))
            }
            TAG_FP32_ALT | 0 => self.raw_f32(count, what),
            _ => {
                // Any other non-zero flag: a 256-entry fp32 lookup table, then one u8 index
                // per value (padded to 4 bytes).
                let table = self.raw_f32(256, &format!("{what} (quantization table, tag {tag:#010x})"))?;
                let indices = self.take(align4(count), what)?;
                Ok(indices[..count].iter().map(|i| table[usize::from(*i)]).collect())
            }
        }
    }
}

fn align4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

/// IEEE 754 half -> single; exact for every half value, subnormals included.
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    match exp {
        0 => {
            // Zero or subnormal: man * 2^-24, exact in f32.
            let magnitude = man as f32 * (1.0 / 16_777_216.0);
            if sign != 0 {
                -magnitude
            } else {
                magnitude
            }
        }
        0x1f => f32::from_bits(sign | 0x7f80_0000 | (man << 13)),
        _ => f32::from_bits(sign | ((exp + 127 - 15) << 23) | (man << 13)),
    }
}
