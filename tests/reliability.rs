//! The pool's reliability, case by case: fork in a multi-threaded process, waits that
//! must end, panics that must not escape, values that must come back equal, names that
//! must not be confused, a server or a worker that dies. Tested in this process, which
//! has threads (the test runner's and the hammering ones).
//!
//! This test has its own `main` (`harness = false`) because a spawned worker is this
//! program executed again: `main` must call `forkspawn::init()` before anything else.
//! Every pool here has a timeout, so a worker that hangs is reported by the pool, in
//! its error, and never hangs the test.

use std::hint::black_box;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use forkspawn::{
    Pool, PoolBuilder, PoolError, Stage, StartMethod, Task, ThreadedFork, task,
};
use libtest_mimic::{Arguments, Failed, Trial};
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;

/// How many pools each lock test starts and uses.
const CYCLES: usize = 200;

/// Long enough for any worker on a busy machine; a worker that hangs is reported then.
const POOL_TIMEOUT: Duration = Duration::from_secs(20);

fn main() {
    forkspawn::init();
    let mut trials = Vec::new();
    for method in [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::Forkserver,
    ] {
        for hammer in [Hammer::ProcessName, Hammer::Stdout, Hammer::Environment] {
            trials.push(Trial::test(
                format!(
                    "{method}: a thread taking the {} lock over and over, 200 pools",
                    hammer.name()
                ),
                move || maps_with_a_thread_hammering(method, hammer),
            ));
        }
        trials.extend([
            Trial::test(
                format!("{method}: NaN, infinities, u128, bytes, enums and 1 MiB come back equal"),
                move || values_json_cannot_carry_come_back_equal(method),
            ),
            Trial::test(
                format!("{method}: Some(None) comes back equal; too deep or u128 untagged: one line"),
                move || some_none_comes_back_equal_and_what_cannot_is_refused_in_one_line(method),
            ),
            Trial::test(
                format!("{method}: a result that does not decode is the parent's error"),
                move || a_result_that_does_not_decode_is_reported_as_such(method),
            ),
            Trial::test(
                format!("{method}: two tasks written alike are never mistaken"),
                move || two_tasks_written_alike_are_never_mistaken(method),
            ),
            Trial::test(
                format!("{method}: two tasks of one name are refused, not guessed"),
                move || two_tasks_of_one_name_are_refused_not_guessed(method),
            ),
            Trial::test(format!("{method}: a task that never returns times out"), move || {
                a_task_that_never_returns_times_out(method)
            }),
            Trial::test(
                format!("{method}: a worker that closes its channel but stays times out"),
                move || a_worker_that_closes_its_channel_but_stays_times_out(method),
            ),
            Trial::test(
                format!("{method}: an initializer that never returns times out"),
                move || an_initializer_that_never_returns_times_out(method),
            ),
            Trial::test(
                format!("{method}: a panic while unwinding aborts the worker, and its message arrives"),
                move || a_panic_while_unwinding_still_reports_its_message(method),
            ),
            Trial::test(
                format!("{method}: a panic payload that panics when dropped is reported once"),
                move || a_panic_payload_that_panics_when_dropped_is_reported(method),
            ),
            Trial::test(
                format!("{method}: a worker that closed its stderr and prints to it reports the panic"),
                move || a_worker_with_a_closed_stderr_reports_its_panic(method),
            ),
            Trial::test(
                format!("{method}: a pool dropped while unwinding kills its busy workers"),
                move || a_pool_dropped_while_unwinding_kills_its_workers(method),
            ),
        ]);
    }
    trials.push(Trial::test(
        "spawn: a shutdown waits one timeout for all its workers, not one each",
        a_shutdown_waits_one_timeout_for_all_workers,
    ));
    for method in [StartMethod::Spawn, StartMethod::Forkserver] {
        trials.push(Trial::test(
            format!(
                "{method}: a worker holds its channel and the standard streams, \
                 not a stray descriptor"
            ),
            move || a_new_program_holds_no_stray_descriptor(method),
        ));
    }
    for method in [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::Forkserver,
    ] {
        trials.push(Trial::test(
            format!("{method}: a worker killed while idle is reported as idle"),
            move || a_worker_killed_while_idle_is_reported_as_idle(method),
        ));
    }
    trials.push(Trial::test(
        "fork: refusing to fork with threads names their number",
        refusing_names_the_thread_count,
    ));
    trials.push(Trial::test(
        "forkserver: a killed server fails the pool in one line that names it",
        a_killed_server_fails_the_pool,
    ));
    trials.push(Trial::test(
        "forkserver: the server outlives a pool, serves the next, and ends at stop()",
        in_a_new_thread(the_server_outlives_a_pool_and_ends_at_stop),
    ));
    trials.push(Trial::test(
        "forkserver: a server stopped while a pool uses it ends with that pool",
        in_a_new_thread(a_server_stopped_while_in_use_ends_with_its_pool),
    ));
    trials.push(Trial::test(
        "forkserver: the server ends with the thread that started it",
        the_server_ends_with_its_thread,
    ));
    trials.push(Trial::test(
        "forkserver: a server killed an instant before a pool is replaced, not reported",
        in_a_new_thread(a_server_killed_just_before_a_pool_is_replaced),
    ));
    for method in [StartMethod::Fork, StartMethod::Forkserver] {
        trials.push(Trial::test(
            format!("{method}: a fork server a task started is reaped when its worker leaves"),
            move || a_task_s_fork_server_is_reaped_with_its_worker(method),
        ));
    }
    libtest_mimic::run(&Arguments::from_args(), trials).exit();
}

