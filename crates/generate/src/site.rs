//! One site's events of one day: sessions of several events, returning
//! visitors, orders, and the day's incidents.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Pageview,
    Custom,
    Order,
}

/// One event, compact so that a day of a million fits easily in memory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Event {
    pub(crate) ts_ms: i64,
    /// When it is written: `ts_ms`, or later for late events.
    pub(crate) emit_ms: i64,
    pub(crate) session: u64,
    pub(crate) visitor: u64,
    pub(crate) revenue_cents: u32,
    /// Path index for pageviews, name index for custom events.
    pub(crate) detail: u16,
    pub(crate) site: u8,
    pub(crate) kind: Kind,
    /// Position in its session, for the id.
    pub(crate) seq: u8,
    /// Index into `REFERRERS`.
    pub(crate) referrer: u8,
    /// Index into `QUERIES`.
    pub(crate) query: u8,
}

/// The facts about one local day that every site shares.
pub(crate) struct DayContext {
    pub(crate) index: u32,
    pub(crate) start_ms: i64,
    pub(crate) len_ms: i64,
    pub(crate) weekday: usize,
    /// Days from the middle of the range, so the trend averages out.
    pub(crate) trend_offset: f64,
    /// Local hour of each elapsed hour of the day (23 to 25 of them).
    pub(crate) hours: Vec<(u32, i64)>,
}

/// The incidents of one site and day, folded together.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DayEffects {
    pub(crate) outage: bool,
    pub(crate) traffic: f64,
    pub(crate) checkout_break: bool,
    pub(crate) bot_flood: f64,
}

pub(crate) fn day_effects(incidents: &[Incident], site: &str, date: NaiveDate) -> DayEffects {
    let mut effects = DayEffects {
        outage: false,
        traffic: 1.0,
        checkout_break: false,
        bot_flood: 0.0,
    };
    for incident in incidents {
        if incident.date != date || incident.site.as_deref().is_some_and(|s| s != site) {
            continue;
        }
        match incident.kind {
            IncidentKind::Outage => effects.outage = true,
            IncidentKind::Traffic(f) => effects.traffic *= f,
            IncidentKind::CheckoutBreak => effects.checkout_break = true,
            IncidentKind::BotFlood(f) => effects.bot_flood += f,
        }
    }
    effects
}

/// One site's generator: its tables and its visitor pool.
pub(crate) struct SiteGen {
    pub(crate) name: String,
    pub(crate) index: u8,
    pub(crate) profile: &'static Profile,
    /// Sessions on an average day.
    pub(crate) base_sessions: f64,
    pub(crate) ln_continue: f64,
    pub(crate) paths: Vec<String>,
    pub(crate) path_table: AliasTable,
    pub(crate) referrer_table: AliasTable,
    pub(crate) event_table: AliasTable,
    pub(crate) checkout_path: u16,
    pub(crate) revenue: LogNormal<f64>,
    /// Visitors ever created; indexes below it are returning candidates.
    pub(crate) visitors_created: u64,
    /// How far back (in visitors) a returning visitor is drawn from.
    pub(crate) visitor_window: u64,
    /// `","site":"<name>","kind":"`, written with every event.
    pub(crate) site_field: Vec<u8>,
}

impl SiteGen {
    pub(crate) fn new(name: &str, index: usize, events_per_weight: f64) -> Self {
        let profile = profile_for(name, index);
        let mut paths = (profile.paths)();
        let checkout_path = match paths.iter().position(|p| p == profile.checkout_path) {
            Some(i) => i,
            None => {
                paths.push(profile.checkout_path.to_string());
                paths.len() - 1
            }
        };
        let ranks: Vec<f64> = (0..paths.len())
            .map(|k| 1.0 / (k as f64 + 1.0).powf(1.05))
            .collect();
        let referrer_weights: Vec<f64> = REFERRERS
            .iter()
            .map(|&(_, source, w)| w * profile.source_mix[source as usize])
            .collect();
        let names: Vec<f64> = profile.event_names.iter().map(|&(_, w)| w).collect();
        let base_sessions =
            events_per_weight * profile.weight / expected_events_per_session(profile);
        // About two weeks of new visitors, pre-filled so day one has regulars.
        let visitor_window =
            (base_sessions * (1.0 - profile.returning_share) * 14.0).max(1.0) as u64;
        SiteGen {
            name: name.to_string(),
            index: index as u8,
            profile,
            base_sessions,
            ln_continue: (profile.mean_extra_events / (1.0 + profile.mean_extra_events)).ln(),
            path_table: AliasTable::new(&ranks),
            paths,
            referrer_table: AliasTable::new(&referrer_weights),
            event_table: AliasTable::new(&names),
            checkout_path: checkout_path as u16,
            revenue: LogNormal::new(profile.revenue_median_cents.ln(), profile.revenue_sigma)
                .expect("valid log-normal parameters"),
            visitors_created: visitor_window,
            visitor_window,
            site_field: format!("\",\"site\":\"{name}\",\"kind\":\"").into_bytes(),
        }
    }

