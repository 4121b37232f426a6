//! The transcript checker: find the console blocks of the book, run their commands,
//! compare.

pub mod load;
pub mod machine;
pub mod markdown;
pub mod normalise;
