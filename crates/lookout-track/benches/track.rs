//! Position updates per CPU-second through the tracker as the service runs it (gap thresholds
//! and two dwells on every area, timers live, checkpoint rows taken after every batch of 256
//! reports as a shard does), beside the old microbenchmark (`observe_into` alone, default
//! policy), against a naive loop of `geo::Contains` over every area, and against PostGIS as
//! it is best used: areas split with `ST_Dump` + `ST_Subdivide(256)` under a GiST index, the
//! same (point, area) pairs checked on both sides.
//!
//! Run with `cargo bench -p lookout-track`. 1,000 areas: the real New Zealand territorial sea
//! (MultiPolygon, 7,212 vertices) and Fiji (split at the antimeridian) from `shared/data/geo`
//! plus generated polygons around them; 100,000 vessels sailing in the same waters. PostGIS is
//! measured when `LOOKOUT_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`)
//! answers and the `postgis` extension is installed, and skipped with a message otherwise.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    missing_docs
)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use geo::{Contains, Coord, LineString, MultiPolygon};
use jiff::Timestamp;
use lookout_core::{Observation, Position, Report, TransponderClass};
use lookout_track::areas::{Area, AreaIndex, Polygon, load_geojson_file};
use lookout_track::tracker::{
    AreaPolicy, MEMBERSHIP_BYTES, TIMER_BYTES, Tracker, TrackerConfig, VESSEL_BYTES,
};

const N_AREAS: usize = 1000;
const N_VESSELS: u32 = 100_000;
const ROUNDS: usize = 10;
const NAIVE_POINTS: usize = 20_000;
const PG_POINTS: usize = 50_000;

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next()
    }
}

fn wrap(lon: f64) -> f64 {
    if lon > 180.0 { lon - 360.0 } else { lon }
}

fn areas(rng: &mut Lcg) -> (Vec<Area>, bool) {
    let geo_dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/geo"
    ));
    let mut areas = Vec::new();
    let mut real = false;
    for file in [
        "nzl_land_plus_territorial_sea.geojson",
        "fji_land_plus_territorial_sea.geojson",
    ] {
        match load_geojson_file(&geo_dir.join(file)) {
            Ok(loaded) => {
                areas.extend(loaded);
                real = true;
            }
            Err(e) => eprintln!("note: real areas unavailable ({e}); generated areas only"),
        }
    }
    while areas.len() < N_AREAS {
        // A star-shaped polygon of 8..64 vertices, 3..30 nm across, in NZ/Fiji waters.
        let (lat, lon) = (rng.range(-50.0, -15.0), rng.range(162.0, 188.0));
        if (lon - 180.0).abs() < 1.0 {
            continue; // keep generated polygons off the antimeridian (the real ones cross it)
        }
        let n = 8 + (rng.next() * 56.0) as usize;
        let radius = rng.range(3.0, 30.0) / 60.0;
        let mut ring: Vec<[f64; 2]> = (0..n)
            .map(|i| {
                let a = i as f64 / n as f64 * std::f64::consts::TAU;
                let r = radius * rng.range(0.5, 1.0);
                [
                    wrap(lon + r * a.cos() / lat.to_radians().cos()),
                    lat + r * a.sin(),
                ]
            })
            .collect();
        ring.push(ring[0]);
        let id = format!("gen{}", areas.len());
        areas.push(Area::polygons(
            id.clone(),
            id,
            vec![Polygon::new(vec![ring])],
        ));
    }
    (areas, real)
}

