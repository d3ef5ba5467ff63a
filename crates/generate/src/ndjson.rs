//! Events formatted as NDJSON lines by hand into one large buffer: the
//! generator writes millions of lines for the benchmarks.

use super::*;

/// The plans a visitor is on, and the campaigns a session came from.
const PLANS: [&str; 3] = ["free", "pro", "team"];
const CAMPAIGNS: [&str; 8] = [
    "spring-sale",
    "newsletter",
    "launch",
    "retargeting",
    "podcast",
    "partner",
    "brand",
    "organic",
];

/// The authors of a site's pages (each page has one, by its index).
const AUTHORS: [&str; 12] = [
    "ada", "bo", "chen", "dara", "eli", "fatima", "gus", "hana", "ivan", "jo", "kofi", "lena",
];

/// `,"props":{...}`: `plan` by the visitor, `campaign` by the session,
/// then the page's `author` on page views and a number of `items` (drawn
/// from a hash of the event) on orders. No randomness: the rest of the
/// output stays the same bytes.
fn push_props(b: &mut Vec<u8>, e: &Event) {
    let mix = |v: u64| v.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
    b.extend_from_slice(b",\"props\":{\"plan\":\"");
    b.extend_from_slice(PLANS[(mix(e.visitor) % 3) as usize].as_bytes());
    b.extend_from_slice(b"\",\"campaign\":\"");
    b.extend_from_slice(CAMPAIGNS[(mix(e.session) % 8) as usize].as_bytes());
    b.push(b'"');
    match e.kind {
        Kind::Pageview => {
            b.extend_from_slice(b",\"author\":\"");
            b.extend_from_slice(AUTHORS[usize::from(e.detail) % AUTHORS.len()].as_bytes());
            b.push(b'"');
        }
        Kind::Order => {
            let event_hash = mix(e.session ^ (u64::from(e.seq) << 56) ^ e.ts_ms as u64);
            b.extend_from_slice(b",\"items\":");
            push_decimal(b, 1 + event_hash % 4);
        }
        Kind::Custom => {}
    }
    b.push(b'}');
}

/// Formats events as NDJSON into a large buffer and hands it to the output
/// in big writes.
pub(crate) struct NdjsonWriter<'a> {
    pub(crate) out: &'a mut dyn Write,
    pub(crate) buf: Vec<u8>,
    pub(crate) with_ids: bool,
    pub(crate) with_props: bool,
    /// UTC day number and its `YYYY-MM-DDT` text, recomputed on change.
    pub(crate) date_cache: (i64, [u8; 11]),
}

pub(crate) const FLUSH_AT: usize = 1 << 20;

impl<'a> NdjsonWriter<'a> {
    pub(crate) fn new(out: &'a mut dyn Write, with_ids: bool, with_props: bool) -> Self {
        NdjsonWriter {
            out,
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            with_ids,
            with_props,
            date_cache: (i64::MIN, [0; 11]),
        }
    }

    pub(crate) fn write_events(
        &mut self,
        events: &[Event],
        sites: &[SiteGen],
        summary: &mut GenerateSummary,
    ) -> Result<()> {
        for event in events {
            self.push_event(event, &sites[event.site as usize]);
            summary.events += 1;
            if event.kind == Kind::Order {
                summary.orders += 1;
                summary.revenue_cents += u64::from(event.revenue_cents);
            }
            if self.buf.len() >= FLUSH_AT {
                self.flush_buf()?;
            }
        }
        Ok(())
    }

    pub(crate) fn push_event(&mut self, e: &Event, site: &SiteGen) {
        self.buf.extend_from_slice(b"{\"ts\":\"");
        self.push_ts(e.ts_ms);
        let b = &mut self.buf;
        b.extend_from_slice(&site.site_field);
        b.extend_from_slice(match e.kind {
            Kind::Pageview => b"pageview",
            Kind::Custom => b"event",
            Kind::Order => b"order",
        });
        b.extend_from_slice(b"\",\"session\":\"");
        push_hex(b, e.session);
        b.extend_from_slice(b"\",\"visitor\":\"");
        push_hex(b, e.visitor);
        if self.with_ids {
            b.extend_from_slice(b"\",\"id\":\"");
            b.extend_from_slice(site.name.as_bytes());
            b.push(b'-');
            push_hex(b, e.session);
            b.push(b'-');
            push_decimal(b, u64::from(e.seq));
        }
        match e.kind {
            Kind::Pageview => {
                b.extend_from_slice(b"\",\"path\":\"");
                b.extend_from_slice(site.paths[e.detail as usize].as_bytes());
                b.extend_from_slice(QUERIES[e.query as usize].as_bytes());
                b.push(b'"');
                if let Some(referrer) = REFERRERS[e.referrer as usize].0 {
                    b.extend_from_slice(b",\"referrer\":\"");
                    b.extend_from_slice(referrer.as_bytes());
                    b.push(b'"');
                }
            }
            Kind::Custom => {
                b.extend_from_slice(b"\",\"name\":\"");
                b.extend_from_slice(site.profile.event_names[e.detail as usize].0.as_bytes());
                b.push(b'"');
            }
            Kind::Order => {
                b.extend_from_slice(b"\",\"revenue_cents\":");
                push_decimal(b, u64::from(e.revenue_cents));
            }
        }
        if self.with_props {
            push_props(b, e);
        }
        b.extend_from_slice(b"}\n");
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` without chrono in the hot loop: the date
    /// part is cached per UTC day, the time is plain digit arithmetic.
    pub(crate) fn push_ts(&mut self, ms: i64) {
        let day = ms.div_euclid(86_400_000);
        if day != self.date_cache.0 {
            let (y, m, d) = civil_from_days(day);
            let mut text = [0u8; 11];
            let digits = format!("{y:04}-{m:02}-{d:02}T");
            text.copy_from_slice(digits.as_bytes());
            self.date_cache = (day, text);
        }
        self.buf.extend_from_slice(&self.date_cache.1);
        let in_day = ms.rem_euclid(86_400_000) as u32;
        let (secs, millis) = (in_day / 1000, in_day % 1000);
        let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        let two = |v: u32| [b'0' + (v / 10) as u8, b'0' + (v % 10) as u8];
        let [h1, h2] = two(h);
        let [m1, m2] = two(mi);
        let [s1, s2] = two(s);
        self.buf.extend_from_slice(&[
            h1,
            h2,
            b':',
            m1,
            m2,
            b':',
            s1,
            s2,
            b'.',
            b'0' + (millis / 100) as u8,
            b'0' + (millis / 10 % 10) as u8,
            b'0' + (millis % 10) as u8,
            b'Z',
        ]);
    }

    pub(crate) fn flush_buf(&mut self) -> Result<()> {
        self.out
            .write_all(&self.buf)
            .context("could not write the generated events")?;
        self.buf.clear();
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<()> {
        self.flush_buf()?;
        self.out
            .flush()
            .context("could not flush the generated events")
    }
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

pub(crate) fn push_hex(buf: &mut Vec<u8>, v: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = [0u8; 16];
    for (i, slot) in text.iter_mut().enumerate() {
        *slot = HEX[(v >> (60 - 4 * i) & 0xf) as usize];
    }
    buf.extend_from_slice(&text);
}

pub(crate) fn push_decimal(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}
