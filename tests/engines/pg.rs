//! A throwaway PostgreSQL cluster for the engine tests: initdb in a temp
//! dir (as the `postgres` user when the tests run as root: initdb refuses
//! root), a unix socket in that dir and TCP on 127.0.0.1, started once per
//! test run and stopped by a watcher when the test process exits. Each test
//! gets a database of its own. No PostgreSQL installed is a failure, not a
//! skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use super::{Layout, OURS, ts_ms, when_tests_exit};

pub struct Pg {
    pub dir: PathBuf,
    pub port: u16,
}

/// The role with a password (TCP only, scram-sha-256).
pub const APP_USER: &str = "app";
pub const APP_PASSWORD: &str = "app-s3cret-pw";

/// The role that may only connect over TLS (`hostssl`).
pub const TLS_USER: &str = "tls";

static SERVER: OnceLock<Pg> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// The running server (started on first use).
pub fn server() -> &'static Pg {
    SERVER.get_or_init(|| start().unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}")))
}

fn bin_dir() -> Result<PathBuf, String> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    dirs.retain(|d| d.join("initdb").exists());
    dirs.sort();
    dirs.pop().ok_or_else(|| {
        "no /usr/lib/postgresql/*/bin/initdb: install Debian's postgresql package (.ci/run does)"
            .to_string()
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `program args` as the postgres user when we are root.
fn as_owner(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(mut cmd: Command, what: &str) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A test CA (`DIR/ca.crt`) and the server's certificate for localhost
/// and 127.0.0.1 signed by it, its key readable by the server only.
fn make_certs(dir: &Path) -> Result<(), String> {
    let openssl = |args: &[&str]| -> Result<(), String> {
        let mut c = Command::new("openssl");
        c.current_dir(dir).args(args);
        run(c, "openssl (apt-get install openssl; .ci/run does)")
    };
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .map_err(|e| format!("san.ext: {e}"))?;
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=cronlytics test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ])?;
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ])?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
    ])?;
    let key = dir.join("server.key");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(|e| format!("chmod server.key: {e}"))?;
    if is_root() {
        let mut chown = Command::new("chown");
        chown
            .arg("postgres:postgres")
            .arg(&key)
            .arg(dir.join("server.crt"));
        run(chown, "chown the server's key")?;
    }
    Ok(())
}

