//! The dashboard's 48-hour chart, drawn as SVG on the server: one line per kind of message.

use super::html::esc;
use crate::api::system::HourView;
use std::fmt::Write as _;

const W: f64 = 960.0;
const H: f64 = 240.0;
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 12.0;

/// One line: label, colour, its value in an hour.
type Series = (&'static str, &'static str, fn(&HourView) -> u64);

const SERIES: [Series; 5] = [
    ("received", "#1f6feb", |h| h.received),
    ("sent", "#2da44e", |h| h.sent),
    ("rejected", "#cf222e", |h| h.rejected),
    ("greylisted", "#bf8700", |h| h.greylisted),
    ("spam", "#8250df", |h| h.spam),
];

pub(crate) fn svg(hours: &[HourView]) -> String {
    let max = hours
        .iter()
        .flat_map(|h| SERIES.iter().map(move |(_, _, f)| f(h)))
        .max()
        .unwrap_or(0)
        .max(1);
    let n = hours.len().max(2) as f64;
    let x = |i: usize| LEFT + (W - LEFT - 8.0) * i as f64 / (n - 1.0);
    let y = |v: u64| TOP + (H - TOP - BOTTOM) * (1.0 - v as f64 / max as f64);
    let mut out = format!(
        "<svg role=\"img\" aria-label=\"Messages per hour, last 48 hours\" viewBox=\"0 0 {W} {}\" width=\"100%\">",
        H + 24.0
    );
    // Axes and the scale.
    let _ = write!(
        out,
        "<line x1=\"{LEFT}\" y1=\"{}\" x2=\"{W}\" y2=\"{}\" stroke=\"#999\"/>",
        H - BOTTOM,
        H - BOTTOM
    );
    let _ = write!(
        out,
        "<text x=\"4\" y=\"{}\" font-size=\"11\">{max}</text><text x=\"4\" y=\"{}\" font-size=\"11\">0</text>",
        TOP + 8.0,
        H - BOTTOM
    );
    for (i, h) in hours.iter().enumerate() {
        if i % 6 == 0 {
            let label = mail_parser::DateTime::from_timestamp(h.hour_start);
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{:02}:00</text>",
                x(i),
                H - BOTTOM + 16.0,
                label.hour
            );
        }
    }
    for (label, colour, value) in SERIES {
        let points: Vec<String> = hours
            .iter()
            .enumerate()
            .map(|(i, h)| format!("{:.1},{:.1}", x(i), y(value(h))))
            .collect();
        let _ = write!(
            out,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"><title>{}</title></polyline>",
            points.join(" "),
            esc(label)
        );
    }
    // The legend, with each series' total.
    for (i, (label, colour, value)) in SERIES.iter().enumerate() {
        let total: u64 = hours.iter().map(value).sum();
        let lx = LEFT + i as f64 * 150.0;
        let _ = write!(
            out,
            "<rect x=\"{lx}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{colour}\"/><text x=\"{}\" y=\"{}\" font-size=\"12\">{} ({total})</text>",
            H + 6.0,
            lx + 14.0,
            H + 15.0,
            esc(label)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_has_a_line_and_a_legend_entry_per_series() {
        let hours: Vec<HourView> = (0..48)
            .map(|i| HourView {
                hour_start: i * 3600,
                received: i as u64,
                ..HourView::default()
            })
            .collect();
        let s = svg(&hours);
        assert_eq!(s.matches("<polyline").count(), 5);
        assert!(s.contains("received (1128)"), "{s}");
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
    }
}
