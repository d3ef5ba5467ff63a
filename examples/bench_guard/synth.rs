//! The synthetic sites of the benchmark: populations of sites (a mix of
//! sizes, or one size), their daily series with weekly seasonality, trends,
//! overdispersed noise, and incidents of known kinds, dates and sizes.

use chrono::NaiveDate;
use cronlytics::guard::detect::{DailyPoint, Metric};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Binomial, Distribution, LogNormal, Normal, Poisson};

/// No incident before this day: trend checks start at day 35.
const FIRST_INCIDENT_DAY: usize = 35;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Spike16,
    Spike25,
    Spike30,
    Dip60,
    Dip35,
    Zero,
    Shift70,
    Drift2,
    ConversionBreak,
    CheckoutBreak,
}

pub const KINDS: [Kind; 10] = [
    Kind::Spike16,
    Kind::Spike25,
    Kind::Spike30,
    Kind::Dip60,
    Kind::Dip35,
    Kind::Zero,
    Kind::Shift70,
    Kind::Drift2,
    Kind::ConversionBreak,
    Kind::CheckoutBreak,
];

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Spike16 => "spike x1.6",
            Kind::Spike25 => "spike x2.5",
            Kind::Spike30 => "spike x3",
            Kind::Dip60 => "dip x0.6",
            Kind::Dip35 => "dip x0.35",
            Kind::Zero => "zero day",
            Kind::Shift70 => "shift x0.7, 14 days",
            Kind::Drift2 => "drift -2%/day, 14 days",
            Kind::ConversionBreak => "conversion x0.4, 7 days",
            Kind::CheckoutBreak => "checkout x0.2, the day",
        }
    }

    /// Days the incident lasts: also its detection window.
    pub fn days(self) -> usize {
        match self {
            Kind::Shift70 | Kind::Drift2 => 14,
            Kind::ConversionBreak => 7,
            _ => 1,
        }
    }

    /// Clean days excluded after the incident ends: the trend's recent week
    /// still holds it, and after a 14-day move the range level has adapted
    /// and legitimately sees the return as a change.
    pub fn recovery_days(self) -> usize {
        match self {
            Kind::Shift70 | Kind::Drift2 => 14,
            _ => 7,
        }
    }

    /// Multiplier of traffic on day `k` (0-based) of the incident.
    fn traffic(self, k: usize) -> f64 {
        match self {
            Kind::Spike16 => 1.6,
            Kind::Spike25 => 2.5,
            Kind::Spike30 => 3.0,
            Kind::Dip60 => 0.6,
            Kind::Dip35 => 0.35,
            Kind::Zero => 0.0,
            Kind::Shift70 => 0.7,
            Kind::Drift2 => 0.98f64.powi(k as i32 + 1),
            Kind::ConversionBreak | Kind::CheckoutBreak => 1.0,
        }
    }

    /// Multiplier of the conversion rate: a checkout that breaks for most
    /// buyers (×0.2 leaves about 2 orders of 11 at a small shop) while
    /// visitors keep coming.
    fn conversion(self) -> f64 {
        match self {
            Kind::ConversionBreak => 0.4,
            Kind::CheckoutBreak => 0.2,
            _ => 1.0,
        }
    }

    /// The metric the incident is about; revenue moves with both.
    pub fn primary(self) -> Metric {
        match self {
            Kind::ConversionBreak | Kind::CheckoutBreak => Metric::ConversionRate,
            _ => Metric::Sessions,
        }
    }
}

pub struct Incident {
    pub kind: Kind,
    pub start: usize,
}

pub struct Site {
    pub days: Vec<DailyPoint>,
    pub incidents: Vec<Incident>,
}

/// A population of sites: what their sizes and conversion look like.
pub struct Population {
    pub name: &'static str,
    /// Sessions a day: log-uniform in this range.
    sessions: (f64, f64),
    /// Conversion rate: uniform in this range.
    conversion: (f64, f64),
    /// Day-to-day noise of the conversion rate (log-space sd) beyond the
    /// binomial: uniform in this range. Promotions and the traffic mix make
    /// real shops' rates wander more than a coin flip per session.
    conversion_noise: (f64, f64),
    /// One size: the size holds at mid-series (day 150), so that the trend
    /// leaves the site about its nominal size on average. Mixed: the size
    /// is the level on day 0.
    centred: bool,
}

/// The mix of the main table: 300 to 30,000 sessions a day at the start,
/// conversion 1-4%, conversion noise 3%.
pub const MIXED: Population = Population {
    name: "mixed",
    sessions: (300.0, 30_000.0),
    conversion: (0.01, 0.04),
    conversion_noise: (0.03, 0.03),
    centred: false,
};

/// One size each: a small shop (about 340 sessions and 11 orders a day),
/// a medium (3,000 and 90) and a large one (30,000 and 900).
pub const SIZES: [Population; 3] = [
    sized("small", 340.0, 0.032),
    sized("medium", 3_000.0, 0.03),
    sized("large", 30_000.0, 0.03),
];

const fn sized(name: &'static str, sessions: f64, conversion: f64) -> Population {
    Population {
        name,
        sessions: (sessions * 0.9, sessions * 1.1),
        conversion: (conversion * 0.9, conversion * 1.1),
        conversion_noise: (0.03, 0.08),
        centred: true,
    }
}

