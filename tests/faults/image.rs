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
    [StartMethod::Spawn, StartMethod::Forkserver]
        .into_iter()
        .map(|method| {
            Case::new(
                format!("{method}: a deleted image is executed itself, not a file planted at its path"),
                Duration::from_secs(40),
                move || a_deleted_image_is_executed_itself(method),
            )
        })
        .collect()
}

/// A copy of this program, run from a directory of its own, deletes itself and plants
/// an impostor; its pool must still run the right workers.
fn a_deleted_image_is_executed_itself(method: StartMethod) -> Result<(), String> {
    let dir = WorkDir::new()?;
    let copy = dir.path().join("victim");
    let this = std::env::current_exe().map_err(|e| e.to_string())?;
    std::fs::copy(&this, &copy).map_err(|e| format!("{}: {e}", copy.display()))?;
    let outcome = child::run(&dir, &copy, "deleted-image", method)?;
    let expected = "results: [2, 4, 6, 8]\n";
    match (outcome.status.code(), outcome.output.as_str()) {
        (Some(0), output) if output == expected => Ok(()),
        _ => Err(format!("the child said:\n{}", outcome.transcript())),
    }
}

/// In the child: unlinks the running program, plants an executable where
/// `current_exe()` now points, and maps with a pool.
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
    std::fs::write(&moved, "#!/bin/sh\necho planted program ran\nexit 42\n")
        .map_err(|e| e.to_string())?;
    std::fs::set_permissions(&moved, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    let results = child::doubled(method)?;
    println!("results: {results:?}");
    Ok(())
}
