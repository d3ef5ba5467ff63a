//! Buffers kept from one day's scan or count for the next: a fresh buffer
//! of a few MiB costs the kernel's zeroing of its pages (2 MiB huge pages
//! here), which took a tenth of a rollup's time. Buffers cross threads
//! (a worker fills the rows that the writing thread counts), so a pool is
//! shared rather than kept per thread.

use std::sync::Mutex;

/// Buffers a pool keeps at most (two per worker thread is plenty).
const KEPT: usize = 8;

pub(crate) struct Pool<T>(Mutex<Vec<Vec<T>>>);

impl<T> Pool<T> {
    pub(crate) const fn new() -> Pool<T> {
        Pool(Mutex::new(Vec::new()))
    }

    /// An empty buffer, with the largest kept capacity.
    pub(crate) fn take(&self) -> Vec<T> {
        self.0
            .lock()
            .ok()
            .and_then(|mut kept| kept.pop())
            .unwrap_or_default()
    }

    /// Keep `buffer` for a later [`Pool::take`].
    pub(crate) fn give(&self, mut buffer: Vec<T>) {
        if buffer.capacity() == 0 {
            return;
        }
        buffer.clear();
        if let Ok(mut kept) = self.0.lock()
            && kept.len() < KEPT
        {
            kept.push(buffer);
            // The largest last, taken first.
            kept.sort_by_key(Vec::capacity);
        }
    }
}
