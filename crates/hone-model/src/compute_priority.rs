//! Which threads a long computation runs on, and at what CPU priority.
//!
//! A fine-tune started from the server or the desktop app shares the machine with the people
//! labeling through it: every "next item" and "save" is a short burst of CPU that should not
//! queue behind a training step. [`ComputePriority::Background`] runs the computation on a
//! pool of its own whose threads the OS schedules after everyone else's (nice 10 on Linux,
//! the utility QoS class on macOS; elsewhere the pool keeps normal priority), so a training
//! job takes the CPU the requests leave and loses nothing when the machine is otherwise idle.
//! candle's matmuls and every other rayon loop inside the computation run on that pool (rayon
//! runs nested parallel work on the pool it is called from), and so do the fused ops' products
//! (OpenBLAS's and gemm's bands, `fused::product_parts`), which ask [`in_background`] where to
//! split. What candle itself hands to its own workers (its barrier pool: the fused ops' row
//! loops) runs at the priority of the thread that first started them.
//!
//! The CLI's `hone train` keeps [`ComputePriority::Normal`]: run in a terminal, it is the
//! work its user waits for.

use std::sync::OnceLock;

/// The nice value of background compute threads on Linux: a nice-0 thread that wants the
/// CPU gets ~10× the share of one at 10 (the kernel's weights 1024 and 110).
#[cfg(target_os = "linux")]
const BACKGROUND_NICE: libc::c_int = 10;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ComputePriority {
    /// On the calling thread, candle's matmuls on rayon's global pool.
    #[default]
    Normal,
    /// On the background pool, at the OS's lower priority.
    Background,
}

impl ComputePriority {
    /// Runs `work` (blocking until it returns) with this priority. A panic in `work` reaches
    /// the caller as it would have on the calling thread.
    pub fn run<T: Send>(self, work: impl FnOnce() -> T + Send) -> T {
        match (self, background_pool()) {
            (ComputePriority::Background, Some(pool)) => pool.install(work),
            _ => work(),
        }
    }
}

static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();

/// Whether the calling thread is one of the background pool's: work that fans out over
/// threads of its own choosing (the fused ops' products) stays on that pool there.
pub fn in_background() -> bool {
    POOL.get()
        .and_then(Option::as_ref)
        .is_some_and(|pool| pool.current_thread_index().is_some())
}

/// The background pool, built on first use with as many threads as candle's matmuls use;
/// `None` (the work runs on the caller's thread) when the OS refused the threads.
fn background_pool() -> Option<&'static rayon::ThreadPool> {
    POOL.get_or_init(|| {
        let built = rayon::ThreadPoolBuilder::new()
            .num_threads(candle_core::utils::get_num_threads())
            .thread_name(|i| format!("hone-background-{i}"))
            .start_handler(|_| lower_this_threads_priority())
            .build();
        match built {
            Ok(pool) => Some(pool),
            Err(e) => {
                tracing::warn!("no background compute threads ({e}); training at normal priority");
                None
            }
        }
    })
    .as_ref()
}

/// Asks the OS to schedule the calling thread after normal-priority ones. Lowering one's own
/// priority needs no privilege; where it is refused the thread stays as it was.
fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    {
        // Linux's nice is per thread: PRIO_PROCESS with a thread id sets that thread's.
        let tid = unsafe { libc::gettid() };
        let who = tid as libc::id_t;
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, who, BACKGROUND_NICE) } != 0 {
            tracing::debug!(
                "could not lower a compute thread's priority: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    #[cfg(target_vendor = "apple")]
    {
        // `<pthread/qos.h>`; the libc crate keeps its own binding private.
        extern "C" {
            fn pthread_set_qos_class_self_np(class: u32, relative: libc::c_int) -> libc::c_int;
        }
        const QOS_CLASS_UTILITY: u32 = 0x11;
        unsafe { pthread_set_qos_class_self_np(QOS_CLASS_UTILITY, 0) };
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// This thread's nice value.
    fn nice() -> libc::c_int {
        let tid = unsafe { libc::gettid() };
        unsafe { libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t) }
    }

    fn thread_name() -> String {
        std::thread::current().name().unwrap_or_default().to_owned()
    }

    #[test]
    fn background_work_and_its_parallel_loops_run_on_lowered_threads_and_normal_work_does_not() {
        use rayon::prelude::*;
        let caller = nice();
        let (outer, inner) = ComputePriority::Background.run(|| {
            // What candle's matmul does: a parallel loop from inside the work.
            let inner: Vec<(libc::c_int, String)> = (0..64)
                .into_par_iter()
                .map(|_| (nice(), thread_name()))
                .collect();
            ((nice(), thread_name()), inner)
        });
        assert!(
            !in_background(),
            "a normal thread taken for the background pool's"
        );
        assert!(ComputePriority::Background.run(in_background));
        assert!(!ComputePriority::Normal.run(in_background));
        assert!(outer.0 >= BACKGROUND_NICE, "nice {}", outer.0);
        assert!(outer.1.starts_with("hone-background-"), "{}", outer.1);
        for (nice, name) in inner {
            assert!(nice >= BACKGROUND_NICE, "nice {nice} on {name}");
            assert!(name.starts_with("hone-background-"), "{name}");
        }
        assert_eq!(nice(), caller, "the caller's own priority is untouched");
        let normal = ComputePriority::Normal.run(|| (nice(), thread_name()));
        assert_eq!(
            normal,
            (caller, thread_name()),
            "normal work runs on the caller"
        );
    }

    #[test]
    fn a_panic_in_background_work_reaches_the_caller() {
        let caught = std::panic::catch_unwind(|| {
            ComputePriority::Background.run(|| -> usize { panic!("stage broke") })
        });
        let message = caught.expect_err("the panic comes back");
        assert_eq!(message.downcast_ref::<&str>(), Some(&"stage broke"));
        assert_eq!(
            ComputePriority::Background.run(|| 2 + 2),
            4,
            "the pool lives on"
        );
    }
}
