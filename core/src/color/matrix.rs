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

/// The code range of 8-bit samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// Y 0..=255, chroma 128 +- 127.5.
    Full,
    /// "TV"/"studio" range: Y 16..=235, chroma 16..=240.
    Limited,
}

impl Range {
    /// (Y offset, Y scale, chroma scale) in 8-bit code values.
    fn codes(self) -> (f32, f32, f32) {
        match self {
            Range::Full => (0.0, 255.0, 255.0),
            Range::Limited => (16.0, 219.0, 224.0),
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
}

impl YuvColor {
    pub const fn new(matrix: Matrix, range: Range) -> Self {
        Self { matrix, range }
    }

    pub(super) fn coefficients(self) -> Coefficients {
        let (kr, kb) = self.matrix.coefficients();
        let (y_offset, y_scale, c_scale) = self.range.codes();
        Coefficients { kr, kg: 1.0 - kr - kb, kb, y_offset, y_scale, c_scale }
    }

    /// RGB in [0,1] (not clipped) of one 8-bit YUV sample triple; `y`, `u` and `v` are
    /// code values, fractional ones allowed (interpolated chroma).
    pub fn to_rgb(self, y: f32, u: f32, v: f32) -> [f32; 3] {
        self.coefficients().to_rgb(y, u, v)
    }

    /// 8-bit code values (unrounded, not clipped) of an RGB triple in [0,1].
    pub fn to_yuv(self, rgb: [f32; 3]) -> [f32; 3] {
        self.coefficients().to_yuv(rgb)
    }
}

impl Coefficients {
    #[inline]
    pub(super) fn to_rgb(self, y: f32, u: f32, v: f32) -> [f32; 3] {
        let luma = (y - self.y_offset) / self.y_scale;
        let cb = (u - 128.0) / self.c_scale;
        let cr = (v - 128.0) / self.c_scale;
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
        [self.y_offset + self.y_scale * luma, 128.0 + self.c_scale * cb, 128.0 + self.c_scale * cr]
    }
}
