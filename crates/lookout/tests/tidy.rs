//! `tidy`: the workspace's conventions, checked by a test (in the spirit of rust-analyzer's
//! `xtask/src/tidy.rs`). Fast and dependency-free: it reads the sources with `std` only.
//!
//! It fails, listing every offender, when
//! - a file under `crates/*/src` has no `//!` module doc;
//! - a `pub` item (`fn`, `struct`, `enum`, `trait`, `type`, `const`, `static`, `mod`, `union`)
//!   has no doc comment (attributes between the doc and the item are fine; `pub(crate)` and
//!   other restricted items, `pub use` re-exports and `pub mod name;` declarations, whose docs
//!   are the module's `//!`, are exempt);
//! - `tokio::spawn` appears outside `crates/sentinel` (every task goes through `sentinel::spawn`);
//! - a file in `src/` has more than [`MAX_LINES`] lines before its `#[cfg(test)]` module
//!   (test-only files such as `src/test_util/**`, `tests.rs` modules and `src/bin/*testbin*`,
//!   and generated files, are exempt).

// A test reports through panics and may print the offender list.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Most lines a file in `src/` may have before its `#[cfg(test)]` module.
const MAX_LINES: usize = 800;

/// Files allowed over [`MAX_LINES`] while they are being split (none today): the test fails when
/// a listed file is no longer over, so the list cannot go stale.
const OVER_LIMIT_PENDING: &[&str] = &[
    // Empty: `lookout-notify/src/config/resolve.rs` (1,381) became `crates/lookout/src/config/`
    // and the stage crates' config structs; `lookout-store/src/outbox.rs` (838) gave its claims
    // to `claim.rs`.
];

/// Files allowed to have `pub` items without a doc comment (none today).
const DOCS_PENDING: &[&str] = &[];

#[test]
fn tidy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = root.canonicalize().expect("the workspace root");
    let mut problems = Vec::new();
    let mut over_limit = Vec::new();
    for file in rust_files(&root.join("crates")) {
        let rel = relative(&root, &file);
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        if is_generated(&text) {
            continue;
        }
        let in_src = rel.split('/').nth(2) == Some("src");
        // This file names the banned call in its own rules.
        if !rel.starts_with("crates/sentinel/") && rel != "crates/lookout/tests/tidy.rs" {
            for line_no in tokio_spawns(&text) {
                problems.push(format!(
                    "{rel}:{line_no}: bare `tokio::spawn`: spawn through `sentinel::spawn`"
                ));
            }
        }
        if !in_src {
            continue;
        }
        if !has_module_doc(&text) {
            problems.push(format!("{rel}: no `//!` module doc"));
        }
        if !DOCS_PENDING.contains(&rel.as_str()) {
            for (line_no, item) in undocumented_pub_items(&text) {
                problems.push(format!(
                    "{rel}:{line_no}: `pub` item without a doc comment: {item}"
                ));
            }
        }
        if !is_test_only(&rel) {
            let n_lines = lines_before_tests(&text);
            if n_lines > MAX_LINES {
                if OVER_LIMIT_PENDING.contains(&rel.as_str()) {
                    over_limit.push(rel.clone());
                } else {
                    problems.push(format!(
                        "{rel}: {n_lines} lines before its #[cfg(test)] module (limit {MAX_LINES}): split it"
                    ));
                }
            }
        }
    }
    for pending in OVER_LIMIT_PENDING {
        if !over_limit.iter().any(|p| p == pending) {
            problems.push(format!(
                "{pending}: in OVER_LIMIT_PENDING but no longer over the limit: remove it from the list"
            ));
        }
    }
    if !over_limit.is_empty() {
        eprintln!("tidy: over {MAX_LINES} lines, pending a split: {over_limit:?}");
    }
    if !problems.is_empty() {
        let mut report = format!("tidy found {} problem(s):\n", problems.len());
        for p in &problems {
            let _ = writeln!(report, "  {p}");
        }
        panic!("{report}");
    }
}

/// Every `.rs` file under `dir`, sorted, skipping build output and fuzz/bench side crates' targets.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if name != "target" && !name.to_string_lossy().starts_with('.') {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn relative(root: &Path, file: &Path) -> String {
    file.strip_prefix(root)
        .unwrap_or(file)
        .to_string_lossy()
        .replace('\\', "/")
}

fn is_generated(text: &str) -> bool {
    text.lines()
        .take(5)
        .any(|l| l.contains("@generated") || l.contains("DO NOT EDIT"))
}

/// Test-only files in `src/`: helpers behind a test feature, `tests.rs` modules, test binaries.
fn is_test_only(rel: &str) -> bool {
    rel.contains("/src/test_util/")
        || rel.ends_with("/tests.rs")
        || rel.contains("/src/tests/")
        || (rel.contains("/src/bin/") && rel.contains("testbin"))
}

/// True when the file opens (after blank lines, plain comments and inner attributes) with `//!`.
fn has_module_doc(text: &str) -> bool {
    for line in text.lines().map(str::trim) {
        if line.starts_with("//!") {
            return true;
        }
        if line.is_empty() || line.starts_with("#![") || line.starts_with("//") {
            continue;
        }
        return false;
    }
    false
}

