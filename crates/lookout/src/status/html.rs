//! HTML helpers of the status page: escaping, the page shell (inline CSS, no external assets)
//! and small tables.

use std::fmt::Write as _;

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#212529;background:#f8f9fa}\
header{background:#1c3d5a;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:center}\
header a{color:#fff;text-decoration:none}header a.current{text-decoration:underline}\
header .who{margin-left:auto;font-size:12px;opacity:.8}main{padding:16px;max-width:1200px}\
table{border-collapse:collapse;width:100%;margin:8px 0 16px;background:#fff}\
th,td{border:1px solid #dee2e6;padding:4px 8px;text-align:left;vertical-align:top}\
th{background:#e9ecef}.ok{color:#2b8a3e}.bad{color:#c92a2a;font-weight:600}\
form.inline{display:inline}button{cursor:pointer}svg{background:#fff;border:1px solid #dee2e6;max-width:100%}\
.muted{color:#868e96}";

/// The links of the navigation bar: (path, label).
const NAV: &[(&str, &str)] = &[
    ("/", "Overview"),
    ("/map", "Map"),
    ("/events", "Events"),
    ("/notifications", "Notifications"),
    ("/silences", "Silences"),
];

/// A whole page: title, navigation (with `current` marked), who is signed in, and `body`.
pub fn page(title: &str, current: &str, who: &str, body: &str) -> String {
    let mut nav = String::new();
    for (path, label) in NAV {
        let class = if *path == current {
            " class=\"current\""
        } else {
            ""
        };
        let _ = write!(nav, "<a href=\"{path}\"{class}>{label}</a>");
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Lookout</title><style>{CSS}</style></head><body>\
         <header><strong>Lookout</strong>{nav}<span class=\"who\">{who}</span>\
         <form class=\"inline\" method=\"post\" action=\"/logout\"><button>Sign out</button></form></header>\
         <main><h1>{title}</h1>{body}</main></body></html>",
        title = escape(title),
        who = escape(who),
    )
}

/// The sign-in page, with an optional problem.
pub fn login(problem: Option<&str>) -> String {
    let problem = problem
        .map(|p| format!("<p class=\"bad\">{}</p>", escape(p)))
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\"><title>Sign in · Lookout</title>\
         <style>{CSS}</style></head><body><main><h1>Lookout</h1>{problem}\
         <form method=\"post\" action=\"/login\"><label>API token <input name=\"token\" type=\"password\" \
         autocomplete=\"off\" size=\"70\" required></label> <button type=\"submit\">Sign in</button></form>\
         <p class=\"muted\">A token from <code>lookout token create</code> (an organisation's, or \
         <code>--operator</code> for the instance).</p></main></body></html>"
    )
}

/// A table with a header row; cells are already HTML.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::from("<table><thead><tr>");
    for h in headers {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>");
    if rows.is_empty() {
        let _ = write!(
            out,
            "<tr><td colspan=\"{}\" class=\"muted\">none</td></tr>",
            headers.len().max(1)
        );
    }
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// A bar chart of `counts` (oldest first), one bar per bucket, as inline SVG.
pub fn bar_chart(counts: &[u64], label: &str) -> String {
    let (w, h) = (600.0_f64, 120.0_f64);
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let n = counts.len().max(1);
    #[allow(clippy::cast_precision_loss)]
    let bw = w / n as f64;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" role=\"img\" \
         aria-label=\"{}\" id=\"events-chart\">",
        escape(label)
    );
    for (i, c) in counts.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let bh = (*c as f64 / max as f64) * (h - 10.0);
        #[allow(clippy::cast_precision_loss)]
        let x = i as f64 * bw;
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#4a90c2\"><title>{c}</title></rect>",
            h - bh,
            (bw - 1.0).max(1.0)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn a_chart_has_one_bar_per_bucket() {
        let svg = bar_chart(&[0, 3, 1], "events");
        assert_eq!(svg.matches("<rect").count(), 3);
    }
}
