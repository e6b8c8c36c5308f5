//! SIGTERM and SIGINT set the core's cancel flag: the run stops before the next tile,
//! its temp file is removed (dropped), nothing is written, and the process exits with
//! 128 + the signal number: 143 for SIGTERM, 130 for SIGINT. A second signal while
//! the first is being handled ends the process at once (the default action).

use std::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
    Arc, OnceLock,
};

use signal_hook::consts::{SIGINT, SIGTERM};

pub struct Cancel {
    flag: Arc<AtomicBool>,
    signal: Arc<AtomicUsize>,
}

impl Cancel {
    /// The flag to hand to the core's [`aiupscale_core::Control`].
    pub fn flag(&self) -> &AtomicBool {
        &self.flag
    }

    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// The name of the signal that cancelled the run.
    pub fn signal_name(&self) -> &'static str {
        if self.signal.load(Ordering::Relaxed) == SIGINT as usize {
            "SIGINT"
        } else {
            "SIGTERM"
        }
    }

    /// Says that the run was cancelled (a JSON line with `json`, else plain text on
    /// stderr) and returns the exit code for it.
    pub fn report(&self, json: bool) -> std::process::ExitCode {
        let message = format!("cancelled by {}; no output written", self.signal_name());
        if json {
            crate::progress::json_line(
                &serde_json::json!({ "error": message, "cancelled": true, "signal": self.signal_name() }),
            );
        } else {
            eprintln!("aiupscale: {message}");
        }
        std::process::ExitCode::from(self.exit_code())
    }

    /// 130 after SIGINT, 143 after SIGTERM (the shell's 128 + signal).
    pub fn exit_code(&self) -> u8 {
        let signal = self.signal.load(Ordering::Relaxed);
        let signal = if signal == 0 { SIGTERM as usize } else { signal };
        (128 + signal).min(255) as u8
    }
}

/// Installs the handlers (once) and returns the shared flag.
pub fn install() -> &'static Cancel {
    static CANCEL: OnceLock<Cancel> = OnceLock::new();
    CANCEL.get_or_init(|| {
        let cancel = Cancel { flag: Arc::new(AtomicBool::new(false)), signal: Arc::new(AtomicUsize::new(0)) };
        for signal in [SIGTERM, SIGINT] {
            // Order matters: the conditional default runs first, so only a second
            // signal (flag already set) terminates the process.
            let registered = signal_hook::flag::register_conditional_default(signal, Arc::clone(&cancel.flag))
                .and_then(|_| signal_hook::flag::register_usize(signal, Arc::clone(&cancel.signal), signal as usize))
                .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&cancel.flag)));
            if let Err(e) = registered {
                eprintln!("warning: cannot handle signal {signal} ({e}); cancelling will leave no clean state");
            }
        }
        cancel
    })
}
