//! Areas: real coastlines, the antimeridian, holes, multipolygons, circles, buffers, validation.

use geo::{Contains, Coord, LineString, MultiPolygon};
use lookout_track::areas::{
    Area, AreaIndex, AreaSpec, Polygon, ProblemKind, Shape, load_geojson_file, load_path,
    load_specs,
};
use lookout_track::sphere::{haversine_nm, point_to_arc_nm};

use crate::{rect, shared_data, square_area};

/// A deterministic pseudo-random sequence in [0, 1).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn to_geo(polygons: &[Polygon]) -> MultiPolygon<f64> {
    let ring =
        |r: &Vec<[f64; 2]>| LineString::new(r.iter().map(|&[x, y]| Coord { x, y }).collect());
    MultiPolygon::new(
        polygons
            .iter()
            .map(|p| geo::Polygon::new(ring(&p.rings[0]), p.rings[1..].iter().map(ring).collect()))
            .collect(),
    )
}

fn inside(index: &AreaIndex, lat: f64, lon: f64) -> Vec<String> {
    let mut out = Vec::new();
    index.areas_at(lat, lon, &mut out);
    out.iter()
        .map(|i| index.area(*i).unwrap().id.clone())
        .collect()
}

#[test]
fn new_zealand_territorial_sea_agrees_with_geo_contains() {
    let Some(path) = shared_data("geo/nzl_land_plus_territorial_sea.geojson") else {
        return;
    };
    let areas = load_geojson_file(&path).unwrap();
    assert_eq!(areas.len(), 1);
    let polygons = areas[0].polygons_of().to_vec();
    assert_eq!(polygons.len(), 11);
    assert_eq!(
        polygons.iter().map(Polygon::n_vertices).sum::<usize>(),
        7212
    );
    assert_eq!(areas[0].id, "nzl_land_plus_territorial_sea");
    let index = AreaIndex::new(areas).unwrap();
    assert_eq!(
        inside(&index, -41.29, 174.78),
        ["nzl_land_plus_territorial_sea"],
        "Wellington"
    );
    assert_eq!(
        inside(&index, -43.95, -176.55),
        ["nzl_land_plus_territorial_sea"],
        "Chatham Islands"
    );
    assert!(inside(&index, -40.0, 170.0).is_empty(), "Tasman Sea");
    let reference = to_geo(&polygons);
    let mut rng = Lcg(7);
    let mut n_inside = 0;
    for _ in 0..20_000 {
        let lat = -53.0 + rng.next() * 24.0;
        let lon = 165.0 + rng.next() * 20.0; // 165..185, i.e. across the antimeridian
        let lon = if lon > 180.0 { lon - 360.0 } else { lon };
        let want = reference.contains(&Coord { x: lon, y: lat });
        assert_eq!(!inside(&index, lat, lon).is_empty(), want, "at {lat},{lon}");
        n_inside += usize::from(want);
    }
    assert!(n_inside > 500, "only {n_inside} random points inside");
}

#[test]
fn fiji_is_one_area_on_both_sides_of_the_antimeridian() {
    let Some(path) = shared_data("geo/fji_land_plus_territorial_sea.geojson") else {
        return;
    };
    let areas = load_geojson_file(&path).unwrap();
    let polygons = areas[0].polygons_of().to_vec();
    let index = AreaIndex::new(areas).unwrap();
    let fiji = ["fji_land_plus_territorial_sea"];
    assert_eq!(inside(&index, -18.14, 178.44), fiji, "Suva");
    assert_eq!(
        inside(&index, -16.9, 179.99),
        fiji,
        "east of Vanua Levu, west of 180"
    );
    assert_eq!(
        inside(&index, -16.9, -179.99),
        fiji,
        "same waters, east of 180"
    );
    assert_eq!(inside(&index, -16.9, 180.0), fiji);
    assert_eq!(inside(&index, -16.9, -180.0), fiji);
    assert_eq!(
        inside(&index, -16.9, 540.0 - 0.01),
        fiji,
        "any longitude frame"
    );
    assert!(inside(&index, -14.0, 179.0).is_empty(), "open sea north");
    let reference = to_geo(&polygons);
    let mut rng = Lcg(11);
    for _ in 0..10_000 {
        let lat = -22.0 + rng.next() * 10.0;
        let lon = 174.0 + rng.next() * 10.0;
        let lon = if lon > 180.0 { lon - 360.0 } else { lon };
        let want = reference.contains(&Coord { x: lon, y: lat });
        assert_eq!(!inside(&index, lat, lon).is_empty(), want, "at {lat},{lon}");
    }
}

