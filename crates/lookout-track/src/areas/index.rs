//! [`AreaIndex`]: which areas contain a point, in logarithmic time over areas and vertices.
//!
//! Two levels. An R-tree over the bounding boxes of every *part* (each polygon of a
//! MultiPolygon separately, so New Zealand's far-flung islands do not make one world-wide box)
//! picks the candidates; a directory of 1° cells in front of it answers the common case (a cell
//! overlapped by a few boxes) with one short list, and sends dense cells to the tree. Each candidate part then answers with its own index:
//! a [`PolyGrid`] for polygons (one array read away from edges, a short row scan near them);
//! a chord-length comparison for circles; and for "within N nm" areas an R-tree of the
//! polygon's vertices as unit vectors in 3D, where straight-line (chord) distance orders points
//! exactly as great-circle distance does. The nearest vertex at distance `d_v` bounds the
//! distance `d` to the nearest edge: `d_v - L/2 <= d <= d_v`, where `L` is the longest edge,
//! so only points in that thin band need exact point-to-arc distances, and then only for edges
//! next to vertices within `N + L/2`.

use std::collections::HashMap;
use std::f64::consts::PI;

use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

use super::grid::PolyGrid;
use super::{Area, AreaErrors, AreaProblem, Polygon, ProblemKind, Shape, validate};
use crate::sphere::{self, EARTH_RADIUS_NM, Vec3};

/// Degrees of latitude per nautical mile on the model sphere.
const DEG_PER_NM: f64 = 180.0 / (PI * EARTH_RADIUS_NM);

/// Validated areas with the index that finds those containing a point.
#[derive(Debug)]
pub struct AreaIndex {
    areas: Vec<Area>,
    parts: Vec<Part>,
    tree: RTree<GeomWithData<Rectangle<[f64; 2]>, u32>>,
    cells: Cells,
    by_id: HashMap<String, u32>,
}

/// A directory of 1° cells in front of the R-tree: each cell lists the part boxes that
/// overlap it, so a typical lookup reads one short list instead of walking the tree. Cells
/// listing more than [`DENSE_CELL`] boxes (a harbour full of berths) defer to the R-tree, which
/// keeps the worst case logarithmic.
#[derive(Debug)]
struct Cells {
    start: Vec<u32>,
    boxes: Vec<([f64; 4], u32)>,
}

const DENSE_CELL: usize = 24;
const CELLS_X: usize = 360;
const CELLS_Y: usize = 180;

impl Cells {
    fn new(boxes: &[GeomWithData<Rectangle<[f64; 2]>, u32>]) -> Cells {
        let range = |b: &GeomWithData<Rectangle<[f64; 2]>, u32>| {
            let (lo, hi) = (b.geom().lower(), b.geom().upper());
            (cell_x(lo[0]), cell_x(hi[0]), cell_y(lo[1]), cell_y(hi[1]))
        };
        let mut counts = vec![0u32; CELLS_X * CELLS_Y + 1];
        for b in boxes {
            let (x0, x1, y0, y1) = range(b);
            for y in y0..=y1 {
                for x in x0..=x1 {
                    counts[y * CELLS_X + x + 1] += 1;
                }
            }
        }
        for i in 1..counts.len() {
            counts[i] += counts[i - 1];
        }
        let mut fill = counts.clone();
        let mut flat = vec![([0.0; 4], 0u32); counts[CELLS_X * CELLS_Y] as usize];
        for b in boxes {
            let (x0, x1, y0, y1) = range(b);
            let (lo, hi) = (b.geom().lower(), b.geom().upper());
            for y in y0..=y1 {
                for x in x0..=x1 {
                    let slot = &mut fill[y * CELLS_X + x];
                    flat[*slot as usize] = ([lo[0], lo[1], hi[0], hi[1]], b.data);
                    *slot += 1;
                }
            }
        }
        Cells {
            start: counts,
            boxes: flat,
        }
    }

    /// The boxes of the point's cell, or `None` when the cell is dense.
    fn at(&self, lon: f64, lat: f64) -> Option<&[([f64; 4], u32)]> {
        let c = cell_y(lat) * CELLS_X + cell_x(lon);
        let (a, b) = (self.start[c] as usize, self.start[c + 1] as usize);
        (b - a <= DENSE_CELL).then(|| &self.boxes[a..b])
    }
}

fn cell_x(lon: f64) -> usize {
    ((lon + 180.0).max(0.0) as usize).min(CELLS_X - 1)
}

fn cell_y(lat: f64) -> usize {
    ((lat + 90.0).max(0.0) as usize).min(CELLS_Y - 1)
}

#[derive(Debug)]
struct Part {
    area: u32,
    test: PartTest,
}

#[derive(Debug)]
enum PartTest {
    Polygon(PolyGrid),
    Circle { centre: Vec3, chord2: f64 },
    Within(Box<WithinPart>),
}

#[derive(Debug)]
struct WithinPart {
    grid: PolyGrid,
    vertices: RTree<GeomWithData<[f64; 3], (u32, u32)>>,
    rings: Vec<Vec<Vec3>>,
    nm: f64,
    half_max_edge_nm: f64,
}

