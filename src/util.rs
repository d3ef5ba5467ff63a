//! Small formatting helpers shared by the jobs' messages.

/// An integer with thousands separators: 1234567 -> "1,234,567".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A count and its noun, singular for 1: `counted(1, "day")` is "1 day",
/// `counted(1234, "event")` "1,234 events".
pub(crate) fn counted(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{} {noun}s", thousands(n))
    }
}

/// Keep the items that can make a top `n`: sorted by `cmp` (best first),
/// then everything after the `n`-th that does not tie with it dropped. The
/// ties are kept so that the caller can break them by text it looks up only
/// for these candidates (top pages, trending items).
pub(crate) fn keep_top_candidates<T>(
    items: &mut Vec<T>,
    n: usize,
    mut cmp: impl FnMut(&T, &T) -> std::cmp::Ordering,
) {
    items.sort_unstable_by(&mut cmp);
    if n == 0 {
        items.clear();
    } else if items.len() > n {
        let mut end = n;
        while end < items.len() && cmp(&items[n - 1], &items[end]).is_eq() {
            end += 1;
        }
        items.truncate(end);
    }
}

/// Write data to stdout. A closed pipe (`| head`) is not an error: the
/// reader has what it wanted. Any other failure is a `StdoutError`, which
/// the job runner never retries (`crate::errors::StdoutError`): part of the data may already be out, and a
/// second attempt would print it twice.
pub(crate) fn print_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(crate::errors::StdoutError(e)))
        }
        _ => Ok(()),
    }
}

/// The value of one hexadecimal digit (either case).
pub(crate) fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Whether `text` matches `pattern`, where `*` matches any run of
/// characters (none included) and everything else itself.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1000), "1,000");
        assert_eq!(super::thousands(1234567), "1,234,567");
    }

    #[test]
    fn top_candidates_keep_the_ties_of_the_last_place() {
        let mut v = vec![1, 5, 3, 5, 3, 3, 2];
        super::keep_top_candidates(&mut v, 3, |a, b| b.cmp(a));
        assert_eq!(v, [5, 5, 3, 3, 3]);
        let mut v = vec![1, 2];
        super::keep_top_candidates(&mut v, 3, |a, b| b.cmp(a));
        assert_eq!(v, [2, 1]);
        super::keep_top_candidates(&mut v, 0, |a, b| b.cmp(a));
        assert!(v.is_empty());
    }

    #[test]
    fn counted() {
        assert_eq!(super::counted(0, "day"), "0 days");
        assert_eq!(super::counted(1, "site"), "1 site");
        assert_eq!(super::counted(1234, "event"), "1,234 events");
    }
}
