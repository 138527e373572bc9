//! A long-running child process (hhmon, Prometheus) that dies with the test, however the test
//! ends. Shared by both test binaries; knows nothing of what the child is.

use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// A child killed when dropped if it is still running.
pub struct Running {
    child: Child,
}

impl Running {
    /// Takes charge of `child`.
    pub fn new(child: Child) -> Self {
        Self { child }
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child itself, to take its pipes or poll it.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Sends SIGTERM (hhmon's orderly shutdown); fails the test if the signal cannot be sent.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM {}", self.child.id());
    }

    /// Waits up to `limit` for the child to exit: its status, or `None` if it still runs (the
    /// caller fails the test with what it knows; dropping `self` then kills the child).
    pub fn wait_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if started.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGTERM, then up to `limit` for the child to exit; fails the test if it does not.
    pub fn stop(&mut self, limit: Duration) -> ExitStatus {
        self.terminate();
        self.wait_within(limit)
            .unwrap_or_else(|| panic!("the child ignored SIGTERM for {limit:?}"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
