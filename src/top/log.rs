//! The process's warnings while the view owns the terminal: a log line written there would tear
//! the screen, so each is kept instead, the latest shown on the status line. A `tracing` writer;
//! knows nothing of what is logged or how it is shown.

use std::io;
use std::sync::{Arc, Mutex};
use tracing_subscriber::fmt::MakeWriter;

/// The latest log line, shared between the logger and the view.
#[derive(Clone, Debug, Default)]
pub struct LogTail(Arc<Mutex<Option<String>>>);

impl LogTail {
    /// The latest line logged, once, or `None` if nothing new came since the last call.
    pub fn take(&self) -> Option<String> {
        self.0.lock().ok().and_then(|mut line| line.take())
    }
}

/// One log event's text, kept when the logger is done writing it.
pub struct LogLine {
    tail: LogTail,
    text: Vec<u8>,
}

impl io::Write for LogLine {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.text.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.text);
        let mut text = text.trim();
        // The status line has no room for the timestamp: what is shown is happening now.
        if let Some((first, rest)) = text.split_once(' ') {
            if first.starts_with(|c: char| c.is_ascii_digit()) && first.ends_with('Z') {
                text = rest.trim_start();
            }
        }
        if text.is_empty() {
            return;
        }
        if let Ok(mut line) = self.tail.0.lock() {
            *line = Some(text.to_owned());
        }
    }
}

impl<'a> MakeWriter<'a> for LogTail {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine {
            tail: self.clone(),
            text: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn the_latest_whole_line_is_kept_and_taken_once() {
        let tail = LogTail::default();
        assert_eq!(tail.take(), None);
        for text in ["first\n", "2026-12-04T13:30:00.1Z  WARN second", " part\n"] {
            let mut line = tail.make_writer();
            line.write_all(text.as_bytes()).unwrap();
            if text.ends_with("second") {
                line.write_all(b" part\n").unwrap();
                drop(line);
                break;
            }
        }
        assert_eq!(tail.take().as_deref(), Some("WARN second part"));
        assert_eq!(tail.take(), None);
    }
}