/// Lines (1-based) outside comments that call `tokio::spawn` or `tokio::task::spawn`.
fn tokio_spawns(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for (idx, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for needle in ["tokio::spawn", "tokio::task::spawn"] {
            let mut rest = code;
            while let Some(at) = rest.find(needle) {
                let after = rest[at + needle.len()..].chars().next();
                if !after.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    out.push(idx + 1);
                }
                rest = &rest[at + needle.len()..];
            }
        }
    }
    out.dedup();
    out
}

/// Number of lines before the `#[cfg(test)]` that opens the test module (all lines when none).
fn lines_before_tests(text: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    for (idx, line) in lines.iter().enumerate() {
        if line.trim() == "#[cfg(test)]" {
            let next = lines.get(idx + 1).map_or("", |l| l.trim());
            if next.starts_with("mod ")
                || next.starts_with("pub mod ")
                || next.starts_with("pub(crate) mod ")
            {
                return idx;
            }
        }
    }
    lines.len()
}

/// `pub` items (before the test module) with no doc comment: `(line, item text)`.
fn undocumented_pub_items(text: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines_before_tests(text);
    let mut out = Vec::new();
    let mut documented = false;
    let mut attr_depth: i32 = 0;
    for (idx, raw) in lines.iter().enumerate().take(end) {
        let line = raw.trim();
        if attr_depth > 0 {
            attr_depth += bracket_balance(line);
            continue;
        }
        if line.starts_with("///") || line.starts_with("#[doc") || line.starts_with("/**") {
            documented = true;
            continue;
        }
        if line.starts_with("#[") {
            attr_depth = bracket_balance(line).max(0);
            continue;
        }
        if line.is_empty() || (line.starts_with("//") && !line.starts_with("//!")) {
            continue;
        }
        if let Some(kind) = pub_item_kind(line) {
            let inner_doc = || {
                lines
                    .iter()
                    .skip(idx + 1)
                    .map(|l| l.trim())
                    .find(|l| !l.is_empty())
                    .is_some_and(|l| l.starts_with("//!"))
            };
            let declaration_only = kind == "mod" && line.ends_with(';');
            if !documented && !declaration_only && !inner_doc() {
                out.push((idx + 1, line.to_owned()));
            }
        }
        documented = false;
    }
    out
}

/// `[` minus `]` on a line (for attributes spanning lines).
fn bracket_balance(line: &str) -> i32 {
    let open = line.matches('[').count();
    let close = line.matches(']').count();
    i32::try_from(open).unwrap_or(0) - i32::try_from(close).unwrap_or(0)
}

/// The kind of a `pub` (unrestricted) item declared on `line`, if it declares one.
fn pub_item_kind(line: &str) -> Option<&'static str> {
    let rest = line.strip_prefix("pub ")?;
    let mut words = rest.split_whitespace().peekable();
    while let Some(word) = words.next() {
        let kind = match word {
            "async" | "unsafe" | "extern" | "\"C\"" | "\"Rust\"" => continue,
            "const" if words.peek() == Some(&"fn") => continue,
            "const" => "const",
            "fn" => "fn",
            "struct" => "struct",
            "enum" => "enum",
            "trait" => "trait",
            "type" => "type",
            "static" => "static",
            "mod" => "mod",
            "union" => "union",
            _ => return None,
        };
        return Some(kind);
    }
    None
}

/// The rules themselves, on small inputs (so a rule that silently matches nothing is caught).
#[test]
fn tidy_rules_catch_what_they_describe() {
    let src = "//! A module.\n\
        \n\
        /// Documented.\n\
        #[derive(Debug)]\n\
        #[serde(\n\
            rename_all = \"snake_case\"\n\
        )]\n\
        pub struct Good;\n\
        pub fn bad() {}\n\
        pub(crate) fn internal() {}\n\
        pub use std::fmt;\n\
        pub mod declared;\n\
        pub const fn also_bad() {}\n\
        /// Documented.\n\
        pub const LIMIT: usize = 1;\n\
        #[cfg(test)]\n\
        mod tests {\n\
            pub fn in_tests() {}\n\
        }\n";
    let bad: Vec<usize> = undocumented_pub_items(src)
        .into_iter()
        .map(|(l, _)| l)
        .collect();
    assert_eq!(bad, [9, 13]);
    assert!(has_module_doc(src));
    assert!(has_module_doc(
        "#![allow(dead_code)]\n// note\n//! Doc.\nfn f() {}"
    ));
    assert!(!has_module_doc("use std::fmt;\n//! Too late.\n"));
    let spawn = concat!("tokio", "::spawn");
    let text = format!("// {spawn}(f) in a comment\nlet h = {spawn}(f);\n{spawn}_blocking(g);\n");
    assert_eq!(tokio_spawns(&text), [2]);
    assert_eq!(lines_before_tests(src), 15);
    assert!(is_test_only("crates/x/src/test_util/smtp.rs"));
    assert!(is_test_only("crates/x/src/simulate/tests.rs"));
    assert!(is_test_only("crates/sentinel/src/bin/sentinel-testbin.rs"));
    assert!(!is_test_only("crates/x/src/outbox.rs"));
}
