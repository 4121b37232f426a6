//! Tasks: functions a worker can be asked to run, found by name.
//!
//! Python sends a function to a worker by pickling its qualified name
//! (`module.function`); the worker imports the module and looks the name up. A Rust
//! program cannot look a function up by name at run time, and it must not send a
//! function pointer either: a spawned worker is a new execution of the program, loaded
//! at a different random address. So every function handed to the pool is entered, at
//! link time, into one table of the program ([`TASKS`]) under its qualified name, and
//! only that name crosses the process boundary.

use std::any::TypeId;
use std::fmt::Display;
use std::marker::PhantomData;
use std::time::Duration;

use crate::worker::wire::{self, Bytes};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// One row of the program's task table: the function's name, whether it is an
/// initializer, and a function that decodes the input, calls it and encodes its result.
#[doc(hidden)]
pub struct TaskEntry {
    pub name: fn() -> &'static str,
    /// The function itself, as a type: every `task!` of one function gives the same, and
    /// two functions that share a name (`fn f` in two blocks, or in two versions of one
    /// crate) give different ones.
    pub identity: fn() -> TypeId,
    pub initializer: bool,
    /// Where its `task!` or `initializer!` is written, `file:line`, for an error that
    /// must tell two functions of one name apart.
    pub written_at: &'static str,
    pub run: fn(&Bytes) -> Result<Bytes, String>,
}

impl TaskEntry {
    /// Whether this entry is the one a request names: `path::to::f` for a task,
    /// `path::to::f()` for an initializer.
    #[cfg(any(unix, windows))]
    fn answers_to(&self, wanted: &str) -> bool {
        let name = (self.name)();
        match self.initializer {
            false => wanted == name,
            true => wanted.strip_suffix("()") == Some(name),
        }
    }
}

/// The full path of a function, as the compiler knows it: two different functions never
/// share one, however the code that names them imports them (`use one::f` and
/// `use two::f` both write `f`).
#[doc(hidden)]
pub fn name_of<F>(_function: &F) -> &'static str {
    std::any::type_name::<F>()
}

/// Which function this is: each function has a type of its own.
#[doc(hidden)]
pub fn identity_of<F: 'static>(_function: &F) -> TypeId {
    TypeId::of::<F>()
}

/// The table the linker fills with every `task!` and `initializer!` of the program.
#[doc(hidden)]
#[linkme::distributed_slice]
pub static TASKS: [TaskEntry];

// ANCHOR: task
/// A function that a pool can run in its workers: `fn(I) -> O`, known by its qualified
/// name.
///
/// Make one with [`task!`](crate::task!); the macro also enters the function into the
/// program's task table, so that a spawned worker can find it.
///
/// How a call runs it is the task's too, as Python's `map(fn, iterable, chunksize=…,
/// timeout=…)`: `task!(square).chunksize(64).timeout(Duration::from_secs(1))`.
pub struct Task<I, O> {
    name: fn() -> &'static str,
    chunksize: usize,
    timeout: Option<Duration>,
    signature: PhantomData<fn(I) -> O>,
}
// ANCHOR_END: task

impl<I, O> Task<I, O> {
    #[doc(hidden)]
    pub const fn new(name: fn() -> &'static str, _function: fn(I) -> O) -> Self {
        Task {
            name,
            chunksize: 1,
            timeout: None,
            signature: PhantomData,
        }
    }

    /// The name a worker looks the task up by: the function's full path,
    /// `crate::module::function`.
    pub fn name(&self) -> &'static str {
        (self.name)()
    }

    /// Sends inputs to a worker `inputs` at a time (at least 1, the default): one round
    /// trip for all of them, which is what makes tiny tasks fast. A worker that dies
    /// fails every input of the chunk it was running.
    #[must_use]
    pub fn chunksize(mut self, inputs: usize) -> Self {
        self.chunksize = inputs.max(1);
        self
    }

    /// How long a worker may take over one input (or one chunk) of this task, in place
    /// of the pool's [`timeout`](crate::PoolBuilder::timeout). A worker that takes
    /// longer is killed and replaced; its inputs fail with
    /// [`PoolError::TimedOut`](crate::PoolError::TimedOut).
    #[must_use]
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit.max(Duration::from_millis(1)));
        self
    }

    pub(crate) fn inputs_per_request(&self) -> usize {
        self.chunksize
    }

    pub(crate) fn limit(&self) -> Option<Duration> {
        self.timeout
    }
}

