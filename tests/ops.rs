//! The operations files: the crontab lines (no unescaped `%`, a log per
//! job, the cron.d copy in step), the systemd timers, logrotate rotating a
//! log that is being appended to, and scripts/install-cron.sh against a
//! fake `crontab` (never the real user's crontab).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::common::{assert_exit, assert_text, stderr, stdout};

const BIN_PLACEHOLDER: &str = "/opt/cronlytics/target/release";
const HOME_PLACEHOLDER: &str = "/var/lib/cronlytics";
/// The jobs cron runs; backfill and generate-events are run by hand.
const SCHEDULED: [&str; 10] = [
    "ingest",
    "aggregate",
    "cleanup-sessions",
    "sampling-guard",
    "snapshot",
    "report",
    "export-metrics",
    "retention",
    "trending",
    "health-check",
];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read_repo(path: &str) -> String {
    let path = repo(path);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The entries of a crontab (not comments, blank lines or variables), each
/// split into its first `fields` fields and the command after them.
fn entries(text: &str, fields: usize) -> Vec<(Vec<String>, String)> {
    text.lines()
        .filter(|l| {
            let t = l.trim_start();
            !t.is_empty() && !t.starts_with('#') && !is_variable(t)
        })
        .map(|line| {
            let mut rest = line.trim_start();
            let mut head = Vec::new();
            for _ in 0..fields {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                head.push(rest[..end].to_string());
                rest = rest[end..].trim_start();
            }
            (head, rest.to_string())
        })
        .collect()
}

/// Whether a crontab line sets a variable (`NAME=value`).
fn is_variable(line: &str) -> bool {
    !line.starts_with('#')
        && line
            .split_whitespace()
            .next()
            .is_some_and(|w| w.contains('='))
}

/// The crontab files with the number of fields before their commands.
fn crontab_files() -> [(&'static str, usize); 2] {
    [("crontab.example", 5), ("cron.d/cronlytics", 6)]
}

/// Whether a program is installed; when not, the test says so and skips.
fn have(program: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("skipped: {program} is not installed (apt-get install {program})");
    }
    found
}

fn id(flag: &str) -> String {
    let out = Command::new("id").arg(flag).output().expect("run id");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn crontab_commands_have_no_unescaped_percent() {
    for (file, fields) in crontab_files() {
        for (_, command) in entries(&read_repo(file), fields) {
            let unescaped = command
                .match_indices('%')
                .any(|(i, _)| !command[..i].ends_with('\\'));
            assert!(
                !unescaped,
                "{file}: cron turns % into a newline in: {command}"
            );
        }
    }
}

#[test]
fn every_crontab_line_runs_one_job_and_appends_to_its_log() {
    for (file, fields) in crontab_files() {
        let text = read_repo(file);
        for var in [
            "PATH=",
            "MAILTO=",
            "CRONLYTICS_DB=",
            "CRONLYTICS_ARTIFACTS=",
        ] {
            assert!(
                text.lines().any(|l| l.starts_with(var)),
                "{file} does not set {var}"
            );
        }
        let mut jobs = Vec::new();
        for (_, command) in entries(&text, fields) {
            let called: Vec<&str> = command
                .match_indices(&format!("{BIN_PLACEHOLDER}/"))
                .map(|(i, p)| {
                    let name = &command[i + p.len()..];
                    &name[..name.find([' ', '"']).unwrap_or(name.len())]
                })
                .collect();
            assert_eq!(called.len(), 1, "{file}: one job per line: {command}");
            let job = called[0];
            assert!(
                repo(&format!("src/bin/{job}.rs")).exists(),
                "{file}: no binary {job}"
            );
            let log = format!(">> {HOME_PLACEHOLDER}/logs/{job}.log 2>&1");
            assert!(
                command.contains(&log),
                "{file}: the {job} line does not append to its log ({log}): {command}"
            );
            jobs.push(job.to_string());
        }
        for job in SCHEDULED {
            assert!(jobs.iter().any(|j| j == job), "{file} has no {job} line");
        }
    }
}

#[test]
fn cron_d_file_is_crontab_example_with_a_user_field() {
    let example = read_repo("crontab.example");
    let cron_d = read_repo("cron.d/cronlytics");
    assert!(
        cron_d.ends_with('\n'),
        "cron ignores a last line without a newline"
    );
    let variables = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| is_variable(l))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(variables(&cron_d), variables(&example));
    let expected: Vec<(Vec<String>, String)> = entries(&example, 5)
        .into_iter()
        .map(|(mut times, command)| {
            times.push("cronlytics".to_string());
            (times, command)
        })
        .collect();
    assert_eq!(entries(&cron_d, 6), expected);
    for entry in fs::read_dir(repo("cron.d")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            !name.contains('.'),
            "cron skips cron.d/{name}: a dot in the name"
        );
    }
}

