//! Timing: runs one measured action a warm-up time and then N times, and summarises the
//! wall-clock durations as median and minimum.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::BenchError;

/// The durations of the measured repetitions (the warm-up run is not among them).
#[derive(Clone, Debug)]
pub struct Stats {
    pub samples: Vec<Duration>,
}

impl Stats {
    pub fn median(&self) -> Duration {
        let mut sorted = self.samples.clone();
        sorted.sort();
        match sorted.len() {
            0 => Duration::ZERO,
            n if n % 2 == 1 => sorted[n / 2],
            n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
        }
    }

    pub fn min(&self) -> Duration {
        self.samples.iter().min().copied().unwrap_or(Duration::ZERO)
    }
}

/// Runs `action` once to warm caches (files, Python bytecode), then `reps` times, keeping
/// the durations that `action` itself reports: each action times only its own work, so a
/// fresh database can be prepared outside the measured span.
pub fn repeat(
    reps: usize,
    mut action: impl FnMut() -> Result<Duration, BenchError>,
) -> Result<Stats, BenchError> {
    action()?;
    let samples = (0..reps.max(1))
        .map(|_| action())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Stats { samples })
}

/// Runs a program to completion, timing it from spawn to exit, and fails (with its stderr)
/// when it exits non-zero, so that a broken run is never reported as a fast one.
pub fn run_timed(
    program: &Path,
    args: &[&str],
    cwd: &Path,
    stdin_file: Option<&Path>,
) -> Result<(Duration, Output), BenchError> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        // The environment variable beats the configuration file (SPEC section 3): a URL
        // left in the caller's shell must not send the run to another database.
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match stdin_file {
        Some(path) => {
            let file = std::fs::File::open(path).map_err(|source| BenchError::Io {
                path: path.to_owned(),
                source,
            })?;
            cmd.stdin(file);
        }
        None => {
            cmd.stdin(Stdio::null());
        }
    }
    let describe = || format!("{} {}", program.display(), args.join(" "));
    let start = Instant::now();
    let output = cmd.output().map_err(|source| BenchError::Spawn {
        command: describe(),
        source,
    })?;
    let elapsed = start.elapsed();
    if !output.status.success() {
        return Err(BenchError::Failed {
            command: describe(),
            status: output.status.code(),
            stderr: tail(&String::from_utf8_lossy(&output.stderr), 40),
        });
    }
    Ok((elapsed, output))
}

/// The last `lines` lines of a text, so that a Python traceback is shown without its
/// thousands of repeated frames.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A duration the way a reader compares them: milliseconds below ten seconds.
pub fn human(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 10_000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(ms: &[u64]) -> Stats {
        Stats {
            samples: ms.iter().map(|&m| Duration::from_millis(m)).collect(),
        }
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(stats(&[5, 1, 3]).median(), Duration::from_millis(3));
        assert_eq!(stats(&[4, 1, 3, 2]).median(), Duration::from_micros(2_500));
        assert_eq!(stats(&[4, 1, 3, 2]).min(), Duration::from_millis(1));
    }

    #[test]
    fn repeat_discards_the_warm_up() {
        let mut calls = 0u64;
        let s = repeat(3, || {
            calls += 1;
            Ok(Duration::from_millis(calls))
        })
        .expect("repeat");
        assert_eq!(calls, 4);
        assert_eq!(s.min(), Duration::from_millis(2));
    }

    #[test]
    fn failing_command_is_an_error_with_stderr() {
        let err = run_timed(
            Path::new("sh"),
            &["-c", "echo boom >&2; exit 3"],
            Path::new("."),
            None,
        )
        .expect_err("must fail");
        let text = err.to_string();
        assert!(text.contains("boom") && text.contains('3'), "{text}");
    }

    #[test]
    fn human_units() {
        assert_eq!(human(Duration::from_micros(1_500)), "1.50 ms");
        assert_eq!(human(Duration::from_millis(250)), "250.0 ms");
        assert_eq!(human(Duration::from_secs(12)), "12.00 s");
    }
}
