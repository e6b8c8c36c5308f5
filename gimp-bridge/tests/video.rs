//! `aiupscale video` end to end on real clips (.deps/media/video) with the tiny fixture
//! model: exact frame count and timestamps (VFR too), bit-identical audio, aspect
//! ratio, tags, the plan/segment/merge contract, resume after kill -9, SIGINT,
//! interlaced sources. Media is inspected with GStreamer here, independently of the
//! binary's own checks.

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use common::{
    assert_ok,
    media::{pull_all, run_to_eos},
    stderr, stdout, Env,
};
use gstreamer as gst;

use common::video::*;

/// carphone (real, 176x144 at 29.97 fps) re-encoded with a keyframe every 10 frames and
/// about a quarter of the frames dropped at random: a variable-frame-rate source.
fn vfr_clip(env: &Env) -> PathBuf {
    let out = env.path("carphone_vfr.mp4");
    run_to_eos(&format!(
        "filesrc location={} ! qtdemux ! h264parse ! avdec_h264 ! identity drop-probability=0.25 ! \
         x264enc key-int-max=10 speed-preset=ultrafast ! mp4mux ! filesink location={}",
        media("carphone_pristine.mp4").display(),
        out.display()
    ));
    out
}

#[test]
fn a_real_clip_keeps_its_audio_timing_aspect_and_says_it_was_upscaled() {
    let env = Env::new();
    let input = media("bigbuckbunny.mp4");
    let out = env.path("bbb.mp4");
    let o = env.copy_video(&input, &out);
    assert_ok(&o);
    assert!(!env.path("bbb.mp4.parts").exists(), "the work folder is removed after success");
    assert_eq!(video_pts(&out), video_pts(&input), "frame count and every pts");
    let audio = audio_hashes(&input);
    assert_eq!(audio.len(), 249);
    assert_eq!(audio_hashes(&out), audio, "audio packets bit-identical");
    let tags = Command::new("ffprobe").args(["-v", "error", "-show_format", "-of", "json"]).arg(&out).output().unwrap();
    let text = String::from_utf8_lossy(&tags.stdout);
    assert!(text.contains("AI-upscaled x1 by aiupscale") && text.contains("nearest_x2"), "{text}");
    let duration = |p: &Path| {
        let o = Command::new("ffprobe")
            .args(["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"])
            .arg(p)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().unwrap()
    };
    assert!((duration(&out) - duration(&input)).abs() < 0.001, "{} vs {}", duration(&out), duration(&input));

    // Non-square pixels (carphone: 128:117) keep their display aspect ratio in Matroska.
    let small = env.path("carphone.mkv");
    let o = env.video(&[
        media("carphone_pristine.mp4").to_str().unwrap(),
        small.to_str().unwrap(),
        "--model",
        &env.nearest(),
        "--preset",
        "ultrafast",
    ]);
    assert_ok(&o);
    let (frames, caps) = decoded(&small);
    let (src_frames, src_caps) = decoded(&media("carphone_pristine.mp4"));
    assert_eq!((caps_int(&caps, "width"), caps_int(&caps, "height")), (352, 288));
    // Matroska stores the display size in whole pixels: the ratio within one of them.
    let dar = |caps: &gst::Caps| {
        let p = par(caps);
        f64::from(caps_int(caps, "width")) * f64::from(p.numer())
            / (f64::from(caps_int(caps, "height")) * f64::from(p.denom()))
    };
    assert!(par(&src_caps) != gst::Fraction::new(1, 1));
    assert!((dar(&caps) - dar(&src_caps)).abs() < 1.0 / 288.0, "{} vs {}", dar(&caps), dar(&src_caps));
    assert_eq!(frames.iter().map(|f| f.0).collect::<Vec<_>>(), src_frames.iter().map(|f| f.0).collect::<Vec<_>>());
}

