//! Randomness helpers: the local hours of a day, the id mixer and Walker's
//! alias table.

use super::*;

/// The local hour and length of each elapsed hour of the day, so the daily
/// rhythm follows local clocks on 23- and 25-hour days too.
pub(crate) fn local_hours(start: DateTime<Utc>, end: DateTime<Utc>, tz: Tz) -> Vec<(u32, i64)> {
    let len = (end - start).num_milliseconds();
    (0..(len + HOUR_MS - 1) / HOUR_MS)
        .map(|b| {
            let bucket_len = HOUR_MS.min(len - b * HOUR_MS);
            let middle = start + Duration::milliseconds(b * HOUR_MS + bucket_len / 2);
            (middle.with_timezone(&tz).hour(), bucket_len)
        })
        .collect()
}

/// SplitMix64's finaliser: a bijection on u64, so distinct inputs give
/// distinct ids, and it scatters seeds well.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Walker's alias method: O(1) sampling from a fixed discrete distribution,
/// cheaper than binary search in the hot loop.
pub(crate) struct AliasTable {
    /// Chance (scaled to 2^32) of keeping slot i rather than its alias.
    pub(crate) keep: Vec<u32>,
    pub(crate) alias: Vec<u32>,
}

impl AliasTable {
    pub(crate) fn new(weights: &[f64]) -> Self {
        let n = weights.len();
        let sum: f64 = weights.iter().sum();
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / sum).collect();
        let mut keep = vec![u32::MAX; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            keep[s] = (scaled[s] * 4_294_967_296.0) as u32;
            alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        AliasTable { keep, alias }
    }

    pub(crate) fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        let r = rng.next_u64();
        let i = (((r >> 32) * self.keep.len() as u64) >> 32) as usize;
        if (r as u32) < self.keep[i] {
            i
        } else {
            self.alias[i] as usize
        }
    }
}
