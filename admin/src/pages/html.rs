//! The panel's HTML: escaping, the page layout (nav, notices) and the small stylesheet. Every
//! value from a user or the store goes through [`esc`].

use std::fmt::Write as _;

/// The stylesheet, served at `/static/panel.css`.
pub(crate) const CSS: &str = include_str!("panel.css");

/// `text` safe in HTML text and in double-quoted attributes.
pub(crate) fn esc(text: &str) -> String {
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

/// A percent-encoded path segment (addresses in URLs).
pub(crate) fn seg(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@+".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The panel's pages, in the order of the nav.
const NAV: &[(&str, &str)] = &[
    ("/", "Dashboard"),
    ("/domains", "Domains"),
    ("/accounts", "Accounts"),
    ("/aliases", "Aliases"),
    ("/queue", "Queue"),
    ("/policy", "Policy"),
    ("/webhooks", "Webhooks"),
    ("/sessions", "Sessions"),
    ("/tokens", "API tokens"),
    ("/config", "Config"),
];

/// A whole page: `title`, the signed-in admin (for the nav and sign-out form), an optional
/// notice or error, and the body.
pub(crate) fn page(
    title: &str,
    who: Option<(&str, &str)>,
    notice: Option<&Notice>,
    body: &str,
) -> String {
    let nav = match who {
        Some((address, csrf)) => {
            let links: String = NAV
                .iter()
                .map(|(href, label)| format!("<a href=\"{href}\">{label}</a>"))
                .collect();
            format!(
                "<nav>{links}<span class=\"who\">{}</span><form method=\"post\" action=\"/logout\" class=\"inline\">{}\
                 <button>Sign out</button></form></nav>",
                esc(address),
                csrf_field(csrf)
            )
        }
        None => String::new(),
    };
    let notice = match notice {
        Some(Notice::Ok(text)) => {
            format!("<p class=\"notice ok\" role=\"status\">{}</p>", esc(text))
        }
        Some(Notice::Error(text)) => {
            format!("<p class=\"notice error\" role=\"alert\">{}</p>", esc(text))
        }
        None => String::new(),
    };
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · mailroom</title><link rel=\"stylesheet\" href=\"/static/panel.css\"></head>\
         <body><header><strong>mailroom</strong>{nav}</header><main><h1>{}</h1>{notice}{body}</main></body></html>",
        esc(title),
        esc(title)
    )
}

/// The hidden CSRF field every form carries.
pub(crate) fn csrf_field(csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(csrf)
    )
}

/// A line shown above a page's body.
pub(crate) enum Notice {
    Ok(String),
    Error(String),
}

/// A table of rows of already-escaped cells.
pub(crate) fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::from("<table><thead><tr>");
    for h in head {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
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

/// Octets for people.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Unix seconds as RFC 3339 UTC, escaped.
pub(crate) fn when(at: i64) -> String {
    esc(&mail_parser::DateTime::from_timestamp(at).to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(seg("a b/c@d.test"), "a%20b%2Fc@d.test");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
    }
}
