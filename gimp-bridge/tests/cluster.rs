//! The Ray driver (cluster/aiupscale_ray.py) on a real 3-node Ray cluster on this machine:
//! an image-folder job, then a video job, on the same cluster (started once: it is the slow
//! part).
//!
//! The cluster lives in its own network namespace with only loopback up (Ray would otherwise
//! advertise the machine's external address) and its own PID namespace, so `ray stop --force`
//! sees only these nodes and every Ray process dies with the namespace, even when the test
//! fails. While each job runs, the test kill -9s the Ray worker running one of its tasks (found
//! as the parent of a running `aiupscale`): the job must still finish, with outputs identical
//! to the same command run on one machine without Ray.

mod common;

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::{media::*, *};

/// Ray nodes: a head and two workers, one Ray CPU each, so tasks spread over the three.
/// The arguments after `work` are the driver's for each job, jobs separated by `;`; job K
/// writes `work/jobK.out` and `work/jobK.err`.
const CLUSTER: &str = r#"
set -euo pipefail
venv=$1 work=$2; shift 2
# Only this namespace's processes are visible here (PID namespace), so this stops our nodes only.
trap '"$venv/bin/ray" stop --force >/dev/null 2>&1 || true' EXIT
ip link set lo up
# Nothing but loopback can reach these nodes; without this, a ~/.ray/auth_token would turn
# token authentication on for the head only.
export RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=disabled
node=(--node-ip-address 127.0.0.1 --num-cpus 1 --temp-dir "$work/ray" --disable-usage-stats)
"$venv/bin/ray" start --head --port 6379 --include-dashboard false "${node[@]}" >"$work/ray-start.log" 2>&1
# The last node sees one CPU (its tasks inherit the affinity): nodes of different sizes must
# still make the same segments (x264's output depends on its thread count).
for pin in "" "taskset -c 0"; do $pin "$venv/bin/ray" start --address 127.0.0.1:6379 "${node[@]}" >>"$work/ray-start.log" 2>&1; done
n=0 job=()
run() { "$venv/bin/python" cluster/aiupscale_ray.py --address 127.0.0.1:6379 "${job[@]}" >"$work/job$n.out" 2>"$work/job$n.err"; }
for arg in "$@"; do
  if [ "$arg" = ";" ]; then run; n=$((n + 1)) job=(); else job+=("$arg"); fi
done
run
"#;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The project's venv, which must hold Ray (a missing Ray fails here, naming the fix).
fn venv() -> PathBuf {
    let venv = repo().join(".deps/venv");
    let check = Command::new(venv.join("bin/python"))
        .args(["-c", "import ray; assert ray.__version__ == '2.60.0', ray.__version__"])
        .output();
    let ok = check.as_ref().is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "Ray 2.60.0 is missing from {}: run scripts/setup (or {}/bin/pip install ray==2.60.0): {:?}",
        venv.display(),
        venv.display(),
        check.map(|o| stderr(&o))
    );
    venv
}

/// The unshare process holding the namespaces; killing it kills the whole cluster.
struct Cluster(Child);

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `python cluster/aiupscale_ray.py --address ... JOB` for each job in turn after
/// starting the cluster, inside new network and PID namespaces (user namespace too when not
/// root), output into `work`.
fn start(work: &Path, jobs: &[Vec<String>]) -> Cluster {
    let mut cmd = Command::new("unshare");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        cmd.arg("--map-root-user");
    }
    cmd.args(["--net", "--pid", "--fork", "--mount-proc", "--kill-child", "bash", "-c", CLUSTER, "cluster"])
        .arg(venv())
        .arg(work)
        .args(jobs.join(&[";".to_owned()][..]))
        .current_dir(repo())
        .stdin(Stdio::null())
        .stdout(File::create(work.join("cluster.out")).unwrap())
        .stderr(File::create(work.join("cluster.err")).unwrap());
    Cluster(cmd.spawn().expect("unshare (util-linux) runs"))
}

