//! A background thread whose result the UI picks up once it has finished, without blocking.

use std::thread::JoinHandle;

pub struct Task {
    handle: Option<JoinHandle<Result<String, String>>>,
    what: &'static str,
}

impl Task {
    /// Runs `work` on its own thread; `what` names it in the error if the thread panics.
    pub fn spawn(
        what: &'static str,
        work: impl FnOnce() -> Result<String, String> + Send + 'static,
    ) -> Self {
        Self {
            handle: Some(std::thread::spawn(work)),
            what,
        }
    }

    /// The outcome once the thread has finished; `None` while it runs (or once taken).
    pub fn finished(&mut self) -> Option<Result<String, String>> {
        if !self.handle.as_ref().is_some_and(JoinHandle::is_finished) {
            return None;
        }
        let handle = self.handle.take()?;
        Some(
            handle
                .join()
                .unwrap_or_else(|_| Err(format!("the {} thread crashed", self.what))),
        )
    }
}
