//! The `otpgate` binary: the command line over the server (feature `ssr`).

#[cfg(feature = "ssr")]
#[tokio::main]
async fn main() -> std::process::ExitCode {
    otpgate::server::cli::main().await
}

#[cfg(not(feature = "ssr"))]
fn main() {
    // The WASM build has no binary; cargo-leptos builds the library for the browser.
}
