//! Real processes, real signals: escalation exit codes and the shutdown sequence of `sentinel-testbin`.

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const TESTBIN: &str = env!("CARGO_BIN_EXE_sentinel-testbin");

/// A running `sentinel-testbin` with its stdout lines arriving on a channel.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    stdout_seen: Vec<String>,
}

impl Proc {
    fn start(scenario: &str) -> Proc {
        let mut child = Command::new(TESTBIN)
            .arg(scenario)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc {
            child,
            lines,
            stdout_seen: Vec::new(),
        }
    }

    /// Waits for the next stdout line equal to `expected`.
    fn expect_line(&mut self, expected: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|e| {
                let _ = self.child.kill();
                panic!(
                    "no line {expected:?} from testbin ({e}); saw {:?}",
                    self.stdout_seen
                )
            });
            self.stdout_seen.push(line.clone());
            if line == expected {
                return;
            }
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits (bounded) for the process to exit; returns its status, the remaining stdout lines and stderr.
    fn finish(mut self) -> (ExitStatus, Vec<String>, String) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("testbin did not exit within 20 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let mut stdout = self.stdout_seen;
        stdout.extend(self.lines.iter());
        (status, stdout, stderr)
    }
}

#[test]
fn restart_intensity_exceeded_exits_non_zero_naming_the_child() {
    let (status, _, stderr) = Proc::start("escalate").finish();
    assert_eq!(
        status.code(),
        Some(sentinel::exit_code::FAILURE),
        "{stderr}"
    );
    let line = stderr
        .lines()
        .find(|l| l.contains("top-level supervisor gave up"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.contains("child=mailer"), "{line}");
    assert!(line.contains("smtp relay refused connection"), "{line}");
}

#[test]
fn sigterm_waits_for_the_held_lock_then_runs_cleanups_lifo() {
    let mut proc = Proc::start("lock-then-cleanups");
    proc.expect_line("ready");
    proc.signal("TERM");
    let (status, stdout, stderr) = proc.finish();
    assert_eq!(status.code(), Some(sentinel::exit_code::CLEAN), "{stderr}");
    assert_eq!(
        stdout,
        [
            "ready",
            "batch finished",
            "cleanup third",
            "cleanup second",
            "cleanup first"
        ],
        "{stderr}"
    );
    assert!(stderr.contains("received SIGTERM"), "{stderr}");
}

#[test]
fn deadline_exceeded_exits_non_zero_naming_the_lock_holder() {
    let mut proc = Proc::start("stuck-lock");
    proc.expect_line("ready");
    proc.signal("TERM");
    let (status, stdout, stderr) = proc.finish();
    assert_eq!(
        status.code(),
        Some(sentinel::exit_code::DEADLINE_EXCEEDED),
        "{stderr}"
    );
    let line = stderr
        .lines()
        .find(|l| l.contains("deadline exceeded"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.contains("stuck-sender"), "{line}");
    assert!(
        line.contains("never-runs"),
        "skipped cleanups are named: {line}"
    );
    assert!(
        !stdout.iter().any(|l| l == "cleanup never-runs"),
        "{stdout:?}"
    );
}

#[test]
fn second_sigterm_forces_exit_at_once() {
    let mut proc = Proc::start("second-signal");
    proc.expect_line("ready");
    proc.signal("TERM");
    // Wait until the first signal was handled (shutdown is waiting for the 60 s lock), then send the second.
    proc.expect_line("stopping");
    proc.signal("TERM");
    let (status, stdout, stderr) = proc.finish();
    assert_eq!(status.code(), Some(sentinel::exit_code::FORCED), "{stderr}");
    assert!(
        !stdout.iter().any(|l| l == "shutdown finished"),
        "{stdout:?}"
    );
    assert!(stderr.contains("second signal"), "{stderr}");
    assert!(
        stderr.contains("slow-export"),
        "the held lock is named: {stderr}"
    );
}
