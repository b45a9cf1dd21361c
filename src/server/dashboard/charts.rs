//! Charts as inline SVG, drawn on the server from numbers: no script and
//! nothing loaded from elsewhere, so they show under the dashboard's strict
//! Content-Security-Policy and without JavaScript. Every point carries its
//! value in a `<title>` (a tooltip, and what a screen reader and the
//! browser tests read), and every chart has a text alternative.
//!
//! Colours come from classes the stylesheet sets (presentation, not inline
//! `style`, which the policy forbids).

use std::fmt::Write as _;

use crate::pipeline::report::escape::html;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
/// Room above the plot for the legend.
const TOP: f64 = 26.0;
const BOTTOM: f64 = 28.0;
/// Series drawn at most; the stylesheet has a colour for each.
pub const MAX_SERIES: usize = 6;

/// One line of a chart: a value per x position (`None`: no data there),
/// optionally with an interval drawn as a band around it.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
    pub intervals: Vec<Option<(f64, f64)>>,
}

/// A line chart over shared x positions.
#[derive(Debug, Clone)]
pub struct LineChart {
    /// What the chart shows, for its text alternative.
    pub title: String,
    pub x_labels: Vec<String>,
    pub series: Vec<Series>,
    /// Formats a value for the axis and the tooltips.
    pub format: fn(f64) -> String,
    /// Fixed y range (scores: 0 to 1); otherwise from 0 to the largest value.
    pub y_range: Option<(f64, f64)>,
}

fn finite(values: impl Iterator<Item = f64>) -> impl Iterator<Item = f64> {
    values.filter(|v| v.is_finite())
}

impl LineChart {
    /// The SVG, or `None` when no series has a value.
    pub fn render(&self) -> Option<String> {
        let points = self.x_labels.len();
        let all = self
            .series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied());
        let bands = self
            .series
            .iter()
            .flat_map(|s| s.intervals.iter().flatten().flat_map(|(l, h)| [*l, *h]));
        let largest = finite(all.chain(bands)).fold(None, |top: Option<f64>, v| {
            Some(top.map_or(v, |t| t.max(v)))
        })?;
        let (low, high) = self.y_range.unwrap_or((0.0, nice_ceiling(largest)));
        let span = if high > low { high - low } else { 1.0 };
        let plot_w = WIDTH - LEFT - RIGHT;
        let plot_h = HEIGHT - TOP - BOTTOM;
        let x = |i: usize| {
            if points <= 1 {
                LEFT + plot_w / 2.0
            } else {
                LEFT + plot_w * i as f64 / (points - 1) as f64
            }
        };
        let y = |v: f64| TOP + plot_h * (1.0 - ((v - low) / span).clamp(0.0, 1.0));
        let label = html(&self.title);
        let mut svg = String::with_capacity(4096);
        let _ = write!(
            svg,
            r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}"><title>{label}</title>"#
        );
        for step in 0..=4 {
            let value = low + span * f64::from(step) / 4.0;
            let at = y(value);
            let _ = write!(
                svg,
                r#"<line class="grid" x1="{LEFT}" y1="{at:.1}" x2="{:.1}" y2="{at:.1}"/><text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                WIDTH - RIGHT,
                LEFT - 6.0,
                at + 4.0,
                html(&(self.format)(value)),
            );
        }
        // At most ~8 x labels, evenly spread, always the last.
        let every = points.div_ceil(8).max(1);
        for (i, text) in self.x_labels.iter().enumerate() {
            if i % every == 0 || i + 1 == points {
                let _ = write!(
                    svg,
                    r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                    x(i),
                    HEIGHT - 8.0,
                    html(text)
                );
            }
        }
        // The legend: one swatch and name per series, along the top.
        let mut legend_x = LEFT;
        for (index, series) in self.series.iter().take(MAX_SERIES).enumerate() {
            let name = html(&series.name);
            let _ = write!(
                svg,
                r#"<g class="series s{index}"><rect x="{legend_x:.1}" y="4" width="10" height="10"/><text class="legend" x="{:.1}" y="13">{name}</text></g>"#,
                legend_x + 14.0,
            );
            legend_x += 24.0 + 7.0 * series.name.chars().count() as f64;
        }
        for (index, series) in self.series.iter().take(MAX_SERIES).enumerate() {
            let _ = write!(
                svg,
                r#"<g class="series s{index}" data-series="{}">"#,
                html(&series.name)
            );
            band(&mut svg, &series.intervals, &x, &y);
            // One polyline per run of consecutive values: gaps stay gaps.
            let mut run: Vec<String> = Vec::new();
            let flush = |svg: &mut String, run: &mut Vec<String>| {
                if run.len() > 1 {
                    let _ = write!(svg, r#"<polyline points="{}"/>"#, run.join(" "));
                }
                run.clear();
            };
            for (i, value) in series.values.iter().enumerate() {
                match value.filter(|v| v.is_finite()) {
                    Some(v) => run.push(format!("{:.1},{:.1}", x(i), y(v))),
                    None => flush(&mut svg, &mut run),
                }
            }
            flush(&mut svg, &mut run);
            // Points only where they can be told apart.
            if points <= 120 {
                for (i, value) in series.values.iter().enumerate() {
                    if let Some(v) = value.filter(|v| v.is_finite()) {
                        let _ = write!(
                            svg,
                            r#"<circle cx="{:.1}" cy="{:.1}" r="3" data-value="{}"><title>{}: {} at {}</title></circle>"#,
                            x(i),
                            y(v),
                            html(&(self.format)(v)),
                            html(&series.name),
                            html(&(self.format)(v)),
                            html(self.x_labels.get(i).map_or("", String::as_str)),
                        );
                    }
                }
            }
            svg.push_str("</g>");
        }
        svg.push_str("</svg>");
        Some(svg)
    }
}