impl<I, O> std::fmt::Debug for Task<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("name", &self.name())
            .field("chunksize", &self.chunksize)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl<I, O> Clone for Task<I, O> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<I, O> Copy for Task<I, O> {}

/// A function run once in every worker before its first task, like `initializer=` of
/// Python's `ProcessPoolExecutor`. Make one with [`initializer!`](crate::initializer!).
#[derive(Clone, Copy)]
pub struct Initializer {
    name: fn() -> &'static str,
}

impl std::fmt::Debug for Initializer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Initializer").field(&self.name()).finish()
    }
}

impl Initializer {
    #[doc(hidden)]
    pub const fn new(name: fn() -> &'static str) -> Self {
        Initializer { name }
    }

    /// The function's full path.
    pub fn name(&self) -> &'static str {
        (self.name)()
    }
}

// ANCHOR: task_macro
/// Names a function `fn(I) -> O` as a [`Task`] and enters it into the program's task
/// table.
///
/// Inputs and results cross between processes as CBOR, so `I` and `O` implement serde's
/// traits. Only a path is accepted, not a closure: like Python's pickle, the pool sends
/// a name, and a closure has none.
#[macro_export]
macro_rules! task {
    ($function:path) => {{
        #[$crate::__private::linkme::distributed_slice($crate::__private::TASKS)]
        #[linkme(crate = $crate::__private::linkme)]
        static ENTRY: $crate::__private::TaskEntry = $crate::__private::TaskEntry {
            name: || $crate::__private::name_of(&$function),
            identity: || $crate::__private::identity_of(&$function),
            initializer: false,
            written_at: concat!(file!(), ":", line!()),
            run: |input| $crate::__private::run_task($function, input),
        };
        $crate::Task::new(|| $crate::__private::name_of(&$function), $function)
    }};
}
// ANCHOR_END: task_macro

/// Names a function `fn()` or `fn() -> Result<(), E>` as a pool [`Initializer`] and
/// enters it into the program's task table. An `Err` it returns is reported as the
/// initializer's failure.
#[macro_export]
macro_rules! initializer {
    ($function:path) => {{
        #[$crate::__private::linkme::distributed_slice($crate::__private::TASKS)]
        #[linkme(crate = $crate::__private::linkme)]
        static ENTRY: $crate::__private::TaskEntry = $crate::__private::TaskEntry {
            name: || $crate::__private::name_of(&$function),
            identity: || $crate::__private::identity_of(&$function),
            initializer: true,
            written_at: concat!(file!(), ":", line!()),
            run: |_| $crate::__private::run_initializer($function),
        };
        $crate::Initializer::new(|| $crate::__private::name_of(&$function))
    }};
}

/// Decodes a task's input, calls it and encodes its result.
#[doc(hidden)]
pub fn run_task<I, O>(function: fn(I) -> O, input: &Bytes) -> Result<Bytes, String>
where
    I: DeserializeOwned,
    O: Serialize,
{
    let input =
        wire::decode(input).map_err(|e| format!("cannot decode the input: {e}"))?;
    wire::encode(&function(input)).map_err(|e| format!("cannot encode the result: {e}"))
}

/// What an initializer may return: nothing, or a `Result` whose error is shown to the
/// user.
#[doc(hidden)]
pub trait InitOutcome {
    fn into_result(self) -> Result<(), String>;
}

impl InitOutcome for () {
    fn into_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: Display> InitOutcome for Result<(), E> {
    fn into_result(self) -> Result<(), String> {
        self.map_err(|e| e.to_string())
    }
}

/// Calls an initializer and encodes its outcome as `Result<(), String>`.
#[doc(hidden)]
pub fn run_initializer<R: InitOutcome>(function: fn() -> R) -> Result<Bytes, String> {
    wire::encode(&function().into_result())
}

/// Finds a task or initializer of this program by its qualified name; `None` if there is
/// none. Two different functions of that name are refused, not guessed between.
#[cfg(any(unix, windows))]
pub(crate) fn find(name: &str) -> Result<Option<&'static TaskEntry>, String> {
    let mut found = TASKS.iter().filter(|entry| entry.answers_to(name));
    let Some(first) = found.next() else {
        return Ok(None);
    };
    if let Some(other) = found.find(|other| (other.identity)() != (first.identity)()) {
        return Err(format!(
            "this program has two different tasks named `{name}`, entered at {} and {}: \
             rename one",
            first.written_at, other.written_at
        ));
    }
    Ok(Some(first))
}
