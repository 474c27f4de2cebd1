//! A metric's history as an SVG line chart, drawn on the server so the dashboard needs no
//! JavaScript and no charting library: the values as a line, the band an `anomaly`
//! threshold expected as a shaded area, anomalous points marked, the fixed warn/fail bounds
//! as horizontal lines, and both axes with a few ticks.
//!
//! A long series costs no more than the chart's width: the line and the band go through at
//! most a few vertices per [`BUCKET`] of horizontal space (each bucket's first, lowest,
//! highest and last value; the band's widest extent), so every spike stays visible, and
//! only the points worth a tooltip get a dot: the marked ones and the latest.
//!
//! Pure: points in, markup out, deterministic (snapshot-friendly). The markup is inserted
//! into the page unescaped, so every piece of text in it is escaped here.

use std::fmt::Write as _;

use chrono::{DateTime, TimeDelta, Utc};
use handlebars::html_escape;

use crate::results::format_number;
use crate::results::{Feedback, MetricPoint};
use crate::spec::{Bound, Thresholds};

/// The whole drawing, in SVG user units (it scales with the page through `viewBox`).
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
/// Room for the value labels on the left and the time labels below.
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;
/// About how many value ticks the y axis gets (the step is rounded to 1, 2 or 5 × 10ⁿ).
const Y_TICKS: f64 = 4.0;
const X_TICKS: usize = 4;
/// The width, in SVG units, of the columns a dense series is thinned to: in each, the line
/// keeps at most 4 points (first, lowest, highest, last), so at most 2 vertices per unit of
/// the plot's width (~1,150 for 572 units, however long the series).
const BUCKET: f64 = 2.0;

/// A fixed bound of a check drawn across the chart: `warn max 10`.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// `warn` or `fail`: also the CSS class of the line.
    pub level: &'static str,
    /// What the line is: `min`, `max` or `=`.
    pub rule: &'static str,
    pub value: f64,
}

impl Threshold {
    /// The lines of a check's fixed warn and fail bounds (none for anomaly-only checks).
    pub fn of(thresholds: &Thresholds) -> Vec<Threshold> {
        let levels = [("warn", thresholds.warn), ("fail", thresholds.fail)];
        levels
            .into_iter()
            .flat_map(|(level, bound)| bound.into_iter().flat_map(move |b| lines(level, b)))
            .collect()
    }

    fn label(&self) -> String {
        format!("{} {} {}", self.level, self.rule, format_number(self.value))
    }
}

fn lines(level: &'static str, bound: Bound) -> Vec<Threshold> {
    let line = |rule, value| Threshold { level, rule, value };
    match bound {
        Bound::Min(v) => vec![line("min", v)],
        Bound::Max(v) => vec![line("max", v)],
        Bound::Between(lo, hi) => vec![line("min", lo), line("max", hi)],
        Bound::Equals(v) => vec![line("=", v)],
    }
}

/// A linear map from data values onto a span of SVG coordinates.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Scale {
    domain: (f64, f64),
    range: (f64, f64),
}

impl Scale {
    fn at(self, v: f64) -> f64 {
        let (d0, d1) = self.domain;
        let (r0, r1) = self.range;
        r0 + (v - d0) / (d1 - d0) * (r1 - r0)
    }
}

/// 1, 2 or 5 × 10ⁿ: the round step that cuts `span` into about `count` parts.
fn nice_step(span: f64, count: f64) -> f64 {
    let raw = span / count;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = match raw / magnitude {
        n if n <= 1.0 => 1.0,
        n if n <= 2.0 => 2.0,
        n if n <= 5.0 => 5.0,
        _ => 10.0,
    };
    step * magnitude
}

/// The y axis: the values' extent widened to whole steps, and the ticks at each step.
/// `None` when the values are too far apart to scale (near `f64::MAX`).
fn value_axis(values: impl Iterator<Item = f64>) -> Option<(Scale, Vec<f64>)> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (lo, hi) = if lo == hi {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() / 10.0 };
        (lo - pad, hi + pad)
    } else {
        (lo, hi)
    };
    let step = nice_step(hi - lo, Y_TICKS);
    let (d0, d1) = ((lo / step).floor() * step, (hi / step).ceil() * step);
    if !(step.is_normal() && d0.is_finite() && d1.is_finite() && d0 < d1) {
        return None;
    }
    let count = ((d1 - d0) / step).round() as usize;
    let ticks = (0..=count).map(|i| d0 + i as f64 * step).collect();
    let range = (HEIGHT - BOTTOM, TOP);
    Some((
        Scale {
            domain: (d0, d1),
            range,
        },
        ticks,
    ))
}

