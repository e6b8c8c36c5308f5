//! The client runner with `sh` standing in for pip/npm: success, failure with a loud
//! stderr, and cancel while the client (and a process it started) still run.

use std::sync::Arc;
use std::time::Instant;

use super::*;

fn sh(dir: &Path, script: &str) -> Command {
    let mut command = Command::new("sh");
    command.arg("-c").arg(script).current_dir(dir);
    command
}

/// Running and not a zombie (an orphan's zombie waits for a reaper we do not control).
fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
}

#[test]
fn a_client_that_writes_the_archive_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let never = AtomicBool::new(false);
    let path = run_client(sh(dir.path(), "echo data > x.whl"), "fake".into(), dir.path(), "x.whl", &never).unwrap();
    assert_eq!(fs::read_to_string(path).unwrap(), "data\n");
}

#[test]
fn a_failing_client_reports_the_end_of_a_long_stderr() {
    let dir = tempfile::tempdir().unwrap();
    // 200 kB of stderr is more than a pipe holds: a runner that reads it only at the
    // end would wait forever.
    let script = "yes noise | head -c 200000 >&2; echo 'the real error' >&2; exit 3";
    let never = AtomicBool::new(false);
    let err = run_client(sh(dir.path(), script), "fake".into(), dir.path(), "x.whl", &never).unwrap_err();
    match err {
        ModelError::ClientFailed { status, stderr, .. } => {
            assert!(status.contains('3'), "{status}");
            assert!(stderr.ends_with("the real error") && stderr.len() <= 2000, "{}", stderr.len());
        }
        other => panic!("expected ClientFailed, got {other:?}"),
    }
}

#[test]
fn cancel_kills_the_client_and_what_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    // Like pip: part of the archive, then a long wait (here in a grandchild).
    let script = format!(
        "head -c 100000 /dev/zero > x.whl.part; sleep 30 & echo $$ $! > {}.tmp; mv {0}.tmp {0}; wait",
        pids.display()
    );
    let cancel = Arc::new(AtomicBool::new(false));
    let setter = {
        let (cancel, pids) = (cancel.clone(), pids.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            while !pids.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            cancel.store(true, Ordering::Relaxed);
        })
    };
    let start = Instant::now();
    let err = run_client(sh(dir.path(), &script), "fake".into(), dir.path(), "x.whl", &cancel).unwrap_err();
    setter.join().unwrap();
    assert!(matches!(err, ModelError::Cancelled), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(10), "took {:?}", start.elapsed());
    let pids: Vec<u32> = fs::read_to_string(&pids).unwrap().split_whitespace().map(|p| p.parse().unwrap()).collect();
    assert_eq!(pids.len(), 2);
    let deadline = Instant::now() + Duration::from_secs(2);
    while pids.iter().any(|&p| alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    for pid in pids {
        assert!(!alive(pid), "process {pid} still runs after cancel");
    }
}
