//! Converts one ncnn model (.param + .bin) to ONNX and prints its cost.
//!
//! `cargo run -p aiupscale-models --example convert_ncnn -- in.param in.bin out.onnx`

use std::{path::Path, process::ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [param_path, bin_path, output] = args.as_slice() else {
        eprintln!("usage: convert_ncnn IN.param IN.bin OUT.onnx");
        return ExitCode::from(2);
    };
    let param = match std::fs::read_to_string(param_path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("cannot read {param_path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bin = match std::fs::read(bin_path) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("cannot read {bin_path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let name = Path::new(param_path).file_stem().map_or("ncnn".into(), |s| s.to_string_lossy().into_owned());
    match aiupscale_models::ncnn::convert(&name, &param, &bin) {
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
