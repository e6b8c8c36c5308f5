//! Tiling as pure functions (the vs-mlrt scheme): one fixed tile shape for the whole
//! image, the last tile snapped to the edge, `overlap` context pixels on every side
//! that are computed and cropped away, and reflect padding where a tile reaches past
//! the image (frames smaller than a tile, and the image border).
//!
//! Every tile starts on the same grid of `multiple` as the untiled pass (its first read
//! is -edge context plus a multiple of it), so models that subsample inside (stride-2
//! convolutions, a halved input) see every tile at the untiled pass's sampling phase.
//!
//! Names follow Real-ESRGAN's tiling: the model reads `input_start_pad..` (the tile,
//! with context) and the tile owns `input_start..input_end` of the output.
//! The two axes are independent, so everything is planned per axis.

use crate::{CoreError, ParameterError, Result};

/// How tiles are cut for one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileSpec {
    /// Requested tile width and height in input pixels, context included.
    pub tile_width: u32,
    pub tile_height: u32,
    /// Context pixels kept on each side of the owned region and cropped from the output.
    pub overlap: u32,
    /// Pixels the model itself consumes on each side (valid convolutions).
    pub border: u32,
    /// Tile sides must be a multiple of this.
    pub multiple: u32,
    /// Overlap at the image's own edges (at most `overlap`): reflected pixels only
    /// stand in for content that does not exist, so models whose originals zero-pad
    /// there need none (the model border is always added).
    pub edge_overlap: u32,
}

impl TileSpec {
    /// Context read on each side of an owned region.
    pub fn context(&self) -> u32 {
        self.overlap + self.border
    }

    /// Context read (reflected) beyond the image's edges.
    pub fn edge_context(&self) -> u32 {
        self.edge_overlap.min(self.overlap) + self.border
    }
}

/// One tile along one axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AxisTile {
    /// First input coordinate the model reads; may be negative or reach past the end
    /// (those pixels are reflected).
    pub input_start_pad: i64,
    /// Input pixels read: the fixed tile side.
    pub input_len_pad: u32,
    /// The input span whose output this tile owns (writes), `input_start..input_end`.
    pub input_start: u32,
    pub input_end: u32,
}

impl AxisTile {
    /// Offset, in model-output pixels, of the owned span inside this tile's output.
    pub fn output_offset(&self, scale: u32, border: u32) -> u64 {
        let offset = i64::from(self.input_start) - self.input_start_pad - i64::from(border);
        debug_assert!(offset >= 0);
        offset as u64 * u64::from(scale)
    }
}

fn round_up(v: u32, m: u32) -> u32 {
    v.div_ceil(m) * m
}

/// Plans the tiles along an axis of `len` pixels with tiles of side `tile_side`.
pub fn plan_axis(len: u32, tile_side: u32, spec: &TileSpec) -> Result<Vec<AxisTile>> {
    if len == 0 {
        return Err(CoreError::Parameter(ParameterError::EmptyImage { width: len, height: len }));
    }
    if spec.multiple == 0 {
        return Err(CoreError::Parameter(ParameterError::TileMultiple { multiple: spec.multiple }));
    }
    let (context, edge) = (i64::from(spec.context()), i64::from(spec.edge_context()));
    let multiple = i64::from(spec.multiple);
    let tile = tile_side / spec.multiple * spec.multiple;
    // Tiles advance by a multiple of `multiple`, which keeps them on the untiled grid.
    let step = (i64::from(tile) - 2 * context).div_euclid(multiple) * multiple;
    if step < 1 {
        return Err(CoreError::Parameter(ParameterError::TileTooSmall {
            tile_side,
            multiple: spec.multiple,
            rounded: tile,
            context: context as u32,
            overlap: spec.overlap,
            border: spec.border,
            minimum: min_tile_side(context as u32, spec.multiple),
        }));
    }
    let (len_i, tile_i) = (i64::from(len), i64::from(tile));
    if len_i + 2 * edge <= tile_i {
        // One tile; shrink it to the image (plus edge context) so small frames stay cheap.
        let side = round_up(len + 2 * edge as u32, spec.multiple);
        return Ok(vec![AxisTile { input_start_pad: -edge, input_len_pad: side, input_start: 0, input_end: len }]);
    }
    // Tiles read [-edge, len + edge); each owns what lies `context` inside its reads
    // (`edge` at the image's edges). The last is snapped to the end of the grid (where
    // the one-tile pass above ends too) so all share one shape.
    let grid_end = -edge + i64::from(round_up(len + 2 * edge as u32, spec.multiple));
    let mut tiles = Vec::new();
    let (mut start_pad, mut owned_end) = (-edge, 0i64);
    loop {
        if start_pad + tile_i >= len_i + edge {
            let snapped = grid_end - tile_i;
            tiles.push(AxisTile {
                input_start_pad: snapped,
                input_len_pad: tile,
                input_start: owned_end as u32,
                input_end: len,
            });
            break;
        }
        let end = start_pad + tile_i - context;
        tiles.push(AxisTile {
            input_start_pad: start_pad,
            input_len_pad: tile,
            input_start: owned_end as u32,
            input_end: end as u32,
        });
        owned_end = end;
        start_pad += step;
    }
    Ok(tiles)
}

