//! YUV matrices and code ranges, and the per-sample arithmetic between YUV codes
//! and RGB.

/// The YUV matrix: how luma is weighted from R, G and B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Matrix {
    /// ITU-R BT.601 (SD video, JPEG).
    Bt601,
    /// ITU-R BT.709 (HD video).
    Bt709,
    /// ITU-R BT.2020 non-constant luminance (UHD video).
    Bt2020,
}

impl Matrix {
    /// (Kr, Kb); Kg = 1 - Kr - Kb.
    pub fn coefficients(self) -> (f32, f32) {
        match self {
            Matrix::Bt601 => (0.299, 0.114),
            Matrix::Bt709 => (0.2126, 0.0722),
            Matrix::Bt2020 => (0.2627, 0.0593),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Matrix::Bt601 => "bt601",
            Matrix::Bt709 => "bt709",
            Matrix::Bt2020 => "bt2020",
        }
    }
}

/// The code range of YUV samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// Y 0..=255, chroma 128 +- 127.5 (10-bit: 0..=1023).
    Full,
    /// "TV"/"studio" range: Y 16..=235, chroma 16..=240 (10-bit: 64..=940, 64..=960).
    Limited,
}

impl Range {
    /// (Y offset, Y scale, chroma scale, chroma midpoint) in code values of `bits`-bit
    /// samples: limited range scales the 8-bit codes by 2^(bits-8) (10-bit: Y 64..940),
    /// full range spans 0..2^bits-1.
    fn codes(self, bits: u32) -> (f32, f32, f32, f32) {
        let mid = (1u32 << (bits - 1)) as f32;
        match self {
            Range::Full => {
                let max = ((1u32 << bits) - 1) as f32;
                (0.0, max, max, mid)
            }
            Range::Limited => {
                let step = (1u32 << (bits - 8)) as f32;
                (16.0 * step, 219.0 * step, 224.0 * step, mid)
            }
        }
    }
}

/// Matrix and range of a YUV stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YuvColor {
    pub matrix: Matrix,
    pub range: Range,
}

/// Precomputed factors of one [`YuvColor`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Coefficients {
    kr: f32,
    kg: f32,
    kb: f32,
    y_offset: f32,
    y_scale: f32,
    c_scale: f32,
    c_mid: f32,
}

impl YuvColor {
    pub const fn new(matrix: Matrix, range: Range) -> Self {
        Self { matrix, range }
    }

    /// The factors for samples of `bits` bits (8 to 16).
    pub(super) fn coefficients(self, bits: u32) -> Coefficients {
        let (kr, kb) = self.matrix.coefficients();
        let (y_offset, y_scale, c_scale, c_mid) = self.range.codes(bits);
        Coefficients { kr, kg: 1.0 - kr - kb, kb, y_offset, y_scale, c_scale, c_mid }
    }

    /// RGB in [0,1] (not clipped) of one 8-bit YUV sample triple; `y`, `u` and `v` are
    /// code values, fractional ones allowed (interpolated chroma).
    pub fn to_rgb(self, y: f32, u: f32, v: f32) -> [f32; 3] {
        self.coefficients(8).to_rgb(y, u, v)
    }

    /// 8-bit code values (unrounded, not clipped) of an RGB triple in [0,1].
    pub fn to_yuv(self, rgb: [f32; 3]) -> [f32; 3] {
        self.coefficients(8).to_yuv(rgb)
    }
}

impl Coefficients {
    #[inline]
    pub(super) fn to_rgb(self, y: f32, u: f32, v: f32) -> [f32; 3] {
        let luma = (y - self.y_offset) / self.y_scale;
        let cb = (u - self.c_mid) / self.c_scale;
        let cr = (v - self.c_mid) / self.c_scale;
        let r = luma + 2.0 * (1.0 - self.kr) * cr;
        let b = luma + 2.0 * (1.0 - self.kb) * cb;
        let g = (luma - self.kr * r - self.kb * b) / self.kg;
        [r, g, b]
    }

    #[inline]
    pub(super) fn to_yuv(self, [r, g, b]: [f32; 3]) -> [f32; 3] {
        let luma = self.kr * r + self.kg * g + self.kb * b;
        let cb = (b - luma) / (2.0 * (1.0 - self.kb));
        let cr = (r - luma) / (2.0 * (1.0 - self.kr));
        [self.y_offset + self.y_scale * luma, self.c_mid + self.c_scale * cb, self.c_mid + self.c_scale * cr]
    }
}
