//! The process's memory, given back to the system between stages.
//!
//! glibc's malloc keeps the pages a stage frees for its own reuse: the
//! evaluations' buffers, spread over every worker thread's arena, stay in
//! the process's resident memory while the gate builds its tables. `check`
//! at a million cases holds one stage's tables at a time, so its peak is
//! the largest stage only if the earlier ones are given back (at a million
//! cases, 174 MB without, 129 MB with; README, "How `check` keeps its
//! memory flat").

/// Gives the free pages malloc holds back to the system: between stages,
/// after one stage's buffers are freed and before the next builds its own.
/// Does nothing where the allocator is not glibc's.
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory malloc holds and does not use.
    unsafe {
        libc::malloc_trim(0);
    }
}