/// Makes standard error a pipe nobody reads from, then prints to it: `eprintln!` panics
/// (a closed descriptor would not do: the standard library ignores EBADF on stderr).
fn print_to_a_closed_stderr(_: u64) -> u64 {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    // SAFETY: replaces descriptor 2; nothing else of this worker holds it.
    unsafe { nix::libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&writer), 2) };
    eprintln!("nobody will read this");
    0
}

fn a_worker_with_a_closed_stderr_reports_its_panic(
    method: StartMethod,
) -> Result<(), Failed> {
    let mut pool = builder(method).start()?;
    let pids = pool.worker_pids();
    let error = pool.map(task!(print_to_a_closed_stderr), [0]).unwrap_err();
    let text = error.to_string();
    let expected = "panicked on the 1st input of print_to_a_closed_stderr: \
                    failed printing to stderr: Broken pipe (os error 32)";
    if !text.ends_with(expected) {
        return Err(format!("not the panic: {text}").into());
    }
    // The panic was its input's: the worker serves on, then leaves when told.
    assert_eq!(pool.worker_pids(), pids);
    pool.map(task!(double), [2_u64])?;
    pool.shutdown()?;
    assert_all_gone(&pids)
}

/// Makes this worker linger after its channel is closed: its `exit` runs a handler that
/// sleeps a minute. (A spawned worker leaves through `exit`, which runs such handlers.)
fn linger_when_leaving(_: u64) -> u64 {
    extern "C" fn linger() {
        thread::sleep(Duration::from_secs(60));
    }
    // SAFETY: registers a function that takes nothing and returns nothing.
    unsafe { nix::libc::atexit(linger) };
    0
}

/// Eight workers that close their channel and stay: the shutdown waits for them all
/// together, at most the timeout, not the timeout once for each.
fn a_shutdown_waits_one_timeout_for_all_workers() -> Result<(), Failed> {
    let timeout = Duration::from_millis(500);
    let mut pool = builder(StartMethod::Spawn)
        .workers(8)
        .timeout(timeout)
        .start()?;
    let pids = pool.worker_pids();
    pool.map(task!(linger_when_leaving), 0..8)?;
    let started = Instant::now();
    let error = pool.shutdown().unwrap_err().to_string();
    let took = started.elapsed();
    assert!(
        error.ends_with("timed out after 500ms while shutting down"),
        "{error}"
    );
    // One timeout, and the kills: far from eight timeouts (4 s).
    assert!(took < Duration::from_secs(2), "the shutdown took {took:?}");
    assert_all_gone(&pids)
}

/// What a worker holds beyond descriptors 0 to 2, by kind: `socket` (its channel),
/// `listing` (the directory this reads), or the path of anything else.
fn descriptors_beyond_the_standard_three(_: u64) -> Vec<String> {
    let mut kinds = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
    {
        let number: i32 = entry.file_name().to_string_lossy().parse().unwrap_or(-1);
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue; // the listing's own descriptor, already closed
        };
        let target = target.to_string_lossy().into_owned();
        if number > 2 {
            kinds.push(match () {
                _ if target.starts_with("socket:") => "socket".to_owned(),
                _ if target.ends_with("/fd") => "listing".to_owned(),
                _ => target,
            });
        }
    }
    kinds.sort();
    kinds
}