#[test]
fn a_polygon_given_beyond_180_equals_the_same_polygon_pre_split() {
    let beyond = Area::polygons(
        "beyond",
        "beyond",
        vec![Polygon::new(vec![rect(170.0, -10.0, 190.0, 10.0)])],
    );
    let split = Area::polygons(
        "split",
        "split",
        vec![
            Polygon::new(vec![rect(170.0, -10.0, 180.0, 10.0)]),
            Polygon::new(vec![rect(-180.0, -10.0, -170.0, 10.0)]),
        ],
    );
    let index = AreaIndex::new(vec![beyond, split]).unwrap();
    for (lat, lon, want) in [
        (0.0, 179.0, true),
        (0.0, -179.0, true),
        (0.0, 180.0, true),
        (0.0, -180.0, true),
        (5.0, -171.0, true),
        (5.0, -169.0, false),
        (0.0, 169.0, false),
        (11.0, 175.0, false),
    ] {
        let got = inside(&index, lat, lon);
        let expected: Vec<String> = if want {
            vec!["beyond".into(), "split".into()]
        } else {
            vec![]
        };
        assert_eq!(got, expected, "at {lat},{lon}");
    }
}

#[test]
fn holes_multipolygons_and_either_winding() {
    let mut clockwise = rect(0.0, 0.0, 10.0, 10.0);
    clockwise.reverse();
    let donut = Area::polygons(
        "donut",
        "donut",
        vec![Polygon::new(vec![clockwise, rect(4.0, 4.0, 6.0, 6.0)])],
    );
    let pair = Area::polygons(
        "pair",
        "pair",
        vec![
            Polygon::new(vec![rect(20.0, 0.0, 21.0, 1.0)]),
            Polygon::new(vec![rect(30.0, 0.0, 31.0, 1.0)]),
        ],
    );
    let index = AreaIndex::new(vec![donut, pair]).unwrap();
    assert_eq!(inside(&index, 2.0, 2.0), ["donut"]);
    assert!(inside(&index, 5.0, 5.0).is_empty(), "in the hole");
    assert_eq!(inside(&index, 0.5, 20.5), ["pair"]);
    assert_eq!(inside(&index, 0.5, 30.5), ["pair"]);
    assert!(inside(&index, 0.5, 25.0).is_empty(), "between the parts");
}

#[test]
fn circles_use_great_circle_distance_even_across_the_antimeridian() {
    let index = AreaIndex::new(vec![
        Area::circle("c", "c", 60.0, 10.0, 10.0),
        Area::circle("dateline", "dateline", -17.0, 179.95, 30.0),
    ])
    .unwrap();
    // At 60°N a degree of longitude is ~30 nm: 0.33° east is ~9.9 nm, 0.34° is ~10.2 nm.
    assert!((haversine_nm(60.0, 10.0, 60.0, 10.33) - 9.9).abs() < 0.1);
    assert_eq!(inside(&index, 60.0, 10.33), ["c"]);
    assert!(inside(&index, 60.0, 10.34).is_empty());
    assert_eq!(inside(&index, 60.16, 10.0), ["c"], "9.6 nm north");
    assert_eq!(
        inside(&index, -17.0, -179.7),
        ["dateline"],
        "~15 nm east across 180"
    );
    assert!(inside(&index, -17.0, -179.4).is_empty(), "~34 nm east");
}

#[test]
fn within_n_nm_of_a_polygon_measures_haversine_distance_to_its_edges() {
    let square = Polygon::new(vec![rect(0.0, 50.0, 2.0, 52.0), rect(0.5, 50.5, 1.5, 51.5)]);
    let area = Area::within("w", "within 30", vec![square.clone()], 30.0);
    let index = AreaIndex::new(vec![area]).unwrap();
    assert_eq!(
        inside(&index, 52.0 + 29.0 / 60.0, 1.0),
        ["w"],
        "29 nm north"
    );
    assert!(
        inside(&index, 52.0 + 31.0 / 60.0, 1.0).is_empty(),
        "31 nm north"
    );
    assert_eq!(
        inside(&index, 51.0, 1.0),
        ["w"],
        "centre of the hole is 30 nm from its edges"
    );
    assert_eq!(inside(&index, 50.2, 1.0), ["w"], "inside the polygon");
    // East: 30 nm at 51°N is ~0.794° of longitude.
    assert_eq!(inside(&index, 51.0, 2.78), ["w"]);
    assert!(inside(&index, 51.0, 2.81).is_empty());
    let mut rng = Lcg(3);
    for _ in 0..5_000 {
        let lat = 48.0 + rng.next() * 6.0;
        let lon = -2.0 + rng.next() * 6.0;
        let in_polygon = to_geo(std::slice::from_ref(&square)).contains(&Coord { x: lon, y: lat });
        let d = square
            .rings
            .iter()
            .flat_map(|r| r.windows(2))
            .map(|w| point_to_arc_nm(lat, lon, w[0], w[1]))
            .fold(f64::INFINITY, f64::min);
        if (d - 30.0).abs() < 1e-6 {
            continue;
        }
        assert_eq!(
            !inside(&index, lat, lon).is_empty(),
            in_polygon || d <= 30.0,
            "at {lat},{lon} d={d}"
        );
    }
}

