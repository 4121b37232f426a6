//! Memory a process holds and has written, so that every page of it is really resident.
//!
//! Memory that was only allocated costs nothing until it is touched: the kernel maps every
//! untouched page to one shared page of zeros. The chapters that weigh a parent's memory
//! need pages that are really there, each with data of its own.

/// The size of a memory page, the unit the kernel copies and counts.
#[cfg(unix)]
pub fn page_size() -> usize {
    // SAFETY: sysconf only reads a configuration value.
    let size = unsafe { nix::libc::sysconf(nix::libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

/// The size of a memory page: 4 KiB on the platforms this library has no call for.
#[cfg(not(unix))]
pub fn page_size() -> usize {
    4096
}

const MIB: usize = 1 << 20;

/// `mib` MiB of memory, every page written.
pub struct Ballast {
    bytes: Vec<u8>,
}

impl Ballast {
    /// Allocates `mib` MiB and writes every byte, so that every page is resident.
    pub fn new(mib: usize) -> Ballast {
        Ballast {
            bytes: vec![0xA5; mib * MIB],
        }
    }

    /// The size in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True for a ballast of 0 MiB.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The number of pages it spans.
    pub fn pages(&self) -> usize {
        self.bytes.len().div_ceil(page_size())
    }

    /// Writes one byte in each of the first `count` pages, and returns how many pages that
    /// was. One byte is enough: the kernel copies, and counts, whole pages.
    pub fn write_pages(&mut self, count: usize) -> usize {
        let page = page_size();
        let count = count.min(self.pages());
        for index in 0..count {
            let byte = &mut self.bytes[index * page];
            // A volatile write, so that the compiler cannot skip a write of the same value.
            // SAFETY: `byte` is a valid, exclusive reference.
            unsafe { std::ptr::write_volatile(byte, byte.wrapping_add(1)) };
        }
        count
    }
}
