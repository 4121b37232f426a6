//! Spawned workers in a test binary, whose `main` is the test harness's, not the program's.
//!
//! A spawned worker or a fork server is this program executed again, and becomes what it
//! is in [`init()`](crate::init). In a test binary nothing calls `init()` on the way:
//! libtest parses the command line, refuses the worker's flag, and exits with code 101.
//! [`test_support!`](crate::test_support!) writes a test that calls `init()`, and enters
//! that test's name into a table the linker builds. A program whose table holds it is
//! started again with the arguments that make the harness run that one test, and nothing
//! else; the worker's flag follows them, after a `--`.

/// The module paths of the program's [`test_support!`](crate::test_support!) tests, as
/// `module_path!()` gives them: `my_crate::tests`.
#[doc(hidden)]
#[linkme::distributed_slice]
pub static TEST_SUPPORT: [&'static str];

/// The name of the test the macro writes.
const TEST_FUNCTION: &str = "forkspawn_test_support";

/// What follows the test's name on a worker's command line in a test binary: that test,
/// alone (libtest's filter matches names exactly, not as substrings), on one thread, its
/// output not captured (a task's `println!` must reach the parent's standard output),
/// with as few words as the harness allows. Last, `--`: what follows it, the worker's
/// flag and arguments, are further test names to the harness, which match no test
/// (`--forkspawn-worker`, `SpawnProcess-1` and a pid are not Rust paths).
pub(crate) const HARNESS_ARGS: [&str; 5] = [
    "--exact",
    "--nocapture",
    "--test-threads=1",
    "--quiet",
    "--",
];

/// Lets a test binary start spawn and forkserver pools: write it once, at the top of an
/// integration test file or in a unit test module (`#[cfg(test)] mod tests`).
///
/// A spawned worker runs `main` up to [`init()`](crate::init), and a test binary's `main`
/// is the harness. This macro writes a test, `forkspawn_test_support`, that calls
/// `init()`: in the ordinary run it passes at once; a worker is started running that
/// test alone, and becomes a worker there.
#[macro_export]
macro_rules! test_support {
    () => {
        #[test]
        fn forkspawn_test_support() {
            $crate::init();
        }

        // Only in the build that has the test: a program without it must be started
        // again as it was.
        #[cfg(test)]
        #[$crate::__private::linkme::distributed_slice($crate::__private::TEST_SUPPORT)]
        #[linkme(crate = $crate::__private::linkme)]
        static FORKSPAWN_TEST_SUPPORT: &'static str = module_path!();
    };
}

/// The harness's name for this program's test-support test, if it has one: its module
/// path without the crate, as libtest lists it (`tests::forkspawn_test_support`).
pub(crate) fn test_name() -> Option<String> {
    let module = TEST_SUPPORT.first()?;
    Some(match module.split_once("::") {
        Some((_crate, path)) => format!("{path}::{TEST_FUNCTION}"),
        None => TEST_FUNCTION.to_owned(),
    })
}

/// Whether `word` is the name of this program's test-support test.
pub(crate) fn is_test_name(word: &str) -> bool {
    test_name().is_some_and(|name| name == word)
}