#[test]
fn new_zealand_400nm_agrees_with_brute_force_distances() {
    let Some(path) = shared_data("geo/nzl_land_plus_territorial_sea.geojson") else {
        return;
    };
    let area = load_geojson_file(&path).unwrap().remove(0).buffered(400.0);
    let Shape::Within { polygons, nm } = &area.shape else {
        panic!("not buffered")
    };
    assert_eq!(*nm, 400.0);
    let polygons = polygons.clone();
    let index = AreaIndex::new(vec![area]).unwrap();
    assert_eq!(
        inside(&index, -40.0, 170.0).len(),
        1,
        "Tasman Sea, ~150 nm off"
    );
    assert!(inside(&index, -33.87, 151.2).is_empty(), "Sydney");
    assert!(inside(&index, -30.0, 160.0).is_empty());
    let reference = to_geo(&polygons);
    let mut rng = Lcg(5);
    for _ in 0..300 {
        let lat = -62.0 + rng.next() * 42.0;
        let lon = 155.0 + rng.next() * 40.0;
        let lon = if lon > 180.0 { lon - 360.0 } else { lon };
        let d = polygons
            .iter()
            .flat_map(|p| p.rings.iter())
            .flat_map(|r| r.windows(2))
            .map(|w| point_to_arc_nm(lat, lon, w[0], w[1]))
            .fold(f64::INFINITY, f64::min);
        let want = d <= 400.0 || reference.contains(&Coord { x: lon, y: lat });
        assert_eq!(
            !inside(&index, lat, lon).is_empty(),
            want,
            "at {lat},{lon} d={d}"
        );
    }
}

#[test]
fn indexing_reports_every_problem_at_once() {
    let open = Area::polygons(
        "open",
        "open",
        vec![Polygon::new(vec![vec![
            [0.0, 0.0],
            [1.0, 0.0],
            [1.0, 1.0],
            [0.0, 1.0],
        ]])],
    );
    let areas = vec![
        square_area("a", 0.0, 0.0, 1.0, 1.0),
        square_area("a", 2.0, 0.0, 3.0, 1.0),
        Area::circle("r", "r", 0.0, 0.0, -1.0),
        open,
        Area::polygons("none", "none", vec![]),
    ];
    let err = AreaIndex::new(areas).unwrap_err();
    let kinds: Vec<(Option<&str>, &ProblemKind)> = err
        .problems()
        .iter()
        .map(|p| (p.id.as_deref(), &p.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (Some("a"), &ProblemKind::DuplicateId),
            (Some("r"), &ProblemKind::BadDistance(-1.0)),
            (Some("open"), &ProblemKind::UnclosedRing),
            (Some("none"), &ProblemKind::EmptyGeometry),
        ]
    );
    assert!(
        err.to_string()
            .starts_with("4 problem(s) in area definitions")
    );
}

