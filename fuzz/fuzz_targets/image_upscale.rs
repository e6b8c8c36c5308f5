//! Image files through the bridge's input path: `aiupscale_bridge::io::read_image` (by
//! content: JPEG, PNG, TIFF, WebP; EXIF orientation, ICC, EXIF), the core with the tiny
//! nearest-x2 model, and the encoder for an output format picked from the input.
//!
//! Inputs whose header declares more than `MAX_PIXELS` are skipped (the decoder's own
//! header parse, the same first step `read_image` takes), so the fuzzer spends its time
//! in the decoders rather than on large allocations that are legitimately asked for.
#![no_main]

use std::io::Cursor;

use aiupscale_bridge::io::{encode_to_temp, read_image};
use aiupscale_core::{Control, Target};
use aiupscale_fuzz::{scratch_dir, tiny_upscaler, MAX_PIXELS};
use libfuzzer_sys::fuzz_target;

const OUTPUTS: [&str; 4] = ["out.png", "out.jpg", "out.tif", "out.webp"];

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = image::ImageReader::new(Cursor::new(data)).with_guessed_format() else { return };
    let Ok((w, h)) = reader.into_dimensions() else { return };
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return;
    }
    let input = scratch_dir().join("input");
    std::fs::write(&input, data).expect("scratch file written");
    let Ok(decoded) = read_image(&input) else { return };
    let src = decoded.image.as_ref();
    // Orientation may swap the sides; nothing else may change them.
    let (dw, dh) = (src.width(), src.height());
    assert!((dw, dh) == (w, h) || (dw, dh) == (h, w), "header {w}x{h}, decoded {dw}x{dh}");

    let mut upscaler = tiny_upscaler().lock().expect("not poisoned");
    let out = upscaler
        .upscale_to(&src, Target::Factor(2.0), &mut Control::default())
        .unwrap_or_else(|e| panic!("a decoded {dw}x{dh} {} image must upscale: {e}", src.format()));
    assert_eq!((out.as_ref().width(), out.as_ref().height()), (2 * dw, 2 * dh));

    let target = scratch_dir().join(OUTPUTS[data.len() % OUTPUTS.len()]);
    let (tmp, _notes) = encode_to_temp(&target, &out, &decoded.metadata, 90)
        .unwrap_or_else(|e| panic!("{dw}x{dh} {} must encode as {}: {e:#}", src.format(), target.display()));
    drop(tmp);
});
