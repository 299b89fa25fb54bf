//! The runtime's threads yield the CPU to the game's: its I/O thread, its
//! decode thread and the blocking pool that encodes and decodes images run
//! as background work, and so do the threads of a horde embedded in the
//! game ([`crate::coordinator::embedded`]; a `horde serve` process keeps
//! normal priority). Without this, on a machine whose cores are all busy
//! (a game, its renderer, and the runtime encoding a 1024² picture), every
//! call that wakes the runtime — a submit, an answer — could hand the
//! game's core to the woken runtime thread in the middle of the game's
//! frame (measured: 28 µs per submit, hundreds of µs at p90).

/// Marks the calling thread as background work: Linux's `SCHED_BATCH`
/// (a woken thread does not preempt a running one) at nice 10. Elsewhere,
/// or if the system refuses, the thread runs as it was; nothing else
/// depends on it.
pub(crate) fn background() {
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: both calls take the calling thread (0) and plain values
        // (`param` outlives the call); they change only its scheduling.
        // On Linux `setpriority(PRIO_PROCESS, 0, …)` applies to the calling
        // thread alone.
        let (policy, nice) = unsafe {
            (
                libc::sched_setscheduler(0, libc::SCHED_BATCH, &param),
                libc::setpriority(libc::PRIO_PROCESS, 0, 10),
            )
        };
        if policy != 0 || nice != 0 {
            tracing::debug!("the runtime's thread keeps its scheduling priority");
        }
    }
}
