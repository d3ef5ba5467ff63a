//! The same traffic as an access log: each event becomes the request a web
//! server would log for it, with the requests a real log has around them
//! (assets, crawlers, errors, redirects, API posts, a request logged twice),
//! in time order. Apache/nginx `combined` for one site, `vhost-combined`
//! (the site name as the virtual host) for several. Everything beyond the
//! events is drawn from a hash of the event, so the same options give the
//! same bytes.
//!
//! An order is `GET /checkout/thank-you?order=N&total=49.90`, a custom event
//! `GET /goal/<name>`: `[[logs.goal]]` entries on those paths give back the
//! orders, their revenue and the custom events.

use chrono::{Offset, TimeZone};

use super::*;

/// Browsers' user agents; a visitor keeps one.
const BROWSERS: [&str; 8] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
];

/// Crawlers, monitors and scripts, with the address each comes from.
const BOTS: [(&str, &str); 7] = [
    (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "66.249.66.1",
    ),
    (
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "157.55.39.12",
    ),
    (
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "54.36.148.90",
    ),
    (
        "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
        "5.255.253.2",
    ),
    ("curl/8.5.0", "203.0.113.50"),
    ("python-requests/2.31.0", "198.51.100.23"),
    (
        "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
        "178.255.152.2",
    ),
];

const ASSETS: [&str; 6] = [
    "/static/app.3f9a1c.css",
    "/static/app.js",
    "/img/logo.png",
    "/fonts/inter.woff2",
    "/favicon.ico",
    "/img/hero.webp",
];

const PROBES: [&str; 4] = ["/wp-login.php", "/.env", "/xmlrpc.php", "/admin/config.php"];

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// One request to log.
struct Line {
    ts_ms: i64,
    /// Order of the requests of one second as they were made.
    order: u32,
    text: Vec<u8>,
}

/// Writes events as access-log lines, a day at a time, sorted by time.
pub(crate) struct AccessLogWriter<'a> {
    out: &'a mut dyn Write,
    tz: Tz,
    vhost: bool,
    lines: Vec<Line>,
    /// Local day (UTC offset applied) and its `dd/Mon/yyyy:` text.
    date_cache: (i64, [u8; 12]),
    /// The UTC hour and the zone's offset then, as `+hhmm`.
    offset_cache: (i64, i64, [u8; 5]),
    buf: Vec<u8>,
}

impl<'a> AccessLogWriter<'a> {
    pub(crate) fn new(out: &'a mut dyn Write, tz: Tz, sites: usize) -> Self {
        AccessLogWriter {
            out,
            tz,
            vhost: sites > 1,
            lines: Vec::new(),
            date_cache: (i64::MIN, [0; 12]),
            offset_cache: (i64::MIN, 0, [0; 5]),
            buf: Vec::with_capacity(FLUSH_AT + 4096),
        }
    }

    /// Log the requests of `events` (one day's, in time order) and the
    /// noise around them; `summary.events` counts lines.
    pub(crate) fn write_events(
        &mut self,
        events: &[Event],
        sites: &[SiteGen],
        summary: &mut GenerateSummary,
    ) -> Result<()> {
        // `self.lines` holds the requests carried over from the day before.
        for (n, e) in events.iter().enumerate() {
            self.requests_of(e, n as u32, &sites[e.site as usize]);
            if e.kind == Kind::Order {
                summary.orders += 1;
                summary.revenue_cents += u64::from(e.revenue_cents);
            }
        }
        let mut lines = std::mem::take(&mut self.lines);
        lines.sort_by_key(|l| (l.ts_ms / 1000, l.order));
        // Requests after the day's last event (a crawler a few minutes
        // later) wait for the next day's, so the log stays in time order.
        let last = events.last().map_or(i64::MAX, |e| e.ts_ms / 1000);
        let due = lines.partition_point(|l| l.ts_ms / 1000 <= last);
        self.lines = lines.split_off(due);
        self.write_lines(&lines, summary)
    }

    fn write_lines(&mut self, lines: &[Line], summary: &mut GenerateSummary) -> Result<()> {
        for line in lines {
            self.push_time(line.ts_ms, &line.text);
            summary.events += 1;
            if self.buf.len() >= FLUSH_AT {
                self.flush_buf()?;
            }
        }
        Ok(())
    }

