//! How much memory one image may take, checked from the file's header before a pixel is
//! decoded: a small file can declare a huge image (a "decompression bomb").

use anyhow::{bail, Result};

const MIB: u64 = 1 << 20;

/// The memory one image may use, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    bytes: u64,
    /// Set by `--max-memory` (else derived from the available memory).
    explicit: bool,
}

impl Budget {
    /// `--max-memory MIB` when given, else half of the memory available now (other
    /// programs, and the model itself, need the rest).
    pub fn new(max_memory_mib: Option<u64>) -> Self {
        match max_memory_mib {
            Some(mib) => Self { bytes: mib.saturating_mul(MIB), explicit: true },
            None => Self { bytes: available_memory().unwrap_or(4 << 30) / 2, explicit: false },
        }
    }

    /// The bytes a decode of `width`x`height` and an output of `out_width`x`out_height`
    /// take at `bytes_per_pixel`: each image twice (the decoded or upscaled pixels, and a
    /// rotated or converted copy of them).
    pub fn needed(width: u32, height: u32, out_width: u32, out_height: u32, bytes_per_pixel: usize) -> u64 {
        let pixels = u64::from(width) * u64::from(height) + u64::from(out_width) * u64::from(out_height);
        pixels.saturating_mul(2 * bytes_per_pixel as u64)
    }

    /// Fails, saying what to change, when `needed` bytes exceed the budget.
    pub fn check(&self, needed: u64, what: &str) -> Result<()> {
        if needed <= self.bytes {
            return Ok(());
        }
        let source = if self.explicit { "--max-memory" } else { "half of the available memory" };
        bail!(
            "{what} needs about {} MiB, more than the memory budget of {} MiB ({source}); \
             choose a smaller output (--scale, --width/--height) or raise --max-memory",
            needed.div_ceil(MIB),
            self.bytes / MIB
        )
    }

    /// The budget in bytes, for the decoder's own allocation limit.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// `MemAvailable` from /proc/meminfo, in bytes.
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needed_counts_both_images_twice() {
        assert_eq!(Budget::needed(10, 10, 20, 20, 3), (100 + 400) * 6);
    }

    #[test]
    fn the_budget_refuses_more_and_names_the_option() {
        let budget = Budget::new(Some(1));
        assert!(budget.check(MIB, "x").is_ok());
        let message = budget.check(MIB + 1, "decoding a.png").unwrap_err().to_string();
        assert!(message.contains("decoding a.png needs about 2 MiB"), "{message}");
        assert!(message.contains("budget of 1 MiB (--max-memory)"), "{message}");
    }

    #[test]
    fn the_default_budget_is_half_the_available_memory() {
        let available = available_memory().expect("/proc/meminfo has MemAvailable");
        let budget = Budget::new(None).bytes();
        // The available memory moves while tests run; a tenth either way is plenty.
        assert!(budget > available / 2 - available / 10 && budget < available / 2 + available / 10, "{budget}");
    }
}
