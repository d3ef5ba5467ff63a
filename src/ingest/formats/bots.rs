//! Bot user agents, by the pattern list of the npm package `isbot`
//! (github.com/omrilotan/isbot, `src/patterns.json` of version 5.2.1,
//! commit 344052d of 2026-07-20, Unlicense), kept verbatim in
//! `isbot_patterns.json` so that an update is a copy of that file.
//!
//! Why not the `isbot` crate: it is a different project (BryanMorgan/isbot)
//! whose list last changed in June 2022; the npm list is updated every few
//! weeks and is what most analytics tools use. The patterns are
//! JavaScript regular expressions matched without case; all but six are
//! also valid for the `regex` crate and run as one alternation over bytes
//! (ASCII classes, as JavaScript's `\w`, `\b` and `\s` are); the six with
//! look-around, which `regex` does not have, are written out by hand below
//! and a test checks that the list still has exactly those.

use regex::bytes::{Regex, RegexBuilder};

const PATTERNS: &str = include_str!("isbot_patterns.json");

/// The look-around patterns of the list, matched by [`hand_written`].
const HAND_WRITTEN: [&str; 6] = [
    "(?:^|[^g])news(?!sapphire)",
    "(?<! channel/|google/)google(?!(?:wv|app|/google| pixel))",
    "(?<! cu)bots?(?:\\b|_)",
    "(?<!cam)scan",
    "(?<!lib)http",
    "java(?!;)",
];

/// The list as written, or an explanation of why it could not be read.
fn pattern_list() -> Result<Vec<String>, String> {
    serde_json::from_str(PATTERNS).map_err(|err| format!("isbot_patterns.json: {err}"))
}

/// A JavaScript pattern in the `regex` crate's syntax: JavaScript reads a
/// `-` after a class escape in a set (`[\w\d-.]`) as itself, `regex`
/// wants it escaped.
fn to_rust_syntax(pattern: &str) -> String {
    pattern
        .replace("\\w-", "\\w\\-")
        .replace("\\d-", "\\d\\-")
        .replace("\\s-", "\\s\\-")
}

fn compile(patterns: &[String]) -> Result<Regex, String> {
    let alternation = patterns
        .iter()
        .filter(|p| !HAND_WRITTEN.contains(&p.as_str()))
        .map(|p| to_rust_syntax(p))
        .collect::<Vec<_>>()
        .join("|");
    RegexBuilder::new(&alternation)
        .case_insensitive(true)
        .unicode(false)
        .size_limit(32 << 20)
        .build()
        .map_err(|err| format!("isbot patterns: {err}"))
}

/// Matches a user agent against the list.
#[derive(Debug, Clone)]
pub struct BotDetector {
    regex: Regex,
}

impl Default for BotDetector {
    fn default() -> Self {
        BotDetector::new()
    }
}

impl BotDetector {
    pub fn new() -> BotDetector {
        match pattern_list().and_then(|list| compile(&list)) {
            Ok(regex) => BotDetector { regex },
            // The list is compiled into the binary and compiled by the tests
            // below, so this cannot happen at run time.
            Err(err) => unreachable!("{err}"),
        }
    }

    /// Whether `user_agent` is a bot's by the list. Costs a regex scan:
    /// callers cache by user agent (`classify::Classifier` does).
    pub fn is_bot(&self, user_agent: &str) -> bool {
        !user_agent.is_empty()
            && (self.regex.is_match(user_agent.as_bytes())
                || hand_written(&user_agent.to_ascii_lowercase()))
    }
}

/// Every start of `needle` in `hay`.
fn starts<'h>(hay: &'h [u8], needle: &'h [u8]) -> impl Iterator<Item = usize> + 'h {
    memchr::memmem::find_iter(hay, needle)
}

/// The six look-around patterns over a lower-cased user agent.
fn hand_written(lower: &str) -> bool {
    let b = lower.as_bytes();
    let before = |i: usize, text: &[u8]| b.get(..i).is_some_and(|head| head.ends_with(text));
    let after = |i: usize, text: &[u8]| b.get(i..).is_some_and(|tail| tail.starts_with(text));
    let not_word = |i: usize| b.get(i).is_none_or(|c| !c.is_ascii_alphanumeric());
    // (?:^|[^g])news(?!sapphire)
    starts(b, b"news").any(|i| (i == 0 || b.get(i - 1) != Some(&b'g')) && !after(i + 4, b"sapphire"))
        // (?<! channel/|google/)google(?!(?:wv|app|/google| pixel))
        || starts(b, b"google").any(|i| {
            !before(i, b" channel/")
                && !before(i, b"google/")
                && ![&b"wv"[..], b"app", b"/google", b" pixel"]
                    .iter()
                    .any(|next| after(i + 6, next))
        })
        // (?<! cu)bots?(?:\b|_): `_` is a word character, so after `bot`
        // or `bots` comes anything but a letter or digit.
        || starts(b, b"bot").any(|i| {
            !before(i, b" cu") && (not_word(i + 3) || (b.get(i + 3) == Some(&b's') && not_word(i + 4)))
        })
        // (?<!cam)scan
        || starts(b, b"scan").any(|i| !before(i, b"cam"))
        // (?<!lib)http
        || starts(b, b"http").any(|i| !before(i, b"lib"))
        // java(?!;)
        || starts(b, b"java").any(|i| b.get(i + 4) != Some(&b';'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_compiles_and_its_look_arounds_are_the_hand_written_ones() {
        let list = pattern_list().unwrap();
        assert!(list.len() > 150, "{} patterns", list.len());
        compile(&list).unwrap();
        let look_around: Vec<&str> = list
            .iter()
            .map(String::as_str)
            .filter(|p| p.contains("(?<") || p.contains("(?!") || p.contains("(?="))
            .collect();
        let mut expected = HAND_WRITTEN.to_vec();
        expected.sort_unstable();
        let mut found = look_around.clone();
        found.sort_unstable();
        assert_eq!(found, expected);
    }

    #[test]
    fn bots_and_browsers() {
        let detector = BotDetector::new();
        for bot in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
            "curl/7.64.0",
            "Wget/1.21.2",
            "python-requests/2.31.0",
            "Go-http-client/1.1",
            "UptimeRobot/2.0; http://www.uptimerobot.com/",
            "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
            "Java/1.8.0_151",
            "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 3 subscribers; like FeedFetcher-Google)",
            "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)",
        ] {
            assert!(detector.is_bot(bot), "{bot}");
        }
        for browser in [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.43 Mobile Safari/537.36",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
            "Mozilla/5.0 (Linux; Android 8.0; CUBOT X18) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/64.0.3282.137 Mobile Safari/537.36",
            "Mozilla/5.0 (Linux; Android 9; SM-G960F) AppleWebKit/537.36 (KHTML, like Gecko) GoogleApp/1.0 Chrome/74.0 Mobile Safari/537.36",
            "",
        ] {
            assert!(!detector.is_bot(browser), "{browser}");
        }
    }

    #[test]
    fn hand_written_look_arounds() {
        assert!(hand_written("daily news reader"));
        assert!(!hand_written("gnews"));
        assert!(!hand_written("newssapphire"));
        assert!(hand_written("google web preview"));
        assert!(!hand_written("googleapp/1"));
        assert!(!hand_written("x channel/google"));
        assert!(hand_written("mybot_1"));
        assert!(hand_written("robots/1"));
        assert!(!hand_written("robotic"));
        assert!(!hand_written(" cubot"));
        assert!(!hand_written("webcamscan"));
        assert!(!hand_written("libhttp"));
        assert!(!hand_written("java;"));
        assert!(hand_written("java/1.8"));
    }
}
