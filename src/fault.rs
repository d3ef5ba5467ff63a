//! Test-only fault injection: a named point panics when the environment
//! variable `CRONLYTICS_FAULT` names it, so that the integration tests can
//! prove that a crash anywhere ends as a failed run. Compiled to nothing in
//! release builds (the tests run debug binaries).

/// Panic here if `CRONLYTICS_FAULT` is `point` (debug builds only).
#[inline]
pub(crate) fn inject(point: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("CRONLYTICS_FAULT").is_ok_and(|v| v == point) {
        panic!("fault injected at {point} (CRONLYTICS_FAULT)");
    }
    #[cfg(not(debug_assertions))]
    let _ = point;
}