/// The x axis: from the first point's time to the last (an hour either side of a lone one).
fn time_axis(first: DateTime<Utc>, last: DateTime<Utc>) -> (Scale, Vec<DateTime<Utc>>) {
    let (first, last) = if first == last {
        (first - TimeDelta::hours(1), last + TimeDelta::hours(1))
    } else {
        (first, last)
    };
    let span = last - first;
    let ticks = (0..X_TICKS)
        .map(|i| first + span * i as i32 / (X_TICKS - 1) as i32)
        .collect();
    let scale = Scale {
        domain: (seconds(first), seconds(last)),
        range: (LEFT, WIDTH - RIGHT),
    };
    (scale, ticks)
}

fn seconds(at: DateTime<Utc>) -> f64 {
    at.timestamp_millis() as f64 / 1000.0
}

/// Day labels over long spans, times of day over short ones.
fn time_label(at: DateTime<Utc>, span: TimeDelta) -> String {
    let format = if span > TimeDelta::days(2) {
        "%b %d"
    } else {
        "%b %d %H:%M"
    };
    at.format(format).to_string()
}

/// How a chart singles a point out: the CSS class added to its dot and the word its
/// tooltip adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    pub class: &'static str,
    pub label: &'static str,
}

/// A point an anomaly threshold judged an anomaly.
pub const ANOMALY: Mark = Mark {
    class: "anomalous",
    label: "anomaly",
};

/// A point a user marked as the new normal (and that is not also an anomaly).
pub const EXPECTED: Mark = Mark {
    class: "feedback",
    label: "marked expected",
};

/// A point a user marked as a real problem (and that is not also an anomaly).
pub const INCIDENT: Mark = Mark {
    class: "feedback",
    label: "marked incident",
};

/// The chart of a check's series (oldest first), titled `title` for screen readers, with
/// its anomalies and the points users gave feedback on marked; `None` when there is
/// nothing to draw.
pub fn line_chart(title: &str, points: &[MetricPoint], thresholds: &[Threshold]) -> Option<String> {
    marked_chart(title, points, thresholds, &|p| {
        if p.anomalous {
            return Some(ANOMALY);
        }
        p.feedback.map(|f| match f {
            Feedback::Expected => EXPECTED,
            Feedback::Incident => INCIDENT,
        })
    })
}

/// [`line_chart`] marking the points `mark` picks out instead. Only those and the latest
/// point get a dot (with a tooltip of its time and value).
pub fn marked_chart(
    title: &str,
    points: &[MetricPoint],
    thresholds: &[Threshold],
    mark: &dyn Fn(&MetricPoint) -> Option<Mark>,
) -> Option<String> {
    let points: Vec<&MetricPoint> = points.iter().filter(|p| p.value.is_finite()).collect();
    let (first, last) = (points.first()?, points.last()?);
    let band_values = points
        .iter()
        .filter_map(|p| band(p))
        .flat_map(|(lower, upper)| [lower, upper]);
    let values = points
        .iter()
        .map(|p| p.value)
        .chain(band_values)
        .chain(thresholds.iter().map(|t| t.value).filter(|v| v.is_finite()));
    let (y, y_ticks) = value_axis(values)?;
    let (x, x_ticks) = time_axis(first.at, last.at);
    let plot = Plot { x, y };

    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}">"#,
        html_escape(title)
    );
    plot.value_ticks(&mut svg, &y_ticks);
    plot.time_ticks(&mut svg, &x_ticks, last.at - first.at);
    plot.bands(&mut svg, &points);
    plot.thresholds(&mut svg, thresholds);
    plot.series(&mut svg, &points, mark);
    svg.push_str("</svg>");
    Some(svg)
}

/// A point's band, when an anomaly threshold judged it.
fn band(point: &MetricPoint) -> Option<(f64, f64)> {
    let (lower, upper) = (point.lower?, point.upper?);
    (lower.is_finite() && upper.is_finite()).then_some((lower, upper))
}

