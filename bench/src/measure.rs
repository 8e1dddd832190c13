//! Timing: runs one measured action a warm-up time and then N times, and summarises the
//! wall-clock durations as median and minimum.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::BenchError;

/// One measured run: wall-clock time, and the CPU time (user + system) it used, which the
/// other agents sharing this machine's two cores disturb much less than the wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    pub wall: Duration,
    pub cpu: Duration,
}

/// The measured repetitions (the warm-up run is not among them).
#[derive(Clone, Debug)]
pub struct Stats {
    pub samples: Vec<Sample>,
}

fn median_of(mut values: Vec<Duration>) -> Duration {
    values.sort();
    match values.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2,
    }
}

impl Stats {
    pub fn median(&self) -> Duration {
        median_of(self.samples.iter().map(|s| s.wall).collect())
    }

    pub fn min(&self) -> Duration {
        self.samples
            .iter()
            .map(|s| s.wall)
            .min()
            .unwrap_or(Duration::ZERO)
    }

    pub fn cpu_median(&self) -> Duration {
        median_of(self.samples.iter().map(|s| s.cpu).collect())
    }
}

/// Runs `action` once to warm caches (files, Python bytecode), then `reps` times, keeping
/// the samples that `action` itself reports: each action times only its own work, so a
/// fresh database can be prepared outside the measured span.
pub fn repeat(
    reps: usize,
    mut action: impl FnMut() -> Result<Sample, BenchError>,
) -> Result<Stats, BenchError> {
    action()?;
    let samples = (0..reps.max(1))
        .map(|_| action())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Stats { samples })
}

/// CPU time (user + system) used so far by this process (`self_`) or by its waited-for
/// children.
pub fn cpu_time(self_: bool) -> Duration {
    let who = if self_ {
        libc::RUSAGE_SELF
    } else {
        libc::RUSAGE_CHILDREN
    };
    // SAFETY: getrusage only writes the struct we own; an all-zero rusage is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage for the duration of the call.
    if unsafe { libc::getrusage(who, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Times an in-process action: wall clock and this process's CPU time.
pub fn in_process<T>(
    action: impl FnOnce() -> Result<T, BenchError>,
) -> Result<(Sample, T), BenchError> {
    let cpu = cpu_time(true);
    let start = Instant::now();
    let value = action()?;
    let wall = start.elapsed();
    Ok((
        Sample {
            wall,
            cpu: cpu_time(true).saturating_sub(cpu),
        },
        value,
    ))
}

/// Runs a program to completion, timing it from spawn to exit, and fails (with its stderr)
/// when it exits non-zero, so that a broken run is never reported as a fast one.
pub fn run_timed(
    program: &Path,
    args: &[&str],
    cwd: &Path,
    stdin_file: Option<&Path>,
) -> Result<(Sample, Output), BenchError> {
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
    let cpu = cpu_time(false);
    let start = Instant::now();
    let output = cmd.output().map_err(|source| BenchError::Spawn {
        command: describe(),
        source,
    })?;
    let sample = Sample {
        wall: start.elapsed(),
        cpu: cpu_time(false).saturating_sub(cpu),
    };
    if !output.status.success() {
        return Err(BenchError::Failed {
            command: describe(),
            status: output.status.code(),
            stderr: tail(&String::from_utf8_lossy(&output.stderr), 40),
        });
    }
    Ok((sample, output))
}

/// The last `lines` lines of a text, so that a Python traceback is shown without its
/// thousands of repeated frames.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A duration the way a reader compares them: milliseconds below one second.
pub fn human(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 1_000.0 {
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
            samples: ms
                .iter()
                .map(|&m| Sample {
                    wall: Duration::from_millis(m),
                    cpu: Duration::from_millis(m / 2),
                })
                .collect(),
        }
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(stats(&[5, 1, 3]).median(), Duration::from_millis(3));
        assert_eq!(stats(&[4, 1, 3, 2]).median(), Duration::from_micros(2_500));
        assert_eq!(stats(&[4, 1, 3, 2]).min(), Duration::from_millis(1));
        assert_eq!(stats(&[6, 2, 4]).cpu_median(), Duration::from_millis(2));
    }

    #[test]
    fn repeat_discards_the_warm_up() {
        let mut calls = 0u64;
        let s = repeat(3, || {
            calls += 1;
            Ok(Sample {
                wall: Duration::from_millis(calls),
                cpu: Duration::ZERO,
            })
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
    fn child_cpu_time_is_counted() {
        // A child that burns CPU for a while must show CPU time; `sleep` must show little.
        let (busy, _) = run_timed(
            Path::new("sh"),
            &["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"],
            Path::new("."),
            None,
        )
        .expect("busy loop");
        assert!(busy.cpu > Duration::from_millis(20), "{busy:?}");
        let (idle, _) =
            run_timed(Path::new("sleep"), &["0.3"], Path::new("."), None).expect("sleep");
        assert!(idle.wall >= Duration::from_millis(300), "{idle:?}");
        assert!(idle.cpu < Duration::from_millis(150), "{idle:?}");
    }

    #[test]
    fn human_units() {
        assert_eq!(human(Duration::from_micros(1_500)), "1.50 ms");
        assert_eq!(human(Duration::from_millis(250)), "250.0 ms");
        assert_eq!(human(Duration::from_secs(12)), "12.00 s");
        assert_eq!(human(Duration::from_millis(1_500)), "1.50 s");
    }
}
