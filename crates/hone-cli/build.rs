//! A CUDA build finds cuBLAS, cuRAND and NVRTC where it was linked against them: the CUDA
//! prefix (`CUDA_PATH`, e.g. scripts/setup-cuda.sh's cache) goes into the binary's run path,
//! so a user with only the NVIDIA driver installed runs `hone` without setting
//! LD_LIBRARY_PATH. The driver's own libcuda.so.1 comes from the system, never from there.

fn main() {
    println!("cargo:rerun-if-env-changed=CUDA_PATH");
    let cuda = std::env::var_os("CARGO_FEATURE_CUDA").is_some();
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if let (true, true, Some(prefix)) = (cuda, linux, std::env::var_os("CUDA_PATH")) {
        let lib = std::path::Path::new(&prefix).join("lib");
        println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{}", lib.display());
    }
}