#[test]
fn specs_load_files_circles_and_buffers_and_report_all_problems() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bay.geojson"),
        r#"{"type":"Feature","properties":{"name":"The Bay"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]]]}}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("broken.geojson"), "{ not json").unwrap();
    let specs: Vec<AreaSpec> = serde_json::from_str(
        r#"[{"kind":"geojson","path":"bay.geojson"},
            {"kind":"geojson","path":"bay.geojson","within_nm":12,"id":"bay12","name":"Bay 12nm"},
            {"kind":"circle","id":"c","name":"C","lat":1,"lon":2,"radius_nm":5}]"#,
    )
    .unwrap();
    let areas = load_specs(&specs, dir.path()).unwrap();
    let ids: Vec<(&str, &str)> = areas
        .iter()
        .map(|a| (a.id.as_str(), a.name.as_str()))
        .collect();
    assert_eq!(
        ids,
        vec![("bay", "The Bay"), ("bay12", "Bay 12nm"), ("c", "C")]
    );
    assert!(matches!(areas[1].shape, Shape::Within { nm, .. } if nm == 12.0));

    let bad: Vec<AreaSpec> = serde_json::from_str(
        r#"[{"kind":"geojson","path":"missing.geojson"},
            {"kind":"geojson","path":"broken.geojson"},
            {"kind":"circle","id":"c","name":"C","lat":95,"lon":2,"radius_nm":5}]"#,
    )
    .unwrap();
    let err = load_specs(&bad, dir.path()).unwrap_err();
    assert_eq!(err.problems().len(), 3, "{err}");
    let text = err.to_string();
    assert!(text.contains("missing.geojson: cannot read file"), "{text}");
    assert!(text.contains("broken.geojson: invalid geojson"), "{text}");
    assert!(text.contains("config (id \"c\"): bad coordinate"), "{text}");
}

#[test]
fn a_dense_cell_of_many_small_areas_is_answered_through_the_r_tree() {
    // 100 berths of 0.01° in one 1° cell: more than the cell directory lists.
    let berths: Vec<Area> = (0..100)
        .map(|i| {
            let (x, y) = (f64::from(i % 10) * 0.05, f64::from(i / 10) * 0.05);
            square_area(&format!("berth{i}"), 4.0 + x, 51.0 + y, 4.01 + x, 51.01 + y)
        })
        .collect();
    let index = AreaIndex::new(berths).unwrap();
    assert_eq!(inside(&index, 51.005, 4.005), ["berth0"]);
    assert_eq!(inside(&index, 51.455, 4.455), ["berth99"]);
    assert!(inside(&index, 51.02, 4.02).is_empty());
}

#[test]
fn a_directory_of_files_reports_the_problems_of_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let square = r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]]]}"#;
    std::fs::write(dir.path().join("a.geojson"), square).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not an area").unwrap();
    assert_eq!(load_path(dir.path()).unwrap()[0].id, "a");
    std::fs::write(
        dir.path().join("b.json"),
        r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[0,0]]]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("c.geojson"),
        r#"{"type":"Point","coordinates":[0,0]}"#,
    )
    .unwrap();
    let err = load_path(dir.path()).unwrap_err();
    let text = err.to_string();
    assert_eq!(err.problems().len(), 2, "{text}");
    assert!(
        text.contains("b.json: feature 0 (id \"b\"), ring 0: too few points"),
        "{text}"
    );
    assert!(
        text.contains("c.geojson: feature 0 (id \"c\"): unsupported geometry type"),
        "{text}"
    );
}

#[test]
fn an_antimeridian_crossing_in_the_180_frame_is_rejected_with_how_to_write_it() {
    // Fiji written naively: [179,-17] → [-179,-17] would be a band 358° wide.
    let naive = Area::polygons(
        "fiji",
        "fiji",
        vec![Polygon::new(vec![vec![
            [179.0, -17.0],
            [-179.0, -17.0],
            [-179.0, -16.0],
            [179.0, -16.0],
            [179.0, -17.0],
        ]])],
    );
    let err = AreaIndex::new(vec![naive]).unwrap_err();
    let kinds: Vec<&ProblemKind> = err.problems().iter().map(|p| &p.kind).collect();
    assert_eq!(
        kinds,
        vec![
            &ProblemKind::AntimeridianEdge {
                position: 0,
                from_lon: 179.0,
                to_lon: -179.0
            },
            &ProblemKind::AntimeridianEdge {
                position: 2,
                from_lon: -179.0,
                to_lon: 179.0
            },
        ]
    );
    let message = err.to_string();
    assert!(message.contains("split the area at 180"), "{message}");
    assert!(message.contains("beyond 180"), "{message}");
    // The same area with longitudes beyond 180 is fine, and a vessel in the Atlantic is not in it.
    let beyond = Area::polygons(
        "fiji",
        "fiji",
        vec![Polygon::new(vec![vec![
            [179.0, -17.0],
            [181.0, -17.0],
            [181.0, -16.0],
            [179.0, -16.0],
            [179.0, -17.0],
        ]])],
    );
    let index = AreaIndex::new(vec![beyond]).unwrap();
    assert_eq!(inside(&index, -16.5, -179.5), vec!["fiji"]);
    assert!(inside(&index, -16.5, -30.0).is_empty());
}
