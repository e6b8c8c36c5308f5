//! The Ray driver (cluster/aiupscale_ray.py) on a real 3-node Ray cluster on this machine.
//!
//! The cluster lives in its own network namespace with only loopback up (Ray would otherwise
//! advertise the machine's external address) and its own PID namespace, so `ray stop --force`
//! sees only these nodes and every Ray process dies with the namespace, even when the test
//! fails. While the job runs, the test kill -9s the Ray worker running a task (found as the
//! parent of a running `aiupscale`): the job must still finish, with outputs byte-identical to
//! the same command run on one machine without Ray.

mod common;

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::*;

/// Ray nodes: a head and two workers, one CPU each, so tasks spread over the three.
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
for _ in 1 2; do "$venv/bin/ray" start --address 127.0.0.1:6379 "${node[@]}" >>"$work/ray-start.log" 2>&1; done
"$venv/bin/python" "$1" --address 127.0.0.1:6379 "${@:2}"
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

/// Runs `python DRIVER --address ... DRIVER_ARGS` after starting the cluster, inside new network
/// and PID namespaces (user namespace too when not root), output into `work`.
fn start(work: &Path, driver_args: &[String]) -> Cluster {
    let mut cmd = Command::new("unshare");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        cmd.arg("--map-root-user");
    }
    cmd.args(["--net", "--pid", "--fork", "--mount-proc", "--kill-child", "bash", "-c", CLUSTER, "cluster"])
        .arg(venv())
        .arg(work)
        .args(driver_args)
        .current_dir(repo())
        .stdin(Stdio::null())
        .stdout(File::create(work.join("driver.out")).unwrap())
        .stderr(File::create(work.join("driver.err")).unwrap());
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

/// A running `aiupscale` whose argv contains `marker`, and its parent: (child, parent).
fn find_task(binary: &str, marker: &str) -> Option<(u32, u32)> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let argv = cmdline(pid);
        if argv.first().map(String::as_str) == Some(binary) && argv.iter().any(|a| a == marker) {
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
}

/// Waits for the job, kill -9ing the first Ray worker seen running `aiupscale`.
fn run_and_kill_one_worker(cluster: &mut Cluster, marker: &str, deadline: Duration) -> Option<Kill> {
    let binary = env!("CARGO_BIN_EXE_aiupscale");
    let start = Instant::now();
    let mut killed = None;
    loop {
        if cluster.0.try_wait().unwrap().is_some() {
            return killed;
        }
        assert!(start.elapsed() < deadline, "the Ray job did not finish in {deadline:?}");
        if killed.is_none() {
            if let Some((child, worker)) = find_task(binary, marker) {
                let title = cmdline(worker).join(" ");
                let ns_pid = status_field(worker, "NSpid").and_then(|v| v.split_whitespace().last()?.parse().ok());
                // SAFETY: kill(2) on a PID read from /proc a moment ago.
                assert_eq!(unsafe { libc::kill(worker as i32, libc::SIGKILL) }, 0, "kill -9 {worker} ({title})");
                // The task's binary dies with its worker (no orphan racing the retry).
                let gone = Instant::now();
                while !cmdline(child).is_empty() && gone.elapsed() < Duration::from_secs(5) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                assert!(cmdline(child).is_empty(), "aiupscale {child} outlived its killed worker {worker}");
                killed = Some(Kill { ns_pid: ns_pid.expect("NSpid of the worker"), title });
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The driver's JSON summary; fails with both output files when the job failed.
fn summary(cluster: &mut Cluster, work: &Path) -> serde_json::Value {
    let status = cluster.0.wait().unwrap();
    let (out, err) = (work.join("driver.out"), work.join("driver.err"));
    let text = || {
        format!(
            "stdout: {}\nstderr: {}\nray start: {}",
            std::fs::read_to_string(&out).unwrap_or_default(),
            std::fs::read_to_string(&err).unwrap_or_default(),
            std::fs::read_to_string(work.join("ray-start.log")).unwrap_or_default()
        )
    };
    assert!(status.success(), "the Ray job failed ({status})\n{}", text());
    // The summary is the last line (Ray may print worker output to stdout before it).
    let stdout = std::fs::read_to_string(&out).unwrap();
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

#[test]
fn an_image_folder_job_on_three_ray_nodes_survives_a_killed_worker() {
    let env = Env::new();
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

    // The reference: the same upscale on this machine, no Ray.
    let reference = env.path("reference");
    let mut args = vec!["upscale".to_owned(), input.display().to_string(), reference.display().to_string()];
    args.extend(options.iter().cloned());
    assert_ok(&env.cmd().args(&args).output().unwrap());

    let work = env.path("work");
    std::fs::create_dir(&work).unwrap();
    let output = env.path("out");
    let mut driver = vec![
        "cluster/aiupscale_ray.py".to_owned(),
        "--bin".to_owned(),
        env!("CARGO_BIN_EXE_aiupscale").to_owned(),
        "--max-retries".to_owned(),
        "2".to_owned(),
        "--json".to_owned(),
        "images".to_owned(),
        input.display().to_string(),
        output.display().to_string(),
        "--chunk-size".to_owned(),
        "2".to_owned(),
        "--".to_owned(),
    ];
    driver.extend(options.iter().cloned());
    let mut cluster = start(&work, &driver);
    let killed = run_and_kill_one_worker(&mut cluster, &output.display().to_string(), Duration::from_secs(300));
    let summary = summary(&mut cluster, &work);

    let killed = killed.expect("no Ray worker was seen running aiupscale: nothing was killed");
    eprintln!("killed {} (pid {} in the cluster); {summary}", killed.title, killed.ns_pid);
    assert!(killed.title.starts_with("ray::"), "the killed process is a Ray worker: {}", killed.title);
    assert_eq!(summary["done"], true, "{summary}");
    assert_eq!(summary["tasks"], photos.len() as u64, "16 files in chunks of 2: {summary}");
    let results = summary["results"].as_array().unwrap();
    // The killed worker finished nothing: its task was completed by a retry elsewhere.
    assert!(results.iter().all(|r| r["pid"] != killed.ns_pid), "worker {} reported a result: {summary}", killed.ns_pid);
    assert!(summary["nodes"].as_u64().unwrap() >= 2, "tasks ran on one node only: {summary}");

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
}
