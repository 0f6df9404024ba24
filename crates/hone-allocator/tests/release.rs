//! Freed memory stays resident for reuse until `release_freed_memory` hands it back, read from
//! the kernel's own count (`VmRSS`) in this test binary, which installs the allocator as the
//! binaries do.
#![cfg(target_os = "linux")]

#[global_allocator]
static GLOBAL: hone_allocator::Allocator = hone_allocator::Allocator;

fn resident_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS in /proc/self/status");
    let kib: f64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib / 1024.0
}

#[test]
fn freed_memory_is_kept_until_released_between_steps() {
    hone_allocator::keep_freed_memory();
    let before = resident_mib();
    // 256 buffers of 1 MiB, every page written: the size of a small model's activations.
    let buffers: Vec<Vec<u8>> = (0..256).map(|i| vec![i as u8 | 1; 1 << 20]).collect();
    let checksum: u64 = buffers.iter().map(|b| b[b.len() / 2] as u64).sum();
    assert!(checksum > 0);
    let allocated = resident_mib();
    assert!(
        allocated - before > 200.0,
        "256 MiB written: {before:.0} → {allocated:.0} MiB resident"
    );
    drop(buffers);
    let freed = resident_mib();
    assert!(
        freed > allocated - 64.0,
        "freed memory is kept for the next tensors: {allocated:.0} → {freed:.0} MiB resident"
    );
    hone_allocator::release_freed_memory();
    let released = resident_mib();
    assert!(
        released < freed - 128.0,
        "released at the step's end: {freed:.0} → {released:.0} MiB resident"
    );
}
