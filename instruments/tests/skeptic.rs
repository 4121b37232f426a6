//! The book's inline ```rust snippets (in `../src/*.md`), compiled and run (generated
//! by build.rs with skeptic).

include!(concat!(env!("OUT_DIR"), "/skeptic-tests.rs"));
