//! An own PostgreSQL cluster: `initdb` in a temporary directory, `pg_ctl` on a free port, run as the `postgres`
//! OS user when this process is root (PostgreSQL refuses to run as root, and CI runs as root).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{RigError, free_port, io_error, log_tail, run};

/// Bound on `initdb`, `pg_ctl start/stop/restart` (also passed to `pg_ctl -t`).
const PG_CTL_WITHIN: Duration = Duration::from_secs(60);

/// The directory holding `initdb` and `pg_ctl`: PATH, `/usr/local/bin`, then the newest `/usr/lib/postgresql/*/bin`.
pub fn find_postgres_bin() -> Option<PathBuf> {
    let mut extra = vec![PathBuf::from("/usr/local/bin")];
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("bin")).collect();
        versions.sort();
        extra.extend(versions.into_iter().rev());
    }
    let initdb = super::find_program("initdb", &extra)?;
    let dir = initdb.parent()?.to_path_buf();
    super::is_executable(&dir.join("pg_ctl")).then_some(dir)
}

/// A throwaway PostgreSQL cluster with trust authentication for the `postgres` role on 127.0.0.1. Dropping it
/// stops the server (`pg_ctl stop -m immediate`, blocking for at most a minute) and deletes its directory.
#[derive(Debug)]
pub struct PgRig {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// `Some((uid, gid))` of the `postgres` user when this process is root: commands run through `runuser`.
    run_as: Option<(u32, u32)>,
    running: bool,
}

impl PgRig {
    /// Creates the cluster (`initdb`, fsync off: durability across machine crashes is not under test) and starts
    /// it.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a cancelled start may leave a server running until the directory is deleted. Drive it to
    /// completion.
    pub async fn start() -> Result<Self, RigError> {
        let bin = find_postgres_bin().ok_or(RigError::NotFound {
            program: "initdb and pg_ctl",
            searched: "/usr/local/bin, /usr/lib/postgresql/*/bin",
            package: "postgresql",
        })?;
        let dir = tempfile::Builder::new()
            .prefix("lookout-rig-pg-")
            .tempdir()
            .map_err(io_error("create the postgres temporary directory"))?;
        let is_root = std::fs::metadata("/proc/self")
            .map_err(io_error("read /proc/self"))?
            .uid()
            == 0;
        let run_as = if is_root {
            let ids = postgres_user().ok_or(RigError::NotFound {
                program: "the postgres OS user",
                searched: "/etc/passwd",
                package: "postgresql",
            })?;
            std::os::unix::fs::chown(dir.path(), Some(ids.0), Some(ids.1)).map_err(io_error(
                "hand the temporary directory to the postgres user",
            ))?;
            Some(ids)
        } else {
            None
        };
        let mut rig = Self {
            bin,
            dir,
            port: free_port()?,
            run_as,
            running: false,
        };
        let data = rig.data_dir();
        let mut initdb = rig.command("initdb");
        initdb.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run("initdb", &mut initdb, PG_CTL_WITHIN).await?;
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            rig.port,
            rig.dir.path().display()
        );
        let mut start = rig.pg_ctl();
        start
            .arg("-l")
            .arg(rig.log_path())
            .arg("-o")
            .arg(options)
            .arg("start");
        rig.run_pg_ctl("pg_ctl start", &mut start).await?;
        rig.running = true;
        Ok(rig)
    }

    /// The connection URL of the `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Restarts the server (`pg_ctl restart -m fast`: open connections are cut, committed data stays).
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe (see [`start`](Self::start)).
    pub async fn restart(&mut self) -> Result<(), RigError> {
        let mut restart = self.pg_ctl();
        restart
            .args(["-m", "fast"])
            .arg("-l")
            .arg(self.log_path())
            .arg("restart");
        self.run_pg_ctl("pg_ctl restart", &mut restart).await?;
        self.running = true;
        Ok(())
    }

    /// Stops the server: `immediate` is a crash (no checkpoint; recovery at the next start), otherwise a fast
    /// shutdown.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe (see [`start`](Self::start)).
    pub async fn stop(&mut self, immediate: bool) -> Result<(), RigError> {
        let mut stop = self.pg_ctl();
        stop.args(["-m", if immediate { "immediate" } else { "fast" }])
            .arg("stop");
        self.run_pg_ctl("pg_ctl stop", &mut stop).await?;
        self.running = false;
        Ok(())
    }

    /// Starts a stopped server again with the options of its first start.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe (see [`start`](Self::start)).
    pub async fn start_again(&mut self) -> Result<(), RigError> {
        if self.running {
            return Ok(());
        }
        // `restart` on a stopped cluster starts it with the recorded options (postmaster.opts).
        self.restart().await
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    fn command(&self, program: &str) -> tokio::process::Command {
        let program = self.bin.join(program);
        let mut command = match self.run_as {
            Some(_) => {
                let mut command = tokio::process::Command::new("runuser");
                command.args(["-u", "postgres", "--"]).arg(program);
                command
            }
            None => tokio::process::Command::new(program),
        };
        command.current_dir(self.dir.path());
        command
    }

    fn pg_ctl(&self) -> tokio::process::Command {
        let mut command = self.command("pg_ctl");
        command
            .arg("-D")
            .arg(self.data_dir())
            .arg("-w")
            .arg("-t")
            .arg(PG_CTL_WITHIN.as_secs().to_string());
        command
    }

    async fn run_pg_ctl(
        &self,
        what: &str,
        command: &mut tokio::process::Command,
    ) -> Result<(), RigError> {
        match run(what, command, PG_CTL_WITHIN + Duration::from_secs(5)).await {
            Ok(_) => Ok(()),
            Err(RigError::Command {
                what,
                status,
                output,
            }) => Err(RigError::Command {
                what,
                status,
                output: format!("{output}\n{}", log_tail(&self.log_path())),
            }),
            Err(other) => Err(other),
        }
    }
}

impl Drop for PgRig {
    fn drop(&mut self) {
        if !self.running {
            return;
        }
        let data = self.data_dir();
        let pg_ctl = self.bin.join("pg_ctl");
        let mut command = match self.run_as {
            Some(_) => {
                let mut command = std::process::Command::new("runuser");
                command.args(["-u", "postgres", "--"]).arg(&pg_ctl);
                command
            }
            None => std::process::Command::new(&pg_ctl),
        };
        command
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w", "-t", "30", "stop"])
            .current_dir(self.dir.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if let Err(error) = command.status() {
            tracing::warn!(target: "lookout_cluster::rig", %error, dir = %self.dir.path().display(), "could not stop the rig's postgres");
        }
    }
}

/// The uid and gid of the `postgres` user, from `/etc/passwd`.
fn postgres_user() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string(Path::new("/etc/passwd")).ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == "postgres").then_some(())?;
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        Some((uid, gid))
    })
}