impl AreaIndex {
    /// Validates and indexes `areas`.
    ///
    /// # Errors
    /// Every geometry problem of every area, and every duplicate id.
    pub fn new(areas: Vec<Area>) -> Result<AreaIndex, AreaErrors> {
        let mut problems: Vec<AreaProblem> = Vec::new();
        let mut by_id = HashMap::new();
        for (idx, area) in areas.iter().enumerate() {
            problems.extend(validate::area(area, None));
            if by_id.insert(area.id.clone(), idx as u32).is_some() {
                problems.push(AreaProblem {
                    source: area.source.clone(),
                    feature: None,
                    id: Some(area.id.clone()),
                    polygon: None,
                    ring: None,
                    kind: ProblemKind::DuplicateId,
                });
            }
        }
        if !problems.is_empty() {
            return Err(AreaErrors(problems));
        }
        let mut parts = Vec::new();
        let mut boxes = Vec::new();
        for (idx, area) in areas.iter().enumerate() {
            let area_idx = idx as u32;
            match &area.shape {
                Shape::Polygons(polygons) => {
                    for polygon in polygons {
                        let grid = PolyGrid::new(polygon);
                        let b = grid.bbox;
                        push_wrapped(&mut boxes, parts.len() as u32, [b[0], b[2]], [b[1], b[3]]);
                        parts.push(Part {
                            area: area_idx,
                            test: PartTest::Polygon(grid),
                        });
                    }
                }
                Shape::Circle {
                    lat,
                    lon,
                    radius_nm,
                } => {
                    let (lons, lats) = expand([*lon, *lon], [*lat, *lat], *radius_nm);
                    push_wrapped(&mut boxes, parts.len() as u32, lons, lats);
                    let chord = sphere::chord_of_nm(*radius_nm);
                    parts.push(Part {
                        area: area_idx,
                        test: PartTest::Circle {
                            centre: sphere::unit(*lat, *lon),
                            chord2: chord * chord,
                        },
                    });
                }
                Shape::Within { polygons, nm } => {
                    for polygon in polygons {
                        let within = WithinPart::new(polygon, *nm);
                        let b = within.grid.bbox;
                        let (lons, lats) = expand([b[0], b[2]], [b[1], b[3]], *nm);
                        push_wrapped(&mut boxes, parts.len() as u32, lons, lats);
                        parts.push(Part {
                            area: area_idx,
                            test: PartTest::Within(Box::new(within)),
                        });
                    }
                }
            }
        }
        Ok(AreaIndex {
            areas,
            parts,
            cells: Cells::new(&boxes),
            tree: RTree::bulk_load(boxes),
            by_id,
        })
    }

    /// Number of areas.
    pub fn len(&self) -> usize {
        self.areas.len()
    }

    /// True when there are no areas.
    pub fn is_empty(&self) -> bool {
        self.areas.is_empty()
    }

    /// The area with index `idx` (as returned by [`AreaIndex::areas_at`]).
    pub fn area(&self, idx: u32) -> Option<&Area> {
        self.areas.get(idx as usize)
    }

    /// All areas, in index order.
    pub fn areas(&self) -> &[Area] {
        &self.areas
    }

    /// The index of the area with this id.
    pub fn find(&self, id: &str) -> Option<u32> {
        self.by_id.get(id).copied()
    }

    /// Fills `out` with the indexes of the areas containing `(lat, lon)`, ascending and
    /// without duplicates. Longitude may be given in any frame (it is normalised to ±180°).
    pub fn areas_at(&self, lat: f64, lon: f64, out: &mut Vec<u32>) {
        out.clear();
        let lon = normalise_lon(lon);
        let mut unit: Option<Vec3> = None;
        match self.cells.at(lon, lat) {
            Some(boxes) => {
                for (b, part) in boxes {
                    if lon >= b[0] && lon <= b[2] && lat >= b[1] && lat <= b[3] {
                        self.test_part(*part, lat, lon, &mut unit, out);
                    }
                }
            }
            None => {
                let point = AABB::from_point([lon, lat]);
                for entry in self.tree.locate_in_envelope_intersecting(point) {
                    self.test_part(entry.data, lat, lon, &mut unit, out);
                }
            }
        }
        out.sort_unstable();
    }

    fn test_part(
        &self,
        part: u32,
        lat: f64,
        lon: f64,
        unit: &mut Option<Vec3>,
        out: &mut Vec<u32>,
    ) {
        let part = &self.parts[part as usize];
        if out.contains(&part.area) {
            return;
        }
        let inside = match &part.test {
            PartTest::Polygon(grid) => grid.contains(lon, lat),
            PartTest::Circle { centre, chord2 } => {
                let p = *unit.get_or_insert_with(|| sphere::unit(lat, lon));
                dist2(p, *centre) <= *chord2
            }
            PartTest::Within(w) => {
                let p = *unit.get_or_insert_with(|| sphere::unit(lat, lon));
                w.contains(lon, lat, p)
            }
        };
        if inside {
            out.push(part.area);
        }
    }

