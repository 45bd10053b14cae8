//! Decoding throughput of this crate on the real DMA feed (`shared/data/ais/dma/stream_example.txt`),
//! in AIS sentences per second on one core. The comparison with the crates.io decoders lives in
//! `crates/ais/bench-compare` (a separate workspace, because the crates.io crate is also named `ais`).
//!
//! Run: `cargo bench -p ais --bench decode`.
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stderr)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/ais/dma/stream_example.txt"
    );
    let Ok(raw) = std::fs::read(path) else {
        eprintln!("SKIP: {path} not found");
        return;
    };
    let text = String::from_utf8_lossy(&raw).into_owned();
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with('!')).collect();
    let mut g = c.benchmark_group("dma_stream");
    g.throughput(Throughput::Elements(u64::try_from(lines.len()).unwrap()));
    g.sample_size(30);
    g.bench_function("decode_line", |b| {
        b.iter(|| {
            let mut d = ais::Decoder::new();
            let mut ok = 0usize;
            for l in &lines {
                if let Some((_, Ok(m))) = d.decode_line(l.as_bytes()) {
                    ok += usize::from(black_box(&m).msg_type() > 0);
                }
            }
            ok
        })
    });
    g.bench_function("feed_with_pghp", |b| {
        b.iter(|| {
            let mut d = ais::Decoder::new();
            d.feed(&raw).filter(|(_, r)| black_box(r).is_ok()).count()
        })
    });
    g.bench_function("decode_and_gpsd_json", |b| {
        let mut json = String::with_capacity(512);
        b.iter(|| {
            let mut d = ais::Decoder::new();
            let mut bytes = 0usize;
            for l in &lines {
                if let Some((_, Ok(m))) = d.decode_line(l.as_bytes()) {
                    json.clear();
                    let _ = ais::gpsd_json::write_message(&mut json, &m);
                    bytes += black_box(&json).len();
                }
            }
            bytes
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