#[test]
fn systemd_timers_start_existing_jobs_and_catch_up_missed_runs() {
    let template = read_repo("systemd/cronlytics@.service");
    assert!(template.contains(&format!("ExecStart={BIN_PLACEHOLDER}/%i ")));
    let mut timers = 0;
    for entry in fs::read_dir(repo("systemd")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "timer") {
            continue;
        }
        timers += 1;
        let text = fs::read_to_string(&path).unwrap();
        let name = path.file_stem().unwrap().to_str().unwrap();
        let job = name
            .strip_prefix("cronlytics-")
            .expect("cronlytics-<job>.timer");
        assert!(
            repo(&format!("src/bin/{job}.rs")).exists(),
            "{name}: no binary {job}"
        );
        for line in [
            format!("Unit=cronlytics@{job}.service"),
            "Persistent=true".to_string(),
            "WantedBy=timers.target".to_string(),
        ] {
            assert!(text.lines().any(|l| l == line), "{name}.timer lacks {line}");
        }
        assert!(
            text.contains("\nOnCalendar="),
            "{name}.timer has no OnCalendar"
        );
    }
    assert_eq!(timers, 8, "a timer for every scheduled job but ingest");
}

/// Lines `line N` appended by `sh` with `>>` (the file reopened for every
/// line, as cron's `>>` does for every run) while logrotate rotates: every
/// line must be in the rotated file or the new one, once.
#[test]
fn logrotate_rotates_a_log_appended_with_redirection_and_loses_no_line() {
    if !have("logrotate") {
        return;
    }
    let tmp = TempDir::new().unwrap();
    let logs = tmp.path().join("logs");
    fs::create_dir(&logs).unwrap();
    let owner = format!(" {} {}", id("-un"), id("-gn"));
    let conf = read_repo("logrotate/cronlytics")
        .replace(&format!("{HOME_PLACEHOLDER}/logs"), logs.to_str().unwrap())
        .replace(" cronlytics cronlytics", &owner);
    let conf_path = tmp.path().join("logrotate.conf");
    fs::write(&conf_path, conf).unwrap();
    let log = logs.join("job.log");
    let lines_in = |path: &Path| fs::read_to_string(path).map_or(0, |t| t.lines().count());
    let wait_for_lines = |path: &Path, n: usize| {
        let start = Instant::now();
        while lines_in(path) < n {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the writer stalled"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    };

    let mut writer = Command::new("sh")
        .args([
            "-c",
            "i=0; while [ ! -e ../stop ]; do i=$((i+1)); echo \"line $i\" >> job.log; done; echo $i > ../count",
        ])
        .current_dir(&logs)
        .spawn()
        .expect("start the writer");
    wait_for_lines(&log, 200);
    let rotate = Command::new("logrotate")
        .arg("-f")
        .arg("-s")
        .arg(tmp.path().join("state"))
        .arg(&conf_path)
        .output()
        .expect("run logrotate");
    wait_for_lines(&log, 200);
    fs::write(tmp.path().join("stop"), "").unwrap();
    assert!(writer.wait().unwrap().success());

    let report = format!("{}{}", stdout(&rotate), stderr(&rotate));
    assert!(rotate.status.success(), "logrotate failed:\n{report}");
    // A line that started in the instant between rename and create is
    // moved aside by logrotate (".backup"), not lost: the only error allowed.
    for line in report.lines().filter(|l| l.contains("error:")) {
        assert!(
            line.contains("already exists, renaming"),
            "logrotate: {line}"
        );
    }
    let written: usize = fs::read_to_string(tmp.path().join("count"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut files: Vec<String> = fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let rotated = files
        .iter()
        .find(|f| f.len() == "job.log-YYYYMMDD".len() && f.starts_with("job.log-"))
        .unwrap_or_else(|| panic!("no job.log-YYYYMMDD (dateext, delaycompress) among {files:?}"));
    assert!(
        lines_in(&logs.join(rotated)) >= 200,
        "{rotated} is not the old log"
    );
    let mut numbers: Vec<usize> = files
        .iter()
        .flat_map(|f| {
            let text = fs::read_to_string(logs.join(f)).unwrap();
            text.lines()
                .map(|l| l.strip_prefix("line ").unwrap().parse().unwrap())
                .collect::<Vec<usize>>()
        })
        .collect();
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (1..=written).collect::<Vec<_>>(),
        "lines lost or doubled across {files:?}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(&log).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "create 0640");
}

/// A scratch crontab: `crontab` in a temp dir is a script that lists and
/// replaces `crontab.txt` there and logs its arguments in `calls`.
struct FakeCrontab {
    dir: TempDir,
}

impl FakeCrontab {
    fn new() -> FakeCrontab {
        let dir = TempDir::new().unwrap();
        let shim = dir.path().join("crontab");
        fs::write(
            &shim,
            "#!/bin/sh\n\
             here=$(dirname \"$0\")\n\
             echo \"$*\" >> \"$here/calls\"\n\
             case $1 in\n\
             -l) [ -f \"$here/crontab.txt\" ] || { echo \"no crontab for tester\" >&2; exit 1; }\n\
                 cat \"$here/crontab.txt\" ;;\n\
             -) cat > \"$here/crontab.txt\" ;;\n\
             *) echo \"fake crontab: $*\" >&2; exit 2 ;;\n\
             esac\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&shim, fs::Permissions::from_mode(0o755)).unwrap();
        FakeCrontab { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn set(&self, text: &str) {
        fs::write(self.path("crontab.txt"), text).unwrap();
    }

    fn text(&self) -> String {
        fs::read_to_string(self.path("crontab.txt")).unwrap_or_default()
    }

    /// How many times the crontab was replaced.
    fn writes(&self) -> usize {
        let calls = fs::read_to_string(self.path("calls")).unwrap_or_default();
        calls.lines().filter(|l| *l == "-").count()
    }

    /// install-cron.sh with `args`, then --home (in the temp dir) and the
    /// test's built jobs unless `args` give their own.
    fn install(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("bash");
        cmd.arg(repo("scripts/install-cron.sh"))
            .args(args)
            .env("CRONTAB_CMD", self.path("crontab"))
            .env("HOME", self.dir.path())
            .env_remove("XDG_STATE_HOME");
        if !args.contains(&"--home") {
            cmd.arg("--home").arg(self.path("home"));
        }
        if !args.contains(&"--bin-dir") {
            cmd.arg("--bin-dir").arg(bin_dir());
        }
        cmd.output().expect("run install-cron.sh")
    }
}

/// Where cargo built this test's binaries.
fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_aggregate"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn version() -> String {
    format!("cronlytics {}", env!("CARGO_PKG_VERSION"))
}

const USER_LINES_BEFORE: &str = "MAILTO=me@example.org\n0 5 * * * /usr/bin/backup-home\n";
const USER_LINES_AFTER: &str = "# mine\n30 6 * * 1 /usr/bin/weekly-report\n";

#[test]
fn install_cron_fills_in_the_paths_and_makes_the_directories() {
    let fake = FakeCrontab::new();
    let out = fake.install(&["--mailto", "ops@example.org"]);
    assert_exit(&out, 0);
    let text = fake.text();
    let home = fake.path("home");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with(&format!("# BEGIN {} ", version())),
        "{}",
        lines[0]
    );
    assert_eq!(*lines.last().unwrap(), format!("# END {}", version()));
    assert!(
        !text.contains(BIN_PLACEHOLDER) && !text.contains(HOME_PLACEHOLDER),
        "{text}"
    );
    assert!(lines.contains(&"MAILTO=ops@example.org"));
    let aggregate = format!(
        "{}/aggregate >> {}/logs/aggregate.log 2>&1",
        bin_dir().display(),
        home.display()
    );
    assert!(
        text.contains(&aggregate),
        "no line with {aggregate}:\n{text}"
    );
    for dir in ["artifacts", "exports", "incoming/done", "logs"] {
        assert!(home.join(dir).is_dir(), "{dir} was not made");
    }
    assert_eq!(fake.writes(), 1);
    // Debian's crontab parses it (its -n is a dry run; cronie's is not).
    if have("crontab") {
        let usage = Command::new("crontab").arg("-h").output().unwrap();
        if String::from_utf8_lossy(&usage.stderr).contains("dry run") {
            let check = Command::new("crontab")
                .arg("-n")
                .arg(fake.path("crontab.txt"))
                .output()
                .unwrap();
            assert_exit(&check, 0);
        } else {
            eprintln!("skipped crontab -n: this crontab has no dry run");
        }
    }
}

#[test]
fn install_cron_twice_changes_nothing() {
    let fake = FakeCrontab::new();
    fake.set(USER_LINES_BEFORE);
    assert_exit(&fake.install(&[]), 0);
    let first = fake.text();
    let again = fake.install(&[]);
    assert_exit(&again, 0);
    assert!(
        stderr(&again).contains("nothing to change"),
        "{}",
        stderr(&again)
    );
    assert_text(&fake.text(), &first);
    assert_eq!(fake.writes(), 1, "the second run replaced the crontab");
}

#[test]
fn install_cron_uninstall_removes_exactly_its_block() {
    let fake = FakeCrontab::new();
    let mine = format!("{USER_LINES_BEFORE}{USER_LINES_AFTER}");
    fake.set(&mine);
    assert_exit(&fake.install(&[]), 0);
    let installed = fake.text();
    assert!(installed.starts_with(&mine), "the block goes at the end");
    assert_exit(&fake.install(&["--uninstall"]), 0);
    assert_text(&fake.text(), &mine);

    let nothing = fake.install(&["--uninstall"]);
    assert_exit(&nothing, 0);
    assert!(stderr(&nothing).contains("nothing to remove"));
    assert_eq!(fake.writes(), 2);
}

#[test]
fn install_cron_replaces_an_older_block_where_it_stands() {
    let fake = FakeCrontab::new();
    let old_block = "# BEGIN cronlytics 0.0.1\n\
                     10 0 * * * /old/aggregate >> /old/logs/aggregate.log 2>&1\n\
                     # END cronlytics 0.0.1\n";
    fake.set(&format!("{USER_LINES_BEFORE}{old_block}{USER_LINES_AFTER}"));
    assert_exit(&fake.install(&[]), 0);
    let text = fake.text();
    assert_eq!(text.matches("# BEGIN cronlytics").count(), 1, "{text}");
    assert_eq!(text.matches("# END cronlytics").count(), 1, "{text}");
    assert!(!text.contains("/old/"), "{text}");
    assert!(text.starts_with(&format!("{USER_LINES_BEFORE}# BEGIN {} ", version())));
    assert!(text.ends_with(&format!("# END {}\n{USER_LINES_AFTER}", version())));
}

#[test]
fn install_cron_dry_run_prints_the_result_and_changes_nothing() {
    let fake = FakeCrontab::new();
    fake.set(USER_LINES_BEFORE);
    let dry = fake.install(&["--dry-run"]);
    assert_exit(&dry, 0);
    assert_eq!(fake.writes(), 0);
    assert_text(&fake.text(), USER_LINES_BEFORE);
    assert!(!fake.path("home").exists(), "a dry run made directories");
    assert_exit(&fake.install(&[]), 0);
    assert_text(&stdout(&dry), &fake.text());
}

#[test]
fn install_cron_without_built_jobs_says_how_to_build_and_changes_nothing() {
    let fake = FakeCrontab::new();
    fake.set(USER_LINES_BEFORE);
    let empty = fake.path("empty");
    fs::create_dir(&empty).unwrap();
    let out = fake.install(&["--bin-dir", empty.to_str().unwrap()]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("cargo build --release"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fake.writes(), 0);
    assert_text(&fake.text(), USER_LINES_BEFORE);
    assert!(!fake.path("home").exists());
}

#[test]
fn install_cron_refuses_a_path_that_cron_would_split() {
    let fake = FakeCrontab::new();
    let spaced = fake.path("my home");
    let out = fake.install(&["--home", spaced.to_str().unwrap()]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("without spaces"), "{}", stderr(&out));
    assert_eq!(fake.writes(), 0);
}
