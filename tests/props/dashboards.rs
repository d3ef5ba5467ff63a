//! The README's worked examples ("Properties, goals and gauges"), each run
//! with the config the README shows (read from README.md, so the two
//! cannot drift apart) on events like those of the seeds' apps.

use serde_json::json;

use super::{export_csv, export_json};
use crate::common::*;

/// The README's TOML block whose first line is `first_line`.
fn readme_config(first_line: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("read README.md");
    let start = readme
        .find(&format!("```toml\n{first_line}\n"))
        .unwrap_or_else(|| panic!("README.md has no toml block starting {first_line:?}"));
    let block = &readme[start + "```toml\n".len()..];
    block[..block.find("```").expect("the block ends")].to_string()
}

#[test]
fn content_performance_per_subreddit_and_ai_generations_per_model() {
    let w = Workdir::new();
    w.write(
        "cronlytics.toml",
        &readme_config("# content performance: per subreddit, and AI generations per model"),
    );
    let post = |ts: &str, sub: &str, views: i64, upvotes: i64| {
        custom(ts, "scheduler", "job", "scheduler", "post_published").props(json!({
            "subreddit": sub, "views": views, "upvotes": upvotes
        }))
    };
    let generation = |ts: &str, model: &str| {
        custom(ts, "scheduler", "job", "scheduler", "ai_generation")
            .props(json!({"model": model, "tokens": 900}))
    };
    w.ingest(
        "events.ndjson",
        &[
            post("2026-11-20T08:00:00Z", "rust", 1200, 96),
            post("2026-11-20T09:00:00Z", "rust", 800, 24),
            post("2026-11-20T10:00:00Z", "selfhosted", 500, 50),
            generation("2026-11-20T07:59:00Z", "gpt-4o-mini"),
            generation("2026-11-20T08:59:00Z", "gpt-4o-mini"),
            generation("2026-11-20T09:59:00Z", "claude-haiku"),
        ],
    );
    w.backfill("2026-11-20", "2026-11-20", "UTC");
    assert_text(
        &export_csv(&w, "2026-11-20", "2026-11-20", &["--breakdown", "subreddit"]),
        "\
date,site,breakdown,value,events,pageviews,custom_events,unique_visitors,unique_sessions,orders,revenue,sum_views,sum_upvotes
2026-11-20,scheduler,subreddit,rust,2,0,2,1,1,0,0.00,2000,120
2026-11-20,scheduler,subreddit,selfhosted,1,0,1,1,1,0,0.00,500,50
",
    );
    // The engagement rate, as the README computes it with jq.
    let rates: Vec<(String, f64)> = export_json(
        &w,
        "2026-11-20",
        "2026-11-20",
        &["--breakdown", "subreddit"],
    )
    .iter()
    .map(|r| {
        let views = r["sums"]["views"].as_f64().unwrap();
        let upvotes = r["sums"]["upvotes"].as_f64().unwrap();
        (r["value"].as_str().unwrap().to_string(), upvotes / views)
    })
    .collect();
    assert_eq!(
        rates,
        [("rust".to_string(), 0.06), ("selfhosted".to_string(), 0.1)]
    );
    assert_text(
        &export_csv(&w, "2026-11-20", "2026-11-20", &["--breakdown", "model"]),
        "\
date,site,breakdown,value,events,pageviews,custom_events,unique_visitors,unique_sessions,orders,revenue,sum_tokens
2026-11-20,scheduler,model,gpt-4o-mini,2,0,2,1,1,0,0.00,1800
2026-11-20,scheduler,model,claude-haiku,1,0,1,1,1,0,0.00,900
",
    );
}

#[test]
fn artist_earnings_gigs_profile_views_and_followers() {
    let w = Workdir::new();
    w.write(
        "cronlytics.toml",
        &readme_config(
            "# artists: earnings, gigs and profile views per artist; followers as gauges",
        ),
    );
    let gig = |ts: &str, artist: &str, cents: i64, session: &str| {
        order(ts, "setlist", session, "fan", Some(cents)).props(json!({"artist": artist}))
    };
    let view = |ts: &str, artist: &str, session: &str, visitor: &str| {
        pageview(
            ts,
            "setlist",
            session,
            visitor,
            &format!("/artists/{artist}"),
        )
        .props(json!({"artist": artist}))
    };
    w.ingest(
        "events.ndjson",
        &[
            view("2026-11-20T10:00:00Z", "ada", "s1", "v1"),
            view("2026-11-20T10:05:00Z", "ada", "s2", "v2"),
            view("2026-11-20T10:06:00Z", "ada", "s2", "v2"),
            view("2026-11-20T11:00:00Z", "bo", "s3", "v3"),
            gig("2026-11-20T20:00:00Z", "ada", 25_000, "b1"),
            gig("2026-11-20T21:00:00Z", "ada", 12_500, "b2"),
            gig("2026-11-20T22:00:00Z", "bo", 40_000, "b3"),
            gauge("2026-11-20T06:00:00Z", "setlist", "followers:ada", 1_510.0),
            gauge("2026-11-20T18:00:00Z", "setlist", "followers:ada", 1_523.0),
            gauge("2026-11-20T06:00:00Z", "setlist", "followers:bo", 300.0),
        ],
    );
    w.backfill("2026-11-20", "2026-11-20", "UTC");
    // Per artist: earnings (revenue), gigs completed (orders), profile
    // views (pageviews).
    assert_text(
        &export_csv(&w, "2026-11-20", "2026-11-20", &["--breakdown", "artist"]),
        "\
date,site,breakdown,value,events,pageviews,custom_events,unique_visitors,unique_sessions,orders,revenue
2026-11-20,setlist,artist,ada,5,3,0,3,4,2,375.00
2026-11-20,setlist,artist,bo,2,1,0,2,2,1,400.00
",
    );
    assert_text(
        &export_csv(&w, "2026-11-20", "2026-11-20", &["--gauges"]),
        "\
date,site,gauge,last,min,max,samples
2026-11-20,setlist,followers:ada,1523,1510,1523,2
2026-11-20,setlist,followers:bo,300,300,300,1
",
    );
}

#[test]
fn a_shops_signup_and_checkout_goals() {
    let w = Workdir::new();
    w.write(
        "cronlytics.toml",
        &readme_config("# an online shop: signup and checkout goals"),
    );
    let t = |m: u32| format!("2026-11-20T10:{m:02}:00Z");
    w.ingest(
        "events.ndjson",
        &[
            pageview(&t(0), "shop", "s1", "v1", "/"),
            custom(&t(1), "shop", "s1", "v1", "signup"),
            pageview(&t(2), "shop", "s1", "v1", "/checkout/thank-you?order=7"),
            order(&t(3), "shop", "s1", "v1", Some(4_990)),
            pageview(&t(4), "shop", "s2", "v2", "/"),
            custom(&t(5), "shop", "s2", "v2", "signup"),
            pageview(&t(6), "shop", "s3", "v3", "/pricing"),
            pageview(&t(7), "shop", "s4", "v4", "/checkout/thank-you"),
            order(&t(8), "shop", "s4", "v4", Some(1_000)),
        ],
    );
    w.backfill("2026-11-20", "2026-11-20", "UTC");
    assert_text(
        &export_csv(&w, "2026-11-20", "2026-11-20", &["--goals"]),
        "\
date,site,goal,conversions,events,conversion_rate,revenue
2026-11-20,shop,Checkout,2,2,0.5000,59.90
2026-11-20,shop,Signup,2,2,0.5000,49.90
",
    );
}
