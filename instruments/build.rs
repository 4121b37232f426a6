//! Turns every inline ```rust snippet of the book into a test (skeptic), run by `cargo
//! test`.
//!
//! It runs here, in the instruments' crate, rather than in forkspawn's: a build script of
//! forkspawn would run, with skeptic and its dependencies, in every crate that depends on
//! it. The chapters are forkspawn's (`../src/*.md`); the snippets use forkspawn, which
//! this crate depends on, so skeptic links them with it.
//!
//! A block that only pulls code in from a file (`{{#rustdoc_include …}}`) is left out
//! here: that code is the crate's own and compiles with it, and `mdbook test`, which
//! expands the directive, compiles it again as the reader sees it. Skeptic would see
//! the bare directive.

use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let book = Path::new("../src");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("book");
    fs::create_dir_all(&out).expect("cannot create OUT_DIR/book");
    println!("cargo:rerun-if-changed=../src/SUMMARY.md");
    let mut copies = Vec::new();
    for entry in fs::read_dir(book).expect("cannot list the chapters, ../src/") {
        let path = entry.expect("cannot list the chapters, ../src/").path();
        if path.extension().is_none_or(|e| e != "md") || path.ends_with("SUMMARY.md") {
            continue;
        }
        println!("cargo:rerun-if-changed={}", path.display());
        let text = fs::read_to_string(&path).expect("cannot read a chapter");
        let copy = out.join(path.file_name().expect("a chapter has a name"));
        // Skeptic asks cargo to rebuild when a copy changes: rewriting an unchanged copy
        // would make every build rebuild the crate.
        let contents = without_include_blocks(&text);
        if fs::read_to_string(&copy).ok().as_deref() != Some(contents.as_str()) {
            fs::write(&copy, contents).expect("cannot write OUT_DIR/book");
        }
        copies.push(copy);
    }
    copies.sort();
    skeptic::generate_doc_tests(&copies);
}

/// Relabels ```rust blocks whose every line is an mdBook directive as plain text,
/// keeping the line numbers that skeptic names its tests after.
fn without_include_blocks(markdown: &str) -> String {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut output = Vec::with_capacity(lines.len());
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        let is_rust_fence = line.starts_with("```rust");
        let end = (index + 1..lines.len()).find(|&i| lines[i].starts_with("```"));
        match (is_rust_fence, end) {
            (true, Some(end)) => {
                let body = &lines[index + 1..end];
                let only_directives = body
                    .iter()
                    .all(|l| l.trim().is_empty() || l.trim_start().starts_with("{{#"));
                output.push(if only_directives { "```text" } else { line });
                output.extend_from_slice(body);
                output.push(lines[end]);
                index = end + 1;
            }
            _ => {
                output.push(line);
                index += 1;
            }
        }
    }
    output.join("\n") + "\n"
}