/// The smallest tile side that leaves room for `context` on both sides and advances
/// by at least one `multiple`.
fn min_tile_side(context: u32, multiple: u32) -> u32 {
    round_up(2 * context, multiple) + multiple
}

/// The full grid: rows of `ys` by columns of `xs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TilePlan {
    pub xs: Vec<AxisTile>,
    pub ys: Vec<AxisTile>,
}

impl TilePlan {
    pub fn new(width: u32, height: u32, spec: &TileSpec) -> Result<Self> {
        Ok(Self { xs: plan_axis(width, spec.tile_width, spec)?, ys: plan_axis(height, spec.tile_height, spec)? })
    }

    pub fn len(&self) -> usize {
        self.xs.len() * self.ys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Tiles in row-major order, as (x, y) pairs.
    pub fn tiles(&self) -> impl Iterator<Item = (&AxisTile, &AxisTile)> {
        self.ys.iter().flat_map(move |y| self.xs.iter().map(move |x| (x, y)))
    }

    /// The model input shape every tile of this plan has (width, height).
    pub fn tile_shape(&self) -> (u32, u32) {
        (self.xs[0].input_len_pad, self.ys[0].input_len_pad)
    }
}

/// Chooses the tile shape that processes the fewest pixels (context included) for a
/// `width`x`height` image while keeping one tile within `max_tile_pixels` (the memory
/// bound). Video frames usually end up as one or two tiles instead of many squares.
pub fn auto_tile_shape(
    width: u32,
    height: u32,
    context: u32,
    edge_context: u32,
    multiple: u32,
    max_tile_pixels: u64,
) -> (u32, u32) {
    let multiple = multiple.max(1);
    // n tiles of side t own (t - 2 * edge) + (n - 1) * (t - 2 * context) pixels.
    let side = |len: u32, n: u32| {
        let inner = (len + 2 * edge_context).saturating_sub(2 * context).max(1);
        if n == 1 {
            round_up(len + 2 * edge_context, multiple)
        } else {
            round_up(round_up(inner.div_ceil(n), multiple) + 2 * context, multiple)
        }
    };
    let min_side = min_tile_side(context, multiple);
    let mut best: Option<(u64, u32, u32)> = None;
    for nx in 1..=width.min(256) {
        let tx = side(width, nx).max(min_side);
        if nx > 1 && side(width, nx - 1) == tx {
            continue;
        }
        for ny in 1..=height.min(256) {
            let ty = side(height, ny).max(min_side);
            if u64::from(tx) * u64::from(ty) > max_tile_pixels {
                continue;
            }
            let cost = u64::from(nx) * u64::from(ny) * u64::from(tx) * u64::from(ty);
            if best.is_none_or(|(c, _, _)| cost < c) {
                best = Some((cost, tx, ty));
            }
            break; // more rows only cost more once this one fits
        }
    }
    best.map(|(_, tx, ty)| (tx, ty)).unwrap_or((min_side, min_side))
}

/// Where a feature map inside a model lies relative to its input, along one axis: a
/// map of `len` pixels at `ratio` times the input's resolution that the model computed
/// from `input_len` input pixels consuming `consumed` of them (half on each side, valid
/// convolutions), so `len = ratio * (input_len - consumed)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureAxis {
    pub ratio: f64,
    pub consumed: f64,
}

impl FeatureAxis {
    /// The feature pixels of `tile` (a map of `len` pixels) whose centres lie in the span
    /// the tile owns; the first and the last tile also own the centres beyond the image
    /// (in its reflected border). Over a plan's tiles these ranges count every pixel of
    /// the untiled map once, when all tiles share its sampling phase.
    pub fn owned(&self, tile: &AxisTile, first: bool, last: bool, len: usize) -> std::ops::Range<usize> {
        // Pixel j's centre is at start_pad + consumed / 2 + (j + 0.5) / ratio.
        let origin = tile.input_start_pad as f64 + self.consumed / 2.0;
        let index = |at: f64| ((at - origin) * self.ratio - 0.5).ceil().clamp(0.0, len as f64) as usize;
        let start = if first { 0 } else { index(f64::from(tile.input_start)) };
        let end = if last { len } else { index(f64::from(tile.input_end)) };
        start..end.max(start)
    }
}

