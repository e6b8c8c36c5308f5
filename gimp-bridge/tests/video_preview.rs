//! `aiupscale video IN OUT --preview [SECONDS|still]` on a real clip with sound: three
//! clips (or side-by-side stills) at 10%, 50% and 90%, the frames a full run makes
//! there, the audio packets of that stretch; OUT and the job's work folder untouched.

mod common;

use std::path::{Path, PathBuf};

use common::{
    assert_ok,
    media::{hash, pull_all},
    stderr, temp_files,
    video::*,
    Env,
};

/// bigbuckbunny (real, 5.28 s at 25 fps, AAC) at 320x180 with its audio copied: small
/// enough for three clips in seconds on two cores.
fn small_bbb(env: &Env) -> PathBuf {
    let out = env.path("bbb.mp4");
    let o = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(media("bigbuckbunny.mp4"))
        .args(["-vf", "scale=320:180", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy"])
        .arg(&out)
        .output()
        .unwrap();
    assert_ok(&o);
    out
}

/// Every file under `dir` with a checksum of its bytes, sorted.
fn snapshot(dir: &Path) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            (path.file_name().unwrap().to_string_lossy().into_owned(), hash(&std::fs::read(&path).unwrap()))
        })
        .collect();
    files.sort();
    files
}

/// (pts, checksum) of the demuxed audio packets.
fn audio_packets(path: &Path) -> Vec<(u64, u64)> {
    let desc = format!("filesrc location={} ! {} name=d d.audio_0 ! appsink name=sink", path.display(), demuxer(path));
    pull_all(&desc)
        .iter()
        .map(|s| (s.buffer().unwrap().pts().unwrap().nseconds(), common::media::data_hash(s)))
        .collect()
}

#[test]
fn preview_clips_are_the_job_s_frames_and_sound_at_three_positions() {
    let env = Env::new();
    let input = small_bbb(&env);
    let nearest = env.nearest();
    let base = [input.to_str().unwrap(), "", "--model", &nearest, "--scale", "1", "--codec", "ffv1"];
    // The full job, for the frames the previews must match.
    let full = env.path("full.mkv");
    let mut args = base.to_vec();
    args[1] = full.to_str().unwrap();
    assert_ok(&env.video(&args));
    let full_frames = decoded(&full).0;
    // An interrupted job of the previews' OUT: its work folder must survive untouched.
    let out = env.path("job.mkv");
    let parts = env.path("job.mkv.parts");
    let mut plan = vec!["plan", input.to_str().unwrap(), parts.to_str().unwrap()];
    plan.extend(&base[2..]);
    assert_ok(&env.video(&plan));
    let before = snapshot(&parts);

    let mut args = base.to_vec();
    args[1] = out.to_str().unwrap();
    args.extend(["--preview", "--progress", "json"]);
    let o = env.video(&args);
    assert_ok(&o);
    assert!(!out.exists(), "no OUT from a preview");
    assert_eq!(snapshot(&parts), before, "the job's OUT.parts is untouched");
    assert!(temp_files(env.dir.path()).is_empty(), "no temp folder left: {:?}", temp_files(env.dir.path()));

    let source = video_pts(&input);
    let frame = source[1] - source[0];
    let duration = source.len() as u64 * frame;
    let two_s = 2_000_000_000u64;
    let audio = audio_packets(&input);
    for (n, position) in [0.1, 0.5, 0.9].into_iter().enumerate() {
        let clip = env.path(&format!("job.preview-{}.mkv", n + 1));
        let done: serde_json::Value = serde_json::from_str(stderr(&o).lines().last().unwrap()).unwrap();
        assert_eq!(done["previews"][n], clip.to_str().unwrap(), "{done}");
        // Where it starts: the first frame at the position, moved back to fit 2 s.
        let at = ((duration as f64 * position) as u64).min(duration - two_s);
        let first = source.iter().position(|&p| p >= at).unwrap();
        let (frames, caps) = decoded(&clip);
        assert_eq!((caps_int(&caps, "width"), caps_int(&caps, "height")), (320, 180));
        let len = frames.len() as u64;
        assert!((len * frame).abs_diff(two_s) <= frame, "preview {}: {len} frames", n + 1);
        assert_eq!(frames[0].0, 0, "a clip starts at 0");
        let expected: Vec<(u64, u64)> =
            full_frames[first..first + len as usize].iter().map(|&(p, h)| (p - source[first], h)).collect();
        assert_eq!(frames, expected, "preview {}: the full run's frames from {} ns", n + 1, source[first]);
        // The sound of that stretch, packet for packet, shifted with the video; at the
        // end of the source, to its end (as the job copies it).
        let end = if first + len as usize == source.len() { u64::MAX } else { source[first] + len * frame };
        let want: Vec<(u64, u64)> = audio
            .iter()
            .filter(|(p, _)| (source[first]..end).contains(p))
            .map(|&(p, h)| (p - source[first], h))
            .collect();
        assert!(want.len() > 80, "{}", want.len());
        let got = audio_packets(&clip);
        assert_eq!(got.iter().map(|a| a.1).collect::<Vec<_>>(), want.iter().map(|a| a.1).collect::<Vec<_>>());
        // Matroska at this file's timestamp scale (1 ms, from the video) rounds audio times.
        let late = got.iter().zip(&want).map(|(g, w)| g.0.abs_diff(w.0)).max().unwrap();
        assert!(late <= 500_000, "preview {}: audio {late} ns off", n + 1);
    }
}

