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

/// The size of a transparent huge page on x86_64 and most other 64-bit platforms.
pub const HUGE_PAGE: usize = 2 * MIB;

fn too_much(mib: usize, why: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::OutOfMemory,
        format!("cannot hold {mib} MiB: {why}"),
    )
}

/// Checks that `mib` MiB fit in the memory the kernel says is available, to the machine
/// and to the process's control group: a vector that does not fit would be granted all the
/// same (memory is overcommitted) and the process killed while writing it.
fn fits(mib: usize) -> std::io::Result<()> {
    fits_with_copy(mib, 0)
}

/// Checks that `mib` MiB fit, and a worker's copy of `copied_percent` % of them: what a
/// forked worker's writes to its parent's memory cost.
pub fn fits_with_copy(mib: usize, copied_percent: u8) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    if let Some(room) = crate::room::now()
        && mib + mib * usize::from(copied_percent) / 100 > room.mib()
    {
        let why = room.to_string();
        return Err(match mib > room.mib() {
            true => too_much(mib, &why),
            false => std::io::Error::new(
                std::io::ErrorKind::OutOfMemory,
                format!(
                    "cannot hold {mib} MiB and a worker's copy of {copied_percent}%: {why}"
                ),
            ),
        });
    }
    let _ = (mib, copied_percent);
    Ok(())
}

/// `mib` MiB of memory, every page written.
pub struct Ballast {
    memory: Memory,
}

enum Memory {
    /// From the allocator, in ordinary pages.
    #[cfg(not(target_os = "linux"))]
    Heap(Vec<u8>),
    /// Mapped on its own, aligned, and advised for transparent huge pages or against them.
    #[cfg(target_os = "linux")]
    Mapped(mapping::Mapping),
}

impl Ballast {
    /// Allocates `mib` MiB and writes every byte, so that every page is resident. Fails,
    /// rather than being killed for want of memory, when the machine has less than that
    /// available (`MemAvailable` in `/proc/meminfo`), or the process's control group
    /// allows less, or the allocator refuses.
    ///
    /// On Linux the memory is mapped on its own and advised against transparent huge pages
    /// (`MADV_NOHUGEPAGE`): on a kernel whose setting is `always`, the allocator's memory
    /// could come in 2 MiB pages, which a fork copies 512 times faster, and the chapters'
    /// figures would then depend on that setting.
    #[cfg(target_os = "linux")]
    pub fn new(mib: usize) -> std::io::Result<Ballast> {
        fits(mib)?;
        let pages = mapping::Pages::Small;
        Ok(Ballast {
            memory: Memory::Mapped(mapping::Mapping::new(mib * MIB, pages)?),
        })
    }

    /// Allocates `mib` MiB and writes every byte, so that every page is resident.
    #[cfg(not(target_os = "linux"))]
    pub fn new(mib: usize) -> std::io::Result<Ballast> {
        fits(mib)?;
        let mut memory: Vec<u8> = Vec::new();
        memory
            .try_reserve_exact(mib * MIB)
            .map_err(|_| too_much(mib, "the allocator refused"))?;
        // SAFETY: the room was reserved just above; every byte is written before the
        // length covers it. (`resize` would write them one by one in a debug build.)
        unsafe {
            memory.as_mut_ptr().write_bytes(0xA5, mib * MIB);
            memory.set_len(mib * MIB);
        }
        Ok(Ballast {
            memory: Memory::Heap(memory),
        })
    }

    /// Like [`Ballast::new`], but asks the kernel to back the memory with transparent huge
    /// pages of [`HUGE_PAGE`] bytes (`madvise(MADV_HUGEPAGE)` before the first write).
    /// Whether it does depends on the kernel's settings and free memory: see
    /// [`crate::inspect::MemoryUsage::huge`].
    #[cfg(target_os = "linux")]
    pub fn with_huge_pages(mib: usize) -> std::io::Result<Ballast> {
        fits(mib)?;
        Ok(Ballast {
            memory: Memory::Mapped(mapping::Mapping::new(
                mib * MIB,
                mapping::Pages::Huge,
            )?),
        })
    }

