//! What the reader's machine has that a block needs: a CPython of a given version, huge
//! pages. Where a block's need is missing, the block is listed as ignored with one line on
//! what to install, as the Windows blocks are where Wine is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::markdown::{Interpreter, Need};

/// The CPython version a program answers with (`Python 3.12.1` → `(3, 12)`), if it runs.
fn version_of(program: &Path) -> Option<(u32, u32)> {
    let output = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|output| output.status.success())?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut numbers = text.trim().strip_prefix("Python ")?.split('.');
    let major = numbers.next()?.parse().ok()?;
    let minor = numbers.next()?.parse().ok()?;
    Some((major, minor))
}

/// Where the interpreter a block names is: `python3` on the PATH (3.9 or later), or
/// `python3.MINOR` on the PATH (pyenv's shim answers only while that version is
/// selected), else the newest patch release of that version in pyenv's versions.
/// Otherwise, what to install.
pub fn find_python(interpreter: Interpreter) -> Result<PathBuf, String> {
    let pyenv_root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| Path::new(&home).join(".pyenv"))
        });
    find_python_in(interpreter, pyenv_root.as_deref())
}

/// [`find_python`], with pyenv's root given.
pub fn find_python_in(
    interpreter: Interpreter,
    pyenv_root: Option<&Path>,
) -> Result<PathBuf, String> {
    let name = interpreter.command();
    match interpreter {
        Interpreter::Any => match version_of(Path::new("python3")) {
            Some((3, minor)) if minor >= 9 => Ok(PathBuf::from("python3")),
            Some((major, minor)) => Err(format!(
                "python3 is CPython {major}.{minor}; the book's scripts need 3.9 or later"
            )),
            None => {
                Err("no python3 on the PATH: install CPython 3.9 or later".to_owned())
            }
        },
        Interpreter::Minor(minor) => {
            let wanted = Some((3, minor));
            if version_of(Path::new(&name)) == wanted {
                return Ok(PathBuf::from(name));
            }
            pyenv_versions(pyenv_root, minor)
                .into_iter()
                .map(|dir| dir.join("bin").join(&name))
                .find(|program| version_of(program) == wanted)
                .ok_or_else(|| {
                    format!("no {name} here: install CPython 3.{minor} (e.g. pyenv install 3.{minor})")
                })
        }
    }
}

/// pyenv's installed versions `3.MINOR.PATCH`, newest patch first.
fn pyenv_versions(root: Option<&Path>, minor: u32) -> Vec<PathBuf> {
    let Some(versions) = root.map(|root| root.join("versions")) else {
        return Vec::new();
    };
    let prefix = format!("3.{minor}.");
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(&versions)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let patch = name.strip_prefix(&prefix)?.parse().ok()?;
            Some((patch, entry.path()))
        })
        .collect();
    found.sort_by_key(|(patch, _)| std::cmp::Reverse(*patch));
    found.into_iter().map(|(_, path)| path).collect()
}

/// What is missing for `need`, as a reader would fix it.
pub fn missing(need: Need) -> Option<String> {
    match need {
        Need::QuietMachine => None,
        Need::Python3 => find_python(Interpreter::Any).err(),
        Need::HugePages => {
            let path = "/sys/kernel/mm/transparent_hugepage/enabled";
            let setting = std::fs::read_to_string(path).unwrap_or_default();
            (!setting.contains("[always]") && !setting.contains("[madvise]")).then(
                || format!("transparent huge pages are off: echo madvise > {path}"),
            )
        }
    }
}
