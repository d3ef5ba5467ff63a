//! The sites' characters: traffic weight, weekly and daily rhythm, event
//! mix, referrer mix and page catalogs.

/// The longest session, in events; longer draws are redrawn.
pub(crate) const MAX_SESSION_EVENTS: u32 = 15;
/// Sessions are squeezed into this span so they stay within one visit.
pub(crate) const MAX_SESSION_SPAN_MS: f64 = 29.0 * 60_000.0;
pub(crate) const HOUR_MS: i64 = 3_600_000;
/// Standard deviation of the day-to-day noise, in log space.
pub(crate) const DAILY_NOISE: f64 = 0.06;

/// Where a visit came from; decides landing-page query strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Direct,
    Search,
    Social,
    News,
    Newsletter,
    Other,
}

/// Referrer strings with their source and weight within the source. `None`
/// leaves the field out; most direct visits do, some send an empty string.
pub(crate) const REFERRERS: &[(Option<&str>, Source, f64)] = &[
    (None, Source::Direct, 0.8),
    (Some(""), Source::Direct, 0.2),
    (Some("https://www.google.com/"), Source::Search, 0.5),
    (
        Some("https://www.google.com/search?q=best+price"),
        Source::Search,
        0.08,
    ),
    (
        Some("https://www.google.com/search?q=how+to+x"),
        Source::Search,
        0.07,
    ),
    (Some("https://www.google.co.uk/"), Source::Search, 0.06),
    (
        Some("https://www.bing.com/search?q=review"),
        Source::Search,
        0.12,
    ),
    (Some("https://duckduckgo.com/"), Source::Search, 0.1),
    (Some("https://search.yahoo.com/"), Source::Search, 0.04),
    (Some("https://www.ecosia.org/"), Source::Search, 0.03),
    (Some("https://t.co/x7Yq2Lm9"), Source::Social, 0.2),
    (Some("https://www.facebook.com/"), Source::Social, 0.15),
    (
        Some("https://l.facebook.com/l.php?u=x"),
        Source::Social,
        0.1,
    ),
    (
        Some("https://www.reddit.com/r/programming/"),
        Source::Social,
        0.15,
    ),
    (Some("https://www.linkedin.com/feed/"), Source::Social, 0.1),
    (Some("android-app://com.slack"), Source::Social, 0.1),
    (Some("https://www.instagram.com/"), Source::Social, 0.1),
    (Some("https://www.youtube.com/"), Source::Social, 0.1),
    (
        Some("https://news.ycombinator.com/item?id=1"),
        Source::News,
        0.45,
    ),
    (Some("https://news.ycombinator.com/"), Source::News, 0.2),
    (Some("https://lobste.rs/s/abc123"), Source::News, 0.15),
    (
        Some("https://www.producthunt.com/posts/x"),
        Source::News,
        0.2,
    ),
    (Some("newsletter"), Source::Newsletter, 0.7),
    (Some("email"), Source::Newsletter, 0.3),
    (Some("https://github.com/"), Source::Other, 0.4),
    (
        Some("https://stackoverflow.com/questions/123"),
        Source::Other,
        0.3,
    ),
    (
        Some("https://en.wikipedia.org/wiki/Cron"),
        Source::Other,
        0.3,
    ),
];

/// Query strings appended to some paths; index 0 is none.
pub(crate) const QUERIES: &[&str] = &[
    "",
    "?utm_source=newsletter&utm_medium=email&utm_campaign=weekly",
    "?utm_source=social&utm_medium=referral",
    "?utm_source=news",
    "?page=2",
    "?sort=price_asc",
    "?ref=bookmark",
];

