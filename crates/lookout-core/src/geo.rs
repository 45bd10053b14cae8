//! The workspace's one Earth model: a sphere of mean radius ([`EARTH_RADIUS_NM`]) and the
//! haversine great-circle distance on it. Pure functions, no I/O.
//!
//! A sphere of mean radius 6,371.0088 km (the IUGG mean radius R1 of the WGS 84 ellipsoid) is
//! accurate to about 0.5 % against the ellipsoid, far better than the accuracy anyone specifies
//! an "N nautical miles" area with. The tracker (`lookout-track`) and the simulator
//! (`lookout-feed`) both measure with it, so a simulated vessel `N` nm away is `N` nm away to
//! the tracker too.
//!
//! ```
//! use lookout_core::geo::haversine_nm;
//! // One minute of latitude is one nautical mile (to within the sphere's 0.1 %).
//! let d = haversine_nm(0.0, 10.0, 1.0 / 60.0, 10.0);
//! assert!((d - 1.0).abs() < 0.002);
//! ```

/// Mean Earth radius in nautical miles: 6,371.0088 km / 1.852 ≈ 3,440.0695 nm.
pub const EARTH_RADIUS_NM: f64 = 6_371.008_8 / 1.852;

/// Haversine distance in nautical miles between two `(lat, lon)` points in degrees.
pub fn haversine_nm(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_NM * a.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radius_is_the_mean_earth_radius() {
        assert!((EARTH_RADIUS_NM - 3440.0695).abs() < 1e-4);
    }

    #[test]
    fn haversine_wraps_the_antimeridian_and_is_symmetric() {
        let d = haversine_nm(0.0, 179.5, 0.0, -179.5);
        assert!((d - 60.0).abs() < 0.1, "{d}");
        let (a, b) = (
            haversine_nm(-41.3, 174.8, -36.8, 174.8),
            haversine_nm(-36.8, 174.8, -41.3, 174.8),
        );
        assert!((a - b).abs() < 1e-9);
    }
}
