//! A background thread whose result reaches the UI through a channel. The thread wakes the UI
//! after sending, so a result is shown even when no input event arrives.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, TryRecvError};

use eframe::egui;

/// `T` is what the work returns on success: a message by default, or a whole result.
pub struct Task<T = String> {
    receiver: Option<Receiver<Result<T, String>>>,
    what: &'static str,
}

/// The text of a panic payload, when it carries one.
fn panic_text(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

impl<T: Send + 'static> Task<T> {
    /// Runs `work` on its own thread; `what` names it in the error if the thread panics or
    /// cannot start. When the work ends, its result is sent and then `ctx` is asked to repaint.
    pub fn spawn(
        ctx: &egui::Context,
        what: &'static str,
        work: impl FnOnce() -> Result<T, String> + Send + 'static,
    ) -> Self {
        let (sender, receiver) = mpsc::channel();
        let worker_sender = sender.clone();
        let ctx = ctx.clone();
        let started = std::thread::Builder::new()
            .name(what.to_owned())
            .spawn(move || {
                let outcome = catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|payload| {
                    Err(match panic_text(payload.as_ref()) {
                        Some(text) => format!("the {what} thread crashed: {text}"),
                        None => format!("the {what} thread crashed"),
                    })
                });
                // A closed receiver means the panel that asked is gone; nothing to show then.
                let _ = worker_sender.send(outcome);
                ctx.request_repaint();
            });
        if let Err(error) = started {
            let _ = sender.send(Err(format!("could not start the {what} thread: {error}")));
        }
        Self {
            receiver: Some(receiver),
            what,
        }
    }

    /// The outcome once the work has ended; `None` while it runs (or once taken).
    pub fn finished(&mut self) -> Option<Result<T, String>> {
        let outcome = match self.receiver.as_ref()?.try_recv() {
            Ok(outcome) => outcome,
            Err(TryRecvError::Empty) => return None,
            Err(TryRecvError::Disconnected) => {
                Err(format!("the {} thread ended without a result", self.what))
            }
        };
        self.receiver = None;
        Some(outcome)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use egui_kittest::kittest::Queryable;

    use super::*;

    fn wait_for<T: Send + 'static>(task: &mut Task<T>) -> Result<T, String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(outcome) = task.finished() {
                return outcome;
            }
            assert!(Instant::now() < deadline, "the task never finished");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn the_result_arrives_and_the_ui_is_woken_after_it_was_sent() {
        let ctx = egui::Context::default();
        let repaints = Arc::new(AtomicUsize::new(0));
        let counter = repaints.clone();
        ctx.set_request_repaint_callback(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let mut task = Task::spawn(&ctx, "sum", || Ok::<_, String>(2 + 2));
        assert_eq!(wait_for(&mut task), Ok(4));
        // The wake-up follows the send; give the thread a moment to make it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while repaints.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "the UI was never woken");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(task.finished().is_none(), "a result is delivered once");
    }

    #[derive(Default)]
    struct Panel {
        task: Option<Task<String>>,
        started: bool,
        shown: Option<String>,
    }

    fn panel_ui(ui: &mut egui::Ui, panel: &mut Panel) {
        if !panel.started {
            panel.started = true;
            panel.task = Some(Task::spawn(ui.ctx(), "slow job", || {
                std::thread::sleep(Duration::from_millis(300));
                Ok("layout ready".to_owned())
            }));
        }
        if let Some(outcome) = panel.task.as_mut().and_then(Task::finished) {
            panel.shown = Some(outcome.unwrap_or_else(|error| error));
        }
        ui.label(panel.shown.as_deref().unwrap_or("working…"));
    }

    #[test]
    fn a_job_finishing_while_no_input_arrives_wakes_the_ui_and_its_result_is_shown() {
        let mut harness = egui_kittest::Harness::new_ui_state(panel_ui, Panel::default());
        harness.step();
        // Like a real event loop: a frame only when one was requested, and no input at all.
        let deadline = Instant::now() + Duration::from_secs(10);
        while harness.state().shown.is_none() {
            assert!(
                Instant::now() < deadline,
                "the finished result was never shown: nothing woke the idle UI"
            );
            if harness.ctx.has_requested_repaint() {
                harness.step();
            } else {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        assert_eq!(harness.state().shown.as_deref(), Some("layout ready"));
        harness.get_by_label("layout ready");
    }

    #[test]
    fn a_panicking_job_is_reported_as_an_error_naming_it() {
        let ctx = egui::Context::default();
        let mut task: Task<u32> = Task::spawn(&ctx, "layout", || panic!("grid is empty"));
        let error = wait_for(&mut task).expect_err("a panic is an error");
        assert!(error.contains("layout"), "{error}");
        assert!(error.contains("grid is empty"), "{error}");
    }
}
