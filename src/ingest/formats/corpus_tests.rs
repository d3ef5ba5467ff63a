//! Every line of a real Apache combined log (`shared/data/apache_logs`,
//! 10,000 lines of 2015 from a public Logstash example) through detection
//! and the `combined` parser.

use std::path::PathBuf;

use super::*;

fn apache_logs() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/apache_logs");
    let bytes = std::fs::read(&path).unwrap_or_else(|err| {
        panic!(
            "{}: {err} (the shared data beside the repository)",
            path.display()
        )
    });
    // What the reader does: lossy UTF-8, which borrows when the bytes are valid.
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn every_line_of_a_real_apache_log() {
    let text = apache_logs();
    let lines: Vec<&str> = text.lines().collect();
    let detection = detect(&lines[..SAMPLE_LINES], &ParserOptions::default()).unwrap();
    assert_eq!(detection.format, LogFormat::Combined);
    let parser = detection.format.parser(&ParserOptions::default()).unwrap();
    let mut rejects = Vec::new();
    let mut statuses = std::collections::BTreeMap::new();
    let mut replaced_referers = 0;
    let mut classifier = Classifier::new();
    let mut left_out = std::collections::BTreeMap::new();
    for (n, line) in lines.iter().enumerate() {
        match parser.parse(line) {
            Ok(request) => {
                *statuses.entry(request.status).or_insert(0) += 1;
                if request
                    .referer
                    .as_deref()
                    .is_some_and(|r| r.contains('\u{fffd}'))
                {
                    replaced_referers += 1;
                }
                let class = classifier.left_out_by(&request, ClassSet::EMPTY);
                *left_out
                    .entry(class.map_or("counted", |c| c.name()))
                    .or_insert(0) += 1;
            }
            Err(err) => rejects.push((n + 1, err)),
        }
    }
    eprintln!("left out by class: {left_out:?}");
    // Line 8,899 is cut short in the file itself: its user agent lacks the
    // closing `)"` (`... +http://www.google.com/bot.html`). It is read with
    // what it has, as GoAccess reads it.
    assert_eq!(lines.len(), 10_000);
    assert_eq!(rejects, []);
    let cut = parser.parse(lines[8898]).unwrap();
    assert_eq!(
        cut.user_agent.as_deref(),
        Some("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html")
    );
    // The statuses of the 10,000 lines, as `awk '{print $9}'` counts them.
    let expected = [
        (200, 9126),
        (206, 45),
        (301, 164),
        (304, 445),
        (403, 2),
        (404, 213),
        (416, 2),
        (500, 3),
    ];
    assert_eq!(statuses.into_iter().collect::<Vec<_>>(), expected);
    // Three referers were logged as `\xe4\xe5...` (Windows-1251, not UTF-8).
    assert_eq!(replaced_referers, 3);
    let first = parser.parse(lines[0]).unwrap();
    assert_eq!(first.ts_ms, 1_431_857_103_000);
    assert_eq!(
        first.path,
        "/presentations/logstash-monitorama-2013/images/kibana-search.png"
    );
    assert_eq!((first.status, first.bytes), (200, Some(203_023)));
}
