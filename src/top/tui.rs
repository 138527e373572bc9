//! The interactive terminal: takes the terminal over (raw mode, alternate screen), redraws the
//! [`Model`] when a report, a trouble or a key changes it, and gives the terminal back on every
//! way out: a return, an error (a guard), a panic (ratatui's hook), and SIGTERM or SIGHUP
//! (which quit like `q`; in raw mode Ctrl-C is a key, not SIGINT). Maps the terminal's keys
//! to the model's commands; must not know where reports come from or how they are drawn.

use super::log::LogTail;
use super::model::{Command, List, Model};
use super::render;
use super::source::Event;
use ratatui::crossterm::event::{self, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, TryRecvError};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// How long to wait for a key before looking for reports again.
const TICK: Duration = Duration::from_millis(100);

/// How long a signal leaves the view to quit by itself before the process exits.
const GRACE: Duration = Duration::from_secs(1);

/// Gives the terminal back when dropped, whatever the way out.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Shows `model`, fed by `events` and the warnings `log` keeps, until the user quits; returns
/// the model as it was left.
///
/// # Errors
///
/// When the terminal cannot be set up, read or written.
pub fn run(mut model: Model, events: &mpsc::Receiver<Event>, log: &LogTail) -> io::Result<Model> {
    let signalled = watch_signals()?;
    let mut terminal = ratatui::try_init()?;
    let _restore = Restore;
    let mut dirty = true;
    let mut fed = true;
    while !model.quit {
        if signalled.load(Ordering::Relaxed) {
            model.command(Command::Quit);
            break;
        }
        if dirty {
            terminal.draw(|frame| render::draw(frame, &model))?;
            dirty = false;
        }
        if event::poll(TICK)? {
            match event::read()? {
                event::Event::Key(key) if key.kind != KeyEventKind::Release => {
                    if let Some(command) = command(key) {
                        model.command(command);
                        dirty = true;
                    }
                }
                event::Event::Resize(..) => dirty = true,
                _ => {}
            }
        }
        if let Some(line) = log.take() {
            model.warning = Some(line);
            dirty = true;
        }
        // A source that has gone (the end of the input) leaves its last interval on screen.
        while fed {
            match events.try_recv() {
                Ok(event) => {
                    model.apply(event);
                    dirty = true;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => fed = false,
            }
        }
    }
    Ok(model)
}

/// A flag raised by SIGTERM, SIGHUP or SIGINT, watched on a thread of its own (the engine, if
/// it runs in this process, hears them too and stops); the process exits [`GRACE`] later if
/// the view has not returned by then.
fn watch_signals() -> io::Result<Arc<AtomicBool>> {
    use tokio::signal::unix::{signal, SignalKind};
    let raised = Arc::new(AtomicBool::new(false));
    let flag = raised.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Registered here, before the terminal is taken, so that no signal is missed.
    let signals = runtime.block_on(async {
        Ok::<_, io::Error>([
            signal(SignalKind::terminate())?,
            signal(SignalKind::hangup())?,
            signal(SignalKind::interrupt())?,
        ])
    })?;
    thread::Builder::new()
        .name("hhmon-top-signals".into())
        .spawn(move || {
            let [mut terminate, mut hangup, mut interrupt] = signals;
            runtime.block_on(async {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = hangup.recv() => {}
                    _ = interrupt.recv() => {}
                }
            });
            flag.store(true, Ordering::Relaxed);
            // crossterm spins without end in its read loop once the terminal has hung up, so
            // the view may never see the flag: leave anyway, giving back what is left of it.
            thread::sleep(GRACE);
            ratatui::restore();
            std::process::exit(0);
        })?;
    Ok(raised)
}

/// What `key` asks for, if anything.
pub fn command(key: KeyEvent) -> Option<Command> {
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return (key.code == KeyCode::Char('c')).then_some(Command::Quit);
    }
    Some(match key.code {
        KeyCode::Char('q' | 'Q') | KeyCode::Esc => Command::Quit,
        KeyCode::Char('p' | 'P') => Command::ByPackets,
        KeyCode::Char('b' | 'B') => Command::ByBytes,
        KeyCode::Tab => Command::NextList,
        KeyCode::Char('1') => Command::Focus(List::Flows),
        KeyCode::Char('2') => Command::Focus(List::Sources),
        KeyCode::Char('3') => Command::Focus(List::Destinations),
        KeyCode::Char('4') => Command::Focus(List::SourcePrefixes),
        KeyCode::Char('5') => Command::Focus(List::DestinationPrefixes),
        KeyCode::Char(' ') => Command::TogglePause,
        KeyCode::Left => Command::Older,
        KeyCode::Right => Command::Newer,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> Option<Command> {
        command(KeyEvent::new(code, modifiers))
    }

    #[test]
    fn keys_map_to_commands() {
        let plain = KeyModifiers::NONE;
        assert_eq!(key(KeyCode::Char('q'), plain), Some(Command::Quit));
        assert_eq!(
            key(KeyCode::Char('c'), KeyModifiers::CONTROL),
            Some(Command::Quit)
        );
        assert_eq!(key(KeyCode::Char('b'), plain), Some(Command::ByBytes));
        assert_eq!(key(KeyCode::Char('p'), plain), Some(Command::ByPackets));
        assert_eq!(key(KeyCode::Tab, plain), Some(Command::NextList));
        assert_eq!(
            key(KeyCode::Char('2'), plain),
            Some(Command::Focus(List::Sources))
        );
        assert_eq!(
            key(KeyCode::Char('4'), plain),
            Some(Command::Focus(List::SourcePrefixes))
        );
        assert_eq!(
            key(KeyCode::Char('5'), plain),
            Some(Command::Focus(List::DestinationPrefixes))
        );
        assert_eq!(key(KeyCode::Char('6'), plain), None);
        assert_eq!(key(KeyCode::Char(' '), plain), Some(Command::TogglePause));
        assert_eq!(key(KeyCode::Left, plain), Some(Command::Older));
        assert_eq!(key(KeyCode::Char('x'), plain), None);
        assert_eq!(key(KeyCode::Char('b'), KeyModifiers::CONTROL), None);
    }
}
