//! `nickpool bench --svg FILE`: latency against percentile, both on log
//! scales (the usual HDR histogram plot): the pull and, with --compare, each
//! alternative, so the gap at the median and in the tail shows at a glance.

use super::report::{Run, ns};
use hdrhistogram::Histogram;
use nickpool_server::bench::timer::TscClock;
use plotters::prelude::*;
use std::path::Path;

/// The plot reaches 99.999%: x = 1 / (1 - quantile) up to 10^5.
const X_MAX: f64 = 1e5;

/// (x, latency in ns) points of a histogram of ticks.
fn percentile_curve(h: &Histogram<u64>, clock: TscClock, per: f64) -> Vec<(f64, f64)> {
    h.iter_quantiles(5)
        .filter_map(|v| {
            let q = v.quantile_iterated_to();
            let x = 1.0 / (1.0 - q);
            (q < 1.0 && x <= X_MAX).then(|| (x, (clock.ns(v.value_iterated_to()) / per).max(1.0)))
        })
        .collect()
}

fn percentile_label(x: f64) -> String {
    let q = 100.0 * (1.0 - 1.0 / x);
    if q < 1.0 {
        "0%".into()
    } else {
        let s = format!("{q:.3}");
        format!("{}%", s.trim_end_matches('0').trim_end_matches('.'))
    }
}

pub fn write_svg(path: &Path, run: &Run) -> Result<(), Box<dyn std::error::Error>> {
    let pull_label = if run.config.batch == 1 {
        "nickpool pull".to_owned()
    } else {
        format!("nickpool batch-{} (per nickname)", run.config.batch)
    };
    let mut series = vec![(
        pull_label,
        percentile_curve(&run.histogram, run.clock, run.per_call()),
    )];
    if let Some(c) = &run.comparison {
        for a in &c.alternatives {
            series.push((
                a.label.to_owned(),
                percentile_curve(&a.measured.histogram, run.clock, 1.0),
            ));
        }
    }
    let y_max = series
        .iter()
        .flat_map(|(_, points)| points.iter().map(|p| p.1))
        .fold(10.0, f64::max)
        * 2.0;
    let y_min = series
        .iter()
        .flat_map(|(_, points)| points.iter().map(|p| p.1))
        .fold(f64::MAX, f64::min)
        .clamp(1.0, 10.0)
        / 2.0;

    let root = SVGBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let paced = if run.config.rate > 0 {
        format!(", paced at {} M/s", run.config.rate as f64 / 1e6)
    } else {
        String::new()
    };
    let caption = format!(
        "nickpool bench {}: {} × {} thread(s), batch {}{paced}, {} s — {}",
        run.date,
        run.config.procs,
        run.config.threads,
        run.config.batch,
        run.config.seconds,
        run.cpu
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 18))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d((1f64..X_MAX).log_scale(), (y_min..y_max).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency")
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|y| ns(*y).replace(".0 ", " "))
        .draw()?;
    let colors = [
        RGBColor(214, 39, 40),
        RGBColor(31, 119, 180),
        RGBColor(44, 160, 44),
        RGBColor(255, 127, 14),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(127, 127, 127),
    ];
    for (i, (label, points)) in series.into_iter().enumerate() {
        let color = colors[i % colors.len()];
        let width = if i == 0 { 3 } else { 2 };
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(width)))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(width))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_labels() {
        assert_eq!(percentile_label(1.0), "0%");
        assert_eq!(percentile_label(2.0), "50%");
        assert_eq!(percentile_label(100.0), "99%");
        assert_eq!(percentile_label(1000.0), "99.9%");
    }
}
