//! The Slurm recipe (cluster/slurm-submit, cluster/aiupscale.sbatch) for real: a one-node
//! Slurm (Debian `slurm-wlm`: munged, slurmctld, slurmd from a config in a temp folder,
//! tests/slurm-harness/up.sh) runs a real clip as a job array of segments and a dependent
//! merge job; the output must be the same frames and H.264 packets as `aiupscale video IN OUT`
//! on one machine. The daemons need root, so the test is `#[ignore]`d and scripts/test runs it
//! by name as root.

mod common;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use common::{media::checksums, *};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The daemons of one test Slurm, stopped (SIGTERM, then SIGKILL) by the PIDs they wrote.
struct Slurm(PathBuf);

impl Drop for Slurm {
    fn drop(&mut self) {
        for name in ["slurmd", "slurmctld", "munged"] {
            let Ok(text) = std::fs::read_to_string(self.0.join(format!("{name}.pid"))) else { continue };
            let Ok(pid) = text.trim().parse::<i32>() else { continue };
            // SAFETY: kill(2) on a PID our own daemon wrote; 0 only checks it is alive.
            let alive = || unsafe { libc::kill(pid, 0) } == 0;
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let start = Instant::now();
            while alive() && start.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(50));
            }
            if alive() {
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

#[test]
#[ignore = "needs root (munged, slurmctld, slurmd); scripts/test runs it: \
            cargo test -p aiupscale-bridge --test slurm -- --ignored"]
fn the_slurm_recipe_runs_a_real_clip_as_a_job_array() {
    let env = Env::new();
    // carphone (real, 176x144, 120 frames) with a keyframe every 10 frames: 6 segments of 20.
    let clip = env.path("carphone.mp4");
    let o = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(
            format!(
                "filesrc location={} ! qtdemux ! h264parse ! avdec_h264 ! x264enc key-int-max=10 speed-preset=ultrafast \
                 ! mp4mux ! filesink location={}",
                repo().join(".deps/media/video/carphone_pristine.mp4").display(),
                clip.display()
            )
            .split(' '),
        )
        .output()
        .unwrap();
    assert_ok(&o);
    let mut options = vec!["--model".to_owned(), env.nearest()];
    options.extend(["--segment-frames", "20", "--threads", "1"].map(String::from));
    let reference = env.path("reference.mkv");
    assert_ok(&env.cmd().arg("video").arg(&clip).arg(&reference).args(&options).output().unwrap());

    let dir = env.path("slurm");
    let slurm = Slurm(dir.clone());
    let up = Command::new(repo().join("gimp-bridge/tests/slurm-harness/up.sh")).arg(&dir).output().unwrap();
    assert_ok(&up);
    let conf = stdout(&up).trim().to_owned();
    let slurm_cmd = |program: &str| {
        let mut cmd = Command::new(program);
        cmd.env("SLURM_CONF", &conf).env("AIUPSCALE_BIN", env!("CARGO_BIN_EXE_aiupscale"));
        cmd.env("AIUPSCALE_MODEL_DIR", &env.cache).env("SBATCH_OUTPUT", dir.join("log/job-%A_%a.log"));
        cmd
    };

    let out = env.path("out.mkv");
    let started = Instant::now();
    let submit = slurm_cmd(repo().join("cluster/slurm-submit").to_str().unwrap())
        .arg(&clip)
        .arg(&out)
        .args(&options)
        .output()
        .unwrap();
    assert_ok(&submit);
    let said = stdout(&submit);
    assert!(said.contains("(array 0-5)"), "6 segments in one array: {said}");
    while !stdout(&slurm_cmd("squeue").arg("-h").output().unwrap()).trim().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(120), "the Slurm jobs did not finish in 120 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("slurm-submit to the merged output: {:.1} s ({})", started.elapsed().as_secs_f64(), said.trim());
    let logs: Vec<String> = std::fs::read_dir(dir.join("log"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("job-"))
        .collect();
    assert_eq!(logs.len(), 7, "6 array tasks and the merge wrote logs: {logs:?}");
    assert!(out.exists(), "no {}; job logs in {}", out.display(), dir.join("log").display());
    drop(slurm);

    let decode = |path: &Path| {
        checksums(&format!(
            "filesrc location={} ! matroskademux ! decodebin ! videoconvert ! video/x-raw,format=I420 ! appsink name=sink",
            path.display()
        ))
    };
    let frames = decode(&out);
    assert_eq!(frames.len(), 120, "every frame of the source");
    assert!(frames == decode(&reference), "decoded frames (pts, checksum) differ from the single-machine run");
    let packets = |path: &Path| {
        checksums(&format!("filesrc location={} ! matroskademux name=d d.video_0 ! appsink name=sink", path.display()))
    };
    assert!(packets(&out) == packets(&reference), "the H.264 packets differ from the single-machine run");
}