/// What makes a kind of site look like itself.
pub(crate) struct Profile {
    /// Relative size among the sites.
    pub(crate) weight: f64,
    /// Traffic by local weekday, Monday first (normalised to mean 1).
    pub(crate) weekly: [f64; 7],
    /// Traffic by local hour.
    pub(crate) diurnal: [f64; 24],
    /// Growth per day, in log space.
    pub(crate) trend_per_day: f64,
    /// Mean of the geometric number of events after the first.
    pub(crate) mean_extra_events: f64,
    /// Share of non-landing events that are custom events.
    pub(crate) custom_event_share: f64,
    /// Share of sessions that end in an order.
    pub(crate) conversion: f64,
    /// Converting sessions have at least this many events.
    pub(crate) min_converting_events: u32,
    pub(crate) revenue_median_cents: f64,
    /// Log-space spread of the order value.
    pub(crate) revenue_sigma: f64,
    /// Share of sessions by a visitor seen before.
    pub(crate) returning_share: f64,
    /// Weights of direct, search, social, news, newsletter, other.
    pub(crate) source_mix: [f64; 6],
    /// Custom event names and weights; the first is the step before checkout.
    pub(crate) event_names: &'static [(&'static str, f64)],
    /// The page just before an order; also where broken checkouts end.
    pub(crate) checkout_path: &'static str,
    pub(crate) paths: fn() -> Vec<String>,
}

pub(crate) const SHOP: Profile = Profile {
    weight: 5.0,
    weekly: [0.95, 0.92, 0.94, 0.96, 1.0, 1.2, 1.25],
    diurnal: [
        2.0, 1.2, 0.8, 0.6, 0.5, 0.6, 1.2, 2.5, 3.5, 4.0, 4.2, 4.5, 5.0, 4.8, 4.5, 4.5, 4.7, 5.0,
        5.8, 6.8, 7.2, 6.5, 4.8, 3.2,
    ],
    trend_per_day: 0.002,
    mean_extra_events: 3.6,
    custom_event_share: 0.15,
    conversion: 0.025,
    min_converting_events: 3,
    revenue_median_cents: 4000.0,
    revenue_sigma: 0.75,
    returning_share: 0.28,
    source_mix: [40.0, 32.0, 15.0, 2.0, 8.0, 3.0],
    event_names: &[
        ("add_to_cart", 40.0),
        ("search", 25.0),
        ("product_zoom", 15.0),
        ("wishlist_add", 10.0),
        ("newsletter_signup", 5.0),
        ("coupon_applied", 5.0),
    ],
    checkout_path: "/checkout",
    paths: shop_paths,
};

pub(crate) const BLOG: Profile = Profile {
    weight: 3.0,
    weekly: [1.05, 1.08, 1.07, 1.05, 0.98, 0.85, 0.9],
    diurnal: [
        1.5, 1.0, 0.7, 0.5, 0.5, 0.8, 1.8, 3.5, 5.0, 5.5, 5.2, 5.0, 5.5, 5.2, 4.8, 4.5, 4.2, 4.0,
        3.8, 3.8, 3.6, 3.2, 2.6, 2.0,
    ],
    trend_per_day: -0.001,
    mean_extra_events: 2.8,
    custom_event_share: 0.3,
    conversion: 0.002,
    min_converting_events: 2,
    revenue_median_cents: 1500.0,
    revenue_sigma: 0.5,
    returning_share: 0.25,
    source_mix: [35.0, 25.0, 18.0, 12.0, 7.0, 3.0],
    event_names: &[
        ("donate_click", 2.0),
        ("scroll_75", 30.0),
        ("share", 25.0),
        ("newsletter_signup", 20.0),
        ("copy_code", 15.0),
        ("comment", 8.0),
    ],
    checkout_path: "/support",
    paths: blog_paths,
};

pub(crate) const SAAS: Profile = Profile {
    weight: 2.0,
    weekly: [1.15, 1.18, 1.16, 1.12, 1.0, 0.62, 0.6],
    diurnal: [
        0.6, 0.4, 0.3, 0.3, 0.3, 0.5, 1.0, 2.5, 5.0, 6.5, 7.0, 7.0, 6.0, 6.5, 7.0, 6.8, 6.0, 4.5,
        3.0, 2.2, 1.8, 1.5, 1.2, 0.9,
    ],
    trend_per_day: 0.004,
    mean_extra_events: 4.2,
    custom_event_share: 0.25,
    conversion: 0.008,
    min_converting_events: 4,
    revenue_median_cents: 12000.0,
    revenue_sigma: 0.6,
    returning_share: 0.4,
    source_mix: [45.0, 25.0, 8.0, 8.0, 6.0, 8.0],
    event_names: &[
        ("upgrade_click", 5.0),
        ("login", 30.0),
        ("feature_used", 25.0),
        ("signup", 12.0),
        ("export", 10.0),
        ("trial_start", 8.0),
        ("invite_sent", 8.0),
    ],
    checkout_path: "/billing",
    paths: saas_paths,
};

