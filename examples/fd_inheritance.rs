//! Which open files a worker inherits, and two bugs that follow from it under fork: a
//! pipe that never reaches end-of-file, and buffered output written twice.
//!
//! ```text
//! cargo run -q --example fd_inheritance -- fork
//! cargo run -q --example fd_inheritance -- spawn
//! ```
//!
//! Chapter: "Resource management" (src/fd-inheritance.md).

// `mdbook test` passes no `--extern` flags; these make the file compile there too.
extern crate clap;
extern crate forkspawn;
extern crate instruments;
extern crate nix;

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Mutex, OnceLock, PoisonError};

use clap::Parser;
use forkspawn::{Pool, StartMethod, task};
use instruments::inspect;
use instruments::say;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::stat::Mode;

/// A log file the parent writes through a buffer, opened before the workers start.
static LOG: Mutex<Option<BufWriter<File>>> = Mutex::new(None);
static LOG_PATH: OnceLock<PathBuf> = OnceLock::new();

/// A descriptor without close-on-exec, as a shell or a parent program may leave one to
/// the program it starts.
static STRAY: OnceLock<i32> = OnceLock::new();

/// This process's open descriptors, without the ones that reading them opens in `/proc`.
fn open_descriptors() -> Result<Vec<inspect::Descriptor>, String> {
    let mut all =
        inspect::open_descriptors(std::process::id()).map_err(|e| e.to_string())?;
    all.retain(|d| !d.target.starts_with("/proc/"));
    Ok(all)
}

/// Closes every descriptor above the standard streams that this program was started
/// with. Terminals, editors and CI runners leave different ones open; without this the
/// numbers below, and the list itself, would depend on what launched the program.
fn close_what_the_launcher_left() {
    if let Ok(inherited) = inspect::open_descriptors(std::process::id()) {
        for descriptor in inherited.iter().filter(|d| d.fd > 2) {
            // The directory handle that read the list is already closed: EBADF, ignored.
            let _ = nix::unistd::close(descriptor.fd);
        }
    }
}

// ANCHOR: list
/// Prints every descriptor this process holds but the standard streams, as the kernel
/// lists them in `/proc/self/fd`.
fn list_descriptors(_: ()) -> Result<(), String> {
    let log_path = LOG_PATH.get().map(|p| p.display().to_string());
    let stray = STRAY.get().copied();
    let listed: Vec<String> = open_descriptors()?
        .into_iter()
        .filter(|d| d.fd > 2)
        .map(|d| {
            let file_name = Path::new(&d.target)
                .file_name()
                .map(|n| n.to_string_lossy());
            match (Some(&d.target) == log_path.as_ref(), file_name) {
                _ if Some(d.fd) == stray => format!("{} -> the stray", d.fd),
                (true, _) => format!("{} -> the log file", d.fd),
                (false, Some(name)) if d.target.starts_with('/') => {
                    format!("{} -> {name}", d.fd)
                }
                (false, _) => format!("{} -> {}", d.fd, d.target),
            }
        })
        .collect();
    say_in_lines("open descriptors:", listed);
    Ok(())
}
// ANCHOR_END: list

/// Says `title` and the entries, a few per line, so that every line fits the book's width.
fn say_in_lines(title: &str, entries: Vec<String>) {
    let mut lines = vec![title.to_owned()];
    let count = entries.len();
    for (i, mut entry) in entries.into_iter().enumerate() {
        if i + 1 < count {
            entry.push(',');
        }
        let line = lines.last_mut().expect("one line at least");
        if line.len() + entry.len() > 64 {
            lines.push(format!("  {entry}"));
        } else {
            line.push(' ');
            line.push_str(&entry);
        }
    }
    for line in lines {
        say!("{line}");
    }
}

/// Closes descriptor `fd` in this process, if it is open here.
fn close_descriptor(fd: i32) -> String {
    match nix::unistd::close(fd) {
        Ok(()) => format!("closed its copy of descriptor {fd}"),
        Err(errno) => format!("has no descriptor {fd} to close ({errno})"),
    }
}

