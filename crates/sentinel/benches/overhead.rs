//! Overhead of sentinel's wrappers against the bare tokio equivalents.
//!
//! `cargo bench -p sentinel` runs three criterion comparisons, then prints the ratios (median of several rounds of
//! a fixed workload, same process) that the README quotes:
//!
//! - observed spawn + await vs raw `tokio::spawn` + await (goal ≤ 1.3×);
//! - an isolated item (`sentinel::isolate`) vs a plain `.await`;
//! - a `TaskGroup` of 1,000 children joined vs a `JoinSet` of 1,000.
//!
//! Everything runs on a current-thread runtime, so the numbers measure the wrappers, not cross-thread wake-ups.
//! No metrics recorder is installed (the `metrics` no-op recorder), as in a service before its exporter starts.
// A bench reports on stdout, raw tokio::spawn is its baseline, and a failure to set up should just stop it.
#![allow(
    clippy::print_stdout,
    clippy::disallowed_methods,
    clippy::unwrap_used,
    missing_docs
)]

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn raw_spawn(n: u64) {
    for i in 0..n {
        black_box(tokio::spawn(async move { i }).await.unwrap());
    }
}

async fn observed_spawn(n: u64) {
    for i in 0..n {
        black_box(
            sentinel::spawn("bench", async move { Ok::<_, Infallible>(i) })
                .await
                .unwrap(),
        );
    }
}

async fn plain_items(n: u64) {
    for i in 0..n {
        black_box(async move { black_box(i) * 2 }.await);
    }
}

async fn isolated_items(n: u64) {
    for i in 0..n {
        black_box(
            sentinel::isolate(async move { black_box(i) * 2 })
                .await
                .unwrap(),
        );
    }
}

async fn joinset_1000() {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..1000u64 {
        set.spawn(async move { i });
    }
    let mut sum = 0;
    while let Some(v) = set.join_next().await {
        sum += v.unwrap();
    }
    black_box(sum);
}

async fn taskgroup_1000() {
    let mut group = sentinel::TaskGroup::new("bench-group");
    for i in 0..1000u64 {
        group.spawn("bench-child", async move { Ok::<_, Infallible>(i) });
    }
    black_box(group.join().await.unwrap().iter().sum::<u64>());
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("spawn+await");
    g.bench_function("tokio::spawn", |b| {
        b.iter_custom(|n| time(&rt, raw_spawn(n)))
    });
    g.bench_function("sentinel::spawn", |b| {
        b.iter_custom(|n| time(&rt, observed_spawn(n)))
    });
    g.finish();

    let mut g = c.benchmark_group("item");
    g.bench_function("plain await", |b| {
        b.iter_custom(|n| time(&rt, plain_items(n)))
    });
    g.bench_function("sentinel::isolate", |b| {
        b.iter_custom(|n| time(&rt, isolated_items(n)))
    });
    g.finish();

    let mut g = c.benchmark_group("fan-out 1000");
    g.bench_function("JoinSet", |b| b.iter(|| rt.block_on(joinset_1000())));
    g.bench_function("TaskGroup", |b| b.iter(|| rt.block_on(taskgroup_1000())));
    g.finish();
}

fn time<F: std::future::Future<Output = ()>>(rt: &Runtime, fut: F) -> Duration {
    let started = Instant::now();
    rt.block_on(fut);
    started.elapsed()
}

/// Best (minimum) time per operation of `a` and `b` over `rounds` short rounds of `n` operations each.
///
/// The machine these numbers come from is shared (load average above 10 on 2 cores), so a round's wall time is
/// mostly how often it was preempted. Many short alternating rounds and the minimum of each side estimate the
/// undisturbed cost; the criterion groups above give the full distributions.
fn compare<A, AF, B, BF>(rt: &Runtime, rounds: usize, n: u64, mut a: A, mut b: B) -> (f64, f64)
where
    A: FnMut(u64) -> AF,
    AF: std::future::Future<Output = ()>,
    B: FnMut(u64) -> BF,
    BF: std::future::Future<Output = ()>,
{
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        xs.push(time(rt, a(n)).as_secs_f64() / n as f64);
        ys.push(time(rt, b(n)).as_secs_f64() / n as f64);
    }
    let min = |v: Vec<f64>| v.into_iter().fold(f64::INFINITY, f64::min);
    (min(xs), min(ys))
}

fn print_ratios() {
    let rt = runtime();
    let rounds = 200;
    // Warm up the allocator, the registry shards, the metric key cache and the panic hook.
    rt.block_on(observed_spawn(10_000));
    rt.block_on(raw_spawn(10_000));
    let (observed, raw) = compare(&rt, rounds, 1_000, observed_spawn, raw_spawn);
    let (isolated, plain) = compare(&rt, rounds, 10_000, isolated_items, plain_items);
    let (group, joinset) = compare(&rt, rounds / 4, 1, |_| taskgroup_1000(), |_| joinset_1000());
    let mt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let on_worker =
        |f: fn(u64) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>| {
            // Spawned inside the timed future, so the work cannot start before the clock does.
            move |n: u64| async move { tokio::spawn(f(n)).await.unwrap() }
        };
    let (observed_mt, raw_mt) = {
        compare(
            &mt,
            rounds,
            1_000,
            on_worker(|n| Box::pin(observed_spawn(n))),
            on_worker(|n| Box::pin(raw_spawn(n))),
        )
    };
    println!();
    println!(
        "sentinel overhead (best of {rounds} alternating rounds, current-thread runtime, no metrics recorder):"
    );
    println!(
        "  observed spawn+await {:>8.0} ns vs tokio::spawn {:>8.0} ns: ratio {:.2}x (goal <= 1.30x)",
        observed * 1e9,
        raw * 1e9,
        observed / raw
    );
    println!(
        "  same, 2-worker runtime {:>6.0} ns vs tokio::spawn {:>8.0} ns: ratio {:.2}x",
        observed_mt * 1e9,
        raw_mt * 1e9,
        observed_mt / raw_mt
    );
    println!(
        "  isolated item        {:>8.1} ns vs plain await  {:>8.1} ns: ratio {:.2}x (+{:.1} ns per item)",
        isolated * 1e9,
        plain * 1e9,
        isolated / plain,
        (isolated - plain) * 1e9
    );
    println!(
        "  TaskGroup of 1000    {:>8.0} us vs JoinSet      {:>8.0} us: ratio {:.2}x",
        group * 1e6,
        joinset * 1e6,
        group / joinset
    );
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
    print_ratios();
}
