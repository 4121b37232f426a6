//! What the chapters of *Fork or Spawn* measure and print with: `/proc`, memory
//! ballast, the operating system's floors, the console, the command line. None of it is
//! needed to run a pool, and none of it is forkspawn's: only the book's programs and
//! tests depend on this crate, so a crate that depends on forkspawn compiles none of it
//! (nor clap, nor procfs). Each chapter's program uses the parts it shows.

pub mod ballast;
pub mod cli;
pub mod console;
#[cfg(unix)]
pub mod floors;
#[cfg(target_os = "linux")]
pub mod inspect;
#[cfg(target_os = "linux")]
pub mod memory_scan;
#[cfg(target_os = "linux")]
mod room;
