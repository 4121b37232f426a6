//! The chart of start cost against parent size, one line per method, drawn as SVG.

use std::path::Path;

use plotters::prelude::*;

use crate::measure::Row;

/// How a line is drawn: the pools solid, the floors dashed, CPython's dotted.
#[derive(Clone, Copy)]
enum Stroke {
    Solid,
    Dashed,
    Dotted,
}

/// Each line: its method, its name in the legend (the table's words), a colour from
/// Okabe and Ito's palette, which readers with a colour-vision deficiency can tell
/// apart, and its stroke.
const LINES: [(&str, &str, RGBColor, Stroke); 9] = [
    (
        "fork",
        "fork pool",
        RGBColor(0xd5, 0x5e, 0x00),
        Stroke::Solid,
    ),
    (
        "spawn",
        "spawn pool",
        RGBColor(0x00, 0x72, 0xb2),
        Stroke::Solid,
    ),
    (
        "forkserver",
        "forkserver pool, server running",
        RGBColor(0xe6, 0x9f, 0x00),
        Stroke::Solid,
    ),
    (
        "forkserver-own",
        "forkserver pool, own server",
        RGBColor(0xcc, 0x79, 0xa7),
        Stroke::Solid,
    ),
    (
        "raw-fork",
        "raw fork (floor)",
        RGBColor(0x00, 0x00, 0x00),
        Stroke::Dashed,
    ),
    (
        "raw-posix-spawn",
        "raw spawn (floor)",
        RGBColor(0x88, 0x88, 0x88),
        Stroke::Dashed,
    ),
    (
        "python-fork",
        "CPython fork",
        RGBColor(0xd5, 0x5e, 0x00),
        Stroke::Dotted,
    ),
    (
        "python-spawn",
        "CPython spawn",
        RGBColor(0x00, 0x72, 0xb2),
        Stroke::Dotted,
    ),
    (
        "python-forkserver",
        "CPython forkserver",
        RGBColor(0xe6, 0x9f, 0x00),
        Stroke::Dotted,
    ),
];

pub fn draw(path: &Path, rows: &[Row]) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let single: Vec<&Row> = rows.iter().filter(|r| r.workers == 1).collect();
    let max_mib = single
        .iter()
        .map(|r| r.parent_mib)
        .max()
        .unwrap_or(0)
        .max(64);
    let highest = single
        .iter()
        .map(|r| r.median_us)
        .max()
        .unwrap_or(1)
        .max(10);
    let root = SVGBackend::new(path, (760, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Starting one worker, against the parent's size",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(
            // From 1 µs: the decades below the fastest line hold the legend.
            0f64..f64::from(max_mib),
            (1f64..highest as f64 * 2.0).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("parent's written memory (MiB)")
        .y_desc("median time (µs, log scale)")
        .x_label_formatter(&|mib| format!("{mib:.0}"))
        .y_label_formatter(&|us| format!("{us:.0}"))
        .light_line_style(RGBColor(0xf0, 0xf0, 0xf0))
        .draw()?;
    for (method, label, colour, stroke) in LINES {
        let points: Vec<(f64, f64)> = single
            .iter()
            .filter(|r| r.method == method)
            .map(|r| (f64::from(r.parent_mib), r.median_us.max(1) as f64))
            .collect();
        if points.is_empty() {
            continue;
        }
        let style = colour.stroke_width(2);
        let (dash, gap) = match stroke {
            Stroke::Solid => (0, 0),
            Stroke::Dashed => (8, 5),
            Stroke::Dotted => (2, 4),
        };
        let drawn = if dash == 0 {
            chart.draw_series(LineSeries::new(points.clone(), style))?
        } else {
            chart.draw_series(DashedLineSeries::new(
                points.clone(),
                dash,
                gap,
                style,
            ))?
        };
        // The legend's sample: three pieces, joined for a solid line.
        let pieces: [(i32, i32); 3] = match stroke {
            Stroke::Solid => [(0, 8), (8, 16), (16, 24)],
            Stroke::Dashed => [(0, 6), (9, 15), (18, 24)],
            Stroke::Dotted => [(0, 2), (6, 8), (12, 14)],
        };
        drawn.label(label).legend(move |(x, y)| {
            let piece =
                |(from, to): (i32, i32)| PathElement::new([(from, 0), (to, 0)], style);
            EmptyElement::at((x, y))
                + piece(pieces[0])
                + piece(pieces[1])
                + piece(pieces[2])
        });
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 3, colour.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