/// Maps a coordinate outside `0..len` back inside by mirroring without repeating the
/// edge pixel (`-1 -> 1`), periodically, so any distance works for any `len`.
pub fn reflect(index: i64, len: u32) -> u32 {
    let len = i64::from(len);
    if len == 1 {
        return 0;
    }
    let period = 2 * (len - 1);
    let m = index.rem_euclid(period);
    (if m < len { m } else { period - m }) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spec(tile: u32, overlap: u32, border: u32, multiple: u32) -> TileSpec {
        TileSpec { tile_width: tile, tile_height: tile, overlap, border, multiple, edge_overlap: overlap }
    }

    fn plan_axis(len: u32, spec: &TileSpec) -> Result<Vec<AxisTile>> {
        super::plan_axis(len, spec.tile_width, spec)
    }

    #[test]
    fn auto_shape_covers_a_video_frame_cheaply_within_the_bound() {
        let (tx, ty) = auto_tile_shape(720, 480, 20, 20, 1, 512 * 512);
        assert!(u64::from(tx) * u64::from(ty) <= 512 * 512);
        let spec = TileSpec { tile_width: tx, tile_height: ty, overlap: 20, border: 0, multiple: 1, edge_overlap: 20 };
        let plan = TilePlan::new(720, 480, &spec).unwrap();
        let processed = plan.len() as u64 * u64::from(tx) * u64::from(ty);
        assert!(processed < 720 * 480 * 13 / 10, "{tx}x{ty} x{} tiles", plan.len());
        // A frame that fits is one tile.
        assert_eq!(auto_tile_shape(100, 60, 8, 8, 2, 512 * 512), (116, 76));
        // Without edge overlap, a frame that fits needs no context at all.
        assert_eq!(auto_tile_shape(100, 60, 8, 0, 2, 512 * 512), (100, 60));
    }

    #[test]
    fn edge_tiles_read_only_the_edge_context() {
        let s = TileSpec { edge_overlap: 0, ..spec(40, 5, 0, 1) };
        let tiles = plan_axis(100, &s).unwrap();
        // Reads 0..40 (owns 0..35), 30..70 (35..65), 60..100 snapped (65..100).
        let got: Vec<(i64, u32, u32)> = tiles.iter().map(|t| (t.input_start_pad, t.input_start, t.input_end)).collect();
        assert_eq!(got, vec![(0, 0, 35), (30, 35, 65), (60, 65, 100)]);
        // The model border is always read beyond the edge.
        let tiles = plan_axis(10, &TileSpec { edge_overlap: 0, ..spec(64, 8, 7, 2) }).unwrap();
        assert_eq!((tiles[0].input_start_pad, tiles[0].input_len_pad), (-7, 24));
    }

    #[test]
    fn feature_pixels_are_owned_once_across_tiles() {
        // A stride-2 map consuming 6 input pixels: one pass over 100 + 2 * 9 pixels
        // (border 9) has (118 - 6) / 2 = 56 pixels.
        let axis = FeatureAxis { ratio: 0.5, consumed: 6.0 };
        let s = TileSpec { edge_overlap: 0, ..spec(40, 4, 9, 2) };
        let tiles = plan_axis(100, &s).unwrap();
        assert!(tiles.len() > 2);
        let mut next = 0.0;
        let mut count = 0;
        for (i, t) in tiles.iter().enumerate() {
            let len = (f64::from(t.input_len_pad) - axis.consumed) * axis.ratio;
            let owned = axis.owned(t, i == 0, i + 1 == tiles.len(), len as usize);
            // Centres in untiled coordinates continue where the previous tile stopped.
            let first_centre = t.input_start_pad as f64 + 3.0 + (owned.start as f64 + 0.5) * 2.0;
            if i > 0 {
                assert_eq!(first_centre, next, "tile {i}: {owned:?}");
            }
            next = first_centre + 2.0 * owned.len() as f64;
            count += owned.len();
        }
        assert_eq!(count, 56);
        // A map at twice the input's resolution.
        let up = FeatureAxis { ratio: 2.0, consumed: 4.0 };
        let total: usize = tiles
            .iter()
            .enumerate()
            .map(|(i, t)| up.owned(t, i == 0, i + 1 == tiles.len(), (2 * (t.input_len_pad - 4)) as usize).len())
            .sum();
        assert_eq!(total, 2 * (118 - 4));
    }

    #[test]
    fn reflect_mirrors_without_repeating_the_edge() {
        let got: Vec<u32> = (-3..8).map(|i| reflect(i, 5)).collect();
        assert_eq!(got, vec![3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1]);
        assert_eq!(reflect(-7, 1), 0);
        assert_eq!(reflect(5, 2), 1);
    }

    #[test]
    fn last_tile_is_snapped_to_the_edge() {
        let tiles = plan_axis(100, &spec(40, 5, 0, 1)).unwrap();
        // core 30: owned 0..30, 30..60, 60..90, then snapped 70..100 owning 90..100.
        let owned: Vec<(u32, u32)> = tiles.iter().map(|t| (t.input_start, t.input_end)).collect();
        assert_eq!(owned, vec![(0, 30), (30, 60), (60, 90), (90, 100)]);
        assert_eq!(tiles.last().unwrap().input_start_pad, 70 - 5);
        assert!(tiles.iter().all(|t| t.input_len_pad == 40));
    }

    #[test]
    fn tiles_keep_the_untiled_sampling_phase() {
        // Multiple 2, context 5: every read starts on an even pixel, as the one-tile pass
        // (0..102 for 101 pixels) does; snapping to the image's end would start the last at 61.
        let s = TileSpec { edge_overlap: 0, ..spec(40, 5, 0, 2) };
        let tiles = plan_axis(101, &s).unwrap();
        let got: Vec<(i64, u32, u32)> = tiles.iter().map(|t| (t.input_start_pad, t.input_start, t.input_end)).collect();
        assert_eq!(got, vec![(0, 0, 35), (30, 35, 65), (60, 65, 95), (62, 95, 101)]);
        // Multiple 4, context 7: the free span 40 - 14 = 26 rounds down to steps of 24.
        let tiles = plan_axis(100, &TileSpec { edge_overlap: 0, ..spec(40, 7, 0, 4) }).unwrap();
        assert!(tiles.iter().all(|t| t.input_start_pad % 4 == 0), "{tiles:?}");
        assert_eq!(tiles[1].input_start_pad, 24);
    }

    #[test]
    fn small_frames_get_one_reflect_padded_tile() {
        let tiles = plan_axis(10, &spec(64, 8, 7, 2)).unwrap();
        assert_eq!(tiles.len(), 1);
        assert_eq!(tiles[0].input_start_pad, -15);
        assert_eq!(tiles[0].input_len_pad, 40);
        assert_eq!(tiles[0].output_offset(2, 7), 16);
    }

    #[test]
    fn a_tile_too_small_for_its_context_is_refused() {
        let err = plan_axis(100, &spec(32, 16, 0, 1)).unwrap_err().to_string();
        assert!(err.contains("at least 33"), "{err}");
        assert!(plan_axis(0, &spec(64, 4, 0, 1)).is_err());
    }

    proptest! {
        #[test]
        fn owned_spans_cover_every_pixel_exactly_once_with_full_context(
            len in 1u32..2000, tile in 1u32..600, overlap in 0u32..40, border in 0u32..10, multiple in 1u32..9,
            edge_overlap in 0u32..50,
        ) {
            let s = TileSpec { edge_overlap, ..spec(tile, overlap, border, multiple) };
            match plan_axis(len, &s) {
                Err(_) => prop_assert!(tile / multiple * multiple < min_tile_side(s.context(), multiple)),
                Ok(tiles) => {
                    let mut next = 0;
                    let shape = tiles[0].input_len_pad;
                    for t in &tiles {
                        prop_assert_eq!(t.input_start, next);
                        prop_assert!(t.input_end > t.input_start);
                        prop_assert_eq!(t.input_len_pad, shape);
                        prop_assert_eq!(shape % multiple, 0);
                        // Full context inside the image, the edge context at its edges.
                        let ctx = |at: u32| i64::from(if at == 0 || at == len { s.edge_context() } else { s.context() });
                        prop_assert!(t.input_start_pad + ctx(t.input_start) <= i64::from(t.input_start));
                        prop_assert!(i64::from(t.input_end) + ctx(t.input_end) <= t.input_start_pad + i64::from(shape));
                        // Reads stay within the image plus its edge context.
                        prop_assert!(t.input_start_pad >= -i64::from(s.edge_context()));
                        let grid_end = i64::from((len + 2 * s.edge_context()).div_ceil(multiple) * multiple) - i64::from(s.edge_context());
                        prop_assert!(t.input_start_pad + i64::from(shape) <= grid_end);
                        // On the untiled pass's grid.
                        prop_assert_eq!((t.input_start_pad + i64::from(s.edge_context())) % i64::from(multiple), 0);
                        next = t.input_end;
                    }
                    prop_assert_eq!(next, len);
                    if tiles.len() > 1 {
                        prop_assert!(shape <= tile);
                    }
                }
            }
        }
    }
}
