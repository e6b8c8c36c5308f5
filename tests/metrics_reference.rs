//! The metrics of tests/src (NIQE, BRISQUE, MS-SSIM, GMSD) against an independent Python
//! evaluation (tests/reference/metrics_reference.py: basicsr 1.4.2's `niqe.py`, OpenCV
//! contrib's `QualityBRISQUE` with IPP off, numpy from the papers) on real photos and frames,
//! to 1e-3.
//! `scripts/setup` installs what both sides need.

use std::process::Command;

use aiupscale_core::{Filter, Image};
use aiupscale_tests::{brisque, gmsd, media, metrics, msssim, niqe, repo_root};

const TOLERANCE: f64 = 1e-3;

/// Real test images: (label, distorted or plain image, reference of the same size).
fn cases() -> Vec<(String, Image, Image)> {
    let root = repo_root();
    let load = |p: &str| media::load_rgb8(&root.join(p)).unwrap();
    let coffee = media::centre_crop(&load(".deps/media/photos/coffee.png"), 320, 240).unwrap();
    let astronaut = media::centre_crop(&load(".deps/media/photos/astronaut.png"), 320, 240).unwrap();
    let small = media::resize(&astronaut, 160, 120, Filter::Bicubic).unwrap();
    let camcorder = media::camcorder(&small, 7).unwrap();
    let astronaut_up = media::resize(&camcorder, 320, 240, Filter::Lanczos3).unwrap();
    let bikes = media::video("bikes.mp4", 1).unwrap().remove(0);
    let bikes_up =
        media::resize(&media::resize(&bikes, 320, 136, Filter::Bicubic).unwrap(), 640, 272, Filter::Lanczos3).unwrap();
    let carphone = media::video("carphone_distorted.mp4", 31).unwrap().remove(30);
    let carphone_up = media::resize(&carphone, 352, 288, Filter::Lanczos3).unwrap();
    let real = load(".deps/media/realesrgan-inputs/0030.jpg");
    vec![
        ("coffee".into(), coffee.clone(), coffee),
        ("astronaut camcorder x2 lanczos".into(), astronaut_up, astronaut),
        ("bikes frame 0 bicubic/2 lanczos x2".into(), bikes_up, bikes),
        ("carphone_distorted frame 30 lanczos x2".into(), carphone_up.clone(), carphone_up),
        ("realesrgan inputs/0030.jpg".into(), real.clone(), real),
    ]
}

/// Runs the Python reference on the cases; returns its JSON.
fn reference(cases: &[(String, Image, Image)]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let save = |img: &Image, name: String| {
        let path = dir.path().join(name);
        image::RgbImage::from_raw(img.width(), img.height(), img.data().to_vec()).unwrap().save(&path).unwrap();
        path.display().to_string()
    };
    let (mut singles, mut pairs) = (Vec::new(), Vec::new());
    for (i, (_, img, reference)) in cases.iter().enumerate() {
        let a = save(img, format!("{i}-a.png"));
        singles.push(a.clone());
        pairs.push(vec![a, save(reference, format!("{i}-b.png"))]);
    }
    let jobs = serde_json::json!({"niqe": singles, "brisque": singles, "ms_ssim": pairs, "gmsd": pairs});
    let jobs_path = dir.path().join("jobs.json");
    std::fs::write(&jobs_path, jobs.to_string()).unwrap();
    let root = repo_root();
    let out = Command::new(root.join(".deps/venv/bin/python"))
        .arg(root.join("tests/reference/metrics_reference.py"))
        .arg(root.join(".deps/metrics/basicsr-1.4.2"))
        .arg(brisque::BrisqueModel::default_dir())
        .arg(&jobs_path)
        .output()
        .expect("running .deps/venv/bin/python; run scripts/setup");
    assert!(out.status.success(), "the Python reference failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn compare(metric: &str, ours: &[f64], theirs: &serde_json::Value, cases: &[(String, Image, Image)]) {
    let tolerance = TOLERANCE;
    let theirs: Vec<f64> = theirs[metric].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(ours.len(), theirs.len());
    let mut report = Vec::new();
    for ((label, _, _), (a, b)) in cases.iter().zip(ours.iter().zip(&theirs)) {
        println!("{metric} {label}: ours {a:.6}, reference {b:.6}, difference {:+.2e}", a - b);
        if (a - b).abs() > tolerance || a.is_nan() {
            report.push(format!("{label}: ours {a}, reference {b}"));
        }
    }
    assert!(report.is_empty(), "{metric} differs from the reference by more than {tolerance}:\n{}", report.join("\n"));
}

#[test]
fn niqe_and_brisque_agree_with_basicsr_and_opencv() {
    let cases = cases();
    let theirs = reference(&cases);
    let niqe_model = niqe::NiqeModel::load_default().unwrap();
    let ours: Vec<f64> = cases.iter().map(|(_, img, _)| niqe::niqe_rgb(img, &niqe_model).unwrap()).collect();
    compare("niqe", &ours, &theirs, &cases);
    let brisque_model = brisque::BrisqueModel::load_default().unwrap();
    let ours: Vec<f64> = cases.iter().map(|(_, img, _)| brisque::brisque_rgb(img, &brisque_model).unwrap()).collect();
    compare("brisque", &ours, &theirs, &cases);
    // Both no-reference metrics rank the camcorder-degraded astronaut below its original.
    let (degraded, original) = (&cases[1].1, &cases[1].2);
    let niqe_pair = (niqe::niqe_rgb(degraded, &niqe_model).unwrap(), niqe::niqe_rgb(original, &niqe_model).unwrap());
    assert!(niqe_pair.0 > niqe_pair.1, "NIQE degraded {} vs original {}", niqe_pair.0, niqe_pair.1);
    let brisque_pair = (
        brisque::brisque_rgb(degraded, &brisque_model).unwrap(),
        brisque::brisque_rgb(original, &brisque_model).unwrap(),
    );
    assert!(brisque_pair.0 > brisque_pair.1, "BRISQUE degraded {} vs original {}", brisque_pair.0, brisque_pair.1);
}

#[test]
fn ms_ssim_and_gmsd_agree_with_the_numpy_reference() {
    let cases = cases();
    let theirs = reference(&cases);
    let planes = |a: &Image, b: &Image| (metrics::luma_601(a), metrics::luma_601(b));
    let ours: Vec<f64> = cases
        .iter()
        .map(|(_, a, b)| {
            let (x, y) = planes(a, b);
            msssim::ms_ssim(&x, &y).unwrap()
        })
        .collect();
    compare("ms_ssim", &ours, &theirs, &cases);
    let ours: Vec<f64> = cases
        .iter()
        .map(|(_, a, b)| {
            let (x, y) = planes(a, b);
            gmsd::gmsd(&x, &y).unwrap()
        })
        .collect();
    compare("gmsd", &ours, &theirs, &cases);
}