/// argv of a process, or nothing once it is gone.
fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| b.split(|&c| c == 0).filter(|s| !s.is_empty()).map(|s| String::from_utf8_lossy(s).into()).collect())
        .unwrap_or_default()
}

/// A field of /proc/PID/status, e.g. "PPid" or "NSpid".
fn status_field(pid: u32, field: &str) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_owned()))
}

/// A running `aiupscale` whose argv `wanted` accepts, and its parent: (child, parent).
fn find_task(binary: &str, wanted: &dyn Fn(&[String]) -> bool) -> Option<(u32, u32)> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let argv = cmdline(pid);
        if argv.first().map(String::as_str) == Some(binary) && wanted(&argv) {
            let parent = status_field(pid, "PPid")?.parse().ok()?;
            return Some((pid, parent));
        }
    }
    None
}

/// What the test saw of the worker it killed.
struct Kill {
    /// The worker's PID inside the cluster's PID namespace (what the driver reports).
    ns_pid: u32,
    title: String,
    /// The argv of the task's `aiupscale`.
    task: Vec<String>,
}

/// The argv of an `aiupscale` run by a task of one job: the test kills its worker.
type Wanted = Box<dyn Fn(&[String]) -> bool>;

/// Waits for the jobs; for each job, kill -9s the Ray worker of the first `aiupscale` seen
/// that its `Wanted` accepts. One entry per job, `None` where none was seen.
fn run_and_kill_workers(cluster: &mut Cluster, markers: &[Wanted], deadline: Duration) -> Vec<Option<Kill>> {
    let binary = env!("CARGO_BIN_EXE_aiupscale");
    let start = Instant::now();
    let mut killed: Vec<Option<Kill>> = markers.iter().map(|_| None).collect();
    loop {
        if cluster.0.try_wait().unwrap().is_some() {
            return killed;
        }
        assert!(start.elapsed() < deadline, "the Ray jobs did not finish in {deadline:?}");
        for (killed, markers) in killed.iter_mut().zip(markers).filter(|(k, _)| k.is_none()) {
            if let Some((child, worker)) = find_task(binary, markers.as_ref()) {
                let title = cmdline(worker).join(" ");
                let task = cmdline(child);
                let ns_pid = status_field(worker, "NSpid").and_then(|v| v.split_whitespace().last()?.parse().ok());
                // SAFETY: kill(2) on a PID read from /proc a moment ago.
                assert_eq!(unsafe { libc::kill(worker as i32, libc::SIGKILL) }, 0, "kill -9 {worker} ({title})");
                // The task's binary dies with its worker (no orphan racing the retry).
                let gone = Instant::now();
                while !cmdline(child).is_empty() && gone.elapsed() < Duration::from_secs(5) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                assert!(cmdline(child).is_empty(), "aiupscale {child} outlived its killed worker {worker}");
                *killed = Some(Kill { ns_pid: ns_pid.expect("NSpid of the worker"), title, task });
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The JSON summary of each of `jobs` driver runs; fails with every output file when a job
/// failed.
fn summaries(cluster: &mut Cluster, work: &Path, jobs: usize) -> Vec<serde_json::Value> {
    let status = cluster.0.wait().unwrap();
    let read = |name: &str| std::fs::read_to_string(work.join(name)).unwrap_or_default();
    let text = || {
        let mut text =
            format!("cluster: {}{}\nray start: {}", read("cluster.out"), read("cluster.err"), read("ray-start.log"));
        for k in 0..jobs {
            text += &format!(
                "\njob {k} stdout: {}\njob {k} stderr: {}",
                read(&format!("job{k}.out")),
                read(&format!("job{k}.err"))
            );
        }
        text
    };
    assert!(status.success(), "a Ray job failed ({status})\n{}", text());
    (0..jobs).map(|k| summary(&read(&format!("job{k}.out")), &text)).collect()
}

fn summary(stdout: &str, text: &dyn Fn() -> String) -> serde_json::Value {
    // The summary is the last line (Ray may print worker output to stdout before it).
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no JSON summary ({e})\n{}", text()))
}

/// Every file of `dir` but temp files, name and bytes, sorted by name. A temp file may be
/// left by the killed task (the next run in that folder removes it once it is 2 s old): it
/// must belong to no live process (unlocked).
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().map(|e| e.unwrap()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".aiupscale-") && name.ends_with(".tmp") {
            let file = File::open(entry.path()).unwrap();
            assert!(file.try_lock().is_ok(), "{name} is still held by a live process");
            continue;
        }
        files.push((name, std::fs::read(entry.path()).unwrap()));
    }
    files.sort();
    files
}

/// carphone (real, 176x144, 120 frames at 29.97 fps) with a keyframe every 10 frames, so
/// that `--segment-frames 20` cuts it into 6 segments.
fn carphone_clip(path: &Path) {
    let source = repo().join(".deps/media/video/carphone_pristine.mp4");
    let desc = format!(
        "filesrc location={} ! qtdemux ! h264parse ! avdec_h264 ! x264enc key-int-max=10 speed-preset=ultrafast ! \
         mp4mux ! filesink location={}",
        source.display(),
        path.display()
    );
    run_to_eos(&desc);
}

/// The checks common to both jobs: the killed process was a Ray worker, the task it ran was
/// finished by another (a retry), and the job completed on >= 2 nodes. `label` names the
/// killed task in the summary; without it the worker must have reported nothing at all.
fn check_job(
    summary: &serde_json::Value,
    killed: Option<Kill>,
    label: impl Fn(&[String]) -> Option<String>,
    tasks: usize,
    job: &str,
) {
    let killed =
        killed.unwrap_or_else(|| panic!("{job}: no Ray worker was seen running aiupscale: nothing was killed"));
    eprintln!("{job}: killed {} (pid {} in the cluster); {summary}", killed.title, killed.ns_pid);
    assert!(killed.title.starts_with("ray::"), "the killed process is a Ray worker: {}", killed.title);
    assert_eq!(summary["done"], true, "{job}: {summary}");
    assert_eq!(summary["tasks"], tasks as u64, "{job}: {summary}");
    let results = summary["results"].as_array().unwrap();
    assert_eq!(results.len(), tasks, "{job}: {summary}");
    let finished_by_killed = |r: &&serde_json::Value| {
        r["pid"] == killed.ns_pid && label(&killed.task).is_none_or(|label| r["task"] == label.as_str())
    };
    assert!(
        !results.iter().any(|r| finished_by_killed(&r)),
        "{job}: worker {} reported its task: {summary}",
        killed.ns_pid
    );
    assert!(summary["nodes"].as_u64().unwrap() >= 2, "{job}: tasks ran on one node only: {summary}");
}

#[test]
fn image_and_video_jobs_on_three_ray_nodes_survive_a_killed_worker() {
    let env = Env::new();
    let binary = env!("CARGO_BIN_EXE_aiupscale").to_owned();
    let input = env.path("in");
    std::fs::create_dir(&input).unwrap();
    // Real photos, each upscaled by the tiny x2 model: enough work per chunk for the kill
    // to land inside a task.
    let photos = ["astronaut", "camera", "chelsea", "coffee", "coins", "horse", "motorcycle_left", "page"];
    for (i, name) in photos.iter().chain(photos.iter()).enumerate() {
        let image = image::open(photo(&format!("{name}.png"))).unwrap();
        image.save(input.join(format!("{i:02}-{name}.png"))).unwrap();
    }
    let options = ["--model".to_owned(), env.nearest(), "--threads".to_owned(), "1".to_owned()];
    let clip = env.path("carphone.mp4");
    carphone_clip(&clip);
    let mut video_options = options.to_vec();
    // x264's default preset (medium): there its thread count changes the decoded frames, not
    // only the settings it writes into the stream.
    video_options.extend(["--segment-frames", "20"].map(String::from));

    // The references: the same commands on this machine, no Ray; the video one runs while
    // the cluster starts.
    let reference = env.path("reference");
    let mut args = vec!["upscale".to_owned(), input.display().to_string(), reference.display().to_string()];
    args.extend(options.iter().cloned());
    assert_ok(&env.cmd().args(&args).output().unwrap());
    let video_reference = env.path("reference.mkv");
    let mut args = vec!["video".to_owned(), clip.display().to_string(), video_reference.display().to_string()];
    args.extend(video_options.iter().cloned());
    let video_run = env.cmd().args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();

    let work = env.path("work");
    std::fs::create_dir(&work).unwrap();
    let output = env.path("out");
    let video_output = env.path("out.mkv");
    let parts = env.path("out.mkv.parts");
    let driver = ["--bin", &binary, "--max-retries", "2", "--json"].map(String::from);
    let mut images = driver.to_vec();
    images.extend(["images".to_owned(), input.display().to_string(), output.display().to_string()]);
    images.extend(["--chunk-size", "2", "--"].map(String::from));
    images.extend(options.iter().cloned());
    let mut video = driver.to_vec();
    video.extend(["video".to_owned(), clip.display().to_string(), video_output.display().to_string(), "--".to_owned()]);
    video.extend(video_options.iter().cloned());
    let mut cluster = start(&work, &[images, video]);
    // Image tasks name OUT_DIR. A video segment task is `video segment PARTS N`, killed once
    // it writes its segment's temp file: in the middle of the segment.
    let out_dir = output.display().to_string();
    let parts_dir = parts.clone();
    let markers: [Wanted; 2] = [
        Box::new(move |argv| argv.contains(&out_dir)),
        Box::new(move |argv| match argv {
            [_, video, segment, dir, n] if video == "video" && segment == "segment" && Path::new(dir) == parts_dir => {
                n.parse::<usize>().is_ok_and(|n| parts_dir.join(format!(".aiupscale-seg-{n:05}.mkv.tmp")).exists())
            }
            _ => false,
        }),
    ];
    let killed = run_and_kill_workers(&mut cluster, &markers, Duration::from_secs(300));
    let summaries = summaries(&mut cluster, &work, 2);
    let [image_kill, video_kill]: [Option<Kill>; 2] = killed.try_into().ok().unwrap();

    check_job(&summaries[0], image_kill, |_| None, photos.len(), "images");
    let (expected, got) = (files(&reference), files(&output));
    assert_eq!(expected.len(), photos.len() * 2);
    assert_eq!(
        got.iter().map(|f| &f.0).collect::<Vec<_>>(),
        expected.iter().map(|f| &f.0).collect::<Vec<_>>(),
        "the same files"
    );
    for ((name, a), (_, b)) in expected.iter().zip(&got) {
        assert!(a == b, "{name} differs from the single-machine run");
    }

    // 120 frames with a keyframe every 10, --segment-frames 20: 6 segments, plus the plan
    // and the merge.
    check_job(&summaries[1], video_kill, |argv| Some(format!("segment {}", argv.last()?)), 6 + 2, "video");
    assert_ok(&video_run.wait_with_output().unwrap());
    assert!(!parts.exists(), "the driver removes PARTS after the merge");
    let decode = |path: &Path| {
        checksums(&format!(
            "filesrc location={} ! matroskademux ! decodebin ! videoconvert ! video/x-raw,format=I420 ! appsink name=sink",
            path.display()
        ))
    };
    let frames = decode(&video_output);
    assert_eq!(frames.len(), 120, "every frame of the source");
    assert!(frames == decode(&video_reference), "decoded frames (pts, checksum) differ from the single-machine run");
    // x264 is deterministic: the coded video is the same bytes. (The files are not: Matroska
    // writes a random segment UID and the date.)
    let packets = |path: &Path| {
        checksums(&format!("filesrc location={} ! matroskademux name=d d.video_0 ! appsink name=sink", path.display()))
    };
    assert!(
        packets(&video_output) == packets(&video_reference),
        "the H.264 packets differ from the single-machine run"
    );
}