/// The parent holds a descriptor that is not close-on-exec, as one inherited from a
/// shell would be; a spawned worker, and a fork server's, must not get it.
fn a_new_program_holds_no_stray_descriptor(method: StartMethod) -> Result<(), Failed> {
    let stray = std::fs::File::open("/dev/null")?;
    let stray = std::os::fd::AsRawFd::as_raw_fd(&stray);
    // SAFETY: clears close-on-exec on a descriptor this function owns.
    unsafe { nix::libc::fcntl(stray, nix::libc::F_SETFD, 0) };
    // A server the runner's thread kept from an earlier test was started before the
    // stray existed: the pool must start one now.
    forkspawn::ForkServer::stop();
    let mut pool = builder(method).start()?;
    let held = pool.map(task!(descriptors_beyond_the_standard_three), [0])?;
    pool.shutdown()?;
    assert_eq!(held, [vec!["listing".to_owned(), "socket".to_owned()]]);
    Ok(())
}

fn builder(method: StartMethod) -> PoolBuilder {
    Pool::builder(method)
        .threaded_fork(ThreadedFork::Allow)
        .timeout(POOL_TIMEOUT)
}

fn double(x: u64) -> u64 {
    x * 2
}

/// A lock that std or the library takes, and that a thread of the parent may hold at
/// the moment of a fork.
#[derive(Clone, Copy)]
enum Hammer {
    ProcessName,
    Stdout,
    Environment,
}

impl Hammer {
    fn name(self) -> &'static str {
        match self {
            Hammer::ProcessName => "process-name",
            Hammer::Stdout => "stdout",
            Hammer::Environment => "environment",
        }
    }

    fn take_once(self) {
        match self {
            // Also allocates and frees, over and over: the allocator's locks too.
            Hammer::ProcessName => drop(black_box(forkspawn::current_process_name())),
            Hammer::Stdout => {
                let _held = io::stdout().lock();
                for _ in 0..200 {
                    std::hint::spin_loop();
                }
            }
            Hammer::Environment => drop(black_box(std::env::var_os("PATH"))),
        }
    }
}

