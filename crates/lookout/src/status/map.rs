//! The map of the status page: an inline SVG of areas and vessels, with no external assets.
//!
//! Longitudes are drawn in one continuous frame: when the things drawn are closer together
//! across the antimeridian than around Greenwich (New Zealand and the Chathams, Fiji), negative
//! longitudes are shifted by +360°, so an area crossing 180° is one shape, not two halves at
//! either edge. The projection is equirectangular, scaled by the cosine of the middle latitude.

use std::fmt::Write as _;

use super::html::escape;

/// One area to draw: its rings (exterior and holes, `[lon, lat]`) per polygon.
#[derive(Debug, Clone, PartialEq)]
pub struct MapArea {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Polygons, each as rings of `[lon, lat]`.
    pub polygons: Vec<Vec<Vec<[f64; 2]>>>,
}

/// One vessel to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct MapVessel {
    /// MMSI.
    pub mmsi: u32,
    /// Name, when known.
    pub name: Option<String>,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Inside one of the areas (as of its latest event).
    pub inside: bool,
}

/// Width and height of the SVG's view box.
const W: f64 = 960.0;
const H: f64 = 600.0;
const PAD: f64 = 20.0;

/// Whether shifting negative longitudes by +360° makes `lons` span less.
fn crosses_antimeridian(lons: &[f64]) -> bool {
    let span = |shift: bool| {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for &lon in lons {
            let l = if shift && lon < 0.0 { lon + 360.0 } else { lon };
            lo = lo.min(l);
            hi = hi.max(l);
        }
        hi - lo
    };
    !lons.is_empty() && span(true) < span(false)
}

/// Normalises a longitude into the frame.
fn frame(lon: f64, shifted: bool) -> f64 {
    if shifted && lon < 0.0 {
        lon + 360.0
    } else {
        lon
    }
}

/// A circle of `radius_nm` around a point, as one ring of 72 vertices.
pub fn circle_ring(lat: f64, lon: f64, radius_nm: f64) -> Vec<[f64; 2]> {
    let dlat = radius_nm / 60.0;
    let dlon = dlat / lat.to_radians().cos().abs().max(0.01);
    (0..=72)
        .map(|i| {
            let a = f64::from(i) * std::f64::consts::TAU / 72.0;
            [
                lon + dlon * a.cos(),
                (lat + dlat * a.sin()).clamp(-90.0, 90.0),
            ]
        })
        .collect()
}

/// Renders the SVG (a complete `<svg>` element).
pub fn render(areas: &[MapArea], vessels: &[MapVessel]) -> String {
    let mut lons: Vec<f64> = Vec::new();
    let mut lats: Vec<f64> = Vec::new();
    for area in areas {
        for ring in area.polygons.iter().flatten() {
            for [lon, lat] in ring {
                lons.push(*lon);
                lats.push(*lat);
            }
        }
    }
    for v in vessels {
        lons.push(v.lon);
        lats.push(v.lat);
    }
    let shifted = crosses_antimeridian(&lons);
    let xs: Vec<f64> = lons.iter().map(|l| frame(*l, shifted)).collect();
    let (mut x0, mut x1) = bounds(&xs, (-180.0, 180.0));
    let (mut y0, mut y1) = bounds(&lats, (-60.0, 75.0));
    if x1 - x0 < 0.5 {
        (x0, x1) = (x0 - 0.25, x1 + 0.25);
    }
    if y1 - y0 < 0.5 {
        (y0, y1) = (y0 - 0.25, y1 + 0.25);
    }
    let k = ((y0 + y1) / 2.0).to_radians().cos().abs().max(0.05);
    let scale = ((W - 2.0 * PAD) / ((x1 - x0) * k)).min((H - 2.0 * PAD) / (y1 - y0));
    let px = |lon: f64| PAD + (frame(lon, shifted) - x0) * k * scale;
    let py = |lat: f64| H - PAD - (lat - y0) * scale;

    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" aria-label="Map of areas and vessels" id="map"><rect width="{W}" height="{H}" fill="#eef4f8"/>"##
    );
    for area in areas {
        let mut d = String::new();
        for ring in area.polygons.iter().flatten() {
            for (i, [lon, lat]) in ring.iter().enumerate() {
                let _ = write!(
                    d,
                    "{}{:.1},{:.1} ",
                    if i == 0 { "M" } else { "L" },
                    px(*lon),
                    py(*lat)
                );
            }
            d.push_str("Z ");
        }
        let _ = write!(
            svg,
            r##"<path class="area" data-area="{id}" d="{d}" fill="#4a90c2" fill-opacity="0.15" stroke="#2b6a94" stroke-width="1.5" fill-rule="evenodd"><title>{name}</title></path>"##,
            id = escape(&area.id),
            name = escape(&area.name),
        );
    }
    for v in vessels {
        let label = match &v.name {
            Some(name) => format!("{} ({})", name, v.mmsi),
            None => v.mmsi.to_string(),
        };
        let (class, colour) = if v.inside {
            ("vessel inside", "#d9480f")
        } else {
            ("vessel outside", "#495057")
        };
        let _ = write!(
            svg,
            r##"<circle class="{class}" data-mmsi="{mmsi}" cx="{x:.1}" cy="{y:.1}" r="5" fill="{colour}" stroke="#fff" stroke-width="1"><title>{label}</title></circle>"##,
            mmsi = v.mmsi,
            x = px(v.lon),
            y = py(v.lat),
            label = escape(&label),
        );
    }
    svg.push_str("</svg>");
    svg
}

