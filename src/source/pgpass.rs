//! The PostgreSQL password as libpq finds it: `PGPASSWORD`, else the first
//! matching line of `PGPASSFILE` or `~/.pgpass`
//! (`hostname:port:database:username:password`, `*` matching anything,
//! `\` escaping `:` and `\`). The client crate reads neither.

use postgres::Config;
use postgres::config::Host;

pub(crate) fn password(config: &Config) -> Option<String> {
    if let Ok(p) = std::env::var("PGPASSWORD")
        && !p.is_empty()
    {
        return Some(p);
    }
    let file = std::env::var_os("PGPASSFILE")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".pgpass")))?;
    let text = std::fs::read_to_string(file).ok()?;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        // libpq matches a socket directory as "localhost".
        Some(Host::Unix(_)) | None => "localhost".to_string(),
    };
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432)
        .to_string();
    let want = [
        host.as_str(),
        port.as_str(),
        config.get_dbname().unwrap_or(""),
        config.get_user().unwrap_or(""),
    ];
    find(&text, want)
}

/// The password of the first line matching `want` (host, port, db, user).
fn find(text: &str, want: [&str; 4]) -> Option<String> {
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split(line);
        if fields.len() < 5 {
            continue;
        }
        if fields[..4]
            .iter()
            .zip(want)
            .all(|(f, w)| f == "*" || f == w)
        {
            return Some(fields[4..].join(":"));
        }
    }
    None
}

fn split(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    fields.last_mut().expect("one field").push(n);
                }
            }
            ':' => fields.push(String::new()),
            c => fields.last_mut().expect("one field").push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_matching_line_wins_with_wildcards_and_escapes() {
        let text = "# comment\nother:5432:*:*:no\n*:5432:shop:analytics:pa\\:ss\\\\word\n*:*:*:*:fallback\n";
        assert_eq!(
            find(text, ["db.internal", "5432", "shop", "analytics"]).as_deref(),
            Some("pa:ss\\word")
        );
        assert_eq!(
            find(text, ["db.internal", "6432", "shop", "analytics"]).as_deref(),
            Some("fallback")
        );
        assert_eq!(find("a:b:c:d:e\n", ["x", "b", "c", "d"]), None);
    }
}