/// A thread that takes one lock over and over until it is dropped.
struct Hammering {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Hammering {
    fn start(hammer: Hammer) -> Hammering {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                hammer.take_once();
            }
        });
        Hammering {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Hammering {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Before the fix, a forked worker hung on the process-name mutex, the stdout lock or
/// the environment lock in most runs of a few pools.
fn maps_with_a_thread_hammering(
    method: StartMethod,
    hammer: Hammer,
) -> Result<(), Failed> {
    let _hammering = Hammering::start(hammer);
    for cycle in 1..=CYCLES {
        let context = |e: PoolError| format!("pool {cycle} of {CYCLES}: {e}");
        let mut pool = builder(method)
            .workers(2)
            .env_remove("FORKSPAWN_TEST_REMOVED")
            .start()
            .map_err(context)?;
        let doubled = pool.map(task!(double), 0..4_u64).map_err(context)?;
        if doubled != [0, 2, 4, 6] {
            return Err(format!("pool {cycle}: wrong results {doubled:?}").into());
        }
        pool.shutdown().map_err(context)?;
        // A new server each cycle, as a new pool of each other method is new: the
        // runner's thread may keep one from an earlier test, or from the cycle before.
        forkspawn::ForkServer::stop();
    }
    Ok(())
}

fn never_returns(_: u64) -> u64 {
    loop {
        thread::sleep(Duration::from_secs(1));
    }
}

fn never_returns_either() {
    never_returns(0);
}

fn a_task_that_never_returns_times_out(method: StartMethod) -> Result<(), Failed> {
    let timeout = Duration::from_millis(300);
    let mut pool = builder(method).timeout(timeout).start()?;
    let pids = pool.worker_pids();
    let error = pool.map(task!(never_returns), [1_u64]).unwrap_err();
    let PoolError::TimedOut { stage, waited, .. } = &error else {
        return Err(format!("not a time-out: {error}").into());
    };
    assert_eq!(*waited, timeout);
    assert!(matches!(stage, Stage::Task { input: 1, .. }), "{error}");
    let text = error.to_string();
    let expected = "timed out after 300ms on the 1st input of never_returns";
    assert!(text.ends_with(expected), "{text}");
    assert_all_gone(&pids)
}

/// Closes every descriptor but the standard ones, the channel to the pool among them,
/// and stays: the pool sees end-of-file, but no exit.
fn closes_its_channel_and_stays(_: u64) -> u64 {
    for fd in 3..1024 {
        // SAFETY: this process is about to do nothing but sleep; no descriptor is used.
        unsafe { nix::libc::close(fd) };
    }
    thread::sleep(Duration::from_secs(60));
    0
}

fn a_worker_that_closes_its_channel_but_stays_times_out(
    method: StartMethod,
) -> Result<(), Failed> {
    let timeout = Duration::from_millis(300);
    let mut pool = builder(method).timeout(timeout).start()?;
    let pids = pool.worker_pids();
    let started = Instant::now();
    let error = pool
        .map(task!(closes_its_channel_and_stays), [1_u64])
        .unwrap_err();
    let text = error.to_string();
    let expected =
        "timed out after 300ms on the 1st input of closes_its_channel_and_stays";
    if !text.ends_with(expected) {
        return Err(format!("not the time-out: {text}").into());
    }
    // The wait for its exit had the pool's limit, not the task's 60 s.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_all_gone(&pids)
}

fn an_initializer_that_never_returns_times_out(
    method: StartMethod,
) -> Result<(), Failed> {
    let error = builder(method)
        .workers(2)
        .timeout(Duration::from_millis(300))
        .initializer(forkspawn::initializer!(never_returns_either))
        .start()
        .err()
        .ok_or("the pool started")?;
    let text = error.to_string();
    assert!(
        matches!(
            error,
            PoolError::TimedOut {
                stage: Stage::Initializer { .. },
                ..
            }
        ),
        "{text}"
    );
    assert!(
        text.ends_with("in the initializer never_returns_either()"),
        "{text}"
    );
    Ok(())
}

/// Its `Drop` panics: during unwinding that aborts the process; as a panic payload it
/// panics where the payload is dropped.
struct PanicsWhenDropped;

impl Drop for PanicsWhenDropped {
    fn drop(&mut self) {
        panic!("a second panic, in a drop");
    }
}

fn panics_while_unwinding(_: u64) -> u64 {
    let _guard = PanicsWhenDropped;
    panic!("the first panic");
}

fn panics_with_a_bad_payload(_: u64) -> u64 {
    panic::panic_any(PanicsWhenDropped)
}

/// Rust aborts a process that panics while unwinding, as `panic = "abort"` does at the
/// first panic: the message must be on its way before that.
fn a_panic_while_unwinding_still_reports_its_message(
    method: StartMethod,
) -> Result<(), Failed> {
    let mut pool = builder(method).start()?;
    let error = pool
        .map(task!(panics_while_unwinding), [1_u64])
        .unwrap_err();
    match &error {
        PoolError::Panicked { message, .. }
            if message.starts_with("the first panic") =>
        {
            Ok(())
        }
        _ => Err(format!("expected the first panic's message: {error}").into()),
    }
}

/// The payload is not dropped in the worker, so no second panic escapes into the code
/// that started the worker.
fn a_panic_payload_that_panics_when_dropped_is_reported(
    method: StartMethod,
) -> Result<(), Failed> {
    let mut pool = builder(method).workers(2).start()?;
    let pids = pool.worker_pids();
    let error = pool
        .map(task!(panics_with_a_bad_payload), [1_u64])
        .unwrap_err();
    if !matches!(error, PoolError::Panicked { .. }) {
        return Err(format!("expected a panic: {error}").into());
    }
    // Caught in the worker, which serves on: the same workers, then a clean shutdown.
    assert_eq!(pool.map(task!(double), [2_u64, 3])?, [4, 6]);
    assert_eq!(pool.worker_pids(), pids);
    pool.shutdown()?;
    assert_all_gone(&pids)
}

/// Input 2 takes 30 s, longer than the test may take; the others none.
fn sleeps_long(input: u64) -> u64 {
    if input == 2 {
        thread::sleep(Duration::from_secs(30));
    }
    input
}

/// Inputs that run out in a panic: the pool asks for input 3 once input 1 is done,
/// while input 2 is under way.
fn inputs_then_panic() -> impl Iterator<Item = u64> {
    (1..).map(|n| if n <= 2 { n } else { panic!("no input {n}") })
}

fn a_pool_dropped_while_unwinding_kills_its_workers(
    method: StartMethod,
) -> Result<(), Failed> {
    let started = Instant::now();
    let mut pids = Vec::new();
    let unwound = panic::catch_unwind(AssertUnwindSafe(|| {
        let mut pool = builder(method).workers(2).start().unwrap();
        pids = pool.worker_pids();
        let _ = pool.map(task!(sleeps_long), inputs_then_panic());
    }));
    assert!(unwound.is_err(), "the inputs did not panic");
    // Input 2 takes 30 s: a pool that waited for it would still be here.
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(15), "dropping took {waited:?}");
    assert_all_gone(&pids)
}

fn refusing_names_the_thread_count() -> Result<(), Failed> {
    // One more thread, whatever the test runner does.
    let (_keep, parked) = std::sync::mpsc::channel::<()>();
    let extra = thread::spawn(move || {
        let _ = parked.recv();
    });
    let refused = Pool::builder(StartMethod::Fork)
        .threaded_fork(ThreadedFork::Refuse)
        .start();
    let Err(PoolError::ThreadedFork {
        threads: Some(threads),
        ..
    }) = refused
    else {
        return Err("the pool forked".into());
    };
    assert!(threads >= 2, "{threads}");
    let text = PoolError::ThreadedFork {
        threads: Some(threads),
        server: false,
    }
    .to_string();
    assert!(
        text.starts_with(&format!("refusing to fork with {threads} threads running"))
    );
    // Spawn forks nothing, so it has nothing to refuse.
    let pool = Pool::builder(StartMethod::Spawn)
        .threaded_fork(ThreadedFork::Refuse)
        .start()?;
    pool.shutdown()?;
    drop(_keep);
    let _ = extra.join();
    Ok(())
}

/// Every one of `pids` has been reaped: no process, not even a zombie, has that id.
fn assert_all_gone(pids: &[u32]) -> Result<(), Failed> {
    for &pid in pids {
        if kill(Pid::from_raw(pid as i32), None) != Err(Errno::ESRCH) {
            return Err(format!("worker {pid} is still there").into());
        }
    }
    Ok(())
}

/// Kills the fork server, this worker's parent; the worker dies with it.
fn kill_the_server(_: u64) -> u64 {
    let _ = kill(nix::unistd::getppid(), nix::sys::signal::Signal::SIGKILL);
    never_returns(0)
}

/// The workers die with their server (a parent-death signal). They are the server's
/// children, so this test makes itself their reaper to see that they did.
fn a_killed_server_fails_the_pool() -> Result<(), Failed> {
    nix::sys::prctl::set_child_subreaper(true)?;
    let mut pool = builder(StartMethod::Forkserver).workers(2).start()?;
    let pids = pool.worker_pids();
    let error = pool.map(task!(kill_the_server), [1_u64]).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("the fork server (pid "), "{text}");
    assert!(!text.contains('\n'), "{text}");
    for &pid in &pids {
        // Killed with the server, or (if it had not run yet when the server died) ended
        // by itself on finding its parent gone; now this process's to reap.
        use nix::sys::wait::WaitStatus::{Exited, Signaled};
        let status = nix::sys::wait::waitpid(Pid::from_raw(pid as i32), None);
        if !matches!(status, Ok(Signaled(..) | Exited(_, 1)) | Err(Errno::ECHILD)) {
            return Err(format!("worker {pid}: {status:?}").into());
        }
    }
    assert_all_gone(&pids)
}

