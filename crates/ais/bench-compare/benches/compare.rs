//! Decoding throughput on the real DMA feed (`shared/data/ais/dma/stream_example.txt`), in AIS
//! sentences per second on one core, for this crate and the crates.io decoders `ais`,
//! `nmea-parser` and `aivdm` on the same lines.
//!
//! Run: `cargo bench --manifest-path crates/ais/bench-compare/Cargo.toml`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn load() -> Option<(Vec<u8>, Vec<String>)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../../shared/data/ais/dma/stream_example.txt"
    );
    let data = std::fs::read(path).ok()?;
    let text = String::from_utf8_lossy(&data).into_owned();
    let ais_lines: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with('!'))
        .map(str::to_owned)
        .collect();
    Some((data, ais_lines))
}

fn bench(c: &mut Criterion) {
    let Some((raw, lines)) = load() else {
        eprintln!("SKIP: shared/data/ais/dma/stream_example.txt not found");
        return;
    };
    let n = u64::try_from(lines.len()).unwrap();
    // Sanity: how many messages each decoder gets out of the same lines (not timed).
    {
        let mut d = ais::Decoder::new();
        let ours = lines
            .iter()
            .filter(|l| matches!(d.decode_line(l.as_bytes()), Some((_, Ok(_)))))
            .count();
        let mut p = ais_crates_io::AisParser::new();
        let theirs_ais = lines
            .iter()
            .filter(|l| matches!(p.parse(l.as_bytes(), true), Ok(ais_crates_io::AisFragments::Complete(s)) if s.message.is_some()))
            .count();
        let mut p = nmea_parser::NmeaParser::new();
        let theirs_nmea = lines
            .iter()
            .filter(|l| {
                !matches!(
                    p.parse_sentence(l),
                    Ok(nmea_parser::ParsedMessage::Incomplete) | Err(_)
                )
            })
            .count();
        let mut d = aivdm::LineDecoder::<512>::new();
        let theirs_aivdm = lines
            .iter()
            .filter(|l| matches!(d.feed(l), Ok(Some(_))))
            .count();
        eprintln!(
            "{n} AIS sentences; messages decoded: lookout ais {ours}, ais 0.12 {theirs_ais}, nmea-parser 0.11 {theirs_nmea}, aivdm 0.3 {theirs_aivdm}"
        );
    }
    let mut g = c.benchmark_group("dma_stream");
    g.throughput(Throughput::Elements(n));
    g.sample_size(30);

    g.bench_function("lookout_ais/decode_line", |b| {
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
    // The whole file as bytes, $PGHP lines included (its sentence count is the same).
    g.bench_function("lookout_ais/feed_with_pghp", |b| {
        b.iter(|| {
            let mut d = ais::Decoder::new();
            let mut ok = 0usize;
            for (_, r) in d.feed(&raw) {
                ok += usize::from(black_box(r).is_ok());
            }
            ok
        })
    });
    g.bench_function("crates_io_ais_0.12", |b| {
        b.iter(|| {
            let mut p = ais_crates_io::AisParser::new();
            let mut ok = 0usize;
            for l in &lines {
                if let Ok(ais_crates_io::AisFragments::Complete(s)) = p.parse(l.as_bytes(), true) {
                    ok += usize::from(black_box(s.message).is_some());
                }
            }
            ok
        })
    });
    g.bench_function("nmea_parser_0.11", |b| {
        b.iter(|| {
            let mut p = nmea_parser::NmeaParser::new();
            let mut ok = 0usize;
            for l in &lines {
                ok += usize::from(black_box(p.parse_sentence(l)).is_ok());
            }
            ok
        })
    });
    g.bench_function("aivdm_0.3", |b| {
        b.iter(|| {
            let mut d = aivdm::LineDecoder::<512>::new();
            let mut ok = 0usize;
            for l in &lines {
                ok += usize::from(matches!(black_box(d.feed(l)), Ok(Some(_))));
            }
            ok
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
