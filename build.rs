//! Build script: gives the C library (the cdylib) its versioned SONAME,
//! `libnickpool.so.1`, so programs linked against ABI version 1 load an
//! ABI 1 library and never a later, incompatible one. The number is the C
//! ABI version (`NICKPOOL_ABI_VERSION` in src/ffi.rs), not the crate's.

/// Must equal `nickpool::ffi::NICKPOOL_ABI_VERSION`; tests/c_api.rs checks
/// the SONAME of the built library.
const ABI_VERSION: u32 = 1;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let elf = matches!(
        target_os.as_str(),
        "linux" | "android" | "freebsd" | "netbsd" | "openbsd" | "dragonfly"
    );
    if elf {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnickpool.so.{ABI_VERSION}");
    }
}
