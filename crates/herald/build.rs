//! Builds the PostgreSQL variants of the integration tests only when a test server is named
//! (`HERALD_TEST_POSTGRES_URL`); otherwise they are compiled as ignored, and reported so.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=HERALD_TEST_POSTGRES_URL");
    println!("cargo::rustc-check-cfg=cfg(herald_pg)");
    if std::env::var("HERALD_TEST_POSTGRES_URL").is_ok_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=herald_pg");
    }
}