fn bounds(values: &[f64], empty: (f64, f64)) -> (f64, f64) {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if lo.is_finite() && hi.is_finite() {
        (lo, hi)
    } else {
        empty
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area(id: &str, ring: Vec<[f64; 2]>) -> MapArea {
        MapArea {
            id: id.into(),
            name: format!("Area {id}"),
            polygons: vec![vec![ring]],
        }
    }

    fn xs_of(svg: &str) -> Vec<f64> {
        svg.split("cx=\"")
            .skip(1)
            .map(|s| s.split('"').next().unwrap().parse().unwrap())
            .collect()
    }

    #[test]
    fn an_area_across_the_antimeridian_is_one_shape_with_its_vessels_beside_it() {
        // Around Fiji: 177°E to 178°W.
        let fiji = area(
            "fiji",
            vec![
                [177.0, -19.0],
                [-178.0, -19.0],
                [-178.0, -15.0],
                [177.0, -15.0],
                [177.0, -19.0],
            ],
        );
        let west = MapVessel {
            mmsi: 1,
            name: None,
            lat: -17.0,
            lon: 179.5,
            inside: true,
        };
        let east = MapVessel {
            mmsi: 2,
            name: Some("<East>".into()),
            lat: -17.0,
            lon: -179.5,
            inside: true,
        };
        let svg = render(&[fiji], &[west, east]);
        let xs = xs_of(&svg);
        assert!(xs[1] > xs[0], "179.5°W is east of 179.5°E: {xs:?}");
        assert!(xs[1] - xs[0] < W / 2.0, "and close to it: {xs:?}");
        assert!(svg.contains("&lt;East&gt; (2)"), "names are escaped");
        assert!(svg.contains(r#"class="vessel inside""#));
    }

    #[test]
    fn around_greenwich_nothing_is_shifted() {
        let thames = area(
            "thames",
            vec![
                [-0.5, 51.0],
                [0.5, 51.0],
                [0.5, 52.0],
                [-0.5, 52.0],
                [-0.5, 51.0],
            ],
        );
        let v = MapVessel {
            mmsi: 3,
            name: None,
            lat: 51.5,
            lon: -0.1,
            inside: false,
        };
        let w = MapVessel {
            mmsi: 4,
            name: None,
            lat: 51.5,
            lon: 0.1,
            inside: false,
        };
        let xs = xs_of(&render(&[thames], &[v, w]));
        assert!(xs[0] < xs[1] && xs[1] - xs[0] < 100.0, "{xs:?}");
    }

    #[test]
    fn an_empty_map_still_renders() {
        let svg = render(&[], &[]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    #[test]
    fn a_circle_closes() {
        let ring = circle_ring(-36.8, 174.8, 10.0);
        assert_eq!(
            ring.first().map(|p| p[1].round()),
            ring.last().map(|p| p[1].round())
        );
        assert_eq!(ring.len(), 73);
    }
}
