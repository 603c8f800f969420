//! Build script: finds DPDK 22.11 through pkg-config, generates Rust bindings
//! for the DPDK APIs Tandem uses, compiles the C shims for DPDK's static
//! inline functions and macros, and links DPDK as shared libraries (so the
//! EAL loads its PMD plugins from the driver directory at run time).

use std::env;
use std::path::PathBuf;
use std::process::Command;

const DPDK_MIN_VERSION: &str = "22.11";
const SHIM_HEADER: &str = "csrc/tandem_ffi.h";
const SHIM_SOURCE: &str = "csrc/tandem_ffi.c";

/// DPDK 22.11 headers contain packed structs holding aligned members, which
/// Rust cannot express; Tandem never uses them, so bindgen makes them opaque.
const OPAQUE_TYPES: &[&str] = &[
    "rte_arp_hdr",
    "rte_arp_ipv4",
    "rte_l2tpv2_combined_msg_hdr",
    "rte_gtp_psc_generic_hdr",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={SHIM_HEADER}");
    println!("cargo:rerun-if-changed={SHIM_SOURCE}");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_LIBDIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_SYSROOT_DIR");

    let dpdk = match pkg_config::Config::new()
        .atleast_version(DPDK_MIN_VERSION)
        .cargo_metadata(false)
        .probe("libdpdk")
    {
        Ok(lib) => lib,
        Err(err) => fail(&format!(
            "libdpdk >= {DPDK_MIN_VERSION} not found through pkg-config: {err}"
        )),
    };
    let cflags = dpdk_cflags();

    // The shim library first: it refers to DPDK symbols, so it must come
    // before the DPDK libraries on the linker command line.
    let mut shims = cc::Build::new();
    shims.file(SHIM_SOURCE).warnings(true);
    for flag in &cflags {
        shims.flag(flag);
    }
    shims.compile("tandem_ffi");

    for dir in &dpdk.link_paths {
        println!("cargo:rustc-link-search=native={}", dir.display());
    }
    for lib in &dpdk.libs {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }

    let mut builder = bindgen::Builder::default()
        .header(SHIM_HEADER)
        .clang_args(&cflags)
        .allowlist_function("rte_.*|tandem_.*")
        .allowlist_type("rte_.*")
        .allowlist_var("RTE_.*|RING_F_.*|SOCKET_ID_ANY")
        .derive_default(true)
        .layout_tests(true)
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    for ty in OPAQUE_TYPES {
        builder = builder.opaque_type(ty);
    }
    let bindings = match builder.generate() {
        Ok(b) => b,
        Err(err) => fail(&format!("bindgen failed on {SHIM_HEADER}: {err}")),
    };
    let out_dir = match env::var_os("OUT_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => fail("OUT_DIR is not set"),
    };
    if let Err(err) = bindings.write_to_file(out_dir.join("bindings.rs")) {
        fail(&format!("cannot write bindings.rs: {err}"));
    }
}

/// The compiler flags exactly as pkg-config gives them, including
/// `-include rte_config.h` and `-march=...`, which the pkg-config crate does
/// not hand back; bindgen and cc both need them.
fn dpdk_cflags() -> Vec<String> {
    let pkg_config = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_string());
    let output = match Command::new(&pkg_config)
        .args(["--cflags", "libdpdk"])
        .output()
    {
        Ok(out) if out.status.success() => out,
        Ok(out) => fail(&format!(
            "{pkg_config} --cflags libdpdk failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )),
        Err(err) => fail(&format!("cannot run {pkg_config}: {err}")),
    };
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn fail(message: &str) -> ! {
    eprintln!("dpdk-ffi build: {message}");
    std::process::exit(1);
}
