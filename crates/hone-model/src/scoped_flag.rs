//! A thread-local switch that is on for the length of one call, and back to what it was after
//! it, a panic included.

use std::cell::Cell;
use std::thread::LocalKey;

/// Runs `f` with `flag` set on this thread, then restores its earlier value.
pub(crate) fn with_flag_set<R>(flag: &'static LocalKey<Cell<bool>>, f: impl FnOnce() -> R) -> R {
    struct Restore(&'static LocalKey<Cell<bool>>, bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            self.0.with(|c| c.set(self.1));
        }
    }
    let _restore = Restore(flag, flag.with(|c| c.replace(true)));
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static FLAG: Cell<bool> = const { Cell::new(false) };
    }

    #[test]
    fn the_flag_is_set_inside_nested_calls_and_cleared_after_a_panic() {
        let seen = with_flag_set(&FLAG, || {
            let inner = with_flag_set(&FLAG, || FLAG.with(Cell::get));
            (inner, FLAG.with(Cell::get))
        });
        assert_eq!(
            seen,
            (true, true),
            "set inside, and still set after the inner call"
        );
        assert!(!FLAG.with(Cell::get));
        let caught = std::panic::catch_unwind(|| with_flag_set(&FLAG, || panic!("inside")));
        assert!(caught.is_err());
        assert!(!FLAG.with(Cell::get), "a panic restores it");
    }
}
