//! The recorded figures of `quality-eval` (docs/quality/recorded*.json) and the
//! regression check against them.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// The recorded figures (docs/quality/recorded*.json): mean and per-photo PSNR/SSIM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    pub form: String,
    pub crop: [u32; 2],
    pub photos: Vec<String>,
    pub tasks: Vec<TaskScores>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskScores {
    pub task: String,
    pub methods: Vec<MethodScores>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodScores {
    pub method: String,
    pub native_scale: u32,
    pub psnr: f64,
    pub ssim: f64,
    /// Means of the further metrics (the full form only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Extra>,
    pub photos: Vec<PhotoScore>,
}

/// MS-SSIM and GMSD against the original; NIQE and BRISQUE of the output alone.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Extra {
    pub ms_ssim: f64,
    pub gmsd: f64,
    pub niqe: f64,
    pub brisque: f64,
}

impl Extra {
    /// The mean of each metric.
    pub fn mean(all: &[Extra]) -> Option<Extra> {
        if all.is_empty() {
            return None;
        }
        let n = all.len() as f64;
        let m = |f: fn(&Extra) -> f64| all.iter().map(f).sum::<f64>() / n;
        Some(Extra { ms_ssim: m(|e| e.ms_ssim), gmsd: m(|e| e.gmsd), niqe: m(|e| e.niqe), brisque: m(|e| e.brisque) })
    }

    pub fn rounded(self) -> Extra {
        let r = |v: f64, d: i32| (v * 10f64.powi(d)).round() / 10f64.powi(d);
        Extra { ms_ssim: r(self.ms_ssim, 5), gmsd: r(self.gmsd, 5), niqe: r(self.niqe, 4), brisque: r(self.brisque, 3) }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotoScore {
    pub photo: String,
    pub psnr: f64,
    pub ssim: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Extra>,
}

impl Recorded {
    pub fn method(&self, task: &str, method: &str) -> Option<&MethodScores> {
        self.tasks.iter().find(|t| t.task == task)?.methods.iter().find(|m| m.method == method)
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "reading the recorded figures {}; record them by running quality-eval without --check",
                path.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(self)? + "\n";
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }
}

/// How far below the recorded mean a method may fall before the check fails.
#[derive(Debug, Clone, Copy)]
pub struct Margins {
    pub psnr_db: f64,
    pub ssim: f64,
}

impl Default for Margins {
    fn default() -> Self {
        Self { psnr_db: 0.1, ssim: 0.002 }
    }
}

/// Every regression of `current` against `recorded` (empty = pass): a method whose mean
/// PSNR or SSIM on a task fell by more than the margin, or that is missing.
pub fn check(recorded: &Recorded, current: &Recorded, margins: Margins) -> Vec<String> {
    let mut failures = Vec::new();
    if (recorded.crop, &recorded.photos) != (current.crop, &current.photos) {
        failures.push(format!(
            "recorded with other inputs ({:?} {:?}, now {:?} {:?}): re-record by running quality-eval without --check",
            recorded.photos, recorded.crop, current.photos, current.crop
        ));
    }
    for task in &recorded.tasks {
        for rec in &task.methods {
            let Some(cur) = current.method(&task.task, &rec.method) else {
                failures.push(format!("{} {}: not measured any more", task.task, rec.method));
                continue;
            };
            if cur.psnr.is_nan() || cur.psnr < rec.psnr - margins.psnr_db {
                failures.push(format!(
                    "{} {}: mean PSNR {:.3} dB, recorded {:.3} dB (margin {} dB)",
                    task.task, rec.method, cur.psnr, rec.psnr, margins.psnr_db
                ));
            }
            if cur.ssim.is_nan() || cur.ssim < rec.ssim - margins.ssim {
                failures.push(format!(
                    "{} {}: mean SSIM {:.4}, recorded {:.4} (margin {})",
                    task.task, rec.method, cur.ssim, rec.ssim, margins.ssim
                ));
            }
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Recorded {
        let scores = |psnr, ssim| MethodScores {
            method: "m".into(),
            native_scale: 2,
            psnr,
            ssim,
            extra: None,
            photos: Vec::new(),
        };
        let mut lanczos = scores(30.0, 0.9);
        lanczos.method = "lanczos".into();
        Recorded {
            form: "quick".into(),
            crop: [160, 120],
            photos: vec!["coffee".into()],
            tasks: vec![TaskScores { task: "x2-bicubic".into(), methods: vec![scores(32.0, 0.95), lanczos] }],
        }
    }

    #[test]
    fn check_passes_on_the_same_figures_and_within_the_margin() {
        let recorded = sample();
        assert!(check(&recorded, &recorded, Margins::default()).is_empty());
        let mut current = recorded.clone();
        current.tasks[0].methods[0].psnr -= 0.09;
        current.tasks[0].methods[0].ssim -= 0.0019;
        current.tasks[0].methods[1].psnr += 1.0;
        assert!(check(&recorded, &current, Margins::default()).is_empty());
    }

    #[test]
    fn check_fails_when_a_value_drops_by_more_than_the_margin() {
        let recorded = sample();
        let mut lowered = recorded.clone();
        lowered.tasks[0].methods[0].psnr -= 0.11;
        let failures = check(&recorded, &lowered, Margins::default());
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(failures[0].contains("x2-bicubic m: mean PSNR"), "{failures:?}");

        let mut lowered = recorded.clone();
        lowered.tasks[0].methods[1].ssim -= 0.0021;
        let failures = check(&recorded, &lowered, Margins::default());
        assert!(failures.len() == 1 && failures[0].contains("lanczos: mean SSIM"), "{failures:?}");

        let mut nan = recorded.clone();
        nan.tasks[0].methods[0].psnr = f64::NAN;
        assert_eq!(check(&recorded, &nan, Margins::default()).len(), 1);

        let mut missing = recorded.clone();
        missing.tasks[0].methods.pop();
        assert!(check(&recorded, &missing, Margins::default())[0].contains("not measured"));
    }

    #[test]
    fn recorded_figures_survive_a_json_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        sample().save(&path).unwrap();
        assert_eq!(Recorded::load(&path).unwrap(), sample());
        let err = Recorded::load(&dir.path().join("none.json")).unwrap_err();
        assert!(format!("{err:#}").contains("without --check"), "{err:#}");
    }
}