/// The two scales of one chart; each method appends one layer of the drawing.
struct Plot {
    x: Scale,
    y: Scale,
}

impl Plot {
    fn xy(&self, at: DateTime<Utc>, value: f64) -> (f64, f64) {
        (self.x.at(seconds(at)), self.y.at(value))
    }

    fn value_ticks(&self, svg: &mut String, ticks: &[f64]) {
        svg.push_str(r#"<g class="axis y">"#);
        for &tick in ticks {
            let y = self.y.at(tick);
            let _ = write!(
                svg,
                r#"<line class="grid" x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                WIDTH - RIGHT,
                LEFT - 6.0,
                y + 4.0,
                html_escape(&format_number(tick)),
            );
        }
        svg.push_str("</g>");
    }

    fn time_ticks(&self, svg: &mut String, ticks: &[DateTime<Utc>], span: TimeDelta) {
        svg.push_str(r#"<g class="axis x">"#);
        let last = ticks.len().saturating_sub(1);
        for (i, &tick) in ticks.iter().enumerate() {
            // The outer labels hug the plot's edges instead of spilling over them.
            let anchor = match i {
                0 => "start",
                i if i == last => "end",
                _ => "middle",
            };
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="{anchor}">{}</text>"#,
                self.x.at(seconds(tick)),
                HEIGHT - 8.0,
                html_escape(&time_label(tick, span)),
            );
        }
        svg.push_str("</g>");
    }

    /// One shaded polygon per run of consecutive points that have a band: the upper edge
    /// left to right, then the lower edge back. In each [`BUCKET`] the edges span from its
    /// first point to its last at the bucket's widest extent (lowest lower, highest
    /// upper). A lone point gets a narrow bar.
    fn bands(&self, svg: &mut String, points: &[&MetricPoint]) {
        for run in points.split(|p| band(p).is_none()) {
            let banded: Vec<(f64, f64, f64)> = run
                .iter()
                .filter_map(|p| {
                    let (lower, upper) = band(p)?;
                    Some((self.x.at(seconds(p.at)), lower, upper))
                })
                .collect();
            let mut edges: Vec<(f64, f64, f64)> = Vec::new();
            for bucket in buckets(&banded, |&(x, _, _)| x) {
                let lower = bucket.iter().map(|b| b.1).fold(f64::INFINITY, f64::min);
                let upper = bucket.iter().map(|b| b.2).fold(f64::NEG_INFINITY, f64::max);
                let (lower, upper) = (self.y.at(lower), self.y.at(upper));
                let (first, last) = (bucket[0].0, bucket[bucket.len() - 1].0);
                edges.push((first, lower, upper));
                if last != first {
                    edges.push((last, lower, upper));
                }
            }
            let edges = match edges.as_slice() {
                [] => continue,
                [(x, lower, upper)] => vec![(x - 3.0, *lower, *upper), (x + 3.0, *lower, *upper)],
                _ => edges,
            };
            let upper = edges.iter().map(|&(x, _, upper)| (x, upper));
            let lower = edges.iter().rev().map(|&(x, lower, _)| (x, lower));
            svg.push_str(r#"<polygon class="band" points=""#);
            coordinates(svg, upper.chain(lower));
            svg.push_str(r#""><title>expected band</title></polygon>"#);
        }
    }

    fn thresholds(&self, svg: &mut String, thresholds: &[Threshold]) {
        for threshold in thresholds.iter().filter(|t| t.value.is_finite()) {
            let y = self.y.at(threshold.value);
            let label = html_escape(&threshold.label());
            let _ = write!(
                svg,
                r#"<g class="threshold {level}"><line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"><title>{label}</title></line><text x="{:.1}" y="{:.1}" text-anchor="end">{label}</text></g>"#,
                WIDTH - RIGHT,
                WIDTH - RIGHT - 4.0,
                y - 4.0,
                level = threshold.level,
            );
        }
    }

    /// The line through the values (thinned to each [`BUCKET`]'s first, lowest, highest
    /// and last), then a dot for each point `mark` picks out (larger, and classed as the
    /// mark says) and for the latest point, whose tooltip gives its time and value.
    fn series(
        &self,
        svg: &mut String,
        points: &[&MetricPoint],
        mark: &dyn Fn(&MetricPoint) -> Option<Mark>,
    ) {
        let xy: Vec<(f64, f64)> = points.iter().map(|p| self.xy(p.at, p.value)).collect();
        svg.push_str(r#"<polyline class="series" points=""#);
        coordinates(svg, thin(&xy).into_iter().map(|i| xy[i]));
        svg.push_str(r#""/>"#);
        let latest = points.len().saturating_sub(1);
        for (i, (point, &(x, y))) in points.iter().zip(&xy).enumerate() {
            let (class, radius, what) = match mark(point) {
                Some(m) => (format!("point {}", m.class), 4.5, format!(" ({})", m.label)),
                None if i == latest => ("point latest".to_owned(), 3.0, " (latest)".to_owned()),
                None => continue,
            };
            let _ = write!(
                svg,
                r#"<circle class="{class}" cx="{x:.1}" cy="{y:.1}" r="{radius}"><title>{}: {}{what}</title></circle>"#,
                point.at.format("%Y-%m-%d %H:%M UTC"),
                html_escape(&format_number(point.value)),
            );
        }
    }
}

/// Which [`BUCKET`] of the plot's width an x coordinate falls in.
fn bucket_of(x: f64) -> i64 {
    ((x - LEFT) / BUCKET).floor() as i64
}

/// `items` (left to right) cut into runs that fall in the same bucket, by `x`.
fn buckets<T>(items: &[T], x: impl Fn(&T) -> f64) -> impl Iterator<Item = &[T]> {
    items.chunk_by(move |a, b| bucket_of(x(a)) == bucket_of(x(b)))
}

/// The indices (ascending) of the vertices that draw the line through `xy` (left to right)
/// as it looks at the chart's size: each bucket's first, lowest, highest and last point.
/// A bucket of at most four points keeps them all, so a sparse series is drawn exactly.
fn thin(xy: &[(f64, f64)]) -> Vec<usize> {
    let mut keep: Vec<usize> = Vec::new();
    let mut start = 0;
    for bucket in buckets(xy, |&(x, _)| x) {
        let end = start + bucket.len();
        let (mut low, mut high) = (start, start);
        for (i, &(_, y)) in bucket.iter().enumerate() {
            if y < xy[low].1 {
                low = start + i;
            }
            if y > xy[high].1 {
                high = start + i;
            }
        }
        let mut picks = [start, low, high, end - 1];
        picks.sort_unstable();
        for i in picks {
            if keep.last() != Some(&i) {
                keep.push(i);
            }
        }
        start = end;
    }
    keep
}

/// Appends `x,y x,y …` with one decimal: enough for a screen, and stable for tests.
fn coordinates(svg: &mut String, points: impl Iterator<Item = (f64, f64)>) {
    for (i, (x, y)) in points.enumerate() {
        let separator = if i == 0 { "" } else { " " };
        let _ = write!(svg, "{separator}{x:.1},{y:.1}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hours: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default() + TimeDelta::hours(hours)
    }

    fn point(hours: i64, value: f64, band: Option<(f64, f64)>, anomalous: bool) -> MetricPoint {
        MetricPoint {
            at: at(hours),
            value,
            lower: band.map(|b| b.0),
            upper: band.map(|b| b.1),
            anomalous,
            shift: false,
            feedback: None,
        }
    }

    /// The value of attribute `name` in each element of `svg` that starts with `element`.
    fn attributes<'s>(svg: &'s str, element: &str, name: &str) -> Vec<&'s str> {
        let needle = format!(" {name}=\"");
        svg.split(element)
            .skip(1)
            .filter_map(|rest| {
                let tag = &rest[..rest.find('>')?];
                let start = tag.find(&needle)? + needle.len();
                Some(&tag[start..start + tag[start..].find('"')?])
            })
            .collect()
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(10.0, 4.0), 5.0);
        assert_eq!(nice_step(7.0, 4.0), 2.0);
        assert_eq!(nice_step(0.3, 4.0), 0.1);
        assert_eq!(nice_step(4_000.0, 4.0), 1_000.0);
    }

    #[test]
    fn values_and_bands_land_where_the_axes_say() {
        // Values 0..10, a band 2..8 on the last two points: the y domain is 0..10
        // (steps of 5), so 0 is the plot's bottom (192) and 10 its top (12); times run
        // from the left edge (56) to the right one (628).
        let points = [
            point(0, 0.0, None, false),
            point(1, 5.0, Some((2.0, 8.0)), false),
            point(2, 10.0, Some((2.0, 8.0)), true),
        ];
        let svg = line_chart("row_count", &points, &[]).expect("a chart");
        assert_eq!(
            attributes(&svg, "<polyline", "points"),
            ["56.0,192.0 342.0,102.0 628.0,12.0"]
        );
        // Only the marked point, here also the latest, gets a dot.
        assert_eq!(attributes(&svg, "<circle", "r"), ["4.5"]);
        assert_eq!(attributes(&svg, "<circle", "class"), ["point anomalous"]);
        // y(8) = 192 - 0.8 × 180 = 48; y(2) = 192 - 0.2 × 180 = 156.
        assert_eq!(
            attributes(&svg, "<polygon", "points"),
            ["342.0,48.0 628.0,48.0 628.0,156.0 342.0,156.0"]
        );
        let labels: Vec<&str> = svg
            .split(r#"text-anchor="end">"#)
            .skip(1)
            .filter_map(|rest| rest.split('<').next())
            .collect();
        assert_eq!(labels[..3], ["0", "5", "10"]);
    }

    #[test]
    fn gaps_split_the_band_and_lone_points_get_a_bar() {
        let band = Some((4.0, 6.0));
        let points = [
            point(0, 5.0, band, false),
            point(1, 5.0, None, false),
            point(2, 5.0, band, false),
            point(3, 5.0, band, false),
        ];
        let svg = line_chart("x", &points, &[]).expect("a chart");
        let polygons = attributes(&svg, "<polygon", "points");
        assert_eq!(polygons.len(), 2, "{svg}");
        // The lone first point: 3 units either side of the left edge.
        assert!(polygons[0].starts_with("53.0,"), "{}", polygons[0]);
        assert!(polygons[0].contains(" 59.0,"), "{}", polygons[0]);
    }

    #[test]
    fn thresholds_are_lines_and_widen_the_axis() {
        let thresholds = Threshold::of(&Thresholds {
            warn: Some(Bound::Min(10.0)),
            fail: Some(Bound::Between(0.0, 20.0)),
            anomaly: None,
        });
        let labels: Vec<String> = thresholds.iter().map(Threshold::label).collect();
        assert_eq!(labels, ["warn min 10", "fail min 0", "fail max 20"]);
        let svg = line_chart("x", &[point(0, 12.0, None, false)], &thresholds).expect("a chart");
        // Domain 0..20: the fail max line is the top of the plot, fail min its bottom.
        assert!(
            svg.contains(
                r#"<g class="threshold fail"><line x1="56" x2="628.0" y1="12.0" y2="12.0">"#
            ),
            "{svg}"
        );
        assert!(
            svg.contains(r#"y1="192.0" y2="192.0"><title>fail min 0</title>"#),
            "{svg}"
        );
    }

    #[test]
    fn a_lone_value_gets_a_padded_axis() {
        let svg = line_chart("x", &[point(0, 0.0, None, false)], &[]).expect("a chart");
        assert_eq!(attributes(&svg, "<circle", "cx"), ["342.0"]);
        assert_eq!(attributes(&svg, "<circle", "cy"), ["102.0"]);
    }

    #[test]
    fn nothing_to_draw_is_no_chart() {
        assert_eq!(line_chart("x", &[], &[]), None);
        assert_eq!(
            line_chart("x", &[point(0, f64::NAN, None, false)], &[]),
            None
        );
        let extremes = [
            point(0, -f64::MAX, None, false),
            point(1, f64::MAX, None, false),
        ];
        assert_eq!(line_chart("x", &extremes, &[]), None);
    }

    #[test]
    fn marks_pick_their_points() {
        const LATE: Mark = Mark {
            class: "breach",
            label: "late",
        };
        let points = [
            point(0, 1.0, None, true),
            point(1, 5.0, None, false),
            point(2, 1.0, None, false),
        ];
        let svg =
            marked_chart("x", &points, &[], &|p| (p.value > 2.0).then_some(LATE)).expect("a chart");
        assert_eq!(
            attributes(&svg, "<circle", "class"),
            ["point breach", "point latest"]
        );
        assert!(svg.contains(": 5 (late)</title>"), "{svg}");
        assert!(svg.contains(": 1 (latest)</title>"), "{svg}");
        assert!(!svg.contains("anomaly"), "{svg}");
    }

    #[test]
    fn feedback_is_marked() {
        let mut marked = point(1, 2.0, None, false);
        marked.feedback = Some(Feedback::Expected);
        let points = [
            point(0, 1.0, None, false),
            marked,
            point(2, 3.0, None, false),
        ];
        let svg = line_chart("x", &points, &[]).expect("a chart");
        assert_eq!(
            attributes(&svg, "<circle", "class"),
            ["point feedback", "point latest"]
        );
        assert!(svg.contains(": 2 (marked expected)</title>"), "{svg}");
    }

    /// Where `value` lands on the y axis of a chart whose domain is 0..1000 (steps of 250).
    fn y_of(value: f64) -> String {
        format!("{:.1}", 192.0 - value / 1000.0 * 180.0)
    }

    #[test]
    fn a_dense_series_is_thinned_to_the_width_and_keeps_its_spikes() {
        // 90 days of hourly values between 400 and 600 with a band around them, one spike
        // up to 1000 and one down to 0: 2,160 points.
        const HOURS: i64 = 90 * 24;
        const UP: i64 = 1_234;
        const DOWN: i64 = 777;
        let points: Vec<MetricPoint> = (0..HOURS)
            .map(|h| {
                let value = match h {
                    UP => 1_000.0,
                    DOWN => 0.0,
                    _ => 500.0 + 100.0 * (h as f64 * std::f64::consts::PI / 12.0).sin(),
                };
                let band = if h == UP {
                    (300.0, 990.0)
                } else {
                    (350.0, 650.0)
                };
                point(h, value, Some(band), h == UP)
            })
            .collect();
        let svg = line_chart("x", &points, &[]).expect("a chart");
        let line = attributes(&svg, "<polyline", "points");
        let vertices: Vec<(f64, &str)> = line[0]
            .split(' ')
            .filter_map(|xy| {
                let (x, y) = xy.split_once(',')?;
                Some((x.parse().ok()?, y))
            })
            .collect();
        let width = WIDTH - LEFT - RIGHT;
        assert!(
            vertices.len() as f64 <= 2.0 * width + 2.0,
            "{} vertices",
            vertices.len()
        );
        assert!(vertices.len() > 500, "{} vertices", vertices.len());
        assert!(vertices.windows(2).all(|w| w[0].0 <= w[1].0));
        // Both spikes, the ends and the daily swing are drawn.
        let ys: Vec<&str> = vertices.iter().map(|v| v.1).collect();
        for value in [1_000.0, 0.0, 400.0, 600.0, 500.0] {
            assert!(ys.contains(&y_of(value).as_str()), "{value} is not drawn");
        }
        assert_eq!(vertices[0].0, LEFT);
        assert_eq!(vertices[vertices.len() - 1].0, WIDTH - RIGHT);
        // Dots only for the anomaly and the latest point.
        assert_eq!(
            attributes(&svg, "<circle", "class"),
            ["point anomalous", "point latest"]
        );
        assert_eq!(attributes(&svg, "<circle", "cy")[0], y_of(1_000.0));
        // One band, thinned too, that still reaches the spike's 990 and 300.
        let band = attributes(&svg, "<polygon", "points");
        assert_eq!(band.len(), 1);
        let corners = band[0].split(' ').count() as f64;
        assert!(corners <= 2.0 * width + 4.0, "{corners} corners");
        assert!(
            band[0].contains(&format!(",{} ", y_of(990.0))),
            "{}",
            band[0]
        );
        assert!(
            band[0].contains(&format!(",{} ", y_of(300.0))),
            "{}",
            band[0]
        );
        assert!(svg.len() < 40_000, "{} bytes", svg.len());
    }

    #[test]
    fn text_is_escaped() {
        let svg = line_chart(
            r#"<script>"x"</script>"#,
            &[point(0, 1.0, None, false)],
            &[],
        )
        .expect("a chart");
        assert!(
            svg.contains(r#"aria-label="&lt;script&gt;&quot;x&quot;&lt;/script&gt;""#),
            "{svg}"
        );
        assert!(!svg.contains("<script"));
    }
}
