//! Progress, phases and cancellation, shared by every long computation (engine runs, clustering,
//! t-SNE, analyses, video export) and by both front ends. Kept free of other crate modules so
//! any layer may use it without an import cycle.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use thiserror::Error;

/// Asks a computation to stop at its next check. Clones share one flag.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// `Err(Cancelled)` once [`cancel`](Self::cancel) was called.
    pub fn check(&self) -> Result<(), Cancelled> {
        check(Some(&self.0))
    }
}

/// Lets every API that takes a plain flag (`&AtomicBool`) take a token too.
impl std::ops::Deref for CancelToken {
    type Target = AtomicBool;

    fn deref(&self) -> &AtomicBool {
        &self.0
    }
}

/// Returned by a computation stopped through its cancellation flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("cancelled")]
pub struct Cancelled;

/// `Err(Cancelled)` when `flag` is set; `None` never cancels.
pub fn check(flag: Option<&AtomicBool>) -> Result<(), Cancelled> {
    match flag {
        Some(flag) if flag.load(Ordering::Relaxed) => Err(Cancelled),
        _ => Ok(()),
    }
}

/// The phases of a clustering that progress is reported for, each from 0 to 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Neighbours,
    SpanningTree,
    Hierarchy,
    Summaries,
}

impl Phase {
    pub fn label(self) -> &'static str {
        match self {
            Phase::Neighbours => "nearest neighbours",
            Phase::SpanningTree => "spanning tree",
            Phase::Hierarchy => "hierarchy",
            Phase::Summaries => "medoids",
        }
    }
}

/// Called with a phase and the fraction of it done; from worker threads, hence `Sync`.
pub type PhaseProgress<'a> = &'a (dyn Fn(Phase, f64) + Sync);

/// Progress reporting and cancellation handed down a multi-phase computation.
#[derive(Default, Clone, Copy)]
pub struct Control<'a> {
    pub cancel: Option<&'a AtomicBool>,
    pub progress: Option<PhaseProgress<'a>>,
}

impl<'a> Control<'a> {
    pub fn new(cancel: Option<&'a AtomicBool>, progress: Option<PhaseProgress<'a>>) -> Self {
        Self { cancel, progress }
    }

    pub fn check(&self) -> Result<(), Cancelled> {
        check(self.cancel)
    }

    /// Reports `fraction` (clamped to 0..=1) of `phase` done.
    pub fn report(&self, phase: Phase, fraction: f64) {
        if let Some(progress) = self.progress {
            progress(phase, fraction.clamp(0.0, 1.0));
        }
    }
}

/// A token that the first Ctrl-C cancels (after printing `message` to stderr); a second Ctrl-C
/// prints `exit_message`, if any, and exits at once with status 130. One handler per process.
pub fn cancel_on_ctrl_c(
    message: &'static str,
    exit_message: Option<&'static str>,
) -> Result<CancelToken, ctrlc::Error> {
    let token = CancelToken::new();
    let handler_token = token.clone();
    ctrlc::set_handler(move || {
        if handler_token.0.swap(true, Ordering::SeqCst) {
            if let Some(exit_message) = exit_message {
                eprintln!("\n{exit_message}");
            }
            std::process::exit(130);
        }
        eprintln!("\n{message}");
    })?;
    Ok(token)
}

/// Elapsed or remaining time for people, rounded to the second: "42 s", "3 min 5 s",
/// "2 h 10 min".
pub fn human_duration(seconds: f64) -> String {
    let seconds = seconds.max(0.0).round() as u64;
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min {} s", seconds / 60, seconds % 60),
        _ => format!("{} h {} min", seconds / 3600, (seconds / 60) % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_the_largest_sensible_units() {
        assert_eq!(human_duration(-3.0), "0 s");
        assert_eq!(human_duration(59.4), "59 s");
        assert_eq!(human_duration(185.0), "3 min 5 s");
        assert_eq!(human_duration(7_830.0), "2 h 10 min");
    }

    #[test]
    fn clones_share_one_flag_and_a_token_is_a_flag() {
        let token = CancelToken::new();
        let clone = token.clone();
        assert_eq!(token.check(), Ok(()));
        let control = Control::new(Some(&token), None);
        assert_eq!(control.check(), Ok(()));
        clone.cancel();
        assert!(token.is_cancelled());
        assert_eq!(token.check(), Err(Cancelled));
        assert_eq!(control.check(), Err(Cancelled));
        assert_eq!(check(None), Ok(()));
    }

    #[test]
    fn reported_fractions_are_clamped() {
        let seen = std::sync::Mutex::new(Vec::new());
        let record = |phase: Phase, fraction: f64| {
            if let Ok(mut seen) = seen.lock() {
                seen.push((phase, fraction));
            }
        };
        let control = Control::new(None, Some(&record));
        control.report(Phase::Hierarchy, 1.5);
        control.report(Phase::Neighbours, -0.5);
        let seen = seen.into_inner().unwrap_or_default();
        assert_eq!(seen, [(Phase::Hierarchy, 1.0), (Phase::Neighbours, 0.0)]);
    }
}
