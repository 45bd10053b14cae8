//! Areas: what they are ([`Area`], [`Shape`], [`Polygon`]), how they are loaded (GeoJSON files,
//! circles, "within N nautical miles of a polygon") and validated ([`AreaErrors`]), and the
//! [`AreaIndex`] that answers "which areas contain this point" in logarithmic time.
//!
//! Coordinates are `[lon, lat]` in degrees, as in GeoJSON. Polygon edges are straight lines in
//! longitude/latitude (GeoJSON's convention); distances (circles, buffers) are great-circle
//! distances on a sphere. Rings may wind either way; holes are any ring after the first.
//!
//! Antimeridian: an area may be pre-split at ±180° (as Natural Earth and OSM data are) or given
//! with longitudes beyond 180° (e.g. `[178, -17]` to `[182, -17]`); both work, because every
//! shape is tested in its own longitude frame and indexed on both sides of the antimeridian.

mod error;
mod geojson;
mod grid;
mod index;
mod spec;
mod validate;

pub use error::{AreaErrors, AreaProblem, ProblemKind};
pub use geojson::{load_geojson_file, load_path, parse_geojson};
pub use index::AreaIndex;
pub use spec::{AreaSpec, load_specs};

/// One polygon: the exterior ring first, then any holes. Each ring is closed (its last
/// position repeats the first) and holds `[lon, lat]` positions in degrees.
#[derive(Debug, Clone, PartialEq)]
pub struct Polygon {
    /// Exterior ring, then holes.
    pub rings: Vec<Vec<[f64; 2]>>,
}

impl Polygon {
    /// A polygon from its rings (exterior first). Validate with [`Area::validate`] or
    /// [`AreaIndex::new`].
    pub fn new(rings: Vec<Vec<[f64; 2]>>) -> Polygon {
        Polygon { rings }
    }

    /// Number of positions over all rings.
    pub fn n_vertices(&self) -> usize {
        self.rings.iter().map(Vec::len).sum()
    }
}

/// The geometry of an area.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// Inside any of the polygons (a MultiPolygon when more than one).
    Polygons(Vec<Polygon>),
    /// Within `radius_nm` nautical miles (great-circle) of a centre.
    Circle {
        /// Centre latitude in degrees.
        lat: f64,
        /// Centre longitude in degrees.
        lon: f64,
        /// Radius in nautical miles.
        radius_nm: f64,
    },
    /// Inside any of the polygons or within `nm` nautical miles (great-circle) of their edges:
    /// "New Zealand 400 nm" is `Within` the coastline polygons with `nm = 400`.
    Within {
        /// The polygons the distance is measured from.
        polygons: Vec<Polygon>,
        /// Distance in nautical miles.
        nm: f64,
    },
}

/// A named area vessels can enter, leave, and go silent in.
#[derive(Debug, Clone, PartialEq)]
pub struct Area {
    /// Stable id (used in events, rules, checkpoints).
    pub id: String,
    /// Human name (used in notifications).
    pub name: String,
    /// Geometry.
    pub shape: Shape,
    /// Where it was defined (a file path or `config`), for error messages.
    pub source: String,
}

impl Area {
    /// An area made of polygons.
    pub fn polygons(
        id: impl Into<String>,
        name: impl Into<String>,
        polygons: Vec<Polygon>,
    ) -> Area {
        Area {
            id: id.into(),
            name: name.into(),
            shape: Shape::Polygons(polygons),
            source: "config".into(),
        }
    }

    /// A circle of `radius_nm` nautical miles around `(lat, lon)`.
    pub fn circle(
        id: impl Into<String>,
        name: impl Into<String>,
        lat: f64,
        lon: f64,
        radius_nm: f64,
    ) -> Area {
        Area {
            id: id.into(),
            name: name.into(),
            shape: Shape::Circle {
                lat,
                lon,
                radius_nm,
            },
            source: "config".into(),
        }
    }

    /// Everything within `nm` nautical miles of `polygons` (and inside them).
    pub fn within(
        id: impl Into<String>,
        name: impl Into<String>,
        polygons: Vec<Polygon>,
        nm: f64,
    ) -> Area {
        Area {
            id: id.into(),
            name: name.into(),
            shape: Shape::Within { polygons, nm },
            source: "config".into(),
        }
    }

    /// This area's polygons buffered by `nm` nautical miles (a circle grows its radius).
    pub fn buffered(self, nm: f64) -> Area {
        let shape = match self.shape {
            Shape::Polygons(polygons) => Shape::Within { polygons, nm },
            Shape::Within { polygons, nm: old } => Shape::Within {
                polygons,
                nm: old + nm,
            },
            Shape::Circle {
                lat,
                lon,
                radius_nm,
            } => Shape::Circle {
                lat,
                lon,
                radius_nm: radius_nm + nm,
            },
        };
        Area { shape, ..self }
    }

    /// The polygons of a polygon or buffered area (empty for a circle).
    pub fn polygons_of(&self) -> &[Polygon] {
        match &self.shape {
            Shape::Polygons(p) | Shape::Within { polygons: p, .. } => p,
            Shape::Circle { .. } => &[],
        }
    }

    /// Every problem with this area's geometry (empty when valid).
    pub fn validate(&self) -> Vec<AreaProblem> {
        validate::area(self, None)
    }
}
