//! Spherical geometry for the vessel model: haversine distance, initial bearing and points along
//! a great-circle leg. Distances in nautical miles, angles in degrees, on the workspace's one
//! spherical Earth (`lookout_core::geo`).

use lookout_core::geo::{EARTH_RADIUS_NM, haversine_nm};

/// A point in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LatLon {
    /// Latitude, north positive.
    pub(crate) lat: f64,
    /// Longitude, east positive.
    pub(crate) lon: f64,
}

impl LatLon {
    /// A point from latitude and longitude in degrees.
    pub(crate) const fn new(lat: f64, lon: f64) -> LatLon {
        LatLon { lat, lon }
    }
}

/// Great-circle distance in nautical miles (`lookout_core::geo::haversine_nm`).
pub(crate) fn distance_nm(a: LatLon, b: LatLon) -> f64 {
    haversine_nm(a.lat, a.lon, b.lat, b.lon)
}

/// Initial true bearing from `a` towards `b`, in `[0, 360)`.
pub(crate) fn bearing_deg(a: LatLon, b: LatLon) -> f64 {
    let (p1, p2) = (a.lat.to_radians(), b.lat.to_radians());
    let dl = (b.lon - a.lon).to_radians();
    let y = dl.sin() * p2.cos();
    let x = p1.cos() * p2.sin() - p1.sin() * p2.cos() * dl.cos();
    y.atan2(x).to_degrees().rem_euclid(360.0)
}

/// The point a fraction `f` (0..=1) of the way along the great circle from `a` to `b`.
pub(crate) fn intermediate(a: LatLon, b: LatLon, f: f64) -> LatLon {
    let d = distance_nm(a, b) / EARTH_RADIUS_NM;
    if d < 1e-12 {
        return a;
    }
    let (p1, l1) = (a.lat.to_radians(), a.lon.to_radians());
    let (p2, l2) = (b.lat.to_radians(), b.lon.to_radians());
    let wa = ((1.0 - f) * d).sin() / d.sin();
    let wb = (f * d).sin() / d.sin();
    let x = wa * p1.cos() * l1.cos() + wb * p2.cos() * l2.cos();
    let y = wa * p1.cos() * l1.sin() + wb * p2.cos() * l2.sin();
    let z = wa * p1.sin() + wb * p2.sin();
    LatLon {
        lat: z.atan2((x * x + y * y).sqrt()).to_degrees(),
        lon: y.atan2(x).to_degrees(),
    }
}

/// The point `distance_nm` from `origin` on initial bearing `bearing` (degrees).
pub(crate) fn destination(origin: LatLon, bearing: f64, distance: f64) -> LatLon {
    let d = distance / EARTH_RADIUS_NM;
    let th = bearing.to_radians();
    let p1 = origin.lat.to_radians();
    let l1 = origin.lon.to_radians();
    let p2 = (p1.sin() * d.cos() + p1.cos() * d.sin() * th.cos()).asin();
    let l2 = l1 + (th.sin() * d.sin() * p1.cos()).atan2(d.cos() - p1.sin() * p2.sin());
    LatLon {
        lat: p2.to_degrees(),
        lon: (l2.to_degrees() + 540.0).rem_euclid(360.0) - 180.0,
    }
}

/// Ray-casting point-in-polygon on a ring of `[lon, lat]` pairs (planar; fine for the small
/// example areas the scenario tests check against).
#[cfg(test)]
pub(crate) fn in_ring(p: LatLon, ring: &[[f64; 2]]) -> bool {
    let mut inside = false;
    let n = ring.len();
    let mut j = n.wrapping_sub(1);
    for i in 0..n {
        let [xi, yi] = ring[i];
        let [xj, yj] = ring[j];
        if (yi > p.lat) != (yj > p.lat) && p.lon < (xj - xi) * (p.lat - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wellington_to_auckland_is_about_260_nm() {
        let wlg = LatLon::new(-41.2865, 174.7762);
        let akl = LatLon::new(-36.8485, 174.7633);
        let d = distance_nm(wlg, akl);
        assert!((d - 266.0).abs() < 3.0, "{d}");
        assert!(bearing_deg(wlg, akl) < 1.0 || bearing_deg(wlg, akl) > 359.0);
        let mid = intermediate(wlg, akl, 0.5);
        assert!((distance_nm(wlg, mid) - d / 2.0).abs() < 0.01);
        let there = destination(wlg, bearing_deg(wlg, akl), d);
        assert!(distance_nm(there, akl) < 0.01);
    }

    #[test]
    fn ring_test_sees_inside_and_outside() {
        let square = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]];
        assert!(in_ring(LatLon::new(0.5, 0.5), &square));
        assert!(!in_ring(LatLon::new(1.5, 0.5), &square));
    }
}
