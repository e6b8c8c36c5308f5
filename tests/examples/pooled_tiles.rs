//! What tiling costs a model whose SE blocks pool over the whole image (MODELS.md,
//! "Tiling the SE U-Nets"): one model on a real photo resized to WIDTHxHEIGHT, with the
//! core's automatic tiles; prints the time and the process's peak RSS (VmHWM). Run one
//! size per process so the peak belongs to it:
//!
//!     cargo run --profile test -p aiupscale-tests --example pooled_tiles -- realcugan-se-x2 1920 1080

use std::time::Instant;

use aiupscale_core::{Control, Filter, ModelSource, Target, Upscaler, UpscalerConfig};
use aiupscale_tests::{media, repo_root, try_ensure_model};
use anyhow::{bail, Context, Result};

fn peak_rss_mib() -> Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).context("no VmHWM in /proc/self/status")?;
    let kib: f64 = line.split_whitespace().nth(1).context("VmHWM has no value")?.parse()?;
    Ok(kib / 1024.0)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, width, height] = args.as_slice() else {
        bail!("usage: pooled_tiles MODEL WIDTH HEIGHT");
    };
    let (width, height): (u32, u32) = (width.parse()?, height.parse()?);
    try_ensure_model(model)?;
    let photo = media::load_rgb8(&repo_root().join(".deps/media/photos/motorcycle_left.png"))?;
    let input = media::resize(&photo, width, height, Filter::Lanczos3)?;
    let mut up = Upscaler::new(&ModelSource::Catalog(model.clone()), UpscalerConfig::default())?;
    let before = peak_rss_mib()?;
    let started = Instant::now();
    let scale = f64::from(up.native_scale());
    let out = up.upscale_to(&input.as_ref(), Target::Factor(scale), &mut Control::default())?;
    println!(
        "{model} {width}x{height} -> {}x{}: {:.1} s, peak RSS {:.0} MiB (after loading and the input: {before:.0} MiB)",
        out.width(),
        out.height(),
        started.elapsed().as_secs_f64(),
        peak_rss_mib()?
    );
    Ok(())
}
