//! YUV <-> RGB for video fronts: 8-bit planar, semi-planar and packed YUV frames to a
//! float RGB [`Image`] (what models take) and back.
//!
//! The matrix (BT.601, BT.709, BT.2020) and the range (full, or limited 16-235/240)
//! always come from the caller (the stream's colorimetry): nothing is guessed from the
//! frame size. Float RGB is not clipped on the way in (super-whites and out-of-gamut
//! colours come through as values outside [0,1]); on the way out only the 8-bit code
//! range 0..=255 bounds the result, so a limited-range stream may use the footroom and
//! headroom codes as it did before.
//!
//! Chroma subsampling: chroma is upsampled bilinearly to the luma grid for the RGB
//! image, at the positions the chroma siting says (co-sited with the even luma sample,
//! or centred between two); on the way back it is averaged over each chroma block
//! (2x2 for 4:2:0, 2x1 for 4:2:2), with a [1 2 1]/4 filter along an axis where the
//! siting is co-sited, so that chroma does not drift by a quarter sample per pass.
//!
//! Split by concern: `matrix` (matrices, ranges, the per-sample arithmetic), `layout`
//! (memory layouts and chroma siting), `frame` (borrowed frames and their sample
//! access), `convert` (whole-frame conversions).

mod convert;
mod frame;
mod layout;
mod matrix;
#[cfg(test)]
mod tests;

pub use convert::{rgb_to_yuv, yuv_to_rgb, RGB_F32};
pub use frame::{YuvMut, YuvRef};
pub use layout::{ChromaSiting, YuvLayout};
pub use matrix::{Matrix, Range, YuvColor};
