//! A worker count no machine can hold is refused in one line, before anything is
//! allocated for the workers or started: before, `usize::MAX` panicked ("capacity
//! overflow") and `1 << 40` aborted the whole process (a failed allocation).

use std::time::Duration;

use forkspawn::StartMethod;

use crate::harness::Case;

pub fn cases() -> Vec<Case> {
    crate::METHODS
        .into_iter()
        .map(|method| {
            Case::new(
                format!("{method}: workers(usize::MAX) and workers(1 << 40) are refused in one line"),
                Duration::from_secs(10),
                move || absurd_worker_counts_are_refused(method),
            )
        })
        .collect()
}

fn absurd_worker_counts_are_refused(method: StartMethod) -> Result<(), String> {
    for workers in [usize::MAX, 1 << 40] {
        let refused = match crate::builder(method).workers(workers).start() {
            Ok(_) => return Err(format!("{workers} workers started")),
            Err(error) => error.to_string(),
        };
        let expected = format!("refusing the pool's setting workers({workers}): ");
        let names_a_limit =
            refused.contains(" processes") || refused.contains(" descriptors");
        if !refused.starts_with(&expected) || !names_a_limit || refused.contains('\n') {
            return Err(format!("not the refusal: {refused}"));
        }
    }
    Ok(())
}
