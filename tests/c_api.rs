//! The C ABI through C: the header is current, every example and C test
//! program compiles cleanly (also under ASan/UBSan) and runs against a real
//! daemon, and the contract's semantics hold when called through the
//! exported functions.

mod common;

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The header cbindgen generates now from src/ffi.rs and cbindgen.toml.
fn generated_header() -> String {
    let root = root();
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/ffi.rs"))
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("UTF-8 header")
}

/// include/nickpool.h is exactly what cbindgen generates; with
/// NICKPOOL_BLESS=1 it is rewritten instead.
#[test]
fn header_is_up_to_date() {
    let path = root().join("include/nickpool.h");
    let fresh = generated_header();
    if std::env::var_os("NICKPOOL_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == fresh,
        "include/nickpool.h is out of date with src/ffi.rs; run `NICKPOOL_BLESS=1 cargo test --test c_api header` and commit it"
    );
}