#[test]
fn preview_stills_put_the_source_beside_the_upscaled_frame() {
    let env = Env::new();
    let input = small_bbb(&env);
    let out = env.path("big.mp4");
    let nearest = env.nearest();
    let o = env.video(&[input.to_str().unwrap(), out.to_str().unwrap(), "--model", &nearest, "--preview", "still"]);
    assert_ok(&o);
    assert!(!out.exists() && !env.path("big.mp4.parts").exists());
    assert!(temp_files(env.dir.path()).is_empty(), "{:?}", temp_files(env.dir.path()));
    let mut stills = Vec::new();
    for n in 1..=3 {
        let still = image::open(env.path(&format!("big.preview-{n}.png"))).unwrap().to_rgb8();
        assert_eq!(still.dimensions(), (2 * 640, 360), "two frames of the x2 output side by side");
        // The same picture on both sides: Lanczos and the nearest model agree closely.
        let (w, h) = (640, 360);
        let mut diff = 0u64;
        for y in 0..h {
            for x in 0..w {
                let (a, b) = (still.get_pixel(x, y), still.get_pixel(x + w, y));
                diff += (0..3).map(|c| u64::from(a[c].abs_diff(b[c]))).sum::<u64>();
            }
        }
        let mean = diff as f64 / f64::from(w * h * 3);
        assert!(mean < 8.0, "still {n}: halves differ by {mean} levels on average");
        stills.push(still);
    }
    assert!(stills[0] != stills[1] && stills[1] != stills[2], "three positions, three pictures");
}

#[test]
fn bad_preview_values_are_usage_errors() {
    let env = Env::new();
    let input = media("carphone_pristine.mp4");
    let (input, nearest) = (input.to_str().unwrap(), env.nearest());
    let parts = env.path("p.parts");
    for args in [
        vec![input, "o.mkv", "--model", &nearest, "--preview", "0"],
        vec![input, "o.mkv", "--model", &nearest, "--preview", "soon"],
        vec![input, "o.mkv", "--model", &nearest, "--preview", "-2"],
        vec![input, "o.mkv", "--model", &nearest, "--preview", "--keep-parts"],
        vec!["plan", input, parts.to_str().unwrap(), "--model", &nearest, "--preview"],
        vec!["merge", parts.to_str().unwrap(), "o.mkv", "--preview"],
    ] {
        let o = env.video(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
    assert!(!parts.exists());
}
