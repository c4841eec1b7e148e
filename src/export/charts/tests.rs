//! Unit tests of the charts: label wrapping, rendering every format, degenerate inputs and
//! axis ranges.

use std::path::Path;

use super::ChartError;
use super::axes::{padded_range, safe_range, whole_number_ticks};
use super::figure::{Figure, Line, Panel, PanelKind};
use super::output::{Drawing, ImageFormat};
use super::style::{series_colour, shorten, wrap};

#[test]
fn labels_wrap_at_spaces_and_only_overflow_is_cut() {
    assert_eq!(wrap("short", 10, 2), vec!["short"]);
    assert_eq!(
        wrap("dummy text caption v2 (seed 12)", 12, 3),
        vec!["dummy text", "caption v2", "(seed 12)"]
    );
    assert_eq!(wrap("abcdefghij", 4, 3), vec!["abcd", "efgh", "ij"]);
    let cut = wrap("one two three four five six", 7, 2);
    assert_eq!(cut.len(), 2);
    assert!(cut[1].ends_with('…'), "{cut:?}");
    assert_eq!(wrap("", 5, 2), vec![""]);
    assert_eq!(whole_number_ticks(3.2), 4);
    assert_eq!(whole_number_ticks(0.4), 2);
    assert_eq!(whole_number_ticks(f64::NAN), 2);
}

fn sample() -> Figure {
    Figure::new(
        "Sample",
        vec![
            Panel {
                title: "heat".into(),
                kind: PanelKind::Heatmap {
                    rows: vec!["a".into(), "b".into()],
                    cols: vec!["a".into(), "b".into()],
                    values: vec![vec![0.0, 1.0], vec![0.25, 0.0]],
                    labels: Some(vec![
                        vec!["".into(), "100%".into()],
                        vec!["25%".into(), "".into()],
                    ]),
                    x_label: "to".into(),
                    y_label: "from".into(),
                },
            },
            Panel {
                title: "bars".into(),
                kind: PanelKind::Bars {
                    labels: vec!["a → b".into(), "b → a".into()],
                    values: vec![3.0, 1.0],
                    value_label: "count".into(),
                    colours: Vec::new(),
                },
            },
            Panel {
                title: "empty".into(),
                kind: PanelKind::Empty {
                    message: "nothing here".into(),
                },
            },
        ],
    )
}

#[test]
fn a_figure_renders_to_png_pixels_and_svg_text() {
    let figure = sample();
    let image = figure.to_image().unwrap();
    assert_eq!((image.width(), image.height()), figure.size());
    // The heatmap's full cell is the darkest blue of the scale.
    assert!(image.pixels().any(|p| p.0 == [8, 48, 107]));
    // Not a blank page: a good share of pixels is not white.
    let inked = image.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    assert!(inked > 5_000, "{inked}");
    let svg = figure.to_svg().unwrap();
    assert!(svg.starts_with("<svg"));
    for text in ["Sample", "a → b", "100%", "nothing here"] {
        assert!(svg.contains(text), "SVG lacks {text}");
    }
}

#[test]
fn a_figure_converts_to_a_pdf_with_its_font_embedded() {
    let pdf = sample().to_pdf().unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(pdf.len() > 10_000, "{} bytes", pdf.len());
    // Text is kept as text in the bundled font, not dropped for want of a system font.
    let has = |needle: &[u8]| pdf.windows(needle.len()).any(|w| w == needle);
    assert!(has(b"DejaVuSans"), "font not embedded");
    assert!(has(b"/FontFile"), "font program missing");
}

#[test]
fn the_format_comes_from_the_extension() {
    let format = |name: &str| ImageFormat::from_path(Path::new(name));
    assert_eq!(format("a/b.PNG").unwrap(), ImageFormat::Png);
    assert_eq!(format("b.svg").unwrap(), ImageFormat::Svg);
    assert_eq!(format("c.Pdf").unwrap(), ImageFormat::Pdf);
    for bad in ["d.jpg", "noextension", "e."] {
        let error = format(bad).unwrap_err();
        assert!(matches!(error, ChartError::UnknownFormat { .. }), "{bad}");
        assert!(error.to_string().contains(".pdf"), "{error}");
    }
}

fn line(points: Vec<(f64, f64)>) -> Line {
    Line {
        name: "l".into(),
        points,
        colour: series_colour(0),
        width: 2,
        opacity: 1.0,
        in_legend: true,
    }
}

fn lines(points: Vec<(f64, f64)>) -> PanelKind {
    PanelKind::Lines {
        lines: vec![line(points)],
        x_label: "x".into(),
        y_label: "y".into(),
    }
}

