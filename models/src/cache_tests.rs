//! Tests of the cache proper (no archives, no converter): installs converted bytes
//! directly and damages them in the ways a real cache gets damaged.

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::*;

const CATALOG: &str = r#"
[packages.tiny-pkg]
registry = "pypi"
version = "1.2.3"
archive = "tiny_pkg-1.2.3-py3-none-any.whl"
archive_sha256 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
licence = "MIT"
attribution = "test"

[[model]]
name = "tiny-x2"
description = "test model"
scale = 2
content = "photo"
format = "ncnn"
package = "tiny-pkg"
files = [
  { path = "tiny/m.param", sha256 = "1111111111111111111111111111111111111111111111111111111111111111" },
  { path = "tiny/m.bin", sha256 = "2222222222222222222222222222222222222222222222222222222222222222" },
]
tile_multiple = 1
overlap = 4
border = 0
flops_per_pixel = 10.0
"#;

fn setup() -> (tempfile::TempDir, ModelCache, ModelEntry) {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::parse(CATALOG).unwrap();
    let entry = catalog.require("tiny-x2").unwrap().clone();
    let cache = ModelCache::at(dir.path().join("models")).with_catalog(catalog);
    (dir, cache, entry)
}

fn onnx_bytes() -> Vec<u8> {
    (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

fn installed() -> (tempfile::TempDir, ModelCache, ModelEntry) {
    let (dir, cache, entry) = setup();
    cache.install(&entry, &onnx_bytes(), 12.5).unwrap();
    (dir, cache, entry)
}

fn expect_corrupt(result: Result<impl std::fmt::Debug, ModelError>, needle: &str) {
    match result {
        Err(e @ ModelError::CorruptCacheEntry { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
            assert!(msg.contains("aiupscale models fetch --force tiny-x2"), "{msg}");
        }
        other => panic!("expected CorruptCacheEntry, got {other:?}"),
    }
}

fn set_mtime(path: &Path, time: SystemTime) {
    OpenOptions::new().write(true).open(path).unwrap().set_modified(time).unwrap();
}

#[test]
fn root_prefers_model_dir_then_absolute_xdg_then_home() {
    let s = |v: &str| Some(OsString::from(v));
    assert_eq!(root_from(s("/m"), s("/x"), s("/h")), Some(PathBuf::from("/m")));
    assert_eq!(root_from(None, s("/x"), s("/h")), Some(PathBuf::from("/x/aiupscale/models")));
    assert_eq!(root_from(s(""), s("rel"), s("/h")), Some(PathBuf::from("/h/.cache/aiupscale/models")));
    assert_eq!(root_from(None, None, None), None);
}

#[test]
fn missing_model_is_not_fetched_and_names_the_command() {
    let (_dir, cache, entry) = setup();
    let err = cache.locate(&entry).unwrap_err();
    assert!(matches!(err, ModelError::NotFetched { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("tiny-x2") && msg.contains("aiupscale models fetch tiny-x2"), "{msg}");
    assert!(matches!(cache.verify(&entry), Err(ModelError::NotFetched { .. })));
}

#[test]
fn installed_model_is_located_and_verified() {
    let (_dir, cache, entry) = installed();
    let path = cache.locate(&entry).unwrap();
    assert_eq!(path, cache.onnx_path("tiny-x2"));
    assert_eq!(fs::read(&path).unwrap(), onnx_bytes());
    let report = cache.verify(&entry).unwrap();
    let m = &report.manifest;
    assert_eq!((m.model.as_str(), m.package.as_str(), m.package_version.as_str()), ("tiny-x2", "tiny-pkg", "1.2.3"));
    assert_eq!(m.onnx_size, 10_000);
    assert_eq!(m.onnx_sha256, sha256_hex(&onnx_bytes()));
    assert_eq!(m.converter_version, CONVERTER_VERSION);
    assert_eq!(m.flops_per_pixel, 12.5);
    assert_eq!(m.sources[1], SourceRecord { path: "tiny/m.bin".into(), sha256: "2".repeat(64) });
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o644);
    }
    // No temp files survive a successful install.
    let names: Vec<_> = fs::read_dir(cache.root()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(names.iter().all(|n| !n.to_string_lossy().starts_with(".tmp")), "{names:?}");
}

#[test]
fn truncated_onnx_is_corrupt() {
    let (_dir, cache, entry) = installed();
    let file = OpenOptions::new().write(true).open(cache.onnx_path("tiny-x2")).unwrap();
    file.set_len(5_000).unwrap();
    expect_corrupt(cache.locate(&entry), "5000 bytes");
}

#[test]
fn flipped_byte_is_caught_by_verify_even_when_mtime_is_kept() {
    let (_dir, cache, entry) = installed();
    let path = cache.onnx_path("tiny-x2");
    let mtime = fs::metadata(&path).unwrap().modified().unwrap();
    let mut bytes = fs::read(&path).unwrap();
    bytes[1234] ^= 0x40;
    fs::write(&path, &bytes).unwrap();
    set_mtime(&path, mtime);
    // The documented trade-off: same size and mtime skip the hash on load...
    cache.locate(&entry).unwrap();
    // ...and the full check finds it.
    expect_corrupt(cache.verify(&entry), "sha256");
}

#[test]
fn flipped_bit_that_keeps_size_and_mtime_fails_locate_verified() {
    let (_dir, cache, entry) = installed();
    let path = cache.onnx_path("tiny-x2");
    assert_eq!(cache.locate_verified(&entry).unwrap(), path);
    let mtime = fs::metadata(&path).unwrap().modified().unwrap();
    // File times tick in jiffies: let the damage get a later ctime than the install.
    std::thread::sleep(Duration::from_millis(30));
    let mut bytes = fs::read(&path).unwrap();
    bytes[5678] ^= 0x40; // an exponent bit, if this were a float
    fs::write(&path, &bytes).unwrap();
    set_mtime(&path, mtime);
    // Verified once already in this process, but the file changed since (its ctime did).
    let err = cache.locate_verified(&entry).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    expect_corrupt(Err::<(), _>(err), "sha256");
}

#[test]
fn locate_verified_hashes_once_per_process_and_file_version() {
    let (_dir, cache, entry) = installed();
    let path = cache.onnx_path("tiny-x2");
    let sha = sha256_hex(&onnx_bytes());
    let stamp = || FileStamp::of(&fs::metadata(&path).unwrap());
    assert!(!hashed_before(&path, &stamp(), &sha));
    cache.locate_verified(&entry).unwrap();
    assert!(hashed_before(&path, &stamp(), &sha), "the next load must not hash again");
    assert!(!hashed_before(&path, &stamp(), &"0".repeat(64)), "a new manifest is checked again");
    // A rewrite with the same bytes (a re-fetch) is a new version of the file.
    write_atomically(cache.root(), &path, &onnx_bytes()).unwrap();
    assert!(!hashed_before(&path, &stamp(), &sha));
}

#[test]
fn unwritable_cache_errors_name_the_variable_and_the_path() {
    let path = Path::new("/ro/models/locks");
    for errno in [libc::EROFS, libc::EACCES] {
        let err = write_err(path, io::Error::from_raw_os_error(errno));
        assert!(matches!(err, ModelError::CacheNotWritable { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("AIUPSCALE_MODEL_DIR") && msg.contains("/ro/models/locks"), "{msg}");
    }
    let full = write_err(path, io::Error::from_raw_os_error(libc::ENOSPC));
    assert!(matches!(full, ModelError::Io { .. }), "{full:?}");
}

#[test]
fn flipped_byte_with_a_new_mtime_is_caught_on_locate() {
    let (_dir, cache, entry) = installed();
    let path = cache.onnx_path("tiny-x2");
    let mut bytes = fs::read(&path).unwrap();
    bytes[0] ^= 1;
    fs::write(&path, &bytes).unwrap();
    set_mtime(&path, SystemTime::now() + Duration::from_secs(5));
    expect_corrupt(cache.locate(&entry), "sha256");
}

#[test]
fn touched_but_intact_model_is_rehashed_once_and_accepted() {
    let (_dir, cache, entry) = installed();
    let path = cache.onnx_path("tiny-x2");
    let new_time = SystemTime::now() + Duration::from_secs(60);
    set_mtime(&path, new_time);
    cache.locate(&entry).unwrap();
    // The manifest now records the new mtime, so the next load skips hashing.
    let (_, manifest) = cache.locate_with_manifest(&entry).unwrap();
    assert_eq!(manifest.onnx_mtime_ns, mtime_ns(&fs::metadata(&path).unwrap()));
}

#[test]
fn missing_manifest_is_corrupt() {
    let (_dir, cache, entry) = installed();
    fs::remove_file(cache.manifest_path("tiny-x2")).unwrap();
    expect_corrupt(cache.locate(&entry), "manifest");
}

#[test]
fn unparseable_manifest_is_corrupt() {
    let (_dir, cache, entry) = installed();
    fs::write(cache.manifest_path("tiny-x2"), "{ not json").unwrap();
    expect_corrupt(cache.locate(&entry), "unreadable");
}

#[test]
fn non_utf8_manifest_is_corrupt_not_an_io_error() {
    // Found by the catalog_manifest fuzz target: a damaged manifest that is not UTF-8
    // came back as a bare I/O error that named no fix.
    let (_dir, cache, entry) = installed();
    fs::write(cache.manifest_path("tiny-x2"), b"{\"model\": \"tiny\xff\"}").unwrap();
    expect_corrupt(cache.locate(&entry), "not UTF-8");
    expect_corrupt(cache.verify(&entry), "not UTF-8");
}

#[test]
fn manifest_from_another_converter_version_is_corrupt() {
    let (_dir, cache, entry) = installed();
    let (_, mut manifest) = cache.locate_with_manifest(&entry).unwrap();
    manifest.converter_version = CONVERTER_VERSION + 1;
    cache.write_manifest(&manifest).unwrap();
    expect_corrupt(cache.locate(&entry), &format!("converter version {}", CONVERTER_VERSION + 1));
}

#[test]
fn catalog_with_other_source_hashes_makes_the_entry_stale() {
    let (_dir, cache, _) = installed();
    let catalog = Catalog::parse(&CATALOG.replace(&"2".repeat(64), &"3".repeat(64))).unwrap();
    let entry = catalog.require("tiny-x2").unwrap().clone();
    let cache = cache.with_catalog(catalog);
    expect_corrupt(cache.locate(&entry), "source files");
}

#[test]
fn a_new_blend_recipe_makes_the_entry_stale() {
    let mut entry = Catalog::builtin().require("span-footage-blend-x2").unwrap().clone();
    let before = source_records(&entry);
    assert!(before.last().unwrap().path.starts_with("aiupscale:blend "), "{before:?}");
    entry.blend.as_mut().unwrap().bands.as_mut().unwrap().low_weight = 0.3;
    let after = source_records(&entry);
    assert_eq!(before[..before.len() - 1], after[..after.len() - 1]);
    assert_ne!(before.last(), after.last());
}

#[test]
fn catalog_with_another_package_version_makes_the_entry_stale() {
    let (_dir, cache, _) = installed();
    let catalog = Catalog::parse(&CATALOG.replace("\"1.2.3\"", "\"1.2.4\"")).unwrap();
    let entry = catalog.require("tiny-x2").unwrap().clone();
    expect_corrupt(cache.with_catalog(catalog).locate(&entry), "1.2.4");
}

#[test]
fn interrupted_reinstall_leaves_no_accepted_entry() {
    let (_dir, cache, entry) = installed();
    // What `install` does before it writes the manifest, then "crash": a leftover temp
    // file and a new .onnx without a manifest.
    fs::remove_file(cache.manifest_path("tiny-x2")).unwrap();
    write_atomically(cache.root(), &cache.onnx_path("tiny-x2"), b"new bytes").unwrap();
    fs::write(cache.root().join(".tmp-leftover"), b"partial").unwrap();
    expect_corrupt(cache.locate(&entry), "manifest");
    // A retried install repairs it.
    cache.install(&entry, &onnx_bytes(), 1.0).unwrap();
    cache.verify(&entry).unwrap();
}

#[test]
fn remove_deletes_the_entry() {
    let (_dir, cache, entry) = installed();
    assert!(cache.remove(&entry).unwrap());
    assert!(matches!(cache.locate(&entry), Err(ModelError::NotFetched { .. })));
    assert!(!cache.manifest_path("tiny-x2").exists());
    assert!(!cache.remove(&entry).unwrap());
}

#[test]
fn names_that_would_escape_the_cache_are_refused() {
    let (_dir, cache, mut entry) = setup();
    for bad in ["../evil", "a/b", ".hidden", "", "x\\y"] {
        entry.name = bad.into();
        assert!(matches!(cache.locate(&entry), Err(ModelError::CatalogInvalid { .. })), "{bad:?}");
        assert!(matches!(cache.install(&entry, b"x", 1.0), Err(ModelError::CatalogInvalid { .. })), "{bad:?}");
    }
}

#[test]
fn non_finite_flops_are_refused_before_anything_is_written() {
    let (_dir, cache, entry) = setup();
    assert!(matches!(cache.install(&entry, b"x", f64::NAN), Err(ModelError::CatalogInvalid { .. })));
    assert!(!cache.onnx_path("tiny-x2").exists());
}

#[test]
fn the_lock_serialises_holders() {
    let (_dir, cache, _) = setup();
    cache.create_root().unwrap();
    let held = Arc::new(AtomicBool::new(false));
    let released = Arc::new(AtomicBool::new(false));
    let (c, h, r) = (cache.clone(), held.clone(), released.clone());
    let holder = std::thread::spawn(move || {
        c.with_lock("tiny-x2", || {
            h.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(200));
            r.store(true, Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
    });
    while !held.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let saw_release = cache.with_lock("tiny-x2", || Ok(released.load(Ordering::SeqCst))).unwrap();
    holder.join().unwrap();
    assert!(saw_release, "the second holder got the lock while the first still held it");
    // Other keys do not wait.
    cache.with_lock("other", || Ok(())).unwrap();
}

#[test]
fn mtime_refresh_is_skipped_while_a_fetch_holds_the_lock() {
    let (_dir, cache, entry) = installed();
    let path = cache.onnx_path("tiny-x2");
    let before = cache.locate_with_manifest(&entry).unwrap().1.onnx_mtime_ns;
    set_mtime(&path, SystemTime::now() + Duration::from_secs(60));
    cache
        .with_lock("tiny-x2", || {
            // Hashed and accepted, but the manifest belongs to the lock holder now.
            cache.locate(&entry)?;
            Ok(())
        })
        .unwrap();
    let text = fs::read_to_string(cache.manifest_path("tiny-x2")).unwrap();
    assert_eq!(serde_json::from_str::<Manifest>(&text).unwrap().onnx_mtime_ns, before);
}
