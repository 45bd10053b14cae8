//! Area validation errors: every problem names the file, the feature (index and id), where in
//! the geometry it is and what is wrong, so one run reports everything to fix.

use std::fmt;

/// What is wrong with one area definition.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The file could not be read.
    Io(String),
    /// The file is not valid JSON, or not the GeoJSON shape expected here.
    Json(String),
    /// The feature has no geometry, or a geometry without any polygon.
    EmptyGeometry,
    /// The geometry is of a type that cannot describe an area (Point, LineString, ...).
    UnsupportedGeometry(String),
    /// A ring's last position differs from its first.
    UnclosedRing,
    /// A ring has fewer than 4 positions (3 distinct corners and the closing one).
    TooFewPoints(usize),
    /// A coordinate is NaN, infinite, or out of range (latitude beyond ±90, longitude beyond ±360).
    BadCoordinate {
        /// Index of the position in its ring.
        position: usize,
        /// The longitude given.
        lon: f64,
        /// The latitude given.
        lat: f64,
    },
    /// Two non-adjacent edges of a ring cross or overlap.
    SelfIntersection {
        /// Index of the first edge (from position `first` to `first + 1`).
        first: usize,
        /// Index of the second edge.
        second: usize,
    },
    /// Two areas have the same id.
    DuplicateId,
    /// A circle radius or buffer distance that is not a positive finite number of nautical miles.
    BadDistance(f64),
    /// An edge between two longitudes in the ±180 frame that are more than 180° apart: the
    /// edge would run the long way round (a band 358° wide instead of a crossing of 180°).
    AntimeridianEdge {
        /// Index of the edge's first position in its ring.
        position: usize,
        /// Longitude at `position`.
        from_lon: f64,
        /// Longitude at `position + 1`.
        to_lon: f64,
    },
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProblemKind::Io(e) => write!(f, "cannot read file: {e}"),
            ProblemKind::Json(e) => write!(f, "invalid geojson: {e}"),
            ProblemKind::EmptyGeometry => {
                f.write_str("empty geometry: no polygon with coordinates")
            }
            ProblemKind::UnsupportedGeometry(t) => {
                write!(
                    f,
                    "unsupported geometry type {t:?}: use Polygon or MultiPolygon"
                )
            }
            ProblemKind::UnclosedRing => {
                f.write_str("unclosed ring: the last position must repeat the first")
            }
            ProblemKind::TooFewPoints(n) => {
                write!(
                    f,
                    "too few points: ring has {n} positions, needs at least 4"
                )
            }
            ProblemKind::BadCoordinate { position, lon, lat } => write!(
                f,
                "bad coordinate at position {position}: [{lon}, {lat}] (need finite lon in ±360, lat in ±90)"
            ),
            ProblemKind::SelfIntersection { first, second } => {
                write!(f, "self-intersection: edges {first} and {second} cross")
            }
            ProblemKind::DuplicateId => f.write_str("duplicate area id"),
            ProblemKind::AntimeridianEdge {
                position,
                from_lon,
                to_lon,
            } => write!(
                f,
                "edge from position {position} jumps from longitude {from_lon} to {to_lon}, more than 180°: \
                 to cross the antimeridian, split the area at 180 into two polygons, or write \
                 longitudes beyond 180 (e.g. 181 for -179) so the edge is short"
            ),
            ProblemKind::BadDistance(d) => {
                write!(f, "bad distance {d} nm: must be positive and finite")
            }
        }
    }
}

/// One problem in one area definition, with where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct AreaProblem {
    /// The file (or config source) that defines the area.
    pub source: String,
    /// Index of the feature in the file, when the source is a GeoJSON file.
    pub feature: Option<usize>,
    /// The area id, when known.
    pub id: Option<String>,
    /// Index of the polygon within a MultiPolygon, when the problem is in one.
    pub polygon: Option<usize>,
    /// Index of the ring within its polygon (0 = exterior), when the problem is in one.
    pub ring: Option<usize>,
    /// What is wrong.
    pub kind: ProblemKind,
}

impl fmt::Display for AreaProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)?;
        if let Some(idx) = self.feature {
            write!(f, ": feature {idx}")?;
        }
        if let Some(id) = &self.id {
            write!(f, " (id {id:?})")?;
        }
        if let Some(p) = self.polygon {
            write!(f, ", polygon {p}")?;
        }
        if let Some(r) = self.ring {
            write!(f, ", ring {r}")?;
        }
        write!(f, ": {}", self.kind)
    }
}

/// Every problem found while loading or indexing areas (never empty).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct AreaErrors(pub Vec<AreaProblem>);

impl AreaErrors {
    /// The problems, in the order found.
    pub fn problems(&self) -> &[AreaProblem] {
        &self.0
    }
}

impl fmt::Display for AreaErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem(s) in area definitions", self.0.len())?;
        for p in &self.0 {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}
