//! The report of `quality-eval`: docs/QUALITY.md, the side-by-side crops and the
//! quality-vs-speed plot in docs/quality/.

use std::{fmt::Write as _, path::Path, process::Command};

use aiupscale_core::Image;
use anyhow::{anyhow, Context, Result};

use crate::{footage::ClipRow, quality::Evaluation};

/// Where and when the figures were made.
pub struct Machine {
    pub date: String,
    pub nproc: String,
    pub cpu: String,
    pub load: String,
}

fn command_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

impl Machine {
    /// The 1, 5 and 15 minute load averages.
    pub fn load_average() -> String {
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    }

    pub fn describe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string()));
        Self {
            date: command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(|| "unknown date".into()),
            nproc: command_line("nproc", &[]).unwrap_or_else(|| "?".into()),
            cpu: cpu.unwrap_or_else(|| "unknown CPU".into()),
            load: Self::load_average(),
        }
    }
}

pub(crate) fn save_png(img: &Image, path: &Path) -> Result<()> {
    let buf = image::RgbImage::from_raw(img.width(), img.height(), img.data().to_vec()).context("RGB8 image")?;
    buf.save(path).with_context(|| format!("writing {}", path.display()))
}

/// Images side by side with a 2-pixel white gap.
pub fn side_by_side(panels: &[Image]) -> Image {
    let h = panels.iter().map(|p| p.height()).max().unwrap_or(0);
    let w = panels.iter().map(|p| p.width() + 2).sum::<u32>().saturating_sub(2);
    let mut canvas = image::RgbImage::from_pixel(w, h, image::Rgb([255, 255, 255]));
    let mut x0 = 0;
    for p in panels {
        for (i, px) in p.data().chunks_exact(3).enumerate() {
            let (x, y) = (i as u32 % p.width(), i as u32 / p.width());
            canvas.put_pixel(x0 + x, y, image::Rgb([px[0], px[1], px[2]]));
        }
        x0 += p.width() + 2;
    }
    Image::from_vec(w, h, crate::media::RGB8, canvas.into_raw()).unwrap()
}

pub(crate) fn slug(text: &str) -> String {
    let s: String =
        text.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { ' ' }).collect();
    s.split_whitespace().collect::<Vec<_>>().join("-")
}