#[test]
fn plan_segment_merge_is_a_contract() {
    let env = Env::new();
    let input = vfr_clip(&env);
    let parts = env.path("job.parts");
    let out = env.path("out.mkv");
    let nearest = env.nearest();
    let common = ["--model", nearest.as_str(), "--segment-frames", "20", "--preset", "ultrafast"];
    let mut plan_args = vec!["plan", input.to_str().unwrap(), parts.to_str().unwrap(), "--json"];
    plan_args.extend(common);
    let o = env.video(&plan_args);
    assert_ok(&o);
    let summary: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let segments = summary["segments"].as_u64().unwrap() as usize;
    let frames = summary["frames"].as_u64().unwrap() as usize;
    assert_eq!(summary["version"], 1);
    assert_eq!(summary["parts"], std::fs::canonicalize(&parts).unwrap().to_str().unwrap());
    assert_eq!(frames, video_pts(&input).len());
    assert!(segments >= 3, "{summary}");
    let plan = read_plan(&parts);
    assert_eq!(plan["segments"].as_array().unwrap().len(), segments);
    // Planning again with the same settings reuses the plan.
    assert_ok(&env.video(&plan_args));

    let merge = env.video(&["merge", parts.to_str().unwrap(), out.to_str().unwrap()]);
    assert_eq!(merge.status.code(), Some(1), "{}", stderr(&merge));
    assert!(stderr(&merge).contains(&format!("{segments} of {segments} segments are missing")), "{}", stderr(&merge));
    assert!(!out.exists());

    for n in 0..segments {
        assert_ok(&env.video(&["segment", parts.to_str().unwrap(), &n.to_string()]));
    }
    let first = parts.join("seg-00000.mkv");
    let written = std::fs::metadata(&first).unwrap().modified().unwrap();
    let again = env.video(&["segment", parts.to_str().unwrap(), "0"]);
    assert_ok(&again);
    assert!(stderr(&again).contains("already done"), "{}", stderr(&again));
    assert_eq!(std::fs::metadata(&first).unwrap().modified().unwrap(), written, "a verified segment is not redone");
    let bad = env.video(&["segment", parts.to_str().unwrap(), &segments.to_string()]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));

    assert_ok(&env.video(&["merge", parts.to_str().unwrap(), out.to_str().unwrap()]));
    assert_eq!(video_pts(&out), video_pts(&input), "VFR: every pts kept");
    assert!(common::temp_files(env.dir.path()).is_empty());

    // Changed settings: a clear refusal naming the change and how to start over.
    let o = env.video(&[
        "plan",
        input.to_str().unwrap(),
        parts.to_str().unwrap(),
        "--model",
        &nearest,
        "--segment-frames",
        "20",
        "--crf",
        "20",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let message = stderr(&o);
    assert!(message.contains("crf 16 -> 20") && message.contains("delete"), "{message}");
    // Usage errors exit 2.
    for args in [
        vec![input.to_str().unwrap(), "out.avi", "--model", &nearest],
        vec![input.to_str().unwrap(), "out.mp4", "--model", &nearest, "--codec", "ffv1"],
        vec![input.to_str().unwrap(), "out.mkv", "--model", &nearest, "--codec", "ffv1", "--crf", "3"],
        vec![input.to_str().unwrap(), "out.mkv", "--classic", "lanczos"],
    ] {
        let o = env.video(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
}

/// Frames processed according to the last JSON progress line of a run.
fn processed(o: &Output) -> u64 {
    stderr(o)
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| v["frames_processed"].as_u64())
        .unwrap_or_else(|| panic!("no progress: {}", stderr(o)))
}

#[test]
fn a_job_killed_with_sigkill_resumes_and_gives_the_same_frames() {
    let env = Env::new();
    let input = vfr_clip(&env);
    let nearest = env.nearest();
    let args = |out: &Path| {
        let mut a: Vec<String> = vec!["video".into(), input.display().to_string(), out.display().to_string()];
        a.extend(
            [
                "--model",
                &nearest,
                "--segment-frames",
                "10",
                "--temporal",
                "0.5",
                "--preset",
                "ultrafast",
                "--progress",
                "json",
                "--threads",
                "1",
            ]
            .map(String::from),
        );
        a
    };
    let whole = env.path("whole.mkv");
    let o = env.cmd().args(args(&whole)).output().unwrap();
    assert_ok(&o);
    let total = video_pts(&input).len() as u64;
    assert_eq!(processed(&o), total);

    let out = env.path("resumed.mkv");
    let parts = env.path("resumed.mkv.parts");
    let mut child = env.cmd().args(args(&out)).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while segments_done(&parts).len() < 2 {
        assert!(Instant::now() < deadline && child.try_wait().unwrap().is_none(), "no segment finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!out.exists());
    let plan = read_plan(&parts);
    let kept: u64 = segments_done(&parts).iter().map(|&n| plan["segments"][n]["frames"].as_u64().unwrap()).sum();
    let o = env.cmd().args(args(&out)).output().unwrap();
    assert_ok(&o);
    // Only the segment in flight at the kill is done again: less than one segment.
    assert_eq!(processed(&o), total - kept, "kept {kept} of {total}");
    assert_eq!(decoded(&out).0, decoded(&whole).0, "per-frame checksums equal to the uninterrupted run");
}

fn segments_done(parts: &Path) -> Vec<usize> {
    let Ok(dir) = std::fs::read_dir(parts) else { return Vec::new() };
    dir.filter_map(|e| {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        name.strip_prefix("seg-")?.strip_suffix(".mkv")?.parse().ok()
    })
    .collect()
}

#[test]
fn sigint_stops_cleanly_without_an_output() {
    let env = Env::new();
    let input = vfr_clip(&env);
    let out = env.path("cut.mp4");
    let mut child = env
        .cmd()
        .args([
            "video",
            input.to_str().unwrap(),
            out.to_str().unwrap(),
            "--model",
            &env.nearest(),
            "--segment-frames",
            "10",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let parts = env.path("cut.mp4.parts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while segments_done(&parts).is_empty() {
        assert!(Instant::now() < deadline && child.try_wait().unwrap().is_none(), "no segment finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) }, 0);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(!out.exists(), "nothing partial as OUT");
    assert!(common::temp_files(&parts).is_empty(), "no temp segment left");
    assert!(!segments_done(&parts).is_empty(), "finished segments are kept for the next run");
}

/// Mean |row y - row y+1| over mean |row y - row y+2| of the luma: above 1 when
/// alternate lines come from different moments (combing), below on progressive frames.
fn comb(frame: &[u8], width: usize, height: usize) -> f64 {
    let row = |y: usize| &frame[y * width..(y + 1) * width];
    let diff = |a: &[u8], b: &[u8]| {
        a.iter().zip(b).map(|(&x, &y)| (i32::from(x) - i32::from(y)).unsigned_abs() as u64).sum::<u64>()
    };
    let (mut adjacent, mut same_field) = (0u64, 0u64);
    for y in 0..height - 2 {
        adjacent += diff(row(y), row(y + 1));
        same_field += diff(row(y), row(y + 2));
    }
    adjacent as f64 / same_field.max(1) as f64
}

fn combing(path: &Path, interlaced: bool) -> Vec<f64> {
    let desc = format!(
        "filesrc location={} ! {} name=d d.video_0 ! decodebin ! {} videoconvert ! video/x-raw,format=GRAY8 ! appsink name=sink",
        path.display(),
        demuxer(path),
        // Shown as stored (woven fields), not deinterlaced by the reader.
        if interlaced { "capssetter caps=video/x-raw,interlace-mode=progressive !" } else { "" }
    );
    pull_all(&desc)
        .iter()
        .map(|s| {
            let caps = s.caps().unwrap();
            let (w, h) = (caps_int(&caps.to_owned(), "width") as usize, caps_int(&caps.to_owned(), "height") as usize);
            let map = s.buffer().unwrap().map_readable().unwrap();
            comb(&map[..w * h], w, h)
        })
        .collect()
}

#[test]
fn an_interlaced_source_comes_out_progressive_without_combing() {
    let env = Env::new();
    // bikes (real, 640x272 at 25p, fast motion): 1:1 interlacing puts consecutive frames
    // into the two fields of one frame, as a 50i camera would.
    let interlaced = env.path("bikes_i.mkv");
    run_to_eos(&format!(
        "filesrc location={} ! qtdemux ! h264parse ! avdec_h264 ! videoconvert ! video/x-raw,format=I420 ! \
         interlace field-pattern=1:1 top-field-first=true ! avenc_ffv1 ! matroskamux ! filesink location={}",
        media("bikes.mp4").display(),
        interlaced.display()
    ));
    let before = combing(&interlaced, true);
    let out = env.path("bikes_p.mkv");
    let o = env.copy_video(&interlaced, &out);
    assert_ok(&o);
    let after = combing(&out, false);
    assert_eq!(after.len(), before.len(), "frame rate: one frame per frame");
    assert_eq!(video_pts(&out), video_pts(&interlaced));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(mean(&before) > 1.0, "the fixture is combed: {}", mean(&before));
    assert!(mean(&after) < 0.8, "combing left: {} (source {})", mean(&after), mean(&before));
}

#[test]
fn field_rate_gives_one_frame_per_field_at_exact_timestamps_across_segments() {
    let env = Env::new();
    // The first 80 frames of bikes (eos-after lets one more pass), interlaced 1:1 (40 frames at 12.5 fps, 80 fields),
    // in ffv1 with a GOP of 1: every frame a keyframe, so segments may start at any frame.
    let interlaced = env.path("bikes_i.mkv");
    run_to_eos(&format!(
        "filesrc location={} ! qtdemux ! h264parse ! avdec_h264 ! identity eos-after=79 ! videoconvert ! \
         video/x-raw,format=I420 ! interlace field-pattern=1:1 top-field-first=true ! avenc_ffv1 gop-size=1 ! matroskamux ! \
         filesink location={}",
        media("bikes.mp4").display(),
        interlaced.display()
    ));
    let source = video_pts(&interlaced);
    assert_eq!(source.len(), 40);
    // Field 2 = the frame's pts + half its duration (the next frame's pts minus its own).
    let duration = source[1] - source[0];
    let expected: Vec<u64> = source
        .iter()
        .enumerate()
        .flat_map(|(i, &p)| [p, p + (source.get(i + 1).map_or(duration, |&n| n - p)) / 2])
        .collect();
    let run = |name: &str, segment_frames: &str| {
        env.segmented(&interlaced, name, segment_frames, &["--deinterlace", "field-rate"])
    };
    let whole = run("whole.mkv", "1000");
    let cut = run("cut.mkv", "14");
    let plan = env.plan("cut.mkv");
    assert_eq!(plan["segments"].as_array().unwrap().len(), 6, "cuts at fields 14, 28, ... (frame starts)");
    assert_eq!(video_pts(&whole), expected, "2N frames, field 2 half a frame after field 1");
    assert_eq!(video_pts(&cut), expected);
    assert_eq!(decoded(&cut).0, decoded(&whole).0, "a segment boundary drops, repeats or changes no field");
    let after = combing(&whole, false);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let before = mean(&combing(&interlaced, true));
    assert!(before > 1.0, "the fixture is combed: {before}");
    assert!(mean(&after) < 0.8, "combing left: {} (source {before})", mean(&after));
}

/// 50 frames of bikes then 50 of carphone (real clips, both 320x136 at 25 fps) encoded
/// into `out` with ffmpeg's `codec` options: a hard scene change at frame 50.
fn joined_clips(out: &Path, codec: &[&str]) {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(media("bikes.mp4"))
        .arg("-i")
        .arg(media("carphone_pristine.mp4"))
        .args([
            "-filter_complex",
            "[0:v]scale=320:136,trim=end_frame=50,setpts=PTS-STARTPTS[a];\
             [1:v]scale=320:136,setsar=1,fps=25,trim=end_frame=50,setpts=PTS-STARTPTS[b];[a][b]concat=n=2:v=1[v]",
            "-map",
            "[v]",
        ])
        .args(codec)
        .arg(out)
        .output()
        .unwrap();
    assert_ok(&o);
}

#[test]
fn cuts_land_on_a_scene_change_and_change_no_frame() {
    let env = Env::new();
    // 50 frames of bikes, then 50 of carphone (real, both at half bikes' size): a hard
    // scene change at frame 50 (bikes has its own at 30). All-intra (ffv1, GOP 1), so a cut may fall on any frame.
    let joined = env.path("joined.mkv");
    joined_clips(&joined, &["-c:v", "ffv1", "-g", "1"]);
    assert_eq!(video_pts(&joined).len(), 100);
    let run = |name: &str, segment_frames: &str| {
        let out = env.segmented(&joined, name, segment_frames, &["--temporal", "0.5"]);
        (out, env.segments(name))
    };
    let (whole, _) = run("whole.mkv", "1000");
    // Planned cuts at 45 (the scene change at 50 is within 45 +- 11) and 95 (none near).
    let (cut, segments) = run("cut.mkv", "45");
    assert_eq!(segments, [(0, false, 0), (50, true, 0), (95, false, 4)], "re-primed only away from the scene change");
    assert_eq!(decoded(&cut).0, decoded(&whole).0, "per-frame checksums equal to the uncut run");
}

/// 2 s of bikes (320x136, x264) in `name` with `subtitles` (SRT text) as a `codec` track,
/// the title "Holiday tape" and `chapters` (ffmetadata [CHAPTER] sections), made by ffmpeg.
fn subtitled_clip(env: &Env, name: &str, subtitles: &str, chapters: &str, codec: &str) -> PathBuf {
    let (srt, meta, path) = (env.path("s.srt"), env.path("meta.txt"), env.path(name));
    std::fs::write(&srt, subtitles).unwrap();
    std::fs::write(&meta, format!(";FFMETADATA1\ntitle=Holiday tape\n{chapters}")).unwrap();
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(media("bikes.mp4"))
        .arg("-i")
        .arg(&srt)
        .arg("-i")
        .arg(&meta)
        .args(["-map", "0:v", "-map", "1", "-map_metadata", "2", "-map_chapters", "2", "-t", "2"])
        .args(["-vf", "scale=320:136", "-c:v", "libx264", "-preset", "ultrafast", "-c:s", codec])
        .arg(&path)
        .output()
        .unwrap();
    assert_ok(&o);
    path
}

#[test]
fn subtitles_chapters_and_the_title_survive_bit_identically() {
    let env = Env::new();
    // Text the demuxer would escape (& and <) before a chunk with markup, then markup.
    let subtitles =
        "1\n00:00:00,200 --> 00:00:00,900\nTom & Jerry <3\n\n2\n00:00:01,000 --> 00:00:01,500\n<i>Second</i> & last\n";
    let chapters = "[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1000\ntitle=Beach\n\
                    [CHAPTER]\nTIMEBASE=1/1000\nSTART=1000\nEND=2000\ntitle=Dinner\n";
    let input = subtitled_clip(&env, "in.mkv", subtitles, chapters, "srt");
    let out = env.path("out.mkv");
    let o = env.copy_video(&input, &out);
    assert_ok(&o);
    let packets = |p: &Path| {
        probe(p, &["-select_streams", "s", "-show_packets", "-show_data", "-show_entries", "packet=pts,duration,data"])
            ["packets"]
            .clone()
    };
    let before = packets(&input);
    assert_eq!(before.as_array().unwrap().len(), 2, "{before}");
    assert_eq!(packets(&out), before, "subtitle packets: bytes and timing");
    let chapters = |p: &Path| {
        probe(p, &["-show_chapters"])["chapters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["start_time"].to_string(), c["end_time"].to_string(), c["tags"]["title"].to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(chapters(&input).len(), 2);
    assert_eq!(chapters(&out), chapters(&input));
    // The title as GStreamer reads it back (1.22's matroskamux stores tag strings
    // gst-serialized, `"Holiday\ tape"`, which other readers show as they are).
    let discovered = |p: &Path| {
        let o = Command::new("gst-discoverer-1.0").arg("-v").arg(p).output().unwrap();
        assert_ok(&o);
        stdout(&o)
    };
    assert!(discovered(&input).contains("title: Holiday tape"));
    let text = discovered(&out);
    assert!(text.contains("title: Holiday tape"), "{text}");
    assert!(text.contains("comment: AI-upscaled x1 by aiupscale"), "{text}");
}

#[test]
fn on_a_gop_source_the_cut_lands_on_the_keyframe_at_the_scene_change() {
    let env = Env::new();
    // The same join of two real clips (scene change at frame 50), encoded as an encoder
    // would: x264 with a keyframe every 20 frames, B-frames, and a keyframe forced at
    // the join where its scene detection puts one. Keyframes: 0, 20, 40, 50, 70, 90.
    let joined = env.path("joined_gop.mp4");
    let x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "20", "-sc_threshold", "0"];
    joined_clips(&joined, &[&x264[..], &["-force_key_frames", "expr:eq(n,50)"]].concat());
    let keyframes: Vec<u64> = {
        let desc = format!("filesrc location={} ! qtdemux ! h264parse ! appsink name=sink", joined.display());
        let mut frames: Vec<(u64, bool)> = pull_all(&desc)
            .iter()
            .map(|s| {
                let b = s.buffer().unwrap();
                (b.pts().unwrap().nseconds(), !b.flags().contains(gst::BufferFlags::DELTA_UNIT))
            })
            .collect();
        frames.sort_unstable();
        frames.iter().enumerate().filter(|(_, f)| f.1).map(|(i, _)| i as u64).collect()
    };
    assert_eq!(keyframes, [0, 20, 40, 50, 70, 90], "the fixture's GOP");
    let run = |name: &str, segment_frames: &str| {
        let out = env.segmented(&joined, name, segment_frames, &["--temporal", "0.5"]);
        (out, env.segments(name))
    };
    let (whole, _) = run("whole.mkv", "1000");
    // Planned at 45: keyframes 40 and 50 are within 45 +- 11, the scene change is at 50.
    // Planned at 95: no keyframe at or after it, so no more cuts.
    let (cut, segments) = run("cut.mkv", "45");
    assert_eq!(segments, [(0, false, 0), (50, true, 0)], "the cut is on the keyframe at the scene change");
    let (frames, whole_frames) = (decoded(&cut).0, decoded(&whole).0);
    assert_eq!(frames.len(), 100);
    assert_eq!(frames, whole_frames, "per-frame checksums equal to the uncut run");
}

/// The bytes of ffprobe's `-show_data` hex dump.
fn dump_bytes(dump: &str) -> Vec<u8> {
    dump.lines()
        .filter_map(|line| line.split_once(": "))
        .flat_map(|(_, rest)| {
            let hex: String = rest.chars().take(39).filter(|c| !c.is_whitespace()).collect();
            (0..hex.len() / 2).map(move |i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect::<Vec<_>>()
        })
        .collect()
}

/// (start s, duration s, text) of each subtitle packet that shows text: MP4 (tx3g)
/// samples are a 16-bit length, the text, then style records; Matroska SRT packets are
/// the text. MP4's empty "show nothing" samples are left out.
fn subtitle_texts(path: &Path) -> Vec<(String, String, Vec<u8>)> {
    let mp4 = path.extension().unwrap() != "mkv";
    let packets = probe(
        path,
        &["-select_streams", "s", "-show_packets", "-show_data", "-show_entries", "packet=pts_time,duration_time,data"],
    );
    packets["packets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let bytes = dump_bytes(p["data"].as_str().unwrap());
            let text = if mp4 {
                let len = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
                bytes[2..2 + len].to_vec()
            } else {
                bytes
            };
            (p["pts_time"].to_string(), p["duration_time"].to_string(), text)
        })
        .filter(|p| !p.2.is_empty())
        .collect()
}

#[test]
fn mp4_and_mov_carry_subtitle_text_exactly_and_say_what_they_leave_out() {
    let env = Env::new();
    let subtitles =
        "1\n00:00:00,200 --> 00:00:00,900\nTom & Jerry <3\n\n2\n00:00:01,000 --> 00:00:01,800\n<i>Second</i> & last\n";
    let chapter = "[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1000\ntitle=Beach\n";
    // The same real clip with these subtitles: SRT in .mkv (with a chapter), and
    // mov_text (tx3g) in .mp4, as ffmpeg writes them.
    let source = |name: &str, codec: &str| subtitled_clip(&env, name, subtitles, chapter, codec);
    let (mkv, mp4) = (source("in.mkv", "srt"), source("in.mp4", "mov_text"));
    assert_eq!(subtitle_texts(&mkv).len(), 2);
    for (input, name) in [(&mkv, "a.mp4"), (&mkv, "a.mov"), (&mp4, "b.mp4"), (&mp4, "b.mov")] {
        let out = env.path(name);
        let o = env.copy_video(input, &out);
        assert_ok(&o);
        assert_eq!(subtitle_texts(&out), subtitle_texts(input), "{name}: text, start and duration of each subtitle");
        let message = stderr(&o);
        if input == &mkv {
            // The .mkv source has a chapter; qtmux writes none.
            assert!(message.contains("1 chapters are left out (use .mkv"), "{name}: {message}");
        } else {
            // ffmpeg's tx3g has the italic as a style record: the text alone comes through.
            assert!(message.contains("style records (bold, italic, colour) are not copied"), "{name}: {message}");
        }
        let o = Command::new("gst-discoverer-1.0").arg("-v").arg(&out).output().unwrap();
        assert!(stdout(&o).contains("title: Holiday tape"), "{name}: {}", stdout(&o));
    }
}