    /// Appends one day's events to `batch`; returns the number of sessions.
    pub(crate) fn generate_day(
        &mut self,
        ctx: &DayContext,
        effects: DayEffects,
        seed_key: u64,
        rng: &mut StdRng,
        batch: &mut Vec<Event>,
    ) -> u64 {
        let p = self.profile;
        let noise: f64 = Normal::new(0.0, DAILY_NOISE)
            .expect("valid normal")
            .sample(rng);
        if effects.outage {
            return 0;
        }
        let mean = self.base_sessions
            * p.weekly[ctx.weekday]
            // Capped so that ranges of years stay mild rather than explode.
            * ((p.trend_per_day * ctx.trend_offset).clamp(-0.7, 0.7) + noise).exp()
            * effects.traffic;
        let sessions = (mean + rng.random::<f64>()).floor() as u64;
        let weights: Vec<f64> = ctx
            .hours
            .iter()
            .map(|&(hour, len)| p.diurnal[hour as usize] * len as f64)
            .collect();
        let hour_table = AliasTable::new(&weights);
        let returning_from = self.visitors_created;
        let site_bits = u64::from(self.index) << 56 | u64::from(ctx.index) << 32;
        let mut offsets = Vec::with_capacity(MAX_SESSION_EVENTS as usize);

        for i in 0..sessions {
            let bucket = hour_table.sample(rng) as i64;
            let bucket_len = ctx.hours[bucket as usize].1;
            let start = bucket * HOUR_MS + rng.random_range(0..bucket_len);
            let visitor = if rng.random_bool(p.returning_share) {
                // Recent visitors come back more often than old ones.
                let u: f64 = rng.random();
                let back = ((self.visitor_window as f64 * u * u) as u64).min(returning_from - 1);
                returning_from - 1 - back
            } else {
                self.visitors_created += 1;
                self.visitors_created - 1
            };
            let session = mix64(seed_key ^ site_bits ^ i);
            let visitor = mix64(seed_key ^ u64::from(self.index) << 56 ^ 1 << 55 ^ visitor);
            self.session(
                ctx,
                effects,
                start,
                session,
                visitor,
                rng,
                &mut offsets,
                batch,
            );
        }

        let bots = (sessions as f64 * effects.bot_flood).round() as u64;
        for i in 0..bots {
            let ts_ms = ctx.start_ms + rng.random_range(0..ctx.len_ms);
            let path = rng.random_range(0..self.paths.len()) as u16;
            let bits = site_bits ^ 1 << 54 ^ i;
            batch.push(Event {
                ts_ms,
                emit_ms: ts_ms,
                session: mix64(seed_key ^ bits),
                visitor: mix64(seed_key ^ bits ^ 1 << 55),
                revenue_cents: 0,
                detail: path,
                site: self.index,
                kind: Kind::Pageview,
                seq: 0,
                referrer: 0,
                query: 0,
            });
        }
        sessions + bots
    }