/// `shop`, `blog` and `saas` by name; other names take the three in turn.
pub(crate) fn profile_for(name: &str, index: usize) -> &'static Profile {
    match name {
        "shop" => &SHOP,
        "blog" => &BLOG,
        "saas" => &SAAS,
        _ => [&SHOP, &BLOG, &SAAS][index % 3],
    }
}

pub(crate) const TOPICS: &[&str] = &[
    "cron-jobs",
    "time-zones",
    "sqlite-indexes",
    "rust-errors",
    "backups",
    "dashboards",
    "caching",
    "logging",
    "testing",
    "deploys",
    "queues",
    "retries",
    "metrics",
    "alerts",
    "migrations",
    "json",
    "csv",
    "rate-limits",
    "sessions",
    "pagination",
    "search",
    "webhooks",
    "oauth",
    "docker",
    "linux",
    "git",
    "shell-scripts",
    "monitoring",
    "performance",
    "memory",
];

// Catalogs list pages roughly from most to least popular, because the page
// sampler gives rank k a weight of 1/k.

pub(crate) fn shop_paths() -> Vec<String> {
    let mut paths: Vec<String> = ["/", "/products", "/sale", "/search", "/cart"]
        .map(String::from)
        .to_vec();
    let categories = [
        "shoes", "shirts", "bags", "hats", "socks", "jackets", "gifts", "kids",
    ];
    let statics = [
        "/about",
        "/contact",
        "/shipping",
        "/returns",
        "/faq",
        "/checkout",
    ];
    for k in 0..280 {
        paths.push(format!("/products/{}", (k * 97) % 280 + 1));
        if k % 35 == 3 {
            paths.push(format!("/category/{}", categories[k / 35]));
        }
        if k % 45 == 10 {
            paths.push(statics[(k / 45) % statics.len()].to_string());
        }
    }
    paths
}

pub(crate) fn blog_paths() -> Vec<String> {
    let mut paths: Vec<String> = ["/", "/blog", "/newsletter"].map(String::from).to_vec();
    let prefixes = [
        "how-to",
        "why",
        "a-guide-to",
        "notes-on",
        "lessons-from",
        "debugging",
        "scaling",
        "hello",
    ];
    for k in 0..240 {
        let topic = TOPICS[(k * 7) % TOPICS.len()];
        // 7 is coprime with the 30 topics, so each block of 30 posts covers
        // every topic once under its own prefix: all slugs differ.
        paths.push(format!("/blog/{}-{topic}", prefixes[k / TOPICS.len()]));
        if k % 20 == 5 {
            paths.push(format!("/tags/{}", TOPICS[k / 20]));
        }
    }
    paths.extend(["/about", "/support", "/archive", "/blog/page/2"].map(String::from));
    paths
}

pub(crate) fn saas_paths() -> Vec<String> {
    let mut paths: Vec<String> = [
        "/",
        "/pricing",
        "/login",
        "/app/dashboard",
        "/features",
        "/signup",
        "/docs",
    ]
    .map(String::from)
    .to_vec();
    let features = [
        "reports",
        "alerts",
        "exports",
        "api",
        "teams",
        "integrations",
        "sso",
        "audit-log",
    ];
    for k in 0..120 {
        paths.push(format!("/app/projects/{}", (k * 37) % 120 + 1));
        if k < TOPICS.len() {
            paths.push(format!("/docs/{}", TOPICS[k]));
        }
        if k % 4 == 1 {
            paths.push(format!("/docs/api/{}", TOPICS[k / 4]));
        }
        if k % 15 == 2 {
            paths.push(format!("/features/{}", features[k / 15]));
        }
        if k % 4 == 3 {
            paths.push(format!("/blog/{}", TOPICS[(k / 4) % TOPICS.len()]));
        }
    }
    paths.extend(
        [
            "/app/settings",
            "/billing",
            "/changelog",
            "/status",
            "/security",
        ]
        .map(String::from),
    );
    paths
}