/// A worker that dies between calls fails no input: the next call finds it gone before
/// it sends anything, replaces it, and `shutdown` reports the death.
fn a_worker_killed_while_idle_is_reported_as_idle(
    method: StartMethod,
) -> Result<(), Failed> {
    let mut pool = builder(method).start()?;
    // One task first: the worker has started, and is idle.
    pool.map(task!(double), [1_u64])?;
    let pid = Pid::from_raw(pool.worker_pids()[0] as i32);
    kill(pid, nix::sys::signal::Signal::SIGKILL)?;
    wait_until_ended(pid)?;
    assert_eq!(pool.map(task!(double), [1_u64])?, [2]);
    assert_ne!(pool.worker_pids()[0], pid.as_raw() as u32, "not replaced");
    let text = pool.shutdown().unwrap_err().to_string();
    assert!(text.ends_with("was killed by SIGKILL while idle"), "{text}");
    assert_all_gone(&[pid.as_raw() as u32])
}

/// Waits, at most 10 s, until the process `pid` has ended, whoever its parent is (a
/// fork server's worker is not this process's child), without reaping it: a descriptor
/// for the process (`pidfd_open(2)`) becomes readable when it ends.
fn wait_until_ended(pid: Pid) -> Result<(), Failed> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::{AsFd, FromRawFd, OwnedFd};
    // SAFETY: a system call with two integer arguments; it returns a new descriptor.
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Ok(()); // already gone
    }
    // SAFETY: just made, owned here.
    let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::from(10_000_u16)) {
        Ok(1) => Ok(()),
        other => Err(format!("{pid} did not end: {other:?}").into()),
    }
}

