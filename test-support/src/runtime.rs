//! The Tokio runtime a test or bench with a plain `fn main` (or a body to
//! re-run in namespaces) drives its async code on.

/// Runs `body` to completion on a two-worker multi-thread runtime (the CI
/// machines have two cores).
pub fn block_on<F: std::future::Future>(body: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(body)
}
