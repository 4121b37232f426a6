//! Looking for bytes in this process's own writable memory: whether a secret is there,
//! rather than whether a variable says it is.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;

/// How much of a mapping is read at a time.
const CHUNK: usize = 1 << 20;

/// Whether `needle` lies anywhere in this process's writable memory (its heap, stacks,
/// statics and anonymous mappings, as `/proc/self/maps` lists them), outside the
/// `needle` buffer itself. Memory is read through `/proc/self/mem`, so an unmapped page
/// is an error of the read, never a fault.
pub fn writable_memory_holds(needle: &[u8]) -> io::Result<bool> {
    if needle.is_empty() {
        return Ok(true);
    }
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let memory = File::open("/proc/self/mem")?;
    let mut buffer = vec![0u8; CHUNK + needle.len()];
    // The needle, and the buffer that holds what was read, hold the bytes looked for.
    let own = [address_range(needle), address_range(&buffer)];
    for region in maps.lines().filter_map(writable_region) {
        let mut start = region.start;
        while start < region.end {
            let length = (region.end - start).min(buffer.len());
            let read = match memory.read_at(&mut buffer[..length], start as u64) {
                Ok(read) => read,
                Err(_) => break, // a guard page, or a mapping gone meanwhile
            };
            let found =
                buffer[..read]
                    .windows(needle.len())
                    .enumerate()
                    .any(|(at, window)| {
                        window == needle
                            && !own.iter().any(|r| r.contains(&(start + at)))
                    });
            if found {
                return Ok(true);
            }
            if read < needle.len() {
                break;
            }
            start += read - (needle.len() - 1); // so that a match across two reads counts
        }
    }
    Ok(false)
}

fn address_range(bytes: &[u8]) -> Range<usize> {
    let start = bytes.as_ptr() as usize;
    start..start + bytes.len()
}

/// The address range of a readable, writable line of `/proc/self/maps`.
fn writable_region(line: &str) -> Option<Range<usize>> {
    let mut fields = line.split_whitespace();
    let (start, end) = fields.next()?.split_once('-')?;
    let permissions = fields.next()?;
    if !permissions.starts_with("rw") {
        return None;
    }
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    Some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_bytes_on_the_heap_and_not_bytes_that_are_nowhere() {
        // Both made at run time, from parts, so that neither lies in the program's image.
        let tail: String = ["q", "u", "i", "e", "t"].concat();
        let held = format!("held-by-the-heap-{tail}-{}", std::process::id());
        let absent: Vec<u8> = held.bytes().rev().map(|b| b ^ 0x20).collect();
        let needle = held.as_bytes().to_vec();
        assert!(writable_memory_holds(&needle).unwrap());
        assert!(!writable_memory_holds(&absent).unwrap());
        std::hint::black_box(&held);
    }

    #[test]
    fn reads_only_writable_lines_of_the_maps() {
        let line = "7f00a000-7f00b000 rw-p 00000000 00:00 0 ";
        assert_eq!(writable_region(line), Some(0x7f00a000..0x7f00b000));
        assert_eq!(
            writable_region("7f00a000-7f00b000 r-xp 0 08:01 1 /lib/x.so"),
            None
        );
    }
}
