//! On x86-64 Linux the fused ops' f32 products run on OpenBLAS (src/fused/openblas.rs), linked
//! statically from the system's library: Debian's `libopenblas-pthread-dev`, which
//! scripts/setup.sh installs. `HONE_OPENBLAS_INCLUDE` / `HONE_OPENBLAS_LIB` name another copy's
//! header folder and `libopenblas.a` folder; `HONE_OPENBLAS=off` builds without it (gemm's
//! kernels instead).

use std::env;
use std::path::PathBuf;

const DEBIAN_INCLUDE: &str = "/usr/include/x86_64-linux-gnu/openblas-pthread";
const DEBIAN_LIB: &str = "/usr/lib/x86_64-linux-gnu/openblas-pthread";

fn main() {
    println!("cargo::rustc-check-cfg=cfg(hone_openblas)");
    for var in [
        "HONE_OPENBLAS",
        "HONE_OPENBLAS_INCLUDE",
        "HONE_OPENBLAS_LIB",
    ] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    println!("cargo::rerun-if-changed=csrc/openblas_sgemm.c");
    let target = |key: &str| env::var(format!("CARGO_CFG_TARGET_{key}")).unwrap_or_default();
    // glibc's x86-64 Linux: the library Debian builds (not musl's).
    let linux_gnu_x86_64 =
        target("OS") == "linux" && target("ARCH") == "x86_64" && target("ENV") == "gnu";
    if !linux_gnu_x86_64 || env::var("HONE_OPENBLAS").as_deref() == Ok("off") {
        return;
    }
    let include = PathBuf::from(env::var("HONE_OPENBLAS_INCLUDE").unwrap_or(DEBIAN_INCLUDE.into()));
    let lib = PathBuf::from(env::var("HONE_OPENBLAS_LIB").unwrap_or(DEBIAN_LIB.into()));
    if !include.join("cblas.h").is_file() || !lib.join("libopenblas.a").is_file() {
        panic!(
            "hone-model: OpenBLAS not found ({} and {}): install Debian's \
             libopenblas-pthread-dev (scripts/setup.sh does), name another copy with \
             HONE_OPENBLAS_INCLUDE and HONE_OPENBLAS_LIB, or build without it with \
             HONE_OPENBLAS=off",
            include.join("cblas.h").display(),
            lib.join("libopenblas.a").display()
        );
    }
    // A new OpenBLAS (a Debian update) relinks.
    println!(
        "cargo::rerun-if-changed={}",
        include.join("cblas.h").display()
    );
    println!(
        "cargo::rerun-if-changed={}",
        lib.join("libopenblas.a").display()
    );
    cc::Build::new()
        .file("csrc/openblas_sgemm.c")
        // a system header: its declarations are not this file's warnings
        .flag("-isystem")
        .flag(include.to_string_lossy().as_ref())
        .opt_level(2)
        .compile("hone_openblas_sgemm");
    println!("cargo::rustc-link-search=native={}", lib.display());
    println!("cargo::rustc-link-lib=static=openblas");
    println!("cargo::rustc-link-lib=dylib=pthread");
    println!("cargo::rustc-link-lib=dylib=m");
    println!("cargo::rustc-cfg=hone_openblas");
}