    /// The request of one event, and what a server logs around it.
    fn requests_of(&mut self, e: &Event, n: u32, site: &SiteGen) {
        let h = mix64(e.session ^ u64::from(e.seq).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let addr = client_addr(e.visitor);
        let agent = BROWSERS[(mix64(e.visitor) % BROWSERS.len() as u64) as usize];
        let order = n * 8;
        let page_url = |path: &str| format!("https://{}{path}", site.name);
        match e.kind {
            Kind::Pageview => {
                let path = site.paths[e.detail as usize].as_str();
                let target = format!("{path}{}", QUERIES[e.query as usize]);
                let referer = if e.seq == 0 {
                    REFERRERS[e.referrer as usize]
                        .0
                        .filter(|r| !r.is_empty())
                        .unwrap_or("-")
                        .to_string()
                } else {
                    page_url("/")
                };
                let status = if h % 500 == 7 { 500 } else { 200 };
                let bytes = 2_000 + h % 40_000;
                let line =
                    self.request(site, &addr, "GET", &target, status, bytes, &referer, agent);
                if h % 2000 == 11 {
                    // The same request twice in one second.
                    self.log(e.ts_ms, order, line.clone());
                }
                self.log(e.ts_ms, order, line);
                let referer = page_url(path);
                for i in 0..(h >> 8) % 4 {
                    // A page's assets are distinct.
                    let asset = ASSETS[(((h >> 12) + i) % ASSETS.len() as u64) as usize];
                    let status = if (h >> (20 + i)).is_multiple_of(5) {
                        304
                    } else {
                        200
                    };
                    let text = self.request(
                        site,
                        &addr,
                        "GET",
                        asset,
                        status,
                        900 + (h >> 30) % 9000,
                        &referer,
                        agent,
                    );
                    self.log(e.ts_ms + 300 * (i as i64 + 1), order + 1 + i as u32, text);
                }
                if h % 7 == 3 {
                    let (bot, bot_addr) = BOTS[((h >> 40) % BOTS.len() as u64) as usize];
                    let target = if (h >> 44).is_multiple_of(4) {
                        "/robots.txt"
                    } else {
                        path
                    };
                    let text = self.request(
                        site,
                        bot_addr,
                        "GET",
                        target,
                        200,
                        5_000 + (h >> 20) % 20_000,
                        "-",
                        bot,
                    );
                    self.log(e.ts_ms + ((h >> 24) % 600_000) as i64, order + 5, text);
                }
                if h % 50 == 5 {
                    let probe = PROBES[((h >> 36) % PROBES.len() as u64) as usize];
                    let text = self.request(site, &addr, "GET", probe, 404, 162, "-", agent);
                    self.log(e.ts_ms + 2_000, order + 6, text);
                }
                if h % 60 == 9 {
                    let text =
                        self.request(site, &addr, "GET", "/old-page", 301, 0, &referer, agent);
                    self.log(e.ts_ms + 1_500, order + 6, text);
                }
                if h % 20 == 13 {
                    let text =
                        self.request(site, &addr, "POST", "/api/cart", 200, 74, &referer, agent);
                    self.log(e.ts_ms + 2_500, order + 7, text);
                }
            }
            Kind::Custom => {
                let name = site.profile.event_names[e.detail as usize].0;
                let text = self.request(
                    site,
                    &addr,
                    "GET",
                    &format!("/goal/{name}"),
                    200,
                    43,
                    &page_url("/"),
                    agent,
                );
                self.log(e.ts_ms, order, text);
            }
            Kind::Order => {
                let cents = e.revenue_cents;
                let target = format!(
                    "/checkout/thank-you?order={:x}&total={}.{:02}",
                    e.session & 0xff_ffff,
                    cents / 100,
                    cents % 100
                );
                let text = self.request(
                    site,
                    &addr,
                    "GET",
                    &target,
                    200,
                    8_000 + h % 3000,
                    &page_url("/checkout"),
                    agent,
                );
                self.log(e.ts_ms, order, text);
            }
        }
    }

    fn log(&mut self, ts_ms: i64, order: u32, text: Vec<u8>) {
        self.lines.push(Line { ts_ms, order, text });
    }

    /// A line without its time: `[vhost ]addr - - ` then, after the time
    /// that `push_time` inserts at the `\0`, the request and the rest.
    #[allow(clippy::too_many_arguments)]
    fn request(
        &self,
        site: &SiteGen,
        addr: &str,
        method: &str,
        target: &str,
        status: u16,
        bytes: u64,
        referer: &str,
        agent: &str,
    ) -> Vec<u8> {
        let mut text = Vec::with_capacity(200);
        if self.vhost {
            text.extend_from_slice(site.name.as_bytes());
            text.push(b' ');
        }
        text.extend_from_slice(addr.as_bytes());
        text.extend_from_slice(b" - - \0 \"");
        text.extend_from_slice(method.as_bytes());
        text.push(b' ');
        text.extend_from_slice(target.as_bytes());
        text.extend_from_slice(b" HTTP/1.1\" ");
        push_decimal(&mut text, u64::from(status));
        text.push(b' ');
        push_decimal(&mut text, bytes);
        text.extend_from_slice(b" \"");
        text.extend_from_slice(referer.as_bytes());
        text.extend_from_slice(b"\" \"");
        text.extend_from_slice(agent.as_bytes());
        text.extend_from_slice(b"\"\n");
        text
    }

    /// `text` with `[dd/Mon/yyyy:HH:MM:SS +hhmm]` (local time in the zone)
    /// at its `\0`.
    fn push_time(&mut self, ms: i64, text: &[u8]) {
        let hour = ms.div_euclid(3_600_000);
        if hour != self.offset_cache.0 {
            let at = self.tz.timestamp_millis_opt(hour * 3_600_000).single();
            let secs = at.map_or(0, |t| i64::from(t.offset().fix().local_minus_utc()));
            let minutes = secs.abs() / 60;
            let mut sign = [0u8; 5];
            sign[0] = if secs < 0 { b'-' } else { b'+' };
            for (i, v) in [
                minutes / 60 / 10,
                minutes / 60 % 10,
                minutes % 60 / 10,
                minutes % 10,
            ]
            .into_iter()
            .enumerate()
            {
                sign[i + 1] = b'0' + v as u8;
            }
            self.offset_cache = (hour, secs * 1000, sign);
        }
        let local = ms + self.offset_cache.1;
        let day = local.div_euclid(86_400_000);
        if day != self.date_cache.0 {
            let (y, m, d) = civil_from_days(day);
            let mut date = [0u8; 12];
            date.copy_from_slice(
                format!(
                    "{d:02}/{}/{y:04}:",
                    std::str::from_utf8(MONTHS[m as usize - 1]).unwrap_or("Jan")
                )
                .as_bytes(),
            );
            self.date_cache = (day, date);
        }
        let secs = (local.rem_euclid(86_400_000) / 1000) as u32;
        let two = |v: u32| [b'0' + (v / 10) as u8, b'0' + (v % 10) as u8];
        let split = text.iter().position(|&b| b == 0).unwrap_or(0);
        self.buf.extend_from_slice(&text[..split]);
        self.buf.push(b'[');
        self.buf.extend_from_slice(&self.date_cache.1);
        let [h1, h2] = two(secs / 3600);
        let [m1, m2] = two(secs / 60 % 60);
        let [s1, s2] = two(secs % 60);
        self.buf
            .extend_from_slice(&[h1, h2, b':', m1, m2, b':', s1, s2, b' ']);
        self.buf.extend_from_slice(&self.offset_cache.2);
        self.buf.push(b']');
        self.buf.extend_from_slice(&text[split + 1..]);
    }

    fn flush_buf(&mut self) -> Result<()> {
        self.out
            .write_all(&self.buf)
            .context("could not write the generated log")?;
        self.buf.clear();
        Ok(())
    }

    /// Write the requests still waiting; `summary.events` counts them.
    pub(crate) fn finish(mut self, summary: &mut GenerateSummary) -> Result<()> {
        let lines = std::mem::take(&mut self.lines);
        self.write_lines(&lines, summary)?;
        self.flush_buf()?;
        self.out
            .flush()
            .context("could not flush the generated log")
    }
}

/// A visitor's address: IPv4 mostly, one in ten IPv6, from its id's bits.
fn client_addr(visitor: u64) -> String {
    let v = mix64(visitor ^ 0x5bd1_e995);
    if v.is_multiple_of(10) {
        format!(
            "2001:db8:{:x}:{:x}::{:x}",
            (v >> 16) & 0xffff,
            (v >> 32) & 0xffff,
            (v >> 48) & 0xffff
        )
    } else {
        format!(
            "{}.{}.{}.{}",
            11 + (v >> 8) % 180,
            (v >> 16) & 0xff,
            (v >> 24) & 0xff,
            1 + (v >> 32) % 254
        )
    }
}
