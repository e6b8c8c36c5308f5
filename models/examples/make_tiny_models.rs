//! Writes the tiny fixture models to a folder: `make_tiny_models DIR`.
fn main() -> std::process::ExitCode {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: make_tiny_models DIR");
        return std::process::ExitCode::from(2);
    };
    match aiupscale_models::tiny::write_tiny_models(std::path::Path::new(&dir)) {
        Ok(paths) => {
            for p in paths {
                println!("{}", p.display());
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("make_tiny_models: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
