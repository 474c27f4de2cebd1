//! Build-time facts cargo does not notice on its own.

fn main() {
    // `sqlx::migrate!` embeds the migration files at compile time; a new file in the folder
    // must rebuild the crate.
    println!("cargo:rerun-if-changed=../migrations");
    prebuilt_duckdb_rpath();
}

/// With `warehouse-duckdb` linking a prebuilt libduckdb (not `-bundled`), records its
/// folder as the binaries' rpath, so they find the library at run time without
/// LD_LIBRARY_PATH.
fn prebuilt_duckdb_rpath() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    let prebuilt = std::env::var_os("CARGO_FEATURE_WAREHOUSE_DUCKDB").is_some()
        && std::env::var_os("CARGO_FEATURE_WAREHOUSE_DUCKDB_BUNDLED").is_none();
    if let (true, Some(dir)) = (prebuilt, std::env::var_os("DUCKDB_LIB_DIR")) {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.to_string_lossy());
    }
    export_allocator();
}

/// The binary's jemalloc (main.rs) defines malloc and its kin; exported, they are what the
/// shared libraries it loads (libduckdb) call too, instead of glibc's.
fn export_allocator() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    for symbol in [
        "malloc",
        "free",
        "calloc",
        "realloc",
        "posix_memalign",
        "aligned_alloc",
        "memalign",
        "valloc",
        "malloc_usable_size",
    ] {
        println!("cargo:rustc-link-arg-bins=-Wl,--export-dynamic-symbol={symbol}");
    }
}