impl Population {
    /// The nominal size as a column head: "340 s / 11 o".
    pub fn size_label(&self) -> String {
        let sessions = (self.sessions.0 + self.sessions.1) / 2.0;
        let conversion = (self.conversion.0 + self.conversion.1) / 2.0;
        format!("{sessions:.0} s / {:.0} o", sessions * conversion)
    }
}

/// The random stream of site `s` of a population: the mixed population
/// keeps the stream it always had, the sizes get their own.
pub fn site_rng(seed: u64, population: usize, s: usize) -> StdRng {
    StdRng::seed_from_u64(
        seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ ((population as u64) << 32 | s as u64),
    )
}

fn uniform(rng: &mut StdRng, (low, high): (f64, f64)) -> f64 {
    if high > low {
        rng.random_range(low..high)
    } else {
        low
    }
}

/// One synthetic site: a level from the population, a weekend effect of
/// 10-40% up or down plus a small weekday pattern, a trend of -30%..+60% a
/// year, a yearly wave, AR(1) noise of 4-12% in log space (so sessions are
/// overdispersed Poisson counts), a conversion rate with day-to-day noise
/// and binomial converting sessions, log-normal order values; and one
/// incident of each kind at random, non-overlapping dates.
pub fn generate_site(rng: &mut StdRng, population: &Population, days: usize) -> Site {
    let level = rng.random_range(population.sessions.0.ln()..population.sessions.1.ln());
    let weekend = rng.random_range(0.10..0.40) * if rng.random_bool(0.5) { 1.0 } else { -1.0 };
    let mut weekday = [0.0; 7];
    for w in weekday.iter_mut().take(5) {
        *w = rng.random_range(-0.05..0.05);
    }
    weekday[5] = (1.0f64 + weekend).ln();
    weekday[6] = (1.0f64 + weekend * rng.random_range(0.7..1.0)).ln();
    let trend = (1.0f64 + rng.random_range(-0.3..0.6)).ln() / 365.0;
    let level = if population.centred {
        level - trend * 150.0
    } else {
        level
    };
    let wave = rng.random_range(0.0..0.10);
    let wave_phase = rng.random_range(0.0..std::f64::consts::TAU);
    let phi: f64 = rng.random_range(0.3..0.7);
    let sigma: f64 = rng.random_range(0.04..0.12);
    let innovation = Normal::new(0.0, sigma * (1.0 - phi * phi).sqrt()).unwrap();
    let conversion = uniform(rng, population.conversion);
    let weekend_conversion = rng.random_range(0.85..1.15);
    let conversion_noise: Normal<f64> =
        Normal::new(0.0, uniform(rng, population.conversion_noise)).unwrap();
    let order_sigma: f64 = rng.random_range(0.4..0.9);
    let order_mean: f64 = rng.random_range(20.0..150.0);
    let order_value = LogNormal::new(
        order_mean.ln() - order_sigma * order_sigma / 2.0,
        order_sigma,
    )
    .unwrap();

    let incidents = place_incidents(rng, days);
    let first = NaiveDate::from_ymd_opt(2025, 1, 6).unwrap(); // a Monday
    let mut noise = Normal::new(0.0, sigma).unwrap().sample(rng);
    let mut points = Vec::with_capacity(days);
    for t in 0..days {
        noise = phi * noise + innovation.sample(rng);
        let dow = t % 7;
        let (mut traffic, mut conversion_factor) = (1.0, 1.0);
        for incident in &incidents {
            if (incident.start..incident.start + incident.kind.days()).contains(&t) {
                traffic *= incident.kind.traffic(t - incident.start);
                conversion_factor *= incident.kind.conversion();
            }
        }
        let seasonal = wave * (std::f64::consts::TAU * t as f64 / 365.0 + wave_phase).sin();
        let lambda = (level + trend * t as f64 + seasonal + weekday[dow] + noise).exp() * traffic;
        let sessions = if lambda > 0.0 {
            Poisson::new(lambda).unwrap().sample(rng) as u64
        } else {
            0
        };
        let mut rate = conversion * conversion_noise.sample(rng).exp() * conversion_factor;
        if dow >= 5 {
            rate *= weekend_conversion;
        }
        let converting = if sessions > 0 {
            Binomial::new(sessions, rate.min(1.0)).unwrap().sample(rng)
        } else {
            0
        };
        let revenue: f64 = (0..converting).map(|_| order_value.sample(rng)).sum();
        points.push(DailyPoint {
            date: first + chrono::Duration::days(t as i64),
            sessions,
            converting_sessions: converting,
            revenue: (revenue * 100.0).round() / 100.0,
        });
    }
    Site {
        days: points,
        incidents,
    }
}

/// Every kind once, in random order, with 14-24 quiet days between them
/// (ten kinds fit in 300 days whatever the draw).
fn place_incidents(rng: &mut StdRng, days: usize) -> Vec<Incident> {
    let mut kinds = KINDS.to_vec();
    for i in (1..kinds.len()).rev() {
        kinds.swap(i, rng.random_range(0..=i));
    }
    let mut incidents = Vec::new();
    let mut day = FIRST_INCIDENT_DAY + rng.random_range(0..7);
    for kind in kinds {
        if day + kind.days() > days {
            break;
        }
        incidents.push(Incident { kind, start: day });
        day += kind.days() + rng.random_range(14..=24);
    }
    incidents
}