mod one {
    pub fn f(x: u64) -> u64 {
        x + 100
    }
}

mod two {
    pub fn f(x: u64) -> u64 {
        x + 200
    }
}

fn task_of_one() -> forkspawn::Task<u64, u64> {
    use one::f;
    task!(f)
}

fn task_of_two() -> forkspawn::Task<u64, u64> {
    use two::f;
    task!(f)
}

/// Both are written `task!(f)` in the same module. Before, both were named
/// `reliability::f`, and mapping `two::f` ran `one::f`.
/// Two functions named `f`, each in a block of its own: the compiler names both
/// `reliability::tasks_in_two_blocks::f`.
fn tasks_in_two_blocks() -> [(Task<u64, u64>, u32); 2] {
    let first = {
        fn f(x: u64) -> u64 {
            x + 100
        }
        (task!(f), line!())
    };
    let second = {
        fn f(x: u64) -> u64 {
            x + 200
        }
        (task!(f), line!())
    };
    [first, second]
}

fn two_tasks_of_one_name_are_refused_not_guessed(
    method: StartMethod,
) -> Result<(), Failed> {
    let [(first, first_line), (second, second_line)] = tasks_in_two_blocks();
    assert_eq!(first.name(), second.name());
    let mut pool = builder(method).start()?;
    let error = pool.map(second, [1]).unwrap_err().to_string();
    // Both `task!`s are named by where they are written, in whichever order the linker
    // put them.
    let expected = "this program has two different tasks named \
                    `reliability::tasks_in_two_blocks::f`, entered at ";
    let at = |line| format!("tests/reliability.rs:{line}");
    let (one, two) = (at(first_line), at(second_line));
    let both = [format!("{one} and {two}"), format!("{two} and {one}")];
    if !error.contains(expected)
        || !both
            .iter()
            .any(|b| error.ends_with(&format!("{b}: rename one")))
    {
        return Err(format!("not the refusal: {error}").into());
    }
    // One function entered twice, by two `task!`s, is one task.
    let mut pool = builder(method).start()?;
    assert_eq!(pool.map(task!(double), [1])?, [2]);
    assert_eq!(pool.map(task!(double), [2])?, [4]);
    pool.shutdown()?;
    Ok(())
}

fn two_tasks_written_alike_are_never_mistaken(
    method: StartMethod,
) -> Result<(), Failed> {
    let (one, two) = (task_of_one(), task_of_two());
    assert_eq!(one.name(), "reliability::one::f");
    assert_eq!(two.name(), "reliability::two::f");
    let mut pool = builder(method).workers(2).start()?;
    assert_eq!(pool.map(two, [1, 2, 3])?, [201, 202, 203]);
    assert_eq!(pool.map(one, [1, 2, 3])?, [101, 102, 103]);
    pool.shutdown()?;
    Ok(())
}

fn square_root(x: f64) -> f64 {
    x.sqrt()
}

fn echo<T>(value: T) -> T {
    value
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq, Clone)]
enum Shape {
    Empty,
    Pair(u128, i128),
    Nested {
        inner: Option<Box<Shape>>,
        bytes: Vec<u8>,
    },
}

/// Before, results crossed as JSON: NaN failed to decode, `u128` above 2^64 too, and the
/// whole pool was torn down with "refused a request".
fn values_json_cannot_carry_come_back_equal(method: StartMethod) -> Result<(), Failed> {
    let mut pool = builder(method).workers(2).start()?;
    let roots = pool.map(task!(square_root), [4.0, -1.0, f64::INFINITY])?;
    assert_eq!(roots[0], 2.0);
    assert!(roots[1].is_nan());
    assert_eq!(roots[2], f64::INFINITY);
    let floats = [f64::NEG_INFINITY, f64::MIN_POSITIVE, -0.0];
    assert_eq!(pool.map(task!(echo::<f64>), floats)?, floats);
    let big = [u128::MAX, 0, 1 << 100];
    assert_eq!(pool.map(task!(echo::<u128>), big)?, big);
    let shapes = [
        Shape::Empty,
        Shape::Pair(u128::MAX, i128::MIN),
        Shape::Nested {
            inner: Some(Box::new(Shape::Nested {
                inner: None,
                bytes: vec![0, 255, 7],
            })),
            bytes: (0..=255).collect(),
        },
    ];
    assert_eq!(pool.map(task!(echo::<Shape>), shapes.clone())?, shapes);
    // Far beyond any buffer on the way: 1 MiB each way.
    let large = ["x".repeat(1 << 20), "y".repeat(5000)];
    assert_eq!(pool.map(task!(echo::<String>), large.clone())?, large);
    pool.shutdown()?;
    Ok(())
}

