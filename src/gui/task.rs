//! A background thread whose result the UI picks up once it has finished, without blocking.

use std::thread::JoinHandle;

/// `T` is what the work returns on success: a message by default, or a whole result.
pub struct Task<T = String> {
    handle: Option<JoinHandle<Result<T, String>>>,
    what: &'static str,
}

impl<T: Send + 'static> Task<T> {
    /// Runs `work` on its own thread; `what` names it in the error if the thread panics.
    pub fn spawn(
        what: &'static str,
        work: impl FnOnce() -> Result<T, String> + Send + 'static,
    ) -> Self {
        Self {
            handle: Some(std::thread::spawn(work)),
            what,
        }
    }

    /// The outcome once the thread has finished; `None` while it runs (or once taken).
    pub fn finished(&mut self) -> Option<Result<T, String>> {
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
