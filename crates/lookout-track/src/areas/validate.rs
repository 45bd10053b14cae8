//! Geometry validation: closed rings, enough points, finite in-range coordinates, no
//! self-intersections, no empty geometry, sane distances.

use rstar::RTree;
use rstar::primitives::{GeomWithData, Line};

use super::{Area, AreaProblem, ProblemKind, Shape};

/// Every problem in `area`; `feature` is its index in its source file, when it has one.
pub(crate) fn area(area: &Area, feature: Option<usize>) -> Vec<AreaProblem> {
    let mut out = Vec::new();
    let mut push = |polygon: Option<usize>, ring: Option<usize>, kind: ProblemKind| {
        out.push(AreaProblem {
            source: area.source.clone(),
            feature,
            id: Some(area.id.clone()),
            polygon,
            ring,
            kind,
        });
    };
    let (polygons, distance) = match &area.shape {
        Shape::Polygons(p) => (p.as_slice(), None),
        Shape::Within { polygons, nm } => (polygons.as_slice(), Some(*nm)),
        Shape::Circle {
            lat,
            lon,
            radius_nm,
        } => {
            if !coordinate_ok(*lon, *lat) || lon.abs() > 180.0 {
                push(
                    None,
                    None,
                    ProblemKind::BadCoordinate {
                        position: 0,
                        lon: *lon,
                        lat: *lat,
                    },
                );
            }
            (&[][..], Some(*radius_nm))
        }
    };
    if let Some(d) = distance
        && !(d.is_finite() && d > 0.0)
    {
        push(None, None, ProblemKind::BadDistance(d));
    }
    if !matches!(area.shape, Shape::Circle { .. }) && polygons.is_empty() {
        push(None, None, ProblemKind::EmptyGeometry);
    }
    let multi = polygons.len() > 1;
    for (p_idx, polygon) in polygons.iter().enumerate() {
        let p_at = multi.then_some(p_idx);
        if polygon.rings.is_empty() || polygon.rings.iter().all(Vec::is_empty) {
            push(p_at, None, ProblemKind::EmptyGeometry);
            continue;
        }
        for (r_idx, ring) in polygon.rings.iter().enumerate() {
            for kind in ring_problems(ring) {
                push(p_at, Some(r_idx), kind);
            }
        }
    }
    out
}

fn coordinate_ok(lon: f64, lat: f64) -> bool {
    lon.is_finite() && lat.is_finite() && lon.abs() <= 360.0 && lat.abs() <= 90.0
}

fn ring_problems(ring: &[[f64; 2]]) -> Vec<ProblemKind> {
    let mut out = Vec::new();
    let mut coords_ok = true;
    for (position, &[lon, lat]) in ring.iter().enumerate() {
        if !coordinate_ok(lon, lat) {
            coords_ok = false;
            out.push(ProblemKind::BadCoordinate { position, lon, lat });
        }
    }
    if ring.len() < 4 {
        out.push(ProblemKind::TooFewPoints(ring.len()));
        return out;
    }
    if ring.first() != ring.last() {
        out.push(ProblemKind::UnclosedRing);
        return out;
    }
    if coords_ok {
        for (position, pair) in ring.windows(2).enumerate() {
            let (a, b) = (pair[0][0], pair[1][0]);
            if a.abs() <= 180.0 && b.abs() <= 180.0 && (a - b).abs() > 180.0 {
                out.push(ProblemKind::AntimeridianEdge {
                    position,
                    from_lon: a,
                    to_lon: b,
                });
            }
        }
    }
    if coords_ok && let Some((first, second)) = self_intersection(ring) {
        out.push(ProblemKind::SelfIntersection { first, second });
    }
    out
}

/// The first pair of non-adjacent edges of a closed ring that touch, if any.
fn self_intersection(ring: &[[f64; 2]]) -> Option<(usize, usize)> {
    let n_edges = ring.len() - 1;
    let edges: Vec<GeomWithData<Line<[f64; 2]>, usize>> = (0..n_edges)
        .filter(|&i| ring[i] != ring[i + 1])
        .map(|i| GeomWithData::new(Line::new(ring[i], ring[i + 1]), i))
        .collect();
    let tree = RTree::bulk_load(edges.clone());
    let mut found: Option<(usize, usize)> = None;
    for e in &edges {
        let i = e.data;
        for other in tree.locate_in_envelope_intersecting(rstar::RTreeObject::envelope(e)) {
            let j = other.data;
            if j <= i || j == i + 1 || (i == 0 && j == n_edges - 1) {
                continue;
            }
            if segments_touch(ring[i], ring[i + 1], ring[j], ring[j + 1]) {
                // Ignore edges that only share an endpoint through repeated vertices.
                if shares_vertex(ring, i, j) {
                    continue;
                }
                let pair = (i, j);
                if found.is_none_or(|f| pair < f) {
                    found = Some(pair);
                }
            }
        }
    }
    found
}

fn shares_vertex(ring: &[[f64; 2]], i: usize, j: usize) -> bool {
    let a = [ring[i], ring[i + 1]];
    let b = [ring[j], ring[j + 1]];
    // Adjacent through duplicated points (a zero-length edge between them).
    (a[1] == b[0] && (i + 1..j).all(|k| ring[k] == ring[i + 1]))
        || (b[1] == a[0] && i == 0 && (j + 1..ring.len() - 1).all(|k| ring[k] == ring[j + 1]))
}

fn orient(a: [f64; 2], b: [f64; 2], c: [f64; 2]) -> f64 {
    (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
}

fn on_segment(a: [f64; 2], b: [f64; 2], p: [f64; 2]) -> bool {
    p[0] >= a[0].min(b[0])
        && p[0] <= a[0].max(b[0])
        && p[1] >= a[1].min(b[1])
        && p[1] <= a[1].max(b[1])
}

fn segments_touch(a: [f64; 2], b: [f64; 2], c: [f64; 2], d: [f64; 2]) -> bool {
    let (o1, o2, o3, o4) = (
        orient(a, b, c),
        orient(a, b, d),
        orient(c, d, a),
        orient(c, d, b),
    );
    if ((o1 > 0.0 && o2 < 0.0) || (o1 < 0.0 && o2 > 0.0))
        && ((o3 > 0.0 && o4 < 0.0) || (o3 < 0.0 && o4 > 0.0))
    {
        return true;
    }
    (o1 == 0.0 && on_segment(a, b, c))
        || (o2 == 0.0 && on_segment(a, b, d))
        || (o3 == 0.0 && on_segment(c, d, a))
        || (o4 == 0.0 && on_segment(c, d, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> Vec<[f64; 2]> {
        vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]
    }

    #[test]
    fn a_valid_square_has_no_problems() {
        assert!(ring_problems(&square()).is_empty());
    }

    #[test]
    fn a_bow_tie_self_intersects() {
        let ring = vec![[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]];
        assert_eq!(
            ring_problems(&ring),
            vec![ProblemKind::SelfIntersection {
                first: 0,
                second: 2
            }]
        );
    }

    #[test]
    fn unclosed_short_and_bad_rings_are_named() {
        let mut open = square();
        open.pop();
        open.push([0.5, 0.5]);
        assert_eq!(ring_problems(&open), vec![ProblemKind::UnclosedRing]);
        assert_eq!(
            ring_problems(&[[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]]),
            vec![ProblemKind::TooFewPoints(3)]
        );
        let mut bad = square();
        bad[2] = [f64::NAN, 95.0];
        assert!(matches!(
            ring_problems(&bad)[0],
            ProblemKind::BadCoordinate { position: 2, .. }
        ));
    }
}
