//! The program a spawned worker or a fork server executes is the running image, not the
//! file at the path it was started from. Once that file is unlinked, the path reads
//! `… (deleted)`, and a file planted under that name must not run as a worker.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use forkspawn::StartMethod;

use crate::child;
use crate::common::WorkDir;
use crate::harness::Case;

pub fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for method in [StartMethod::Spawn, StartMethod::Forkserver] {
        cases.push(Case::new(
            format!("{method}: a deleted image is executed itself, not a file planted at its path"),
            Duration::from_secs(40),
            move || a_deleted_image_is_executed_itself(method),
        ));
        cases.push(
            Case::new(
                format!(
                    "{method}: an image that cannot be executed is named in the error"
                ),
                Duration::from_secs(40),
                move || an_image_that_cannot_be_executed_is_named(method),
            )
            .needing(missing_for_a_process_without_proc()),
        );
    }
    cases
}

/// Runs a child in a mount namespace of its own, `/proc` unmounted there: needs root and
/// util-linux's `unshare`.
const UNSHARE: &str = "/usr/bin/unshare";

fn missing_for_a_process_without_proc() -> Option<String> {
    // SAFETY: reads this process's effective user id; it cannot fail.
    if unsafe { nix::libc::geteuid() } != 0 {
        Some("unmounting /proc in a namespace needs root".to_owned())
    } else if !std::path::Path::new(UNSHARE).exists() {
        Some(format!("no {UNSHARE}"))
    } else {
        None
    }
}

/// Without `/proc`, the running image has no name to execute: the pool says which it
/// could not execute, not only "No such file or directory".
fn an_image_that_cannot_be_executed_is_named(
    method: StartMethod,
) -> Result<(), String> {
    let dir = WorkDir::new()?;
    let this = std::env::current_exe().map_err(|e| e.to_string())?;
    let script = r#"umount -l /proc && exec "$0" "$@""#;
    let args = [
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        &this.to_string_lossy(),
        "--fault-child",
        "no-proc",
        method.as_str(),
    ]
    .map(str::to_owned);
    let program = std::path::Path::new(UNSHARE);
    let outcome =
        crate::common::run_in(&dir, program, &args, &[], Duration::from_secs(30))?;
    let worker = match method {
        StartMethod::Spawn => "SpawnProcess-1",
        _ => "ForkServerProcess-1",
    };
    let expected = format!(
        "error: cannot start {worker}: cannot execute this program again \
         (/proc/self/exe): No such file or directory (os error 2); is /proc mounted?\n"
    );
    match outcome.output == expected {
        true => Ok(()),
        false => Err(format!("the child said:\n{}", outcome.transcript())),
    }
}

/// A copy of this program, run from a directory of its own, deletes itself and plants
/// an impostor; its pool must still run the right workers.
fn a_deleted_image_is_executed_itself(method: StartMethod) -> Result<(), String> {
    let dir = WorkDir::new()?;
    let copy = dir.path().join("victim");
    let this = std::env::current_exe().map_err(|e| e.to_string())?;
    std::fs::copy(&this, &copy).map_err(|e| format!("{}: {e}", copy.display()))?;
    let outcome = child::run(&dir, &copy, "deleted-image", method)?;
    let expected = "results: [2, 4, 6, 8]\nresults: [2, 4, 6, 8]\n";
    match (outcome.status.code(), outcome.output.as_str()) {
        (Some(0), output) if output == expected => Ok(()),
        _ => Err(format!("the child said:\n{}", outcome.transcript())),
    }
}

/// In the child: unlinks the running program and maps with a pool; then plants an
/// executable where `current_exe()` now points, and maps with a pool again.
pub fn with_the_image_deleted(method: StartMethod) -> Result<(), String> {
    let path = std::env::current_exe().map_err(|e| e.to_string())?;
    std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let moved = std::env::current_exe().map_err(|e| e.to_string())?;
    if !moved.to_string_lossy().ends_with(" (deleted)") {
        return Err(format!(
            "the deleted image is still named {}",
            moved.display()
        ));
    }
    // Nothing at that name yet: before, "No such file or directory", naming no path.
    println!("results: {:?}", child::doubled(method)?);
    std::fs::write(&moved, "#!/bin/sh\necho planted program ran\nexit 42\n")
        .map_err(|e| e.to_string())?;
    std::fs::set_permissions(&moved, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    let results = child::doubled(method)?;
    println!("results: {results:?}");
    Ok(())
}
