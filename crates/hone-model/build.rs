//! On x86-64 Linux the fused ops' f32 products run on BLIS (src/fused/blis.rs), linked
//! statically from the system's library: Debian's `libblis-pthread-dev`, which
//! scripts/setup.sh installs. `HONE_BLIS_INCLUDE` / `HONE_BLIS_LIB` name another copy's header
//! folder and `libblis.a` folder; `HONE_BLIS=off` builds without it (gemm's kernels instead).

use std::env;
use std::path::PathBuf;

const DEBIAN_INCLUDE: &str = "/usr/include/x86_64-linux-gnu/blis-pthread";
const DEBIAN_LIB: &str = "/usr/lib/x86_64-linux-gnu/blis-pthread";

fn main() {
    println!("cargo::rustc-check-cfg=cfg(hone_blis)");
    for var in ["HONE_BLIS", "HONE_BLIS_INCLUDE", "HONE_BLIS_LIB"] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    println!("cargo::rerun-if-changed=csrc/blis_sgemm.c");
    let target = |key: &str| env::var(format!("CARGO_CFG_TARGET_{key}")).unwrap_or_default();
    // glibc's x86-64 Linux: the library Debian builds (not musl's).
    let linux_gnu_x86_64 =
        target("OS") == "linux" && target("ARCH") == "x86_64" && target("ENV") == "gnu";
    if !linux_gnu_x86_64 || env::var("HONE_BLIS").as_deref() == Ok("off") {
        return;
    }
    let include = PathBuf::from(env::var("HONE_BLIS_INCLUDE").unwrap_or(DEBIAN_INCLUDE.into()));
    let lib = PathBuf::from(env::var("HONE_BLIS_LIB").unwrap_or(DEBIAN_LIB.into()));
    if !include.join("blis.h").is_file() || !lib.join("libblis.a").is_file() {
        panic!(
            "hone-model: BLIS not found ({} and {}): install Debian's libblis-pthread-dev \
             (scripts/setup.sh does), name another copy with HONE_BLIS_INCLUDE and HONE_BLIS_LIB, \
             or build without it with HONE_BLIS=off",
            include.join("blis.h").display(),
            lib.join("libblis.a").display()
        );
    }
    // A new BLIS (a Debian update) relinks.
    println!(
        "cargo::rerun-if-changed={}",
        include.join("blis.h").display()
    );
    println!(
        "cargo::rerun-if-changed={}",
        lib.join("libblis.a").display()
    );
    cc::Build::new()
        .file("csrc/blis_sgemm.c")
        // a system header: its unused inline helpers are not this file's warnings
        .flag("-isystem")
        .flag(include.to_string_lossy().as_ref())
        .opt_level(2)
        .compile("hone_blis_sgemm");
    println!("cargo::rustc-link-search=native={}", lib.display());
    println!("cargo::rustc-link-lib=static=blis");
    println!("cargo::rustc-link-lib=dylib=pthread");
    println!("cargo::rustc-link-lib=dylib=m");
    println!("cargo::rustc-cfg=hone_blis");
}