/// Inputs that used to give plotters degenerate axis ranges (one hung forever).
fn degenerate() -> Vec<(&'static str, PanelKind)> {
    let (nan, inf) = (f64::NAN, f64::INFINITY);
    vec![
        (
            "no lines",
            PanelKind::Lines {
                lines: vec![],
                x_label: "x".into(),
                y_label: "y".into(),
            },
        ),
        ("empty line", lines(vec![])),
        ("one point", lines(vec![(3.0, 7.0)])),
        ("all equal", lines(vec![(1.0, 5.0), (1.0, 5.0), (1.0, 5.0)])),
        (
            "nan and inf",
            lines(vec![(nan, 1.0), (0.0, inf), (1.0, -inf), (2.0, nan)]),
        ),
        ("only nan", lines(vec![(nan, nan)])),
        ("huge", lines(vec![(0.0, 1e12), (1.0, 1e12)])),
        (
            "huge, tiny width",
            lines(vec![(1e12, 1e12), (1e12 + 1e-3, 1e12 + 1e-3)]),
        ),
        (
            "extreme",
            lines(vec![(-f64::MAX, f64::MIN_POSITIVE), (f64::MAX, 1e-300)]),
        ),
        (
            "zero durations",
            PanelKind::Boxes {
                groups: vec![("m".into(), vec![0.0; 5])],
                y_label: "s".into(),
            },
        ),
        (
            "empty boxes",
            PanelKind::Boxes {
                groups: vec![("m".into(), vec![])],
                y_label: "s".into(),
            },
        ),
        (
            "nan boxes",
            PanelKind::Boxes {
                groups: vec![("m".into(), vec![nan, inf])],
                y_label: "s".into(),
            },
        ),
        (
            "no groups",
            PanelKind::Boxes {
                groups: vec![],
                y_label: "s".into(),
            },
        ),
        (
            "zero bars",
            PanelKind::Bars {
                labels: vec!["a".into()],
                values: vec![0.0],
                value_label: "n".into(),
                colours: Vec::new(),
            },
        ),
        (
            "huge bars",
            PanelKind::Bars {
                labels: vec!["a".into(), "b".into()],
                values: vec![1e12, 1e12],
                value_label: "n".into(),
                colours: Vec::new(),
            },
        ),
        (
            "bad bars",
            PanelKind::Bars {
                labels: vec!["a".into(), "b".into()],
                values: vec![nan, inf],
                value_label: "n".into(),
                colours: Vec::new(),
            },
        ),
        (
            "no bars",
            PanelKind::Bars {
                labels: vec![],
                values: vec![],
                value_label: "n".into(),
                colours: Vec::new(),
            },
        ),
        (
            "no intervals",
            PanelKind::Intervals {
                rows: vec![],
                x_label: "x".into(),
            },
        ),
        (
            "bad intervals",
            PanelKind::Intervals {
                rows: vec![("a".into(), nan, -inf, inf), ("b".into(), 0.0, 0.0, 0.0)],
                x_label: "x".into(),
            },
        ),
        (
            "empty scatter",
            PanelKind::Scatter {
                groups: vec![],
                x_label: "x".into(),
                y_label: "y".into(),
            },
        ),
        (
            "nan scatter",
            PanelKind::Scatter {
                groups: vec![("g".into(), [0, 0, 0], vec![(nan, 1.0), (1e12, 1e12)])],
                x_label: "x".into(),
                y_label: "y".into(),
            },
        ),
        (
            "empty heatmap",
            PanelKind::Heatmap {
                rows: vec![],
                cols: vec![],
                values: vec![],
                labels: None,
                x_label: "x".into(),
                y_label: "y".into(),
            },
        ),
        (
            "nan heatmap",
            PanelKind::Heatmap {
                rows: vec!["a".into()],
                cols: vec!["a".into()],
                values: vec![vec![nan]],
                labels: None,
                x_label: "x".into(),
                y_label: "y".into(),
            },
        ),
        (
            "empty stack",
            PanelKind::Stacked {
                categories: vec![],
                layers: vec![],
                y_label: "y".into(),
            },
        ),
        (
            "nan stack",
            PanelKind::Stacked {
                categories: vec!["c".into()],
                layers: vec![
                    ("l".into(), [0, 0, 0], vec![nan]),
                    ("m".into(), [9, 9, 9], vec![1.0]),
                ],
                y_label: "y".into(),
            },
        ),
    ]
}

#[test]
fn degenerate_inputs_still_render_to_every_format() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (name, kind)) in degenerate().into_iter().enumerate() {
        let figure = Figure::new(
            name,
            vec![Panel {
                title: name.into(),
                kind,
            }],
        );
        let png = dir.path().join(format!("{i}.png"));
        let svg = dir.path().join(format!("{i}.svg"));
        let pdf = dir.path().join(format!("{i}.pdf"));
        for path in [&png, &svg, &pdf] {
            figure.save(path).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        for path in [&png, &svg, &pdf] {
            let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            assert!(size > 0, "{name}: {} is empty", path.display());
        }
    }
}

#[test]
fn panels_without_data_say_so() {
    let figure = Figure::new(
        "Nothing",
        vec![Panel {
            title: "p".into(),
            kind: lines(vec![]),
        }],
    );
    assert!(figure.to_svg().unwrap().contains("no data to show"));
}

#[test]
fn axis_ranges_are_finite_and_wide_enough() {
    let cases = [
        (0.0, 0.0),
        (5.0, 5.0),
        (1e12, 1e12 + 1e-3),
        (f64::NAN, 1.0),
        (0.0, f64::INFINITY),
        (3.0, 1.0),
        (-f64::MAX, f64::MAX),
    ];
    for (low, high) in cases {
        let (a, b) = safe_range(low, high);
        assert!(
            a.is_finite() && b.is_finite() && b > a,
            "{low}..{high} → {a}..{b}"
        );
        assert!(
            b - a >= a.abs().max(b.abs()) * 1e-6,
            "{low}..{high} → {a}..{b}"
        );
    }
    assert_eq!(padded_range([f64::NAN], false), (0.0, 1.0));
    assert_eq!(safe_range(0.0, 10.0), (0.0, 10.0));
}

#[test]
fn long_labels_are_shortened() {
    assert_eq!(shorten("abcdef", 4), "abc…");
    assert_eq!(shorten("abc", 4), "abc");
}
