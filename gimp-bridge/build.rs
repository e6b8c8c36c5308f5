//! Builds the GIMP 2.10 plug-in (`plugins/gimp-2.10/*.c`, C against libgimpui-2.0 and
//! json-glib) so that `aiupscale install gimp` can write it out: the executable is
//! embedded with `include_bytes!` (cfg `gimp2_plugin`, path in `AIUPSCALE_GIMP2_PLUGIN`).
//!
//! Without libgimp2.0-dev or libjson-glib-dev (`pkg-config --exists gimpui-2.0
//! json-glib-1.0` fails) the bridge is
//! built without it and a cargo warning says so; `install gimp` then explains how to
//! get it. `AIUPSCALE_NO_GIMP2_PLUGIN=1` skips it on purpose. When the headers are
//! there, a compile error in the plug-in fails the build (it is a bug to fix).

use std::{
    env,
    path::PathBuf,
    process::{Command, Stdio},
};

const SOURCE_DIR: &str = "plugins/gimp-2.10";
/// The plug-in's parts (aiupscale-gimp.h says what each holds).
const SOURCES: [&str; 4] = ["plugin.c", "bridge.c", "dialog.c", "layers.c"];
const PACKAGES: [&str; 2] = ["gimpui-2.0", "json-glib-1.0"];

fn main() {
    println!("cargo::rustc-check-cfg=cfg(gimp2_plugin)");
    println!("cargo::rerun-if-changed={SOURCE_DIR}");
    println!("cargo::rerun-if-changed=build.rs");
    for var in
        ["PKG_CONFIG", "PKG_CONFIG_PATH", "PKG_CONFIG_LIBDIR", "PKG_CONFIG_SYSROOT_DIR", "AIUPSCALE_NO_GIMP2_PLUGIN"]
    {
        println!("cargo::rerun-if-env-changed={var}");
    }

    if env::var_os("AIUPSCALE_NO_GIMP2_PLUGIN").is_some_and(|v| !v.is_empty() && v != "0") {
        println!("cargo::warning=AIUPSCALE_NO_GIMP2_PLUGIN is set: building aiupscale without the GIMP 2.10 plug-in");
        return;
    }
    let (host, target) = (env::var("HOST").unwrap_or_default(), env::var("TARGET").unwrap_or_default());
    if host != target || env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        println!(
            "cargo::warning=the GIMP 2.10 plug-in is only built for native Linux builds; building aiupscale without it"
        );
        return;
    }

    let pkg_config = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into());
    let exists = Command::new(&pkg_config).arg("--exists").args(PACKAGES).stderr(Stdio::null()).status();
    if !matches!(exists, Ok(s) if s.success()) {
        println!(
            "cargo::warning=libgimp2.0-dev or libjson-glib-dev not found (pkg-config --exists {}): building \
             aiupscale without the GIMP 2.10 plug-in; install both (scripts/setup does) and rebuild to get it",
            PACKAGES.join(" ")
        );
        return;
    }
    let flags = match Command::new(&pkg_config).args(["--cflags", "--libs"]).args(PACKAGES).output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        Ok(out) => {
            panic!("pkg-config --cflags --libs {} failed: {}", PACKAGES.join(" "), String::from_utf8_lossy(&out.stderr))
        }
        Err(e) => panic!("cannot run {pkg_config}: {e}"),
    };

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let exe = out_dir.join("aiupscale-gimp-2.10");
    // cc picks the C compiler (CC, the target's gcc/clang) and its base flags; it
    // builds libraries, so the executable is linked by running that compiler here.
    let compiler = cc::Build::new().opt_level(2).debug(false).warnings(false).get_compiler();
    let mut cmd = compiler.to_command();
    cmd.args(SOURCES.map(|s| PathBuf::from(SOURCE_DIR).join(s)))
        .arg("-o")
        .arg(&exe)
        .args(["-std=gnu11", "-Wall", "-Wno-deprecated-declarations", "-Wno-unused-parameter"])
        .args(flags.split_whitespace());
    let output = cmd.output().unwrap_or_else(|e| panic!("cannot run the C compiler {:?}: {e}", compiler.path()));
    if !output.status.success() {
        panic!(
            "compiling the GIMP 2.10 plug-in failed ({cmd:?}):\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    for line in String::from_utf8_lossy(&output.stderr).lines().filter(|l| l.contains("warning:")) {
        println!("cargo::warning=GIMP 2.10 plug-in: {line}");
    }
    println!("cargo::rustc-cfg=gimp2_plugin");
    println!("cargo::rustc-env=AIUPSCALE_GIMP2_PLUGIN={}", exe.display());
}
