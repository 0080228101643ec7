//! The resolver on a large estate: 10,000 packages of 10 versions, about 3 prerequisites
//! each, and a release of 2,000 of them. Prints the median and maximum time of a resolution
//! (wall clock, and the CPU time of the thread, which a busy machine disturbs less) and the
//! peak memory of the process. Goal: under 100 ms and under 200 MB.
//!
//! Run with `cargo bench --bench resolve`.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use dbpm::platform::Platform;
use dbpm::resolve::{resolve, Request};

use common::Shape;

const RUNS: usize = 10;

fn main() {
    let shape = Shape {
        packages: 10_000,
        versions: 10,
        prerequisites: 3,
        seed: 42,
    };
    let started = Instant::now();
    let index = common::generate_index(&shape);
    let request = Request::new(
        Platform::Postgres,
        common::generate_release(&shape, 2_000, 7),
    );
    println!(
        "index: {} entries, generated in {:.0?}; peak memory so far {}",
        index.len(),
        started.elapsed(),
        peak_memory()
    );

    let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
    let mut cpu_times: Vec<Duration> = Vec::with_capacity(RUNS);
    let mut resolved = 0;
    let mut pulled_in = 0;
    // One more run than measured: the first warms the caches up.
    for run in 0..=RUNS {
        let started = Instant::now();
        let cpu_started = cpu_time();
        let resolution = match resolve(black_box(&index), black_box(&request)) {
            Ok(resolution) => resolution,
            Err(err) => {
                eprintln!("the benchmark release does not resolve: {err}");
                std::process::exit(1);
            }
        };
        let elapsed = started.elapsed();
        let cpu = cpu_time().saturating_sub(cpu_started);
        resolved = resolution.packages.len();
        pulled_in = resolution.packages.values().filter(|r| !r.wanted).count();
        black_box(resolution);
        if run > 0 {
            times.push(elapsed);
            cpu_times.push(cpu);
        }
    }
    times.sort();
    cpu_times.sort();
    println!(
        "resolve {} wanted → {resolved} packages ({pulled_in} pulled in), over {RUNS} runs:",
        request.wanted.len(),
    );
    println!(
        "  wall time median {:.1?}, max {:.1?}",
        times[RUNS / 2],
        times[RUNS - 1]
    );
    println!(
        "  CPU time median {:.1?}, max {:.1?}",
        cpu_times[RUNS / 2],
        cpu_times[RUNS - 1]
    );
    println!("peak memory of the process: {}", peak_memory());
}

/// The CPU time of this thread so far, from `/proc/thread-self/schedstat` (Linux only;
/// zero elsewhere).
fn cpu_time() -> Duration {
    fs_err::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|stat| stat.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// `VmHWM` of `/proc/self/status`: the peak resident memory (Linux only).
fn peak_memory() -> String {
    fs_err::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or_else(|| "unknown".to_owned(), |kb| format!("{} MB", kb / 1024))
}
