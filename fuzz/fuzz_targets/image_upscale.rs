//! Image files through the bridge's input path: `aiupscale_bridge::io::read_image` (by
//! content: JPEG, PNG, TIFF, WebP; EXIF orientation, ICC, EXIF), the core with the tiny
//! nearest-x2 model, and the encoder for an output format picked from the input.
//!
//! Inputs whose header declares more than `MAX_PIXELS` are skipped after the bridge's own
//! header step (`open_image`, with a 64 MiB memory budget), so the fuzzer spends its time
//! in the decoders rather than on large allocations that are legitimately asked for.
#![no_main]

use aiupscale_bridge::{
    budget::Budget,
    io::{encode_to_temp, open_image},
};
use aiupscale_core::{provenance::Method, Control, Target};
use aiupscale_fuzz::{scratch_dir, tiny_upscaler, MAX_PIXELS};
use libfuzzer_sys::fuzz_target;

const OUTPUTS: [&str; 4] = ["out.png", "out.jpg", "out.tif", "out.webp"];

fuzz_target!(|data: &[u8]| {
    let input = scratch_dir().join("input");
    std::fs::write(&input, data).expect("scratch file written");
    let Ok(opened) = open_image(&input, &Budget::new(Some(64))) else { return };
    let (w, h) = (opened.width, opened.height);
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return;
    }
    let Ok(decoded) = opened.decode() else { return };
    let src = decoded.image.as_ref();
    // The header's upright size is the decoded size.
    let (dw, dh) = (src.width(), src.height());
    assert_eq!((dw, dh), (w, h), "header {w}x{h}, decoded {dw}x{dh}");

    let mut upscaler = tiny_upscaler().lock().expect("not poisoned");
    let out = upscaler
        .upscale_to(&src, Target::Factor(2.0), &mut Control::default())
        .unwrap_or_else(|e| panic!("a decoded {dw}x{dh} {} image must upscale: {e}", src.format()));
    assert_eq!((out.as_ref().width(), out.as_ref().height()), (2 * dw, 2 * dh));

    let target = scratch_dir().join(OUTPUTS[data.len() % OUTPUTS.len()]);
    let (tmp, _notes) = encode_to_temp(&target, &out, &decoded.metadata, 90, Some(Method::Model("fuzz")))
        .unwrap_or_else(|e| panic!("{dw}x{dh} {} must encode as {}: {e:#}", src.format(), target.display()));
    drop(tmp);
});