/// 100,000 vessels at 12 kn on random headings, one report each per 10 s round.
fn tracks(rng: &mut Lcg) -> Vec<Vec<Observation>> {
    let start = Timestamp::from_second(1_767_225_600).unwrap();
    let mut state: Vec<(f64, f64, f64)> = (0..N_VESSELS)
        .map(|_| {
            (
                rng.range(-50.0, -15.0),
                rng.range(162.0, 188.0),
                rng.range(0.0, 360.0),
            )
        })
        .collect();
    (0..=ROUNDS)
        .map(|round| {
            let at = start + jiff::SignedDuration::from_secs(round as i64 * 10);
            state
                .iter_mut()
                .enumerate()
                .map(|(v, (lat, lon, heading))| {
                    let step = 12.0 * 10.0 / 3600.0 / 60.0; // degrees in 10 s at 12 kn
                    *lat += step * heading.to_radians().cos();
                    *lon += step * heading.to_radians().sin() / lat.to_radians().cos();
                    Observation {
                        mmsi: 503_000_000 + v as u32,
                        at,
                        report: Report::Position(Position {
                            lat: Some(*lat),
                            lon: Some(wrap(*lon)),
                            sog: Some(12.0),
                            cog: Some(*heading as f32),
                            heading: None,
                            class: TransponderClass::A,
                        }),
                    }
                })
                .collect()
        })
        .collect()
}

fn point(obs: &Observation) -> (f64, f64) {
    match &obs.report {
        Report::Position(p) => (p.lat.unwrap(), p.lon.unwrap()),
        Report::Static(_) => unreachable!(),
    }
}

