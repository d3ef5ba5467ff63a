//! A throwaway two-shard ClickHouse cluster for the engine tests: two
//! servers on localhost started by `clickhouse-cluster.sh` (cluster
//! `cronlytics` in their `remote_servers`), stopped by a watcher when the
//! test process exits. Each test gets a database of its own on both shards,
//! with a local MergeTree table per shard and a `Distributed` table over
//! them. No ClickHouse installed is a failure, not a skip.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use super::{Layout, OURS, ts_ms, when_tests_exit};

pub struct Ch {
    pub http: [u16; 2],
    /// The native ports (what `remote_servers` and `remote()` name).
    pub tcp: [u16; 2],
}

/// The user with a password (users.xml of the cluster script).
pub const CH_USER: &str = "cronlytics";
pub const CH_PASSWORD: &str = "s3cret-pass";

static SERVER: OnceLock<Ch> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/engines/clickhouse-cluster.sh")
}

/// The running cluster (started on first use).
pub fn server() -> &'static Ch {
    SERVER.get_or_init(|| start().unwrap_or_else(|e| panic!("cannot start ClickHouse: {e}")))
}

fn start() -> Result<Ch, String> {
    if !std::path::Path::new("/usr/sbin/clickhouse-server").exists()
        && Command::new("sh")
            .args(["-c", "command -v clickhouse-server"])
            .stdout(Stdio::null())
            .status()
            .map(|s| !s.success())
            .unwrap_or(true)
    {
        return Err(
            "clickhouse-server is not installed: apt-get install clickhouse-server (.ci/run does)"
                .into(),
        );
    }
    let dir = std::env::temp_dir().join(format!("cronlytics-ch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new("bash")
        .arg(script())
        .arg("start")
        .arg(&dir)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("run {}: {e}", script().display()))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let port = |key: &str| -> Result<u16, String> {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .and_then(|p| p.trim().parse().ok())
            .ok_or_else(|| format!("the cluster script printed no {key}: {text}"))
    };
    let ch = Ch {
        http: [port("http1")?, port("http2")?],
        tcp: [port("tcp1")?, port("tcp2")?],
    };
    when_tests_exit(&format!(
        "bash {} stop {dir}; rm -rf {dir}",
        script().display(),
        dir = dir.display()
    ))?;
    Ok(ch)
}

impl Ch {
    /// Run one statement on shard `shard` (0 or 1) as `default`; its text.
    pub fn sql(&self, shard: usize, sql: &str) -> String {
        self.post(shard, "", sql.as_bytes())
    }

    fn post(&self, shard: usize, query: &str, body: &[u8]) -> String {
        let url = format!("http://127.0.0.1:{}/{query}", self.http[shard]);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut response = agent
            .post(&url)
            .send(body)
            .unwrap_or_else(|e| panic!("POST to ClickHouse {url}: {e}"));
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .unwrap_or_else(|e| panic!("read ClickHouse's answer: {e}"));
        assert_eq!(status, 200, "ClickHouse said: {text}");
        text
    }

    /// The source URL of `db` (queries go to shard 1's Distributed table).
    pub fn url(&self, db: &str) -> String {
        format!("http://127.0.0.1:{}/?database={db}", self.http[0])
    }

    /// A new database on both shards.
    pub fn database(&self) -> String {
        let name = format!("t{}", NEXT_DB.fetch_add(1, Ordering::Relaxed));
        for shard in 0..2 {
            self.sql(shard, &format!("CREATE DATABASE {name}"));
        }
        name
    }

    /// The layout's local table on each shard, a `Distributed` table named
    /// as the layout's over them (sharded by session), and the events
    /// inserted through it. `ts_type` is "DateTime" or "Int64" (ms).
    pub fn load(&self, db: &str, layout: &Layout, events: &[Value]) {
        let cols: Vec<String> = OURS.iter().map(|o| layout.col(o)).collect();
        let types = [
            layout.ts_type,
            "String",
            "String",
            "String",
            "String",
            "Nullable(String)",
            "Nullable(String)",
            "Nullable(String)",
            "Nullable(Int64)",
        ];
        let defs: Vec<String> = cols
            .iter()
            .zip(types)
            .map(|(c, t)| format!("`{c}` {t}"))
            .collect();
        let ts_key = if layout.ts_type == "DateTime" {
            format!("`{}`", cols[0])
        } else {
            format!("toDateTime(intDiv(`{}`, 1000))", cols[0])
        };
        for shard in 0..2 {
            self.sql(
                shard,
                &format!(
                    "CREATE TABLE {db}.{t}_local ({defs}) ENGINE = MergeTree() PARTITION BY toYYYYMM({ts_key}) ORDER BY ({ts_key}, `{site}`)",
                    t = layout.table,
                    defs = defs.join(", "),
                    site = cols[1],
                ),
            );
        }
        self.sql(
            0,
            &format!(
                "CREATE TABLE {db}.{t} AS {db}.{t}_local ENGINE = Distributed(cronlytics, {db}, {t}_local, cityHash64(`{session}`))",
                t = layout.table,
                session = cols[3],
            ),
        );
        let mut body = String::new();
        for e in events {
            let ms = ts_ms(e);
            let ts = if layout.ts_type == "DateTime" {
                json!(
                    chrono::DateTime::from_timestamp_millis(ms)
                        .expect("in range")
                        .format("%Y-%m-%d %H:%M:%S")
                        .to_string()
                )
            } else {
                json!(ms)
            };
            let mut row = serde_json::Map::new();
            row.insert(cols[0].clone(), ts);
            for (i, ours) in OURS.iter().enumerate().skip(1) {
                let v = match *ours {
                    "kind" => json!(layout.kind(e["kind"].as_str().expect("kind"))),
                    other => e.get(other).cloned().unwrap_or(Value::Null),
                };
                row.insert(cols[i].clone(), v);
            }
            body.push_str(&Value::Object(row).to_string());
            body.push('\n');
        }
        let query = format!(
            "?query=INSERT%20INTO%20{db}.{t}%20FORMAT%20JSONEachRow&insert_distributed_sync=1",
            t = layout.table
        );
        self.post(0, &query, body.as_bytes());
    }
}
