//! Command-line plumbing shared by the book's programs: one-line errors, never a
//! backtrace, and the start method read the same way by every program.

use std::fmt::Display;
use std::process::ExitCode;

use clap::Parser;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::error::ErrorKind;
use forkspawn::StartMethod;

/// Parses the command line (without a spawned worker's flag and name). `--help` prints
/// help and exits 0; a bad argument prints one line, `error: …`, and exits with code 2.
pub fn parse_args<A: Parser>() -> A {
    match A::try_parse_from(forkspawn::program_args()) {
        Ok(args) => args,
        Err(error)
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) =>
        {
            error.exit()
        }
        Err(error) => {
            say_error(&one_line(&error.render().to_string()));
            std::process::exit(2)
        }
    }
}

/// Reads an argument as a start method, by the name [`StartMethod`]'s `FromStr` reads:
/// `#[arg(value_parser = instruments::cli::start_method())]`. `--help` lists the methods,
/// each with what it does, and a name that is none of them is answered with the list and
/// the nearest name (`error: invalid value 'frok' for '<METHOD>' [possible values: fork,
/// spawn, forkserver] tip: a similar value exists: 'fork'`).
pub fn start_method() -> impl TypedValueParser<Value = StartMethod> {
    let methods = [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::Forkserver,
    ];
    let names = methods
        .map(|method| PossibleValue::new(method.as_str()).help(what_it_does(method)));
    PossibleValuesParser::new(names).try_map(|name| name.parse::<StartMethod>())
}

/// A start method in one line, for `--help`.
fn what_it_does(method: StartMethod) -> &'static str {
    match method {
        StartMethod::Fork => {
            "Copy the running parent with `fork()`; the copy serves tasks at once"
        }
        StartMethod::Spawn => {
            "Execute this program again; it runs `main` until `forkspawn::init()`, then serves tasks"
        }
        StartMethod::Forkserver => {
            "Ask a fork server to fork the worker: a copy of the server, which is this program \
             executed again (as by spawn), stopped at `forkspawn::init()`"
        }
    }
}

/// Folds clap's several-line message into one: the error, its hints, and where to look.
fn one_line(message: &str) -> String {
    let parts: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("For more information"))
        .filter(|line| !line.starts_with("Usage:"))
        .collect();
    format!("{} (see --help)", parts.join(" "))
}

/// Ends `main`: prints an error as one line on standard error and exits with code 1.
pub fn exit_code(result: Result<(), impl Display>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            say_error(&format!("error: {error}"));
            ExitCode::FAILURE
        }
    }
}

/// Writes one line on standard error, if it can: `eprintln!` panics when standard error
/// is a pipe that nobody reads any more (`2>&1 | head -1`), which would turn a one-line
/// error into a panic and exit code 101.
fn say_error(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn folds_clap_messages_into_one_line() {
        let clap = "error: invalid value 'frok' for '<METHOD>'\n  [possible values: fork, spawn]\n\n  \
                    tip: a similar value exists: 'fork'\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line(clap),
            "error: invalid value 'frok' for '<METHOD>' [possible values: fork, spawn] \
             tip: a similar value exists: 'fork' (see --help)"
        );
    }
}
