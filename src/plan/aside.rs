//! Work the planner hands to a thread of its own while it goes on (hashing a large part of a
//! plan, making the compensations beside the forward steps), and the same work split over
//! the machine's cores. Where the system gives no thread, the work is done on the caller's
//! thread instead: the result is the same, only later.

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{Scope, ScopedJoinHandle};

/// Work running on a thread of `'scope`, or already done on this one.
pub(crate) enum Aside<'scope, T> {
    Running(ScopedJoinHandle<'scope, T>),
    Done(T),
}

impl<'scope, T: Send + 'scope> Aside<'scope, T> {
    /// Starts `work` on a thread of `scope`; does it here if no thread can be had.
    pub(crate) fn spawn<'env, F>(scope: &'scope Scope<'scope, 'env>, work: F) -> Self
    where
        F: FnOnce() -> T + Send + 'scope,
    {
        // The work is shared with the thread, so that it is still here if the thread never
        // starts: `spawn_scoped` drops what it was given when it fails.
        let shared = Arc::new(Mutex::new(Some(work)));
        let theirs = Arc::clone(&shared);
        let started = std::thread::Builder::new().spawn_scoped(scope, move || {
            let work = theirs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
                .unwrap_or_else(|| unreachable!("the work is taken once"));
            work()
        });
        match started {
            Ok(handle) => Aside::Running(handle),
            Err(_) => {
                let work = shared
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take()
                    .unwrap_or_else(|| unreachable!("a thread that never started took nothing"));
                Aside::Done(work())
            }
        }
    }

    /// The result, once the work is done; a panic in it goes on here.
    pub(crate) fn join(self) -> T {
        match self {
            Aside::Running(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Aside::Done(result) => result,
        }
    }
}

/// `work` applied to every item, in order, the items split into at most one run per core,
/// each of at least `at_least` items (a smaller run is not worth a thread); the last run is
/// done on this thread.
pub(crate) fn map_split<T, R, F>(items: &[T], at_least: usize, work: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    let most = items.len() / at_least.max(1);
    let runs = match most {
        0 | 1 => 1,
        _ => most.min(std::thread::available_parallelism().map_or(1, usize::from)),
    };
    if runs == 1 {
        return items.iter().map(&work).collect();
    }
    let length = items.len().div_ceil(runs);
    let work = &work;
    std::thread::scope(|scope| {
        let mut chunks = items.chunks(length);
        let last = chunks.next_back();
        let aside: Vec<Aside<'_, Vec<R>>> = chunks
            .map(|chunk| Aside::spawn(scope, move || chunk.iter().map(work).collect()))
            .collect();
        let last: Vec<R> = last.into_iter().flatten().map(work).collect();
        let mut all = Vec::with_capacity(items.len());
        for part in aside {
            all.extend(part.join());
        }
        all.extend(last);
        all
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_map_keeps_the_order_of_the_items() {
        let items: Vec<u32> = (0..1001).collect();
        for at_least in [1, 7, 500, 2000] {
            let squares = map_split(&items, at_least, |n| n * n);
            assert_eq!(squares, items.iter().map(|n| n * n).collect::<Vec<_>>());
        }
        assert!(map_split(&[] as &[u32], 1, |n| *n).is_empty());
    }

    #[test]
    fn work_aside_gives_its_result_on_join() {
        let text = String::from("plan");
        let length = std::thread::scope(|scope| Aside::spawn(scope, || text.len()).join());
        assert_eq!(length, 4);
    }
}
