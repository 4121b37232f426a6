//! Copy-on-write, measured: what a forked worker's writes cost, and what they cost the
//! parent afterwards.
//!
//! The parent writes `--parent-mib` MiB of memory and starts one worker, which writes one
//! byte in `--write-percent` of those pages. The kernel counts the page faults and the
//! worker's private memory. After the worker has exited, the parent writes all its pages
//! again, and counts its own faults.
//!
//! ```text
//! cargo run -q --example copy_on_write -- fork
//! cargo run -q --example copy_on_write -- spawn --write-percent 100
//! cargo run -q --example copy_on_write -- fork --huge-pages
//! ```
//!
//! Chapter: "Copy-on-write" (src/copy-on-write.md).

// `mdbook test` passes no `--extern` flags; these make the file compile there too.
extern crate clap;
extern crate forkspawn;
extern crate instruments;

use std::process::ExitCode;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use clap::Parser;
use forkspawn::{Pool, StartMethod, task};
use instruments::ballast::{self, Ballast};
use instruments::inspect::{self, Mib};
use instruments::say;

/// The parent's data: written by the parent before the worker starts.
static BALLAST: Mutex<Option<Ballast>> = Mutex::new(None);

// ANCHOR: measure
/// Writes one byte in each of `pages` pages of the ballast, if this process has one, and
/// says what the kernel counted meanwhile: page faults, and this process's private memory.
fn write_and_count(pages: usize) -> std::io::Result<()> {
    let mut ballast = BALLAST.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(ballast) = ballast.as_mut() else {
        say!("this process holds none of the parent's data: nothing to copy");
        return Ok(());
    };
    let me = std::process::id();
    let (faults_before, private_before) = (inspect::minor_faults(me)?, private(me)?);
    let started = Instant::now();
    let written = ballast.write_pages(pages);
    let took = started.elapsed().as_millis();
    let faults = inspect::minor_faults(me)? - faults_before;
    let grown = private(me)?.0.saturating_sub(private_before.0);
    let unit = if faults == 1 { "fault" } else { "faults" };
    say!("wrote 1 byte in each of {written} pages in {took} ms: {faults} {unit}");
    say!("private memory grew by {}", Mib(grown));
    if written == 0 {
        return Ok(());
    }
    let page = instruments::ballast::page_size() as u64;
    say!(
        "{}; {}",
        faults_per_page(faults, written),
        copied_per_page(grown, written as u64 * page)
    );
    Ok(())
}
// ANCHOR_END: measure

fn private(pid: u32) -> std::io::Result<Mib> {
    Ok(inspect::memory_usage(pid)?.uss)
}

/// How much of the data the kernel put in huge pages, in words.
fn huge_share(huge: Mib, data: Mib) -> &'static str {
    match huge.0 {
        0 => "all of it is in 4 KiB pages",
        h if h >= data.0 * 9 / 10 => "all of it, or nearly",
        _ => "some of it",
    }
}

/// Faults per page written, in words: the figure itself varies a little from run to run.
fn faults_per_page(faults: u64, pages: usize) -> &'static str {
    about_none_or_one(
        faults as f64 / pages as f64,
        [
            "almost no fault per page written",
            "one fault per page written",
        ],
    )
    .unwrap_or("neither one fault per page nor none")
}

/// Bytes that became private per byte written, in words.
fn copied_per_page(grown: u64, written: u64) -> &'static str {
    about_none_or_one(
        grown as f64 / written as f64,
        [
            "almost nothing was copied",
            "one page copied per page written",
        ],
    )
    .unwrap_or("a copy of another size than what was written")
}

/// The first words for a ratio near 0, the second for a ratio near 1, none otherwise.
fn about_none_or_one(
    ratio: f64,
    [none, one]: [&'static str; 2],
) -> Option<&'static str> {
    match ratio {
        r if r < 0.05 => Some(none),
        r if (0.9..1.2).contains(&r) => Some(one),
        _ => None,
    }
}

/// The worker's task: write `percent` % of the parent's pages.
fn write_share(percent: u8) -> Result<(), String> {
    let pages = BALLAST
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .map_or(0, |b| b.pages() * usize::from(percent) / 100);
    say!("writes {percent}% of the parent's data");
    write_and_count(pages).map_err(|e| e.to_string())
}

/// What a worker's writes to its parent's memory cost, under fork and spawn.
#[derive(Parser)]
#[command(name = "copy_on_write")]
struct Args {
    /// How the worker starts
    #[arg(value_parser = instruments::cli::start_method())]
    method: StartMethod,
    /// How much memory the parent writes before it starts the worker, in MiB
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u16).range(16..))]
    parent_mib: u16,
    /// Ask for the parent's data in transparent huge pages (2 MiB) instead of 4 KiB pages
    #[arg(long)]
    huge_pages: bool,
    /// How much of the parent's data the worker writes, in percent
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u8).range(0..=100))]
    write_percent: u8,
}

// ANCHOR: main
fn main() -> ExitCode {
    forkspawn::init();
    let args: Args = instruments::cli::parse_args();
    instruments::cli::exit_code(run(&args))
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    // A forked worker's writes copy pages: the machine must hold those copies too.
    ballast::fits_with_copy(args.parent_mib.into(), args.write_percent)?;
    let ballast = match args.huge_pages {
        true => Ballast::with_huge_pages(args.parent_mib.into())?,
        false => Ballast::new(args.parent_mib.into())?,
    };
    let (pages, data) = (ballast.pages(), Mib(ballast.len() as u64));
    say!("the parent writes {data} of data: {pages} pages");
    let huge = inspect::memory_usage(std::process::id())?.huge;
    say!("{huge} of it in huge pages: {}", huge_share(huge, data));
    *BALLAST.lock().unwrap_or_else(PoisonError::into_inner) = Some(ballast);

    let started = Instant::now();
    let mut pool = Pool::new(args.method, 1)?;
    // Until `Pool::new` returns: a spawned worker's own start (the new program's loading
    // and `main` up to `init()`) comes after, while the parent goes on.
    say!(
        "Pool::new returned after {} µs",
        started.elapsed().as_micros()
    );
    pool.map(task!(write_share), [args.write_percent])?
        .into_iter()
        .collect::<Result<(), String>>()?;
    pool.shutdown()?;

    say!("the worker has exited; the parent writes all its pages once more");
    write_and_count(pages)?;
    Ok(())
}
// ANCHOR_END: main
