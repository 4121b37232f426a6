//! The console printer colours the process name and clock on a terminal only, and never when
//! `NO_COLOR` is set. The program's standard output is a pseudo-terminal here.

mod common;

use std::fs::File;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use nix::pty::openpty;

/// Runs `platform fork` (a chapter's quickest program) with its standard output on a
/// pseudo-terminal; returns what it printed there.
fn output_on_a_terminal(no_color: Option<&str>) -> String {
    let program = common::example_path("platform", false).unwrap();
    let terminal = openpty(None, None).unwrap();
    let mut command = Command::new(program);
    command
        .arg("fork")
        .stdin(Stdio::null())
        .stdout(File::from(terminal.slave.try_clone().unwrap()))
        .stderr(Stdio::null())
        .env_remove("NO_COLOR");
    if let Some(value) = no_color {
        command.env("NO_COLOR", value);
    }
    let mut child = command.spawn().unwrap();
    drop(command);
    drop(terminal.slave);
    let (sender, receiver) = mpsc::channel();
    let mut master = File::from(terminal.master);
    thread::spawn(move || {
        let mut bytes = Vec::new();
        // Reading a terminal whose other side is closed ends with EIO, not end-of-file.
        let _ = master.read_to_end(&mut bytes);
        let _ = sender.send(bytes);
    });
    let bytes = receiver
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("platform still running after 30 s")
        });
    assert!(child.wait().unwrap().success());
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn colour_on_a_terminal() {
    let output = output_on_a_terminal(None);
    assert!(output.contains("\x1b[1mMainProcess"), "{output:?}");
    assert!(output.contains("[\x1b[1;32m 0.00s\x1b[0m]"), "{output:?}");
}

#[test]
fn no_colour_when_no_color_is_set() {
    let output = output_on_a_terminal(Some("1"));
    assert!(!output.contains('\x1b'), "{output:?}");
    assert!(output.contains("MainProcess      [ 0.00s]"), "{output:?}");
}

#[test]
fn an_empty_no_color_does_not_count() {
    // no-color.org: "when present and not an empty string".
    assert!(output_on_a_terminal(Some("")).contains('\x1b'));
}
