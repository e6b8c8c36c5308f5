//! The quality regression check of the test suite: the quick form of `quality-eval`
//! (two real photos, bicubic x2/x4, every catalog model, bicubic and Lanczos) run in-process
//! against docs/quality/recorded-quick.json. Re-record after an intended change with
//! `cargo run --release -p aiupscale-tests --bin quality-eval -- --quick`.

use aiupscale_tests::quality::{check, evaluate, Config, Margins, Recorded};

#[test]
fn quick_quality_has_not_regressed() {
    let config = Config::quick();
    let recorded = Recorded::load(&config.recorded_path()).unwrap_or_else(|e| panic!("{e:#}"));
    let eval = evaluate(&config).unwrap_or_else(|e| panic!("{e:#}"));
    let failures = check(&recorded, &eval.recorded, Margins::default());
    assert!(
        failures.is_empty(),
        "quality regressions against {}:\n  {}",
        config.recorded_path().display(),
        failures.join("\n  ")
    );
}

#[test]
fn the_check_catches_a_lowered_copy_of_the_recorded_figures() {
    let config = Config::quick();
    let recorded = Recorded::load(&config.recorded_path()).unwrap_or_else(|e| panic!("{e:#}"));
    assert!(check(&recorded, &recorded, Margins::default()).is_empty());
    for (task, method) in [(0, 2), (1, recorded.tasks[1].methods.len() - 1)] {
        let mut lowered = recorded.clone();
        let m = &mut lowered.tasks[task].methods[method];
        m.psnr -= 0.15;
        let name = format!("{} {}: mean PSNR", lowered.tasks[task].task, lowered.tasks[task].methods[method].method);
        let failures = check(&recorded, &lowered, Margins::default());
        assert!(failures.len() == 1 && failures[0].starts_with(&name), "{failures:?}");
        let mut lowered = recorded.clone();
        lowered.tasks[task].methods[method].ssim -= 0.003;
        assert_eq!(check(&recorded, &lowered, Margins::default()).len(), 1);
    }
}