    /// Appends one session's events, starting `start` ms into the day.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn session(
        &self,
        ctx: &DayContext,
        effects: DayEffects,
        start: i64,
        session: u64,
        visitor: u64,
        rng: &mut StdRng,
        offsets: &mut Vec<f64>,
        batch: &mut Vec<Event>,
    ) {
        let p = self.profile;
        let mut len = loop {
            let u = 1.0 - rng.random::<f64>();
            let extra = (u.ln() / self.ln_continue) as u32;
            if extra < MAX_SESSION_EVENTS {
                break extra + 1;
            }
        };
        let converts = rng.random_bool(p.conversion);
        if converts {
            len = len.max(p.min_converting_events);
        }
        let referrer = self.referrer_table.sample(rng) as u8;
        let landing_query = match REFERRERS[referrer as usize].1 {
            Source::Newsletter => 1,
            Source::Social if rng.random_bool(0.3) => 2,
            Source::News if rng.random_bool(0.2) => 3,
            Source::Direct if rng.random_bool(0.03) => 6,
            _ => 0,
        };

        // Kinds first, then gaps that fit them: a custom event follows its
        // page within seconds, a page is read for tens of seconds.
        let first = batch.len();
        offsets.clear();
        let mut t = 0.0;
        for seq in 0..len {
            let kind;
            let mut detail = 0;
            let mut revenue_cents = 0;
            if converts && seq + 1 == len {
                if effects.checkout_break {
                    kind = Kind::Pageview; // the order fails; the buyer reloads checkout
                    detail = self.checkout_path;
                } else {
                    kind = Kind::Order;
                    revenue_cents = self.revenue.sample(rng).round().clamp(1.0, 1e9) as u32;
                }
            } else if converts && seq + 2 == len {
                kind = Kind::Pageview;
                detail = self.checkout_path;
            } else if converts && seq + 3 == len && seq > 0 {
                kind = Kind::Custom; // the funnel step, e.g. add_to_cart
            } else if seq > 0 && rng.random_bool(p.custom_event_share) {
                kind = Kind::Custom;
                detail = self.event_table.sample(rng) as u16;
            } else {
                kind = Kind::Pageview;
                detail = self.path_table.sample(rng) as u16;
            }
            let query = match kind {
                Kind::Pageview if seq == 0 => landing_query,
                Kind::Pageview if rng.random_bool(0.03) => 4 + rng.random_range(0..2u8),
                _ => 0,
            };
            if seq > 0 {
                let e: f64 = Exp1.sample(rng);
                t += match kind {
                    Kind::Custom => 1_000.0 + e * 8_000.0,
                    Kind::Pageview => 3_000.0 + e * 45_000.0,
                    Kind::Order => 15_000.0 + e * 60_000.0,
                };
            }
            offsets.push(t);
            batch.push(Event {
                ts_ms: 0,
                emit_ms: 0,
                session,
                visitor,
                revenue_cents,
                detail,
                site: self.index,
                kind,
                seq: seq as u8,
                referrer,
                query,
            });
        }
        // Squeeze long sessions into one visit and keep the last event inside
        // the day, so that each day's events belong to that local day.
        let scale = if t > MAX_SESSION_SPAN_MS {
            MAX_SESSION_SPAN_MS / t
        } else {
            1.0
        };
        let span_ms = (t * scale) as i64;
        let start = start.min(ctx.len_ms - 1 - span_ms).max(0);
        for (event, &offset) in batch[first..].iter_mut().zip(offsets.iter()) {
            event.ts_ms = ctx.start_ms + start + (offset * scale) as i64;
            event.emit_ms = event.ts_ms;
        }
    }
}

/// Mean events per session of a profile, for turning events into sessions.
pub(crate) fn expected_events_per_session(p: &Profile) -> f64 {
    let q = p.mean_extra_events / (1.0 + p.mean_extra_events);
    let (mut norm, mut plain, mut converting) = (0.0, 0.0, 0.0);
    for len in 1..=MAX_SESSION_EVENTS {
        let w = q.powi(len as i32 - 1);
        norm += w;
        plain += w * f64::from(len);
        converting += w * f64::from(len.max(p.min_converting_events));
    }
    ((1.0 - p.conversion) * plain + p.conversion * converting) / norm
}

/// Makes `fraction` of the events late by a minute to four hours
/// (log-uniform: most are a little late, a few very late).
pub(crate) fn delay_some(events: &mut [Event], fraction: f64, rng: &mut StdRng) {
    let (lo, hi) = ((60_000f64).ln(), ((4 * HOUR_MS) as f64).ln());
    for event in events {
        if rng.random::<f64>() < fraction {
            event.emit_ms = event.ts_ms + (lo + (hi - lo) * rng.random::<f64>()).exp() as i64;
        }
    }
}

/// Sorts by emission time; ties keep their order in the batch, so the result
/// does not depend on the sort algorithm.
pub(crate) fn sort_for_emission(events: &mut [Event], base_ms: i64) {
    // Pack into one u64: 28 bits of ms after `base_ms` (74 h) and 36 of position.
    let mut keyed: Vec<(u64, Event)> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let rel = (e.emit_ms - base_ms) as u64;
            debug_assert!(rel < 1 << 28 && (i as u64) < 1 << 36);
            (rel << 36 | i as u64, *e)
        })
        .collect();
    keyed.sort_unstable_by_key(|&(key, _)| key);
    for (slot, (_, e)) in events.iter_mut().zip(keyed) {
        *slot = e;
    }
}
