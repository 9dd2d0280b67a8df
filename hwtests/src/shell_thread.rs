//! A daemon's shell run in a thread of the test process (trunkd's, on
//! simulated spans and lines whose far ends the test holds), stopped
//! through the flag the shell polls, and joined when dropped so no test
//! leaves one serving behind it.

use std::fmt::Display;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

#[derive(Debug)]
pub struct ShellThread {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<(), String>>>,
}

impl ShellThread {
    /// Runs `shell` (given the stop flag) in a new thread; its error is
    /// kept with its causes (`{:#}`) for [`ShellThread::stop`].
    pub fn spawn<E: Display>(
        shell: impl FnOnce(Arc<AtomicBool>) -> Result<(), E> + Send + 'static,
    ) -> ShellThread {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || shell(flag).map_err(|e| format!("{e:#}")));
        ShellThread {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops the shell and returns how it ended.
    pub fn stop(mut self) -> Result<(), String> {
        self.finish()
    }

    fn finish(&mut self) -> Result<(), String> {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.take() {
            Some(h) => h
                .join()
                .unwrap_or_else(|_| Err("the shell panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for ShellThread {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_ends_the_loop_and_returns_its_error() {
        let t = ShellThread::spawn(|stop| {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err("port closed")
        });
        assert_eq!(t.stop(), Err("port closed".to_string()));
    }
}
