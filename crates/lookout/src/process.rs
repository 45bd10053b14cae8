//! Process signals read from `/proc` and the cgroup filesystem, with no extra dependency:
//! resident memory, the memory limit the process runs under, open file descriptors.
//!
//! Each reader returns `None` where the file is missing (not Linux, no cgroup): the gauge is
//! then left as it was.

use std::path::{Path, PathBuf};

/// Resident set size in bytes (`VmRSS` of `/proc/self/status`).
pub fn resident_bytes() -> Option<u64> {
    resident_memory()?.total
}

/// Resident memory the kernel cannot reclaim without swap: anonymous pages plus shared memory
/// (`RssAnon` + `RssShmem` of `/proc/self/status`), in bytes.
///
/// This is what runs a process into its memory limit. The rest of the resident set is
/// file-backed (`RssFile`: the mapped executable, and its debug information once a backtrace
/// was symbolised — some 200 MB for a debug build), and the kernel drops those clean pages
/// under pressure rather than killing the process.
pub fn anonymous_resident_bytes() -> Option<u64> {
    resident_memory()?.anonymous
}

/// Both resident figures from one read of `/proc/self/status`.
#[derive(Debug, Clone, Copy)]
pub struct ResidentMemory {
    /// Resident set size (`VmRSS`), in bytes.
    pub total: Option<u64>,
    /// Anonymous plus shared memory (`RssAnon` + `RssShmem`), in bytes: see
    /// [`anonymous_resident_bytes`].
    pub anonymous: Option<u64>,
}

/// Reads [`ResidentMemory`]; `None` where `/proc/self/status` is missing.
pub fn resident_memory() -> Option<ResidentMemory> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    Some(ResidentMemory {
        total: status_kib(&status, "VmRSS:").map(|kib| kib.saturating_mul(1024)),
        anonymous: anonymous_kib(&status).map(|kib| kib.saturating_mul(1024)),
    })
}

fn anonymous_kib(status: &str) -> Option<u64> {
    let anon = status_kib(status, "RssAnon:")?;
    Some(anon.saturating_add(status_kib(status, "RssShmem:").unwrap_or(0)))
}

/// The memory limit: the cgroup's (v2 `memory.max`, else v1 `memory.limit_in_bytes`), capped
/// by the machine's memory (an unlimited cgroup reports the machine's).
pub fn memory_limit_bytes() -> Option<u64> {
    let machine = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| status_kib(&m, "MemTotal:"))
        .map(|kib| kib.saturating_mul(1024));
    let cgroup = cgroup_limit(Path::new("/sys/fs/cgroup"), "/proc/self/cgroup");
    match (cgroup, machine) {
        (Some(c), Some(m)) => Some(c.min(m)),
        (c, m) => c.or(m),
    }
}

/// Open file descriptors (entries of `/proc/self/fd`).
pub fn open_fds() -> Option<u64> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    Some(entries.count() as u64)
}

/// The value in KiB of a `Name:   123 kB` line.
fn status_kib(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The cgroup memory limit under `root`, given the process's cgroup file (`/proc/self/cgroup`).
fn cgroup_limit(root: &Path, self_cgroup: &str) -> Option<u64> {
    let membership = std::fs::read_to_string(self_cgroup).unwrap_or_default();
    let mut candidates: Vec<PathBuf> = Vec::new();
    for line in membership.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        if controllers.is_empty() {
            // v2 unified hierarchy.
            candidates.push(root.join(rel).join("memory.max"));
            candidates.push(root.join("memory.max"));
        } else if controllers.split(',').any(|c| c == "memory") {
            candidates.push(root.join("memory").join(rel).join("memory.limit_in_bytes"));
            // In a container the namespace root is the process's own cgroup.
            candidates.push(root.join("memory").join("memory.limit_in_bytes"));
        }
    }
    candidates
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|text| parse_limit(&text))
        .min()
}

/// A limit file's value; `max` (v2) and the v1 "unlimited" sentinel (near `i64::MAX`) are none.
fn parse_limit(text: &str) -> Option<u64> {
    let text = text.trim();
    if text == "max" {
        return None;
    }
    let value: u64 = text.parse().ok()?;
    (value < (1 << 62)).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_memory_and_fds() {
        let rss = resident_bytes().unwrap();
        assert!(rss > 1 << 20, "rss {rss}");
        let anon = anonymous_resident_bytes().unwrap();
        assert!(anon > 0 && anon <= rss, "anon {anon} rss {rss}");
        let limit = memory_limit_bytes().unwrap();
        assert!(limit > rss, "limit {limit} rss {rss}");
        assert!(open_fds().unwrap() >= 3);
    }

    #[test]
    fn anonymous_memory_leaves_out_file_backed_pages() {
        let status = "VmRSS:\t  346764 kB\nRssAnon:\t   98680 kB\nRssFile:\t  248084 kB\nRssShmem:\t       12 kB\n";
        assert_eq!(anonymous_kib(status), Some(98_692));
        assert_eq!(anonymous_kib("VmRSS:\t 10 kB\n"), None);
    }

    #[test]
    fn cgroup_limits_of_both_versions() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let v2 = root.join("v2");
        std::fs::create_dir_all(v2.join("app.slice")).unwrap();
        std::fs::write(v2.join("app.slice/memory.max"), "536870912\n").unwrap();
        let cg = root.join("cgroup");
        std::fs::write(&cg, "0::/app.slice\n").unwrap();
        assert_eq!(cgroup_limit(&v2, cg.to_str().unwrap()), Some(512 << 20));
        std::fs::write(v2.join("app.slice/memory.max"), "max\n").unwrap();
        assert_eq!(cgroup_limit(&v2, cg.to_str().unwrap()), None);

        let v1 = root.join("v1");
        std::fs::create_dir_all(v1.join("memory/box")).unwrap();
        std::fs::write(v1.join("memory/box/memory.limit_in_bytes"), "1073741824").unwrap();
        std::fs::write(&cg, "4:memory:/box\n1:cpu:/\n").unwrap();
        assert_eq!(cgroup_limit(&v1, cg.to_str().unwrap()), Some(1 << 30));
        std::fs::write(
            v1.join("memory/box/memory.limit_in_bytes"),
            "9223372036854771712",
        )
        .unwrap();
        assert_eq!(cgroup_limit(&v1, cg.to_str().unwrap()), None);
    }
}
