//! The model catalog (`catalog.toml`) and the cache manifest (`<name>.json`) parsers.
//!
//! Input starting with `{`: a manifest, installed beside a fixed `.onnx` in a scratch
//! cache for the built-in catalog's model it names (the first model if it names none),
//! then `locate` and `verify`. Anything else: catalog TOML, parsed and queried, each
//! model looked up in an empty cache. Either way only typed errors, never a panic.
#![no_main]

use std::sync::OnceLock;

use aiupscale_fuzz::scratch_dir;
use aiupscale_models::{Catalog, ModelCache, ModelError};
use libfuzzer_sys::fuzz_target;

const ONNX: &[u8] = b"stands in for a converted model";

fn manifest(data: &[u8]) {
    static CACHE: OnceLock<ModelCache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| {
        let cache = ModelCache::at(scratch_dir().join("manifest-cache"));
        std::fs::create_dir_all(cache.root()).expect("cache folder");
        for entry in Catalog::builtin().models() {
            std::fs::write(cache.onnx_path(&entry.name), ONNX).expect("model written");
        }
        cache
    });
    let catalog = Catalog::builtin();
    let named = serde_json::from_slice::<serde_json::Value>(data)
        .ok()
        .and_then(|v| v.get("model").and_then(|m| m.as_str()).and_then(|m| catalog.get(m)).cloned());
    let entry = named.as_ref().unwrap_or(&catalog.models()[0]);
    std::fs::write(cache.manifest_path(&entry.name), data).expect("manifest written");
    let located = cache.locate(entry);
    let verified = cache.verify(entry);
    for result in [located.as_ref().map(|p| p.clone()), verified.as_ref().map(|r| r.path.clone())] {
        match result {
            Ok(path) => assert_eq!(path, cache.onnx_path(&entry.name)),
            Err(ModelError::CorruptCacheEntry { name, reason }) => assert!(*name == entry.name && !reason.is_empty()),
            Err(other) => panic!("expected a CorruptCacheEntry error, got {other:?}"),
        }
    }
    // `locate` may skip the hash (unchanged mtime); `verify` never does.
    assert!(verified.is_err() || located.is_ok(), "verify accepted what locate refused");
}

fn catalog(text: &str) {
    let Ok(catalog) = Catalog::parse(text) else { return };
    let cache = ModelCache::at(scratch_dir().join("empty-cache")).with_catalog(catalog.clone());
    for model in catalog.models() {
        assert_eq!(catalog.require(&model.name).expect("listed").name, model.name);
        assert_eq!(catalog.package_of(model).name, model.package);
        assert!(model.edge_overlap() <= model.overlap && model.scale >= 1 && model.tile_multiple >= 1);
        match cache.locate(model) {
            Err(ModelError::NotFetched { name, .. }) => assert_eq!(name, model.name),
            // Names that cannot be file names in the cache.
            Err(ModelError::CatalogInvalid { reason }) => assert!(reason.contains("file name"), "{reason}"),
            other => panic!("an empty cache must report {} as not fetched, got {other:?}", model.name),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.first() == Some(&b'{') {
        manifest(data);
    } else if let Ok(text) = std::str::from_utf8(data) {
        catalog(text);
    }
});