/// CPU time (ns) a thread or process has spent running, from `/proc/.../schedstat`: the
/// machine is shared, so rates are per CPU-second of the measured code, not per wall second.
fn cpu_ns(path: &str) -> Option<u64> {
    std::fs::read_to_string(path)
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Runs `f` once; returns (CPU seconds, wall seconds).
fn measure_once(f: impl FnOnce()) -> (f64, f64) {
    let cpu0 = cpu_ns("/proc/thread-self/schedstat");
    let t0 = Instant::now();
    f();
    let wall = t0.elapsed().as_secs_f64();
    let cpu = match (cpu0, cpu_ns("/proc/thread-self/schedstat")) {
        (Some(a), Some(b)) => (b - a) as f64 / 1e9,
        _ => wall,
    };
    (cpu, wall)
}

/// Runs `f` three times; returns the best (CPU seconds, wall seconds).
fn measure(mut f: impl FnMut()) -> (f64, f64) {
    let mut best = (f64::INFINITY, f64::INFINITY);
    for _ in 0..3 {
        let run = measure_once(&mut f);
        if run.0 < best.0 {
            best = run;
        }
    }
    best
}

fn rss_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn to_geo(area: &Area) -> MultiPolygon<f64> {
    let ring =
        |r: &Vec<[f64; 2]>| LineString::new(r.iter().map(|&[x, y]| Coord { x, y }).collect());
    MultiPolygon::new(
        area.polygons_of()
            .iter()
            .map(|p| geo::Polygon::new(ring(&p.rings[0]), p.rings[1..].iter().map(ring).collect()))
            .collect(),
    )
}

fn main() {
    let mut rng = Lcg(2026);
    let (areas, real) = areas(&mut rng);
    let n_vertices: usize = areas
        .iter()
        .flat_map(|a| a.polygons_of())
        .map(Polygon::n_vertices)
        .sum();
    let geo_areas: Vec<MultiPolygon<f64>> = areas.iter().map(to_geo).collect();
    let t0 = Instant::now();
    let index = Arc::new(AreaIndex::new(areas.clone()).unwrap());
    let build = t0.elapsed();
    println!(
        "{} areas ({} vertices, real NZ/Fiji: {real}), index built in {:.0} ms, {:.1} MB",
        index.len(),
        n_vertices,
        build.as_secs_f64() * 1e3,
        index.index_bytes() as f64 / 1e6
    );
    let tracks = tracks(&mut rng);

    // Tracker: an untimed warm-up (two rounds: a first fix is used once a second report
    // agrees) creates the vessels; the timed rounds update them. Best of three, each on a
    // fresh tracker. `service` runs it as a shard does; `micro` is the old microbenchmark.
    let warm = 2;
    let n_updates: usize = tracks[warm..].iter().map(Vec::len).sum();
    let service_config = {
        let mut config = TrackerConfig {
            default_policy: AreaPolicy {
                min_dwell: Duration::ZERO,
                gap_thresholds: vec![Duration::from_secs(1800), Duration::from_secs(3600)],
            },
            // The bench loads 100k vessels at once.
            max_first_sightings_per_minute: u32::MAX,
            ..TrackerConfig::default()
        };
        for area in index.areas() {
            config.area_dwells.insert(
                area.id.clone(),
                vec![Duration::ZERO, Duration::from_secs(600)],
            );
        }
        config
    };
    let micro_config = TrackerConfig {
        max_first_sightings_per_minute: u32::MAX,
        ..TrackerConfig::default()
    };
    let mut events = Vec::new();
    let mut rss_growth = None;
    let mut tracker = None;
    let mut rates = Vec::new();
    for (name, config, rows) in [
        ("service", &service_config, true),
        ("micro", &micro_config, false),
    ] {
        let mut best = f64::INFINITY;
        let mut n_rows = 0usize;
        let mut n_row_bytes = 0usize;
        for _ in 0..3 {
            drop(tracker.take());
            let rss_before = rss_bytes();
            let mut t = Tracker::new(Arc::clone(&index), config.clone()).unwrap();
            for round in &tracks[..warm] {
                for obs in round {
                    t.observe_into(obs, &mut events);
                }
            }
            let _ = t.take_dirty();
            if let (None, Some(a), Some(b)) = (rss_growth, rss_before, rss_bytes()) {
                rss_growth = Some(b.saturating_sub(a)); // first run only: later ones reuse freed memory
            }
            events.clear();
            n_rows = 0;
            n_row_bytes = 0;
            let (cpu, _) = measure_once(|| {
                for round in &tracks[warm..] {
                    for batch in round.chunks(256) {
                        for obs in batch {
                            t.observe_into(obs, &mut events);
                        }
                        if rows {
                            for row in t.take_dirty() {
                                n_rows += 1;
                                n_row_bytes += row.data.len();
                            }
                        }
                        events.clear();
                    }
                }
            });
            best = best.min(cpu);
            assert_eq!(
                t.stats().accepted as usize,
                n_updates + tracks[..warm].iter().map(Vec::len).sum::<usize>()
            );
            tracker = Some(t);
        }
        println!(
            "{name}: {n_rows} checkpoint rows taken in the timed rounds, {:.0} bytes each on average",
            n_row_bytes as f64 / n_rows.max(1) as f64
        );
        rates.push(n_updates as f64 / best);
    }
    let tracker = tracker.unwrap();
    let (service_rate, tracker_rate) = (rates[0], rates[1]);

    // The index alone, same points.
    let mut out = Vec::new();
    let mut n_hits = 0usize;
    let (cpu, _) = measure(|| {
        n_hits = 0;
        for round in &tracks[1..] {
            for obs in round {
                let (lat, lon) = point(obs);
                index.areas_at(lat, lon, &mut out);
                n_hits += out.len();
            }
        }
    });
    let index_rate = n_updates as f64 / cpu;

    // Naive: every area's geo::Contains, on a sample.
    let sample: Vec<(f64, f64)> = tracks[1].iter().take(NAIVE_POINTS).map(point).collect();
    let mut naive_hits = 0usize;
    let (cpu, _) = measure_once(|| {
        for &(lat, lon) in &sample {
            let p = Coord { x: lon, y: lat };
            naive_hits += geo_areas.iter().filter(|a| a.contains(&p)).count();
        }
    });
    let naive_rate = sample.len() as f64 / cpu;
    let index_hits: usize = sample
        .iter()
        .map(|&(lat, lon)| {
            index.areas_at(lat, lon, &mut out);
            out.len()
        })
        .sum();

    // "Within 400 nm" of the NZ coastline, alone.
    let within_rate = real.then(|| {
        let nz400 = AreaIndex::new(vec![areas[0].clone().buffered(400.0)]).unwrap();
        let mut n = 0usize;
        let (cpu, _) = measure(|| {
            n = 0;
            for obs in &tracks[1] {
                let (lat, lon) = point(obs);
                nz400.areas_at(lat, lon, &mut out);
                n += out.len();
            }
        });
        let rate = tracks[1].len() as f64 / cpu;
        println!("NZ 400 nm: {n} of {} points inside", tracks[1].len());
        rate
    });

    let pg_rate = postgis(&areas, &tracks[1][..PG_POINTS.min(tracks[1].len())], &index);

    println!();
    println!("| measure | positions per CPU-second | vs tracker |");
    println!("|---|---:|---:|");
    println!(
        "| tracker as the service runs it (gaps, 2 dwells, timers, checkpoint rows per 256) | {service_rate:.0} | {:.2}× |",
        service_rate / tracker_rate
    );
    println!(
        "| old microbenchmark (`Tracker::observe_into`, default policy, 100k vessels, {N_AREAS} areas) | {tracker_rate:.0} | 1× |"
    );
    println!(
        "| area index alone (`AreaIndex::areas_at`) | {index_rate:.0} | {:.2}× |",
        index_rate / tracker_rate
    );
    println!(
        "| naive loop of `geo::Contains` over {N_AREAS} areas | {naive_rate:.0} | 1/{:.0} |",
        tracker_rate / naive_rate
    );
    match pg_rate {
        Some(rate) => println!(
            "| PostGIS `ST_Intersects`, `ST_Dump`+`ST_Subdivide(256)`, GiST, batches of 10k | {rate:.0} | 1/{:.0} (service: 1/{:.0}) |",
            tracker_rate / rate,
            service_rate / rate
        ),
        None => println!("| PostGIS | skipped | |"),
    }
    if let Some(rate) = within_rate {
        println!("| \"within 400 nm of NZ\" alone (`AreaIndex::areas_at`) | {rate:.0} | |");
    }
    println!();
    println!(
        "hits: index {index_hits} / naive {naive_hits} on the naive sample; {n_hits} over all timed points"
    );
    println!(
        "memory: {VESSEL_BYTES} B per vessel + {MEMBERSHIP_BYTES} B per area membership + {TIMER_BYTES} B per timer entry; \
         process RSS grew {} for {} vessels",
        match rss_growth {
            Some(g) => format!("{:.0} B/vessel", g as f64 / f64::from(N_VESSELS)),
            None => "(unknown)".into(),
        },
        tracker.n_vessels()
    );
}

fn postgis(areas: &[Area], sample: &[Observation], index: &AreaIndex) -> Option<f64> {
    let url = std::env::var("LOOKOUT_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(async {
        use sqlx::{Connection, Executor, PgConnection, Row};
        let connect = tokio::time::timeout(std::time::Duration::from_secs(5), PgConnection::connect(&url));
        let mut admin = connect.await.map_err(|_| "connect timed out".to_string())?.map_err(|e| e.to_string())?;
        let db = "lookout_track_bench";
        admin.execute("DROP DATABASE IF EXISTS lookout_track_bench").await.map_err(|e| e.to_string())?;
        admin.execute("CREATE DATABASE lookout_track_bench").await.map_err(|e| e.to_string())?;
        let db_url = match url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{db}"),
            None => return Err("bad url".to_string()),
        };
        let run = async {
            let mut pg = PgConnection::connect(&db_url).await.map_err(|e| e.to_string())?;
            pg.execute("CREATE EXTENSION postgis").await.map_err(|e| format!("postgis unavailable: {e}"))?;
            pg.execute("CREATE TABLE areas (id int PRIMARY KEY, geom geometry(MultiPolygon, 4326) NOT NULL)")
                .await
                .map_err(|e| e.to_string())?;
            for (idx, area) in areas.iter().enumerate() {
                let coords: Vec<Vec<Vec<[f64; 2]>>> = area.polygons_of().iter().map(|p| p.rings.clone()).collect();
                let geojson = serde_json::json!({"type": "MultiPolygon", "coordinates": coords}).to_string();
                sqlx::query("INSERT INTO areas VALUES ($1, ST_SetSRID(ST_GeomFromGeoJSON($2), 4326))")
                    .bind(idx as i32)
                    .bind(geojson)
                    .execute(&mut pg)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            // Best practice: one row per polygon part, subdivided to at most 256 vertices.
            pg.execute(
                "CREATE TABLE parts AS SELECT id, ST_Subdivide((ST_Dump(geom)).geom, 256) AS geom FROM areas",
            )
            .await
            .map_err(|e| e.to_string())?;
            pg.execute("CREATE INDEX ON parts USING gist (geom)").await.map_err(|e| e.to_string())?;
            pg.execute("ANALYZE parts").await.map_err(|e| e.to_string())?;
            let n_parts: i64 = sqlx::query("SELECT count(*) FROM parts")
                .fetch_one(&mut pg)
                .await
                .map_err(|e| e.to_string())?
                .get(0);
            println!("PostGIS: {} areas subdivided into {n_parts} parts", areas.len());
            // The planner cannot estimate unnest(): make it use the GiST index, as it would
            // for a real points table.
            pg.execute("SET enable_seqscan = off").await.map_err(|e| e.to_string())?;
            let backend: i32 = sqlx::query("SELECT pg_backend_pid()")
                .fetch_one(&mut pg)
                .await
                .map_err(|e| e.to_string())?
                .get(0);
            let stat = format!("/proc/{backend}/schedstat");
            let cpu0 = cpu_ns(&stat);
            let t0 = Instant::now();
            let mut theirs = std::collections::BTreeSet::new();
            for (chunk_idx, chunk) in sample.chunks(10_000).enumerate() {
                let (lats, lons): (Vec<f64>, Vec<f64>) = chunk.iter().map(point).unzip();
                let rows = sqlx::query(
                    "SELECT DISTINCT p.i, a.id FROM unnest($1::float8[], $2::float8[]) \
                     WITH ORDINALITY AS p(lon, lat, i) \
                     JOIN parts a ON ST_Intersects(a.geom, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326))",
                )
                .bind(lons)
                .bind(lats)
                .fetch_all(&mut pg)
                .await
                .map_err(|e| e.to_string())?;
                for row in rows {
                    let i: i64 = row.get(0);
                    let id: i32 = row.get(1);
                    theirs.insert((chunk_idx * 10_000 + usize::try_from(i - 1).unwrap_or(0), id as u32));
                }
            }
            let wall = t0.elapsed().as_secs_f64();
            let secs = match (cpu0, cpu_ns(&stat)) {
                (Some(a), Some(b)) => (b - a) as f64 / 1e9,
                _ => wall,
            };
            let rate = sample.len() as f64 / secs;
            let mut out = Vec::new();
            let mut ours = std::collections::BTreeSet::new();
            for (i, o) in sample.iter().enumerate() {
                let (lat, lon) = point(o);
                index.areas_at(lat, lon, &mut out);
                ours.extend(out.iter().map(|a| (i, *a)));
            }
            let only_ours = ours.difference(&theirs).count();
            let only_theirs = theirs.difference(&ours).count();
            println!(
                "PostGIS pairs {} / index pairs {} on {} points: {} only ours, {} only PostGIS{}",
                theirs.len(),
                ours.len(),
                sample.len(),
                only_ours,
                only_theirs,
                if only_ours + only_theirs == 0 { " (the same (point, area) pairs)" } else { "" }
            );
            pg.close().await.ok();
            Ok::<f64, String>(rate)
        };
        let rate = run.await;
        admin.execute("DROP DATABASE IF EXISTS lookout_track_bench").await.ok();
        rate
    });
    match result {
        Ok(rate) => Some(rate),
        Err(e) => {
            println!("PostGIS skipped: {e}");
            None
        }
    }
}