/// `Some(None)` if asked for 0, `Some(Some(n))` otherwise.
fn none_inside_some(n: u8) -> Option<Option<u8>> {
    Some((n > 0).then_some(n))
}

/// Nested `depth` vectors deep, around an empty one.
fn nested_vectors(depth: usize) -> serde_json::Value {
    (0..depth).fold(serde_json::json!([]), |inner, _| serde_json::json!([inner]))
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq, Clone)]
#[serde(untagged)]
enum Untagged {
    Big(u128),
    Name(String),
}

/// CBOR, like JSON, writes `Some(x)` as `x`, and `None` and `()` as null. Before, the
/// wire was a CBOR crate, and `Some(None)` and `Some(())` came back as `None`: a wrong
/// answer, with no error. Then they were refused. Now they come back equal, as inputs and
/// as results; what is still refused is refused in one line, by the side that knows. (A
/// failed `map` breaks its pool, so each refusal is followed by a new pool.)
fn some_none_comes_back_equal_and_what_cannot_is_refused_in_one_line(
    method: StartMethod,
) -> Result<(), Failed> {
    let mut pool = builder(method).start()?;
    let inputs = [Some(Some(1_u8)), Some(None), None];
    assert_eq!(pool.map(task!(echo::<Option<Option<u8>>>), inputs)?, inputs);
    let units = [Some(()), None];
    assert_eq!(pool.map(task!(echo::<Option<()>>), units)?, units);
    let deeper = [Some(Some(None)), Some(None), None, Some(Some(Some(())))];
    assert_eq!(
        pool.map(task!(echo::<Option<Option<Option<()>>>>), deeper)?,
        deeper
    );
    assert_eq!(
        pool.map(task!(none_inside_some), [2, 0])?,
        [Some(Some(2)), Some(None)]
    );

    // Deeper than the wire's limit: the parent refuses it before it is sent.
    let deep = [nested_vectors(300)];
    let error = pool
        .map(task!(echo::<serde_json::Value>), deep)
        .unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, PoolError::Encode { .. }), "{text}");
    assert!(
        text.ends_with("it nests more than 256 levels deep, this wire's limit"),
        "{text}"
    );
    let fits = [nested_vectors(255)];
    let mut pool = builder(method).start()?;
    assert_eq!(
        pool.map(task!(echo::<serde_json::Value>), fits.clone())?,
        fits
    );

    // A u128 in an untagged enum: serde itself cannot read it back, from any format (JSON
    // here, as a control); the worker says so in one line.
    let names = [Untagged::Name("x".into())];
    assert_eq!(pool.map(task!(echo::<Untagged>), names.clone())?, names);
    let json = serde_json::from_str::<Untagged>("7")
        .unwrap_err()
        .to_string();
    assert_eq!(
        json,
        "data did not match any variant of untagged enum Untagged"
    );
    let error = pool
        .map(task!(echo::<Untagged>), [Untagged::Big(7)])
        .unwrap_err();
    let text = error.to_string();
    assert!(!text.contains('\n'), "{text}");
    assert!(
        text.ends_with(&format!("cannot decode the input: {json}")),
        "{text}"
    );
    Ok(())
}

/// Serializes as a number, but accepts only odd ones back.
#[derive(serde::Serialize, serde::Deserialize, Debug)]
#[serde(try_from = "u64")]
struct Odd(u64);

impl TryFrom<u64> for Odd {
    type Error = String;
    fn try_from(n: u64) -> Result<Odd, String> {
        if n % 2 == 1 {
            Ok(Odd(n))
        } else {
            Err(format!("{n} is even"))
        }
    }
}

fn twice(n: u64) -> Odd {
    Odd(n * 2)
}

fn a_result_that_does_not_decode_is_reported_as_such(
    method: StartMethod,
) -> Result<(), Failed> {
    let mut pool = builder(method).start()?;
    let error = pool.map(task!(twice), [3_u64]).unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, PoolError::Decode { .. }), "{text}");
    assert!(
        text.starts_with("cannot decode the result of worker "),
        "{text}"
    );
    assert!(
        text.ends_with("on the 1st input of twice: 6 is even"),
        "{text}"
    );
    Ok(())
}

