//! Large kernel buffers (traces, tapes) allocated so that Linux backs them with 2 MiB pages.
//!
//! Why: a fresh allocation of tens of megabytes is mapped lazily, and every 4 KiB page costs a
//! page fault (with its zeroing) on the first write. The full trace of one Jansen-Rit run
//! (84 regions × 6 variables × 10,000 steps) is 40 MB: 10,000 faults, which took 18 ms of a
//! 60 ms forward pass on the benchmark machine (the same run without the full trace: 42 ms).
//! Transparent huge pages cut that to one fault per 2 MiB, but most distributions enable them
//! only for memory that asks (`/sys/kernel/mm/transparent_hugepage/enabled` = `madvise`), so
//! these helpers ask with `madvise(MADV_HUGEPAGE)` before the buffer is first touched. The
//! advice changes neither the contents nor the size of the buffer; where it is refused or the
//! system is not Linux, the buffer is the plain allocation.

/// Buffers smaller than this keep ordinary pages: the allocator serves them from memory that
/// is already mapped, and they span few pages.
const MIN_BYTES: usize = 4 << 20;

/// `vec![0.0; len]`, backed by huge pages where the system allows it.
pub fn zeroed(len: usize) -> Vec<f64> {
    // `vec![0.0; len]` allocates with `alloc_zeroed` (calloc), which for a large buffer maps
    // fresh zero pages without writing them: the advice still applies to every page.
    let v = vec![0.0; len];
    advise(v.as_ptr(), len);
    v
}

/// `Vec::with_capacity(cap)`, backed by huge pages where the system allows it.
pub fn with_capacity(cap: usize) -> Vec<f64> {
    let v = Vec::with_capacity(cap);
    advise(v.as_ptr(), cap);
    v
}

/// Asks for huge pages on the whole 2 MiB pages inside `len` values from `ptr` (none yet
/// written).
#[cfg(target_os = "linux")]
fn advise(ptr: *const f64, len: usize) {
    const HUGE: usize = 2 << 20;
    let bytes = len.saturating_mul(size_of::<f64>());
    if bytes < MIN_BYTES {
        return;
    }
    let start = (ptr as usize).div_ceil(HUGE) * HUGE;
    let end = (ptr as usize + bytes) / HUGE * HUGE;
    if end > start {
        // SAFETY: `[start, end)` lies inside the live allocation behind `ptr`; the advice does
        // not change its contents, and a refusal (EINVAL where THP is compiled out) is ignored.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise(_ptr: *const f64, _len: usize) {
    let _ = MIN_BYTES;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_plain_vectors() {
        let v = zeroed(1 << 20);
        assert_eq!(v.len(), 1 << 20);
        assert!(v.iter().all(|&x| x.to_bits() == 0));
        let mut w = with_capacity(1 << 20);
        assert!(w.is_empty() && w.capacity() >= 1 << 20);
        w.extend_from_slice(&v[..10]);
        assert_eq!(w, vec![0.0; 10]);
        assert!(zeroed(0).is_empty() && with_capacity(3).capacity() >= 3);
    }
}