    fn bytes(&mut self) -> &mut [u8] {
        match &mut self.memory {
            #[cfg(not(target_os = "linux"))]
            Memory::Heap(bytes) => bytes,
            #[cfg(target_os = "linux")]
            Memory::Mapped(mapping) => mapping.bytes(),
        }
    }

    /// The size in bytes.
    pub fn len(&self) -> usize {
        match &self.memory {
            #[cfg(not(target_os = "linux"))]
            Memory::Heap(bytes) => bytes.len(),
            #[cfg(target_os = "linux")]
            Memory::Mapped(mapping) => mapping.len(),
        }
    }

    /// True for a ballast of 0 MiB.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of (ordinary) pages it spans.
    pub fn pages(&self) -> usize {
        self.len().div_ceil(page_size())
    }

    /// Writes one byte in each of the first `count` pages, and returns how many pages that
    /// was. One byte is enough: the kernel copies, and counts, whole pages.
    pub fn write_pages(&mut self, count: usize) -> usize {
        let page = page_size();
        let count = count.min(self.pages());
        let bytes = self.bytes();
        for index in 0..count {
            let byte = &mut bytes[index * page];
            // A volatile write, so that the compiler cannot skip a write of the same value.
            // SAFETY: `byte` is a valid, exclusive reference.
            unsafe { std::ptr::write_volatile(byte, byte.wrapping_add(1)) };
        }
        count
    }
}

#[cfg(target_os = "linux")]
mod mapping {
    use std::io;
    use std::num::NonZeroUsize;
    use std::ptr::NonNull;

    use nix::sys::mman::{
        MapFlags, MmapAdvise, ProtFlags, madvise, mmap_anonymous, munmap,
    };

    use super::HUGE_PAGE;

    /// Which pages the kernel is asked to back a mapping with.
    #[derive(Clone, Copy)]
    pub enum Pages {
        /// Ordinary 4 KiB pages only, whatever the kernel's transparent huge page setting.
        Small,
        /// Transparent huge pages, where the kernel can.
        Huge,
    }

    /// An anonymous private mapping whose data starts on a huge-page boundary.
    pub struct Mapping {
        base: Option<NonNull<u8>>,
        mapped: usize,
        offset: usize,
        len: usize,
    }

    // SAFETY: the mapping is owned by this value alone, like a `Vec`'s buffer.
    unsafe impl Send for Mapping {}

    impl Mapping {
        pub fn new(len: usize, pages: Pages) -> io::Result<Mapping> {
            let Some(mapped) = NonZeroUsize::new(len + HUGE_PAGE) else {
                unreachable!("a huge page is never empty");
            };
            let protection = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
            // SAFETY: a fresh anonymous mapping aliases nothing.
            let base = unsafe {
                mmap_anonymous(None, mapped, protection, MapFlags::MAP_PRIVATE)
            }?
            .cast::<u8>();
            let offset = base.as_ptr().align_offset(HUGE_PAGE);
            let mapping = Mapping {
                base: Some(base),
                mapped: mapped.get(),
                offset,
                len,
            };
            if len > 0 {
                // SAFETY: the range lies inside the mapping made above.
                let start = unsafe { base.add(offset) }.cast();
                let advice = match pages {
                    Pages::Small => MmapAdvise::MADV_NOHUGEPAGE,
                    Pages::Huge => MmapAdvise::MADV_HUGEPAGE,
                };
                unsafe { madvise(start, len, advice) }?;
            }
            let mut mapping = mapping;
            mapping.bytes().fill(0xA5);
            Ok(mapping)
        }

        pub fn len(&self) -> usize {
            self.len
        }

        pub fn bytes(&mut self) -> &mut [u8] {
            match self.base {
                // SAFETY: `offset + len` bytes past `base` lie inside the mapping, which
                // lives as long as `self` and is borrowed mutably through it.
                Some(base) => unsafe {
                    std::slice::from_raw_parts_mut(
                        base.as_ptr().add(self.offset),
                        self.len,
                    )
                },
                None => &mut [],
            }
        }
    }

    impl Drop for Mapping {
        fn drop(&mut self) {
            if let Some(base) = self.base.take() {
                // SAFETY: unmaps exactly what `new` mapped; nothing borrows it any more.
                let _ = unsafe { munmap(base.cast(), self.mapped) };
            }
        }
    }
}
