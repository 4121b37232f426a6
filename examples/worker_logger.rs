//! Logging from workers under fork and spawn: the article's second example, with tracing.
//!
//! The parent sets up logging and logs a line; two workers each log a line from a task.
//! Whose subscriber receives the workers' events, if any? And what does an initializer
//! that sets up logging again do in a forked worker?
//!
//! ```text
//! cargo run -q --example worker_logger -- spawn
//! cargo run -q --example worker_logger -- spawn --initializer
//! cargo run -q --example worker_logger -- fork --separate-module
//! cargo run -q --example worker_logger -- fork --initializer --logging add-output
//! ```
//!
//! Chapter: "A worker logger" (src/worker-logger.md).

// `mdbook test` passes no `--extern` flags; these make the file compile there too.
extern crate clap;
extern crate forkspawn;
extern crate instruments;
extern crate tracing;
extern crate tracing_subscriber;

use std::fmt;
use std::io::Write as _;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use forkspawn::{Initializer, Pool, PoolError, StartMethod, current_process_name};
use forkspawn::{initializer, task};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry, reload};

// ANCHOR: format
/// Formats an event as `<process> - <target>:   <message>`, the analogue of the
/// article's `'%(processName)s - %(name)s:   %(message)s'`.
struct ProcessFormat;

impl<S, N> FormatEvent<S, N> for ProcessFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let target = event.metadata().target();
        write!(writer, "{} - {target}:   ", current_process_name())?;
        context
            .field_format()
            .format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// One output for log lines, the analogue of a Python logging handler.
type Output = Box<dyn Layer<Registry> + Send + Sync>;

/// Standard output, in the format above. Colour only on a terminal: tracing-subscriber
/// would otherwise write escape codes into a pipe.
fn output() -> Output {
    tracing_subscriber::fmt::layer()
        .event_format(ProcessFormat)
        .with_ansi(instruments::console::colour_enabled())
        .with_writer(std::io::stdout)
        .boxed()
}
// ANCHOR_END: format

// ANCHOR: logger_id
/// The "logger id": the address of the registry at the root of the subscriber that
/// receives this process's events — the analogue of Python's root logger, where the
/// article's handlers hang.
fn logger_id() -> String {
    tracing::dispatcher::get_default(|dispatch| {
        match dispatch.downcast_ref::<Registry>() {
            Some(registry) => format!("{:p}", registry),
            None => "none".to_owned(),
        }
    })
}
// ANCHOR_END: logger_id

// ANCHOR: designs
/// The usual Rust way: install a global subscriber. A process has one at most: a second
/// call fails, and this one panics then, as `init()` would.
fn init_logging() {
    if tracing_subscriber::registry()
        .with(output())
        .try_init()
        .is_err()
    {
        panic!("already set");
    }
}

/// Python's way: a root whose list of outputs can grow; each call adds one output, as
/// `root.addHandler(handler)` does.
fn add_log_output() {
    static OUTPUTS: OnceLock<reload::Handle<Vec<Output>, Registry>> = OnceLock::new();
    let outputs = OUTPUTS.get_or_init(|| {
        let (outputs, handle) = reload::Layer::new(Vec::new());
        tracing_subscriber::registry().with(outputs).init();
        handle
    });
    outputs
        .modify(|list| list.push(output()))
        .expect("the subscriber lives as long as the process");
}

/// Right under every start method: a forked worker inherits its parent's subscriber, so
/// install one only where there is none.
fn init_logging_once() {
    if !tracing::dispatcher::has_been_set() {
        init_logging();
    }
}
// ANCHOR_END: designs

// ANCHOR: tasks
/// The task: wait `count` seconds, then log through whatever this process has.
fn call_logger(count: u64) {
    thread::sleep(Duration::from_secs(count));
    tracing::debug!("Logger(id: {}): function executed.", logger_id());
}

/// The same task in a module of its own, so its events carry another target.
mod separate {
    use std::thread;
    use std::time::Duration;

    pub fn call_logger(count: u64) {
        thread::sleep(Duration::from_secs(count));
        tracing::debug!("Logger(id: {}): function executed.", super::logger_id());
    }
}
// ANCHOR_END: tasks

/// How the program sets up logging, in the parent and, with `--initializer`, in workers.
#[derive(Clone, Copy, ValueEnum)]
enum Logging {
    /// Install a global subscriber (`init_logging`)
    Global,
    /// Add an output to a growable root, as Python's `addHandler` (`add_log_output`)
    AddOutput,
    /// Install a global subscriber unless there is one (`init_logging_once`)
    Once,
}

impl Logging {
    fn set_up(self) {
        match self {
            Logging::Global => init_logging(),
            Logging::AddOutput => add_log_output(),
            Logging::Once => init_logging_once(),
        }
    }

    fn as_initializer(self) -> Initializer {
        match self {
            Logging::Global => initializer!(init_logging),
            Logging::AddOutput => initializer!(add_log_output),
            Logging::Once => initializer!(init_logging_once),
        }
    }
}

/// Logging in workers under fork and spawn: whose subscriber gets the workers' events?
#[derive(Parser)]
#[command(name = "worker_logger")]
struct Args {
    /// How the two workers start
    #[arg(value_parser = instruments::cli::start_method())]
    method: StartMethod,
    /// Set up logging in every worker too, as the pool's initializer
    #[arg(long)]
    initializer: bool,
    /// How logging is set up
    #[arg(long, value_enum, default_value = "global")]
    logging: Logging,
    /// Run the task from a module of its own, whose events have another target
    #[arg(long)]
    separate_module: bool,
}

// ANCHOR: main
fn main() -> ExitCode {
    // "Module scope": runs in the parent and again in every spawned worker.
    // Piped into `head`, standard output may close early: no reason to fail.
    let _ = writeln!(
        std::io::stdout(),
        "{} - {} - Print[MODULE SCOPE]: module scope reached.",
        current_process_name(),
        module_path!()
    );
    forkspawn::init();
    let args: Args = instruments::cli::parse_args();
    args.logging.set_up();
    tracing::debug!(
        "Logger(id: {}): starting workers by '{}'",
        logger_id(),
        args.method
    );
    instruments::cli::exit_code(run(&args))
}

fn run(args: &Args) -> Result<(), PoolError> {
    let mut pool = Pool::builder(args.method).workers(2);
    if args.initializer {
        pool = pool.initializer(args.logging.as_initializer());
    }
    let mut pool = pool.start()?;
    if args.separate_module {
        pool.map(task!(separate::call_logger), [1, 2])?;
    } else {
        pool.map(task!(call_logger), [1, 2])?;
    }
    pool.shutdown()
}
// ANCHOR_END: main
