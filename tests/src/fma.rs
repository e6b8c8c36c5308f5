//! The machine's measured fp32 FMA peak: the ceiling that the speed benchmark compares
//! conv-heavy models with. Independent accumulators hide the FMA latency, so the loop
//! is bound by FMA throughput only (nothing is loaded or stored).

use std::time::Instant;

/// Independent FMA chains per thread: more than latency x throughput on current cores.
const CHAINS: usize = 12;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn chains_avx512(iterations: u64) -> f32 {
    use std::arch::x86_64::*;
    let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
    let mut acc = [_mm512_set1_ps(1.0); CHAINS];
    for _ in 0..iterations {
        for x in acc.iter_mut() {
            *x = _mm512_fmadd_ps(*x, a, b);
        }
    }
    let sum = acc.iter().fold(_mm512_setzero_ps(), |s, &x| _mm512_add_ps(s, x));
    _mm512_reduce_add_ps(sum)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn chains_avx2(iterations: u64) -> f32 {
    use std::arch::x86_64::*;
    let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    let mut acc = [_mm256_set1_ps(1.0); CHAINS];
    for _ in 0..iterations {
        for x in acc.iter_mut() {
            *x = _mm256_fmadd_ps(*x, a, b);
        }
    }
    let mut lanes = [0.0f32; 8];
    let sum = acc.iter().fold(_mm256_setzero_ps(), |s, &x| _mm256_add_ps(s, x));
    // SAFETY: `lanes` holds exactly the 8 floats an unaligned store writes.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
    lanes.iter().sum()
}

/// Runs `n` iterations of the FMA chains.
type Chains = fn(u64) -> f32;

/// Vector width in f32 lanes of the widest FMA this CPU has, and a runner for it.
fn kernel() -> Option<(u64, Chains)> {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked just above).
            return Some((16, |n| unsafe { chains_avx512(n) }));
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            return Some((8, |n| unsafe { chains_avx2(n) }));
        }
    }
    None
}

/// Which instruction set the peak was measured with.
pub fn isa() -> &'static str {
    match kernel() {
        Some((16, _)) => "AVX-512 FMA",
        Some(_) => "AVX2 FMA",
        None => "none",
    }
}

/// Peak fp32 GFLOP/s on `threads` threads (an FMA counts 2), best of `trials` runs of
/// about `seconds` each; `None` without a vector FMA unit.
pub fn peak_gflops(threads: usize, seconds: f64, trials: usize) -> Option<f64> {
    let (lanes, run) = kernel()?;
    // Calibrate the iteration count on one thread.
    let mut iterations = 1u64 << 16;
    loop {
        let start = Instant::now();
        std::hint::black_box(run(std::hint::black_box(iterations)));
        if start.elapsed().as_secs_f64() > seconds / 4.0 {
            let per = start.elapsed().as_secs_f64() / iterations as f64;
            iterations = (seconds / per) as u64;
            break;
        }
        iterations *= 4;
    }
    let flops = (threads as u64 * iterations * CHAINS as u64 * lanes * 2) as f64;
    let best = (0..trials)
        .map(|_| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(|| std::hint::black_box(run(std::hint::black_box(iterations))));
                }
            });
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    Some(flops / best / 1e9)
}

#[cfg(test)]
mod tests {
    #[test]
    fn measures_a_plausible_single_thread_peak() {
        let one = super::peak_gflops(1, 0.05, 3).expect("the x86-64 machines here have AVX2 + FMA");
        // One core does at least 8 lanes x 2 FLOPs at 1 GHz, and no CPU does 1 TFLOP/s.
        assert!((16.0..1000.0).contains(&one), "one thread: {one} GFLOP/s");
    }
}