/// The quality-vs-speed plot: mean PSNR of task `task` against s/MP (log axis).
pub fn write_plot(eval: &Evaluation, task: usize, path: &Path) -> Result<()> {
    use plotters::prelude::*;
    let scores = &eval.recorded.tasks[task];
    let points: Vec<(f64, f64, &str, &str)> = eval
        .methods
        .iter()
        .zip(&eval.speed)
        .filter_map(|(m, s)| {
            Some(((*s)?, scores.methods.iter().find(|x| x.method == m.name)?.psnr, m.name.as_str(), m.content.as_str()))
        })
        .collect();
    let (xmin, xmax) = points.iter().fold((f64::INFINITY, 0.0f64), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (ymin, ymax) = points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let err = |e: &dyn std::fmt::Debug| anyhow!("drawing {}: {e:?}", path.display());
    let root = SVGBackend::new(path, (960, 620)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let caption = format!("PSNR (Y) on {} vs speed, {} photos", scores.task, eval.recorded.photos.len());
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 20))
        .margin(20)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d((xmin / 2.0..xmax * 3.0).log_scale(), (ymin - 0.4)..(ymax + 0.6))
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .light_line_style(WHITE.mix(0.0))
        .x_desc("seconds per input megapixel (log scale)")
        .y_desc("mean PSNR on Y, dB")
        .draw()
        .map_err(|e| err(&e))?;
    let color = |content: &str| match content {
        "photo" => RED,
        "video" => BLUE,
        "animation" => GREEN,
        _ => BLACK,
    };
    // Labels are placed greedily, best PSNR first, where they overlap no earlier label.
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| points[b].1.total_cmp(&points[a].1));
    let mut placed: Vec<(i32, i32, i32, i32)> = Vec::new();
    for i in order {
        let (x, y, name, content) = points[i];
        let (px, py) = chart.backend_coord(&(x, y));
        let w = (name.len() as f64 * 6.4) as i32 + 2;
        let dx = if px + 8 + w > 950 { -8 - w } else { 8 };
        let overlaps = |dy: i32| {
            placed.iter().any(|&(x0, y0, x1, y1)| px + dx < x1 && x0 < px + dx + w && py + dy < y1 && y0 < py + dy + 13)
        };
        let dy = [-6, -19, 7, -32, 20, -45, 33, -58, 46].into_iter().find(|&d| !overlaps(d)).unwrap_or(-6);
        placed.push((px + dx, py + dy, px + dx + w, py + dy + 13));
        // A label moved off its point gets a thin leader line to it.
        let lx = if dx > 0 { dx - 1 } else { dx + w + 1 };
        let leader = if dy == -6 { vec![(0, 0)] } else { vec![(0, 0), (lx, dy + 6)] };
        let point = EmptyElement::at((x, y))
            + PathElement::new(leader, BLACK.mix(0.35))
            + Circle::new((0, 0), 4, color(content).filled())
            + Text::new(name.to_string(), (dx, dy), ("sans-serif", 12));
        chart.draw_series(std::iter::once(point)).map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// Writes every scene's crops as PNGs; returns per scene the (label, path relative to
/// docs/) of each.
pub fn write_scenes(eval: &Evaluation, docs: &Path) -> Result<Vec<Vec<(String, String)>>> {
    let mut all = Vec::new();
    for (spec, crops) in eval.config.scenes.iter().zip(&eval.scenes) {
        let rel = format!("quality/crops/{}-{}", spec.task.key(), slug(&spec.photo));
        all.push(write_crops(&rel, crops, docs)?);
    }
    Ok(all)
}

/// Writes labelled crops as docs/REL/NN-LABEL.png; returns (label, path relative to docs/).
pub(crate) fn write_crops(rel: &str, crops: &[(String, Image)], docs: &Path) -> Result<Vec<(String, String)>> {
    std::fs::create_dir_all(docs.join(rel)).with_context(|| format!("creating docs/{rel}"))?;
    let mut files = Vec::new();
    for (i, (label, img)) in crops.iter().enumerate() {
        let file = format!("{rel}/{i:02}-{}.png", slug(label));
        save_png(img, &docs.join(&file))?;
        files.push((label.clone(), file));
    }
    Ok(files)
}

/// Writes the footage side-by-side (last frame, centre 176 px wide at most); returns the
/// path relative to docs/.
pub fn write_footage_frame(
    clip: &str,
    input: &Image,
    outputs: &[Image],
    reference: &Image,
    docs: &Path,
) -> Result<String> {
    let w = reference.width().min(176);
    let x = (reference.width() - w) / 2;
    let cut = |img: &Image| crate::crop(img, x, 0, w, img.height());
    let nearest = crate::media::resize(input, reference.width(), reference.height(), aiupscale_core::Filter::Nearest)?;
    let mut panels = vec![cut(&nearest)];
    panels.extend(outputs.iter().map(cut));
    panels.push(cut(reference));
    let rel = format!("quality/footage-{}.png", slug(clip));
    save_png(&side_by_side(&panels), &docs.join(&rel))?;
    Ok(rel)
}

pub fn native_note(native: u32, scale: u32) -> String {
    match native {
        1 => "filter".into(),
        n if n == scale => "**native**".into(),
        n => format!("x{n} + Lanczos"),
    }
}

/// The Markdown of docs/QUALITY.md.
pub fn markdown(
    eval: &Evaluation,
    machine: &Machine,
    run_seconds: f64,
    scenes: &[Vec<(String, String)>],
    footage: &[ClipRow],
    footage_frames: &[(String, String, String)],
    extra_targets: &str,
) -> String {
    let rec = &eval.recorded;
    let mut md = String::new();
    let _ = writeln!(md, "# Image quality: measurements\n");
    let _ = writeln!(md, "Written by\n\n    cargo run --release -p aiupscale-tests --bin quality-eval\n");
    let _ = writeln!(
        md,
        "on {}, on {} ({} cores by `nproc`; load average {} when it started and {} when it ended: the \
         machine was shared with other work, so the speed figures are indicative). The whole run took {:.0} s. Nothing here is \
         edited by hand; the figures are in [quality/recorded.json](quality/recorded.json), and \
         `quality-eval -- --check` recomputes them and fails on a regression (mean PSNR more than 0.1 dB or \
         SSIM more than 0.002 below the recorded value). `quality-eval -- --quick` is the small form the test \
         suite runs (`cargo test --release -p aiupscale-tests --test quality_check`, figures in \
         [quality/recorded-quick.json](quality/recorded-quick.json)).\n",
        machine.date,
        machine.cpu,
        machine.nproc,
        machine.load,
        Machine::load_average(),
        run_seconds
    );
    md += &crate::report_text::method_section(eval);
    md += &crate::report_text::targets_section(eval, footage, extra_targets);
    let _ = writeln!(
        md,
        "## Quality against speed\n\n![PSNR against seconds per megapixel](quality/quality_vs_speed.svg)\n"
    );
    let _ = writeln!(md, "Red: photo models, blue: video models, green: animation models, black: classic filters.\n");
    for (ti, task) in eval.config.tasks.iter().enumerate() {
        md += &crate::report_text::task_section(eval, ti, *task);
    }
    md += &crate::report_text::color_section(eval);
    let _ = writeln!(md, "## Side by side\n");
    let _ = writeln!(md, "Crops of the original's size ({} px), in order: the degraded input (nearest neighbour), every method, the original.\n", eval.config.scenes.first().map_or(0, |s| s.side));
    for (spec, files) in eval.config.scenes.iter().zip(scenes) {
        let _ = writeln!(
            md,
            "### {} — {} (crop at x {}, y {} of the {}x{} original)\n",
            spec.task.key(),
            spec.photo,
            spec.x,
            spec.y,
            rec.crop[0],
            rec.crop[1]
        );
        image_grid(&mut md, files, 5);
    }
    md += &crate::report_text::footage_section(footage, footage_frames);
    md
}

/// A markdown table of labelled images (label, file), `cols` to a row.
pub(crate) fn image_grid(md: &mut String, files: &[(String, String)], cols: usize) {
    let _ = writeln!(md, "|{}", " |".repeat(cols));
    let _ = writeln!(md, "|{}", "---|".repeat(cols));
    for row in files.chunks(cols) {
        let cells: Vec<String> = row.iter().map(|(label, file)| format!("![{label}]({file})<br>{label}")).collect();
        let _ = writeln!(md, "| {} |{}", cells.join(" | "), " |".repeat(cols - row.len()));
    }
    md.push('\n');
}