fn start() -> Result<Pg, String> {
    let bin = bin_dir()?;
    let dir = std::env::temp_dir().join(format!("cronlytics-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    if is_root() {
        let mut chown = Command::new("chown");
        chown.args(["postgres:postgres"]).arg(&dir);
        run(chown, "chown the cluster dir to postgres")?;
    }
    let data = dir.join("data");
    let mut initdb = as_owner(&bin.join("initdb"));
    initdb.arg("-D").arg(&data).args([
        "-U",
        "cronlytics",
        "-A",
        "trust",
        "--no-sync",
        "-E",
        "UTF8",
        "--locale=C",
    ]);
    run(initdb, "initdb")?;
    make_certs(&dir)?;
    // The test user over the socket and TCP without a password; the TLS
    // user over TLS only; the app user over TCP with a password.
    let hba = format!(
        "local all all trust\n\
         hostnossl all {TLS_USER} 127.0.0.1/32 reject\n\
         hostssl all {TLS_USER} 127.0.0.1/32 trust\n\
         host all cronlytics 127.0.0.1/32 trust\n\
         host all all 127.0.0.1/32 scram-sha-256\n"
    );
    std::fs::write(data.join("pg_hba.conf"), hba).map_err(|e| format!("pg_hba.conf: {e}"))?;
    let port = free_port();
    let options = format!(
        "-k {dir} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 -c ssl=on -c ssl_cert_file={dir}/server.crt -c ssl_key_file={dir}/server.key",
        dir = dir.display()
    );
    let mut pg_ctl = as_owner(&bin.join("pg_ctl"));
    pg_ctl
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(dir.join("server.log"))
        .args(["-o", &options, "-w", "-t", "60", "start"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Err(e) = run(pg_ctl, "pg_ctl start") {
        let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
        return Err(format!("{e}\n{log}"));
    }
    // Stop the server and remove its files when this test process ends.
    let runuser = if is_root() {
        "runuser -u postgres -- "
    } else {
        ""
    };
    when_tests_exit(&format!(
        "{runuser}{pg_ctl} -D {data} -m immediate stop; rm -rf {dir}",
        pg_ctl = bin.join("pg_ctl").display(),
        data = data.display(),
        dir = dir.display(),
    ))?;
    let pg = Pg { dir, port };
    let mut admin = pg.client("postgres");
    admin
        .batch_execute(&format!(
            "CREATE ROLE {APP_USER} LOGIN PASSWORD '{APP_PASSWORD}'; CREATE ROLE {TLS_USER} LOGIN SUPERUSER"
        ))
        .map_err(|e| format!("create the app role: {e}"))?;
    Ok(pg)
}

impl Pg {
    /// The URL of database `db` over the unix socket, as the test user.
    pub fn socket_url(&self, db: &str) -> String {
        let dir = self.dir.display().to_string().replace('/', "%2F");
        format!("postgresql://cronlytics@{dir}:{}/{db}", self.port)
    }

    /// The URL of `db` over TLS as the TLS-only user, `extra` appended to
    /// its query (`&sslrootcert=...`).
    pub fn tls_url(&self, db: &str, extra: &str) -> String {
        format!(
            "postgresql://{TLS_USER}@localhost:{}/{db}?sslmode=require{extra}",
            self.port
        )
    }

    /// The URL of `db` over TCP as the app user (password from PGPASSWORD).
    pub fn app_url(&self, db: &str) -> String {
        format!("postgresql://{APP_USER}@127.0.0.1:{}/{db}", self.port)
    }

    pub fn client(&self, db: &str) -> postgres::Client {
        let mut config = postgres::Config::new();
        config
            .host_path(&self.dir)
            .port(self.port)
            .user("cronlytics")
            .dbname(db);
        config
            .connect(postgres::NoTls)
            .unwrap_or_else(|e| panic!("connect to the test PostgreSQL: {e}"))
    }

    /// A new empty database for one test; the app user may read it.
    pub fn database(&self) -> String {
        let name = format!("t{}", NEXT_DB.fetch_add(1, Ordering::Relaxed));
        let mut admin = self.client("postgres");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("create database {name}: {e}"));
        name
    }
}

fn csv_field(v: Option<String>) -> String {
    match v {
        None => String::new(),
        Some(s) => format!("\"{}\"", s.replace('"', "\"\"")),
    }
}

/// Create the layout's table and COPY the events into it.
pub fn load(client: &mut postgres::Client, layout: &Layout, events: &[Value]) {
    let cols: Vec<String> = OURS.iter().map(|o| layout.col(o)).collect();
    let types = [
        layout.ts_type,
        "text NOT NULL",
        "text NOT NULL",
        "text NOT NULL",
        "text NOT NULL",
        "text",
        "text",
        "text",
        "bigint",
    ];
    let defs: Vec<String> = cols
        .iter()
        .zip(types)
        .map(|(c, t)| format!("\"{c}\" {t}"))
        .collect();
    client
        .batch_execute(&format!(
            "CREATE TABLE {} (id bigserial PRIMARY KEY, {}); CREATE INDEX ON {} (\"{}\")",
            layout.table,
            defs.join(", "),
            layout.table,
            cols[0]
        ))
        .expect("create the events table");
    let mut text = String::new();
    for e in events {
        let ms = ts_ms(e);
        let ts = match layout.ts_type {
            "bigint" => ms.to_string(),
            "timestamptz" => chrono::DateTime::from_timestamp_millis(ms)
                .expect("in range")
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            _ => chrono::DateTime::from_timestamp_millis(ms)
                .expect("in range")
                .naive_utc()
                .format("%Y-%m-%d %H:%M:%S%.3f")
                .to_string(),
        };
        let s = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_string);
        let kind = layout.kind(e["kind"].as_str().expect("kind"));
        let fields = [
            ts,
            csv_field(s("site")),
            csv_field(Some(kind)),
            csv_field(s("session")),
            csv_field(s("visitor")),
            csv_field(s("path")),
            csv_field(s("referrer")),
            csv_field(s("name")),
            e.get("revenue_cents")
                .and_then(Value::as_i64)
                .map(|v| v.to_string())
                .unwrap_or_default(),
        ];
        text.push_str(&fields.join(","));
        text.push('\n');
    }
    let quoted: Vec<String> = cols.iter().map(|c| format!("\"{c}\"")).collect();
    let mut writer = client
        .copy_in(&format!(
            "COPY {} ({}) FROM STDIN (FORMAT csv)",
            layout.table,
            quoted.join(", ")
        ))
        .expect("start COPY");
    std::io::Write::write_all(&mut writer, text.as_bytes()).expect("COPY the events");
    writer.finish().expect("finish COPY");
}