/// Writes a line through this process's copy of the log writer, if it has one, and
/// flushes it.
fn log_and_flush(who: String) -> String {
    let mut log = LOG.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(log) = log.as_mut() else {
        return "has no log writer: nothing to flush".to_owned();
    };
    let _ = writeln!(log, "written by {who} and flushed");
    match log.flush() {
        Ok(()) => "flushed its log writer".to_owned(),
        Err(e) => format!("cannot flush its log writer: {e}"),
    }
}

/// What a worker inherits of its parent's open files, under fork and spawn.
#[derive(Parser)]
#[command(name = "fd_inheritance")]
struct Args {
    /// How the worker starts
    #[arg(value_parser = instruments::cli::start_method())]
    method: StartMethod,
}

// ANCHOR: main
fn main() -> ExitCode {
    forkspawn::init();
    close_what_the_launcher_left();
    let args: Args = instruments::cli::parse_args();
    instruments::cli::exit_code(run(args.method))
}

fn run(method: StartMethod) -> Result<(), Box<dyn std::error::Error>> {
    // A stray first: /dev/null, opened without close-on-exec (Rust's own `open` would
    // set it). It stands for one left to the program by whoever started it.
    let stray = nix::fcntl::open("/dev/null", OFlag::O_RDONLY, Mode::empty())?;
    STRAY.get_or_init(|| stray.as_raw_fd());
    // Open a file, a pipe, and a log file behind a buffer; then start the worker.
    let project = option_env!("CARGO_MANIFEST_DIR").unwrap_or(".");
    let _file = File::open(Path::new(project).join("Cargo.toml"))?;
    let (mut reader, writer) = io::pipe()?;
    let log_path = LOG_PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("fork-or-spawn-{}.log", std::process::id()))
    });
    let mut log = BufWriter::new(File::create(log_path)?);
    writeln!(
        log,
        "written by the parent before the worker started, not flushed"
    )?;
    *LOG.lock().unwrap_or_else(PoisonError::into_inner) = Some(log);
    let mut pool = Pool::new(method, 1)?;

    say!("1. What each process holds");
    list_descriptors(())?;
    pool.map(task!(list_descriptors), [()])?;

    say!("2. The parent writes a line into the pipe and closes its write end");
    let write_end = writer.as_raw_fd();
    (&writer).write_all(b"hello\n")?;
    drop(writer);
    read_until_end(&mut reader)?;
    let [closed] = pool
        .map(task!(close_descriptor), [write_end])?
        .try_into()
        .unwrap();
    say!("the worker {closed}");
    read_until_end(&mut reader)?;

    say!("3. Parent and worker each write a line to the log and flush");
    let [flushed] = pool
        .map(task!(log_and_flush), ["the worker".to_owned()])?
        .try_into()
        .unwrap();
    say!("the worker {flushed}");
    say!("the parent {}", log_and_flush("the parent".to_owned()));
    pool.shutdown()?;
    let contents = std::fs::read_to_string(log_path)?;
    std::fs::remove_file(log_path)?;
    for line in contents.lines() {
        say!("log: {line}");
    }
    Ok(())
}
// ANCHOR_END: main

// ANCHOR: read
/// Reads the pipe until end-of-file, but waits at most one second for it: end-of-file
/// comes only once every copy of the write end, in every process, is closed.
fn read_until_end(reader: &mut io::PipeReader) -> io::Result<()> {
    let mut received = Vec::new();
    loop {
        let mut ready = [PollFd::new(reader.as_fd(), PollFlags::POLLIN)];
        if poll(&mut ready, PollTimeout::from(1000u16))? == 0 {
            say!(
                "read {:?}, then no end-of-file within 1 s",
                String::from_utf8_lossy(&received)
            );
            return Ok(());
        }
        let mut buffer = [0; 64];
        match reader.read(&mut buffer)? {
            0 => break,
            n => received.extend_from_slice(&buffer[..n]),
        }
    }
    say!(
        "read {:?}, then end-of-file",
        String::from_utf8_lossy(&received)
    );
    Ok(())
}
// ANCHOR_END: read
