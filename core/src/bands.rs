//! Splitting per-row pixel work over threads. The model runs on every core; the passes
//! around it (writing its output, colour correction) would otherwise leave all but one
//! core idle while they run.

use std::ops::Range;

/// Below this many pixels a pass runs on the calling thread (a spawn costs more).
const MIN_PIXELS: usize = 1 << 17;

/// The thread count a pass over `pixels` pixels uses: `threads` (0 = one per core),
/// never more than `rows`.
pub(crate) fn workers(threads: usize, pixels: usize, rows: usize) -> usize {
    if pixels < MIN_PIXELS {
        return 1;
    }
    let threads = if threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { threads };
    threads.clamp(1, rows.max(1))
}

/// `rows` split into `workers` consecutive ranges of nearly equal length.
pub(crate) fn ranges(rows: usize, workers: usize) -> Vec<Range<usize>> {
    let per = rows.div_ceil(workers.max(1)).max(1);
    (0..rows).step_by(per).map(|start| start..(start + per).min(rows)).collect()
}

/// Runs `f(first_row, band)` on bands of whole rows of `data` (row `r` starts at byte
/// `r * stride`; the last band takes the rest of `data`) on `workers` threads, the last
/// band on the calling thread.
pub(crate) fn for_row_bands(
    data: &mut [u8],
    stride: usize,
    rows: usize,
    workers: usize,
    f: impl Fn(usize, &mut [u8]) + Sync,
) {
    let bands = ranges(rows, workers);
    if bands.len() <= 1 {
        f(0, data);
        return;
    }
    std::thread::scope(|scope| {
        let mut rest = data;
        let f = &f;
        for (i, band) in bands.iter().enumerate() {
            let start = band.start;
            if i + 1 == bands.len() {
                f(start, rest);
            } else {
                let (mine, tail) = std::mem::take(&mut rest).split_at_mut(band.len() * stride);
                rest = tail;
                scope.spawn(move || f(start, mine));
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_cover_every_row_once_in_order() {
        for (rows, workers) in [(1, 4), (7, 2), (8, 2), (9, 3), (1000, 16)] {
            let bands = ranges(rows, workers);
            assert!(bands.len() <= workers);
            assert_eq!(bands.first().map(|b| b.start), Some(0));
            assert_eq!(bands.last().map(|b| b.end), Some(rows));
            assert!(bands.windows(2).all(|w| w[0].end == w[1].start && !w[0].is_empty()));
        }
    }

    #[test]
    fn each_band_sees_its_own_rows() {
        let (stride, rows) = (5, 11);
        let mut data = vec![0u8; stride * rows - 2];
        for_row_bands(&mut data, stride, rows, 3, |first, band| {
            for (r, row) in band.chunks_mut(stride).enumerate() {
                row.fill((first + r) as u8);
            }
        });
        let want: Vec<u8> = (0..data.len()).map(|i| (i / stride) as u8).collect();
        assert_eq!(data, want);
    }

    #[test]
    fn small_passes_stay_on_one_thread() {
        assert_eq!(workers(8, 1000, 100), 1);
        assert_eq!(workers(2, 1 << 20, 1), 1);
        assert_eq!(workers(2, 1 << 20, 720), 2);
    }
}
