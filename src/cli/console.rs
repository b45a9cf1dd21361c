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
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut stdout = io::stdout().lock();
    match stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        other => other,
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
