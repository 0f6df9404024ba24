//! `thread_count::settle` in a test binary of its own: it changes the process's environment,
//! which no other test may read at the same time, and it counts the bytes the process reads.

use candle_core::{Device, Tensor};
use hone_model::thread_count::{settle, THREADS_VAR};

/// Bytes this process has read through `read`-like calls (`rchar` in `/proc/self/io`).
fn bytes_read() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").expect("/proc/self/io");
    io.lines()
        .find_map(|line| line.strip_prefix("rchar: "))
        .expect("rchar in /proc/self/io")
        .trim()
        .parse()
        .expect("rchar is a number")
}

/// Bytes read while running `n` small matmuls, less the reads of `/proc/self/io` itself.
fn bytes_read_by_matmuls(n: usize) -> u64 {
    let a = Tensor::ones((8, 16), candle_core::DType::F32, &Device::Cpu).unwrap();
    let b = Tensor::ones((16, 8), candle_core::DType::F32, &Device::Cpu).unwrap();
    let probe = bytes_read();
    let probe_cost = bytes_read() - probe;
    let before = bytes_read();
    for _ in 0..n {
        let c = a.matmul(&b).unwrap();
        assert_eq!(c.to_vec2::<f32>().unwrap()[0][0], 16.0);
    }
    bytes_read() - before - probe_cost
}

#[test]
fn the_thread_count_is_settled_once_and_a_users_count_is_kept() {
    if !std::path::Path::new("/proc/self/io").exists() {
        // Only Linux says what a process reads; elsewhere check the variable alone.
        std::env::remove_var(THREADS_VAR);
        let threads = settle();
        assert_eq!(std::env::var(THREADS_VAR).unwrap(), threads.to_string());
        return;
    }
    // A count candle would not take is replaced by candle's own default.
    std::env::set_var(THREADS_VAR, "0");
    let threads = settle();
    assert!(threads >= 1);
    assert_eq!(std::env::var(THREADS_VAR).unwrap(), threads.to_string());
    // Once settled, a matmul reads no file (before, each read /proc/cpuinfo: kilobytes per
    // core, per matmul).
    let read = bytes_read_by_matmuls(50);
    assert!(
        read < 512,
        "50 matmuls read {read} bytes after the thread count was settled"
    );

    // A count the user set is kept, and is the one in force.
    std::env::set_var(THREADS_VAR, "3");
    assert_eq!(settle(), 3);
    assert_eq!(std::env::var(THREADS_VAR).unwrap(), "3");
}
