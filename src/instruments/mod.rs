//! What the chapters measure and print with. None of it is needed to run a pool; each
//! chapter's program uses the parts it shows.

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
