//! One thin driver per subcommand: set up, run the engine (or the merge, or the generator),
//! print the closing summary and decide the exit status. None reads packets, counts or renders
//! a report itself: that is the engine's, the monitor's and the sinks' work.

pub mod capture;
pub mod collect;
pub mod generate;
pub mod merge;
pub mod replay;
pub mod top;

/// How a subcommand ended, as the process's exit status (as ripgrep does for partial errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// Everything asked for was done: every input was read.
    Done = 0,
    /// Nothing could be done: no input could be read, or the set-up failed.
    Failed = 1,
    /// Some inputs could not be read (each was reported); the others were counted. Also a bad
    /// command line or configuration file, before anything ran.
    Partial = 2,
}

/// Prints `error` as the binary's one failure line.
fn fail(error: &dyn std::fmt::Display) -> Status {
    eprintln!("hhmon: {error:#}");
    Status::Failed
}