fn band(
    svg: &mut String,
    intervals: &[Option<(f64, f64)>],
    x: &dyn Fn(usize) -> f64,
    y: &dyn Fn(f64) -> f64,
) {
    let known: Vec<(usize, f64, f64)> = intervals
        .iter()
        .enumerate()
        .filter_map(|(i, interval)| interval.map(|(l, h)| (i, l, h)))
        .filter(|(_, l, h)| l.is_finite() && h.is_finite())
        .collect();
    if known.len() < 2 {
        for (i, l, h) in known {
            let _ = write!(
                svg,
                r#"<line class="band" x1="{0:.1}" y1="{1:.1}" x2="{0:.1}" y2="{2:.1}"/>"#,
                x(i),
                y(l),
                y(h)
            );
        }
        return;
    }
    let upper = known
        .iter()
        .map(|(i, _, h)| format!("{:.1},{:.1}", x(*i), y(*h)));
    let lower = known
        .iter()
        .rev()
        .map(|(i, l, _)| format!("{:.1},{:.1}", x(*i), y(*l)));
    let _ = write!(
        svg,
        r#"<polygon class="band" points="{}"/>"#,
        upper.chain(lower).collect::<Vec<_>>().join(" ")
    );
}

/// 1, 2 or 5 times a power of ten, at least `value`: round axis ends.
fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|nice| *nice >= value)
        .unwrap_or(10.0 * power)
}

/// A small line of scores in [0, 1], for a list row.
pub fn sparkline(values: &[Option<f64>], label: &str) -> Option<String> {
    const W: f64 = 120.0;
    const H: f64 = 24.0;
    let known: Vec<(usize, f64)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.filter(|v| v.is_finite()).map(|v| (i, v.clamp(0.0, 1.0))))
        .collect();
    let last = known.last()?;
    let n = values.len().max(2) - 1;
    let x = |i: usize| 2.0 + (W - 4.0) * i as f64 / n as f64;
    let y = |v: f64| 2.0 + (H - 4.0) * (1.0 - v);
    let line: Vec<String> = known
        .iter()
        .map(|(i, v)| format!("{:.1},{:.1}", x(*i), y(*v)))
        .collect();
    let label = html(label);
    Some(format!(
        r#"<svg class="sparkline" width="120" height="24" viewBox="0 0 120 24" role="img" aria-label="{label}"><title>{label}</title><polyline points="{}"/><circle cx="{:.1}" cy="{:.1}" r="2"/></svg>"#,
        line.join(" "),
        x(last.0),
        y(last.1),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn percent(v: f64) -> String {
        format!("{:.0}%", v * 100.0)
    }

    #[test]
    fn points_carry_their_values_and_names_are_escaped() {
        let chart = LineChart {
            title: "score <by> version".into(),
            x_labels: vec!["v1".into(), "v2".into(), "v3".into()],
            series: vec![Series {
                name: "tone & style".into(),
                values: vec![Some(0.5), None, Some(0.75)],
                intervals: vec![Some((0.4, 0.6)), None, Some((0.7, 0.8))],
            }],
            format: percent,
            y_range: Some((0.0, 1.0)),
        };
        let svg = chart.render().unwrap();
        assert!(svg.contains(r#"data-value="50%""#), "{svg}");
        assert!(svg.contains(r#"data-value="75%""#), "{svg}");
        assert!(svg.contains("tone &amp; style: 75% at v3"), "{svg}");
        assert!(svg.contains("score &lt;by&gt; version"), "{svg}");
        assert!(!svg.contains("<by>"));
        // The gap at v2 splits the line: no polyline of two points joins v1 to v3.
        assert!(!svg.contains("<polyline"), "{svg}");
        assert!(svg.contains(r#"<polygon class="band""#), "{svg}");
    }

    #[test]
    fn an_empty_chart_is_not_drawn() {
        let chart = LineChart {
            title: "t".into(),
            x_labels: vec!["a".into()],
            series: vec![Series {
                name: "s".into(),
                values: vec![None],
                intervals: vec![None],
            }],
            format: percent,
            y_range: None,
        };
        assert_eq!(chart.render(), None);
        assert_eq!(sparkline(&[None, None], "x"), None);
    }

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_ceiling(0.0031), 0.005);
        assert_eq!(nice_ceiling(740.0), 1000.0);
        assert_eq!(nice_ceiling(200.0), 200.0);
        assert_eq!(nice_ceiling(-1.0), 1.0);
    }

    #[test]
    fn the_sparkline_ends_at_the_last_score() {
        let svg = sparkline(&[Some(0.0), Some(1.0)], "main score").unwrap();
        assert!(svg.contains(r#"points="2.0,22.0 118.0,2.0""#), "{svg}");
        assert!(svg.contains(r#"cx="118.0" cy="2.0""#), "{svg}");
    }
}