    /// True when area `idx` contains `(lat, lon)`.
    pub fn contains(&self, idx: u32, lat: f64, lon: f64) -> bool {
        let mut out = Vec::new();
        self.areas_at(lat, lon, &mut out);
        out.contains(&idx)
    }

    /// Approximate heap bytes held by the index (cell directory, grids, vertex trees).
    pub fn index_bytes(&self) -> usize {
        self.cells.start.len() * 4
            + self.cells.boxes.len() * 40
            + self
                .parts
                .iter()
                .map(|p| match &p.test {
                    PartTest::Polygon(g) => g.heap_bytes(),
                    PartTest::Circle { .. } => 0,
                    PartTest::Within(w) => {
                        w.grid.heap_bytes()
                            + w.vertices.size() * 40
                            + w.rings.iter().map(|r| r.len() * 24).sum::<usize>()
                    }
                })
                .sum::<usize>()
    }
}

impl WithinPart {
    fn new(polygon: &Polygon, nm: f64) -> WithinPart {
        let rings: Vec<Vec<Vec3>> = polygon
            .rings
            .iter()
            .map(|r| r.iter().map(|&[lon, lat]| sphere::unit(lat, lon)).collect())
            .collect();
        let mut max_edge: f64 = 0.0;
        let mut points = Vec::new();
        for (r_idx, ring) in rings.iter().enumerate() {
            for (v_idx, v) in ring.iter().enumerate() {
                if let Some(next) = ring.get(v_idx + 1) {
                    max_edge = max_edge.max(sphere::angle(*v, *next) * EARTH_RADIUS_NM);
                }
                points.push(GeomWithData::new(*v, (r_idx as u32, v_idx as u32)));
            }
        }
        WithinPart {
            grid: PolyGrid::new(polygon),
            vertices: RTree::bulk_load(points),
            rings,
            nm,
            half_max_edge_nm: max_edge / 2.0,
        }
    }

    fn contains(&self, lon: f64, lat: f64, p: Vec3) -> bool {
        let Some(nearest) = self.vertices.nearest_neighbor(p) else {
            return false;
        };
        let d_vertex = chord_to_nm(dist2(p, *nearest.geom()).sqrt());
        if d_vertex <= self.nm || self.grid.contains(lon, lat) {
            return true;
        }
        let reach = self.nm + self.half_max_edge_nm;
        if d_vertex > reach {
            return false;
        }
        let reach_chord = sphere::chord_of_nm(reach);
        let reach2 = reach_chord * reach_chord;
        for (vertex, d2) in self.vertices.nearest_neighbor_iter_with_distance_2(p) {
            if d2 > reach2 {
                break;
            }
            let (r, v) = (vertex.data.0 as usize, vertex.data.1 as usize);
            let ring = &self.rings[r];
            let here = ring[v];
            let near = |other: Option<&Vec3>| {
                other.is_some_and(|o| sphere::arc_distance_nm(p, here, *o) <= self.nm)
            };
            if near(v.checked_sub(1).and_then(|i| ring.get(i))) || near(ring.get(v + 1)) {
                return true;
            }
        }
        false
    }
}

fn dist2(a: Vec3, b: Vec3) -> f64 {
    let d = [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
}

fn chord_to_nm(chord: f64) -> f64 {
    2.0 * (chord / 2.0).min(1.0).asin() * EARTH_RADIUS_NM
}

/// Normalises a longitude into [-180, 180].
pub(crate) fn normalise_lon(lon: f64) -> f64 {
    if (-180.0..=180.0).contains(&lon) {
        lon
    } else {
        (lon + 180.0).rem_euclid(360.0) - 180.0
    }
}

/// A lon/lat box grown by `nm` nautical miles in every direction (conservatively).
fn expand(lons: [f64; 2], lats: [f64; 2], nm: f64) -> ([f64; 2], [f64; 2]) {
    let dlat = nm * DEG_PER_NM * 1.01 + 1e-9;
    let lat0 = (lats[0] - dlat).max(-90.0);
    let lat1 = (lats[1] + dlat).min(90.0);
    let reach = lat0.abs().max(lat1.abs());
    let cos = reach.to_radians().cos();
    if reach >= 89.9 || dlat / cos >= 180.0 {
        return ([-180.0, 180.0], [lat0, lat1]);
    }
    let dlon = dlat / cos;
    ([lons[0] - dlon, lons[1] + dlon], [lat0, lat1])
}

/// Adds the box, and its copies shifted by ±360° and ±720°, clipped to [-180, 180].
fn push_wrapped(
    boxes: &mut Vec<GeomWithData<Rectangle<[f64; 2]>, u32>>,
    part: u32,
    lons: [f64; 2],
    lats: [f64; 2],
) {
    for k in [-720.0, -360.0, 0.0, 360.0, 720.0] {
        let (x0, x1) = ((lons[0] + k).max(-180.0), (lons[1] + k).min(180.0));
        if x0 <= x1 {
            boxes.push(GeomWithData::new(
                Rectangle::from_corners([x0, lats[0]], [x1, lats[1]]),
                part,
            ));
        }
    }
}
