//! Converts one WebSR Anime4K JSON file to ONNX and prints its cost.
//!
//! `cargo run -p aiupscale-models --example convert_anime4k -- in.json out.onnx`

use std::{path::Path, process::ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: convert_anime4k IN.json OUT.onnx");
        return ExitCode::from(2);
    };
    let json = match std::fs::read_to_string(input) {
        Ok(json) => json,
        Err(e) => {
            eprintln!("cannot read {input}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let name = Path::new(input).file_stem().map_or("anime4k".into(), |s| s.to_string_lossy().into_owned());
    match aiupscale_models::anime4k::convert(&name, &json) {
        Ok(converted) => {
            if let Err(e) = std::fs::write(output, converted.model.to_bytes()) {
                eprintln!("cannot write {output}: {e}");
                return ExitCode::FAILURE;
            }
            println!("flops_per_pixel {}", converted.flops_per_pixel);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
