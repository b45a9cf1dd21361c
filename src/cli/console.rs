//! Standard output for commands, closed pipes included.
//!
//! `promptgate check | head -40` closes the pipe while the report is still
//! being written. `println!` panics on that; a Unix tool stops writing
//! quietly instead. The command still finishes its work (reports written to
//! files, the gate's verdict as the exit code): only the lines nobody reads
//! are dropped.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes to stdout; after the reader went away, writes nothing.
pub(crate) fn write(args: fmt::Arguments<'_>) -> io::Result<()> {
    let mut stdout = Stdout;
    stdout.write_fmt(args)?;
    stdout.flush()
}

/// Stdout as a writer, for output made in pieces (a streamed report): once
/// the reader went away, everything is accepted and dropped.
pub(crate) struct Stdout;

impl Stdout {
    fn unless_closed<T>(&self, done: T, io: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        if STDOUT_CLOSED.load(Ordering::Relaxed) {
            return Ok(done);
        }
        match io() {
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => {
                STDOUT_CLOSED.store(true, Ordering::Relaxed);
                Ok(done)
            }
            other => other,
        }
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.unless_closed(buf.len(), || io::stdout().lock().write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.unless_closed((), || io::stdout().lock().flush())
    }
}

/// `print!` that returns an error instead of panicking, and stops quietly
/// on a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::console::write(format_args!($($arg)*))?
    };
}

/// `println!` that returns an error instead of panicking, and stops quietly
/// on a closed pipe.
macro_rules! outln {
    () => {
        $crate::cli::console::write(format_args!("\n"))?
    };
    ($($arg:tt)*) => {
        $crate::cli::console::write(format_args!("{}\n", format_args!($($arg)*)))?
    };
}

pub(crate) use {out, outln};
