//! Great-circle geometry on a spherical Earth: haversine distance between points and the
//! distance from a point to a great-circle arc, in nautical miles.
//!
//! The radius and the haversine distance are the workspace's one Earth model,
//! `lookout_core::geo` (re-exported here); this module adds the arc geometry areas need.

pub use lookout_core::geo::{EARTH_RADIUS_NM, haversine_nm};

/// Great-circle distance in nautical miles from `(lat, lon)` to the minor arc between two
/// `[lon, lat]` positions.
pub fn point_to_arc_nm(lat: f64, lon: f64, a: [f64; 2], b: [f64; 2]) -> f64 {
    arc_distance_nm(unit(lat, lon), unit(a[1], a[0]), unit(b[1], b[0]))
}

/// A unit vector on the sphere (x towards lon 0, z towards the north pole).
pub(crate) type Vec3 = [f64; 3];

/// The unit vector of a `(lat, lon)` point in degrees.
pub(crate) fn unit(lat: f64, lon: f64) -> Vec3 {
    let (sp, cp) = lat.to_radians().sin_cos();
    let (sl, cl) = lon.to_radians().sin_cos();
    [cp * cl, cp * sl, sp]
}

fn dot(a: Vec3, b: Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: Vec3, b: Vec3) -> Vec3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn norm(a: Vec3) -> f64 {
    dot(a, a).sqrt()
}

/// The central angle (radians) between two unit vectors, accurate at every separation.
pub(crate) fn angle(a: Vec3, b: Vec3) -> f64 {
    norm(cross(a, b)).atan2(dot(a, b))
}

/// Chord length between two unit vectors that are `nm` apart along the great circle.
pub(crate) fn chord_of_nm(nm: f64) -> f64 {
    let theta = (nm / EARTH_RADIUS_NM).min(std::f64::consts::PI);
    2.0 * (theta / 2.0).sin()
}

/// Distance in nautical miles from `p` to the minor great-circle arc from `a` to `b`.
pub(crate) fn arc_distance_nm(p: Vec3, a: Vec3, b: Vec3) -> f64 {
    let n = cross(a, b);
    let n_len = norm(n);
    let to_ends = || angle(p, a).min(angle(p, b)) * EARTH_RADIUS_NM;
    if n_len < 1e-15 {
        return to_ends();
    }
    let n = [n[0] / n_len, n[1] / n_len, n[2] / n_len];
    let off = dot(p, n);
    // The foot of the perpendicular from p on the great circle through a and b.
    let foot = [p[0] - off * n[0], p[1] - off * n[1], p[2] - off * n[2]];
    if dot(cross(a, foot), n) >= 0.0 && dot(cross(foot, b), n) >= 0.0 {
        off.abs().min(1.0).asin() * EARTH_RADIUS_NM
    } else {
        to_ends()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_minute_of_latitude_is_one_nautical_mile() {
        let d = haversine_nm(0.0, 10.0, 1.0 / 60.0, 10.0);
        assert!((d - 1.0).abs() < 0.01, "{d}");
    }

    #[test]
    fn haversine_wraps_the_antimeridian() {
        let d = haversine_nm(0.0, 179.5, 0.0, -179.5);
        assert!((d - 60.0).abs() < 0.2, "{d}");
    }

    #[test]
    fn arc_distance_uses_the_perpendicular_or_the_nearest_end() {
        let a = unit(0.0, 0.0);
        let b = unit(0.0, 10.0);
        let mid = arc_distance_nm(unit(1.0, 5.0), a, b);
        assert!((mid - 60.0).abs() < 0.2, "{mid}");
        let beyond = arc_distance_nm(unit(0.0, 11.0), a, b);
        assert!((beyond - 60.0).abs() < 0.2, "{beyond}");
        let on = arc_distance_nm(unit(0.0, 3.0), a, b);
        assert!(on < 1e-6, "{on}");
    }
}