/// Runs `test` in a thread of its own: each thread has its own fork server, so the test
/// starts with none, whatever the runner's thread did before.
fn in_a_new_thread(
    test: fn() -> Result<(), Failed>,
) -> impl FnOnce() -> Result<(), Failed> + Send + 'static {
    move || {
        thread::spawn(test)
            .join()
            .unwrap_or_else(|_| Err("the test's thread panicked".into()))
    }
}

/// The process that forked this worker: for a forkserver worker, the server.
fn parent_pid(_: u64) -> u64 {
    nix::unistd::getppid().as_raw() as u64
}

fn server_of(pool: &mut Pool) -> Result<u32, Failed> {
    Ok(pool.map(task!(parent_pid), [0_u64])?[0] as u32)
}

/// As CPython's, the server is started once and serves every later pool; unlike
/// CPython's, it can be stopped, and then it is gone, reaped.
fn the_server_outlives_a_pool_and_ends_at_stop() -> Result<(), Failed> {
    let first = server_of(&mut builder(StartMethod::Forkserver).start()?)?;
    // The first pool is gone; its server is not, and the next pool's worker is its child.
    kill(Pid::from_raw(first as i32), None)?;
    let second = server_of(&mut builder(StartMethod::Forkserver).start()?)?;
    assert_eq!(first, second, "the second pool started a server of its own");
    assert_eq!(forkspawn::ForkServer::start()?.pid(), first);
    forkspawn::ForkServer::stop();
    assert_all_gone(&[first])?;
    let third = server_of(&mut builder(StartMethod::Forkserver).start()?)?;
    assert_ne!(third, first, "stop() left the server in use");
    forkspawn::ForkServer::stop();
    assert_all_gone(&[third])
}

fn a_server_stopped_while_in_use_ends_with_its_pool() -> Result<(), Failed> {
    let mut pool = builder(StartMethod::Forkserver).workers(2).start()?;
    let server = server_of(&mut pool)?;
    forkspawn::ForkServer::stop();
    assert_eq!(pool.map(task!(double), [1_u64, 2, 3])?, [2, 4, 6]);
    kill(Pid::from_raw(server as i32), None)?;
    let workers = pool.worker_pids();
    pool.shutdown()?;
    assert_all_gone(&workers)?;
    assert_all_gone(&[server])
}

/// A thread's server is reaped when the thread ends, as its other thread-local values
/// are dropped; the kernel's parent-death signal would end it too, but leave it unreaped.
fn the_server_ends_with_its_thread() -> Result<(), Failed> {
    let server = thread::spawn(|| -> Result<u32, String> {
        let mut pool = builder(StartMethod::Forkserver)
            .start()
            .map_err(|e| e.to_string())?;
        let server = server_of(&mut pool).map_err(|e| format!("{e:?}"))?;
        drop(pool);
        kill(Pid::from_raw(server as i32), None).map_err(|e| e.to_string())?;
        Ok(server)
    })
    .join()
    .map_err(|_| "the pool's thread panicked")??;
    assert_all_gone(&[server])
}

/// The pool finds the killed server still running (it is not yet a zombie), and its
/// request meets a closed socket. Before, that pool failed, 8 times in 10.
fn a_server_killed_just_before_a_pool_is_replaced() -> Result<(), Failed> {
    for _ in 0..20 {
        let killed = forkspawn::ForkServer::start()?.pid();
        kill(
            Pid::from_raw(killed as i32),
            nix::sys::signal::Signal::SIGKILL,
        )?;
        let mut pool = builder(StartMethod::Forkserver).start()?;
        assert_ne!(server_of(&mut pool)?, killed);
        assert_all_gone(&[killed])?;
    }
    forkspawn::ForkServer::stop();
    Ok(())
}

/// A task that runs a forkserver pool of its own, in the worker, and returns that
/// pool's server.
fn server_of_a_nested_pool(_: u64) -> u64 {
    let mut pool = builder(StartMethod::Forkserver).start().unwrap();
    let server = pool.map(task!(parent_pid), [0_u64]).unwrap()[0];
    pool.shutdown().unwrap();
    server
}

/// A forked worker leaves through `_exit`, which runs no thread-local destructor; before,
/// the server its task had started outlived it, an orphan.
fn a_task_s_fork_server_is_reaped_with_its_worker(
    method: StartMethod,
) -> Result<(), Failed> {
    let mut pool = builder(method).start()?;
    let inner = pool.map(task!(server_of_a_nested_pool), [0_u64])?[0] as u32;
    let worker = pool.worker_pids();
    pool.shutdown()?;
    assert_all_gone(&worker)?;
    assert_all_gone(&[inner])
}
