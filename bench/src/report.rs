//! The result table: each benchmark's tools side by side, with ratios and the targets of
//! docs/benchmarks.md, printed as Markdown so it can be pasted as is.

use std::fmt::Write as _;
use std::time::Duration;

use crate::measure::{human, Stats};

/// One tool's measurements in one benchmark.
#[derive(Clone, Debug)]
pub struct Row {
    pub tool: String,
    pub stats: Stats,
}

/// One benchmark: the same work done by several tools. The first row is cargo-alembic.
#[derive(Clone, Debug)]
pub struct Bench {
    pub name: String,
    pub rows: Vec<Row>,
}

/// A pass/fail line under the table.
#[derive(Clone, Debug)]
pub struct Target {
    pub what: String,
    pub met: bool,
    pub detail: String,
}

fn ratio(a: Duration, b: Duration) -> f64 {
    if b.is_zero() {
        f64::INFINITY
    } else {
        a.as_secs_f64() / b.as_secs_f64()
    }
}

fn find<'a>(bench: &'a Bench, tool: &str) -> Option<&'a Row> {
    bench
        .rows
        .iter()
        .find(|r| r.tool.to_ascii_lowercase().starts_with(tool))
}

/// The table: median, min, and each median divided by cargo-alembic's.
pub fn table(benches: &[Bench]) -> String {
    let mut out = String::from(
        "| benchmark | tool | runs | median | min | CPU median | median ÷ cargo-alembic's |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for bench in benches {
        let ours = bench.rows.first().map(|r| r.stats.median());
        for (i, row) in bench.rows.iter().enumerate() {
            let name = if i == 0 { bench.name.as_str() } else { "" };
            let r = ours.map_or(f64::NAN, |o| ratio(row.stats.median(), o));
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} | {} | {} | {r:.2}× |",
                row.tool,
                row.stats.samples.len(),
                human(row.stats.median()),
                human(row.stats.min()),
                human(row.stats.cpu_median()),
            );
        }
    }
    out
}

/// Read commands: at least 50× faster than Alembic and under 100 ms (medians).
pub fn read_target(bench: &Bench) -> Option<Target> {
    let ours = &bench.rows.first()?.stats;
    let alembic = &find(bench, "alembic")?.stats;
    let speedup = ratio(alembic.median(), ours.median());
    let under = ours.median() < Duration::from_millis(100);
    Some(Target {
        what: format!("{}: ≥ 50× faster than Alembic and < 100 ms", bench.name),
        met: speedup >= 50.0 && under,
        detail: format!(
            "{speedup:.0}× faster, {} median (in CPU time: {:.0}× faster, {})",
            human(ours.median()),
            ratio(alembic.cpu_median(), ours.cpu_median()),
            human(ours.cpu_median()),
        ),
    })
}

/// Upgrade: within 1.5× of the sqlite3 shell running the same SQL in one transaction.
pub fn upgrade_target(bench: &Bench) -> Option<Target> {
    let ours = bench.rows.first()?.stats.median();
    let shell = find(bench, "sqlite3")?.stats.median();
    let r = ratio(ours, shell);
    Some(Target {
        what: format!("{}: ≤ 1.5× the sqlite3 shell", bench.name),
        met: r <= 1.5,
        detail: format!(
            "{r:.2}× the sqlite3 shell ({} vs {})",
            human(ours),
            human(shell)
        ),
    })
}

pub fn targets(lines: &[Target]) -> String {
    let mut out = String::new();
    for t in lines {
        let mark = if t.met { "MET" } else { "MISSED" };
        let _ = writeln!(out, "- {mark}: {} — {}", t.what, t.detail);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::Sample;

    fn row(tool: &str, ms: u64) -> Row {
        Row {
            tool: tool.to_owned(),
            stats: Stats {
                samples: vec![Sample {
                    wall: Duration::from_millis(ms),
                    cpu: Duration::from_millis(ms),
                }],
            },
        }
    }

    #[test]
    fn read_target_needs_both_speedup_and_absolute_time() {
        let fast = Bench {
            name: "heads".into(),
            rows: vec![row("cargo-alembic", 20), row("Alembic 1.20.1", 2_000)],
        };
        assert!(read_target(&fast).map(|t| t.met).unwrap_or(false));
        let not_enough = Bench {
            name: "heads".into(),
            rows: vec![row("cargo-alembic", 50), row("alembic 1.20.1", 2_000)],
        };
        assert!(!read_target(&not_enough).map(|t| t.met).unwrap_or(true));
        let too_slow = Bench {
            name: "heads".into(),
            rows: vec![row("cargo-alembic", 150), row("alembic 1.20.1", 60_000)],
        };
        assert!(!read_target(&too_slow).map(|t| t.met).unwrap_or(true));
    }

    #[test]
    fn upgrade_target_is_a_ratio_to_the_shell() {
        let b = Bench {
            name: "upgrade head".into(),
            rows: vec![row("cargo-alembic", 30), row("sqlite3 shell", 20)],
        };
        assert!(upgrade_target(&b).map(|t| t.met).unwrap_or(false));
        let b = Bench {
            name: "upgrade head".into(),
            rows: vec![row("cargo-alembic", 31), row("sqlite3 shell", 20)],
        };
        assert!(!upgrade_target(&b).map(|t| t.met).unwrap_or(true));
    }

    #[test]
    fn table_shows_ratios_to_the_first_row() {
        let b = Bench {
            name: "history".into(),
            rows: vec![row("cargo-alembic", 10), row("alembic 1.20.1", 1_000)],
        };
        let t = table(&[b]);
        assert!(t.contains("| history | cargo-alembic | 1 |"), "{t}");
        assert!(t.contains("100.00×"), "{t}");
    }
}
