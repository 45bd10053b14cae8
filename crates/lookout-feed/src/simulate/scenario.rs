//! The `nz` scenario's chart: ports and sea waypoints around New Zealand, the sea lanes between
//! them, anchorages and fishing grounds inside the example areas, and vessel names.
//!
//! The example areas in `examples/areas/nz.geojson` were drawn together with this chart:
//! - Hauraki Gulf: its western edge is lon 174.84, east of the Port of Auckland, so every
//!   vessel leaving Auckland and every Waiheke ferry crosses it; Matiatia (Waiheke) is inside.
//! - Cook Strait: a quadrilateral in mid-strait; Wellington Heads (east) and Tory Channel
//!   (west) are outside, so every Wellington–Picton crossing enters and exits it.

use super::geo::{LatLon, distance_nm};

/// A node of the chart: a port (where vessels berth) or a sea waypoint.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node {
    /// Display name (used as the type 5 destination for ports).
    pub(crate) name: &'static str,
    /// Where it is.
    pub(crate) at: LatLon,
    /// True for ports.
    pub(crate) port: bool,
}

const fn port(name: &'static str, lat: f64, lon: f64) -> Node {
    Node {
        name,
        at: LatLon::new(lat, lon),
        port: true,
    }
}

const fn sea(name: &'static str, lat: f64, lon: f64) -> Node {
    Node {
        name,
        at: LatLon::new(lat, lon),
        port: false,
    }
}

/// Port indexes used by the scripted vessels.
pub(crate) const AUCKLAND: usize = 0;
pub(crate) const WELLINGTON: usize = 2;
pub(crate) const PICTON: usize = 3;
pub(crate) const MATIATIA: usize = 13;

/// Ports first (0..=13), then waypoints.
pub(crate) const NODES: [Node; 35] = [
    port("AUCKLAND", -36.840, 174.770),
    port("TAURANGA", -37.640, 176.180),
    port("WELLINGTON", -41.283, 174.790),
    port("PICTON", -41.285, 174.005),
    port("LYTTELTON", -43.605, 172.720),
    port("NELSON", -41.260, 173.280),
    port("NAPIER", -39.475, 176.920),
    port("PORT CHALMERS", -45.815, 170.620),
    port("BLUFF", -46.610, 168.350),
    port("NEW PLYMOUTH", -39.060, 174.040),
    port("MARSDEN POINT", -35.840, 174.490),
    port("GISBORNE", -38.685, 178.025),
    port("TIMARU", -44.395, 171.260),
    port("MATIATIA", -36.780, 174.990),
    sea("RANGITOTO CHANNEL", -36.780, 174.860), // 14
    sea("JELLICOE CHANNEL", -36.250, 175.050),  // 15
    sea("COLVILLE CHANNEL", -36.420, 175.600),  // 16
    sea("BREAM BAY", -35.950, 174.750),         // 17
    sea("NORTH CAPE", -34.250, 173.100),        // 18
    sea("KAIPARA", -36.400, 173.900),           // 19
    sea("CAPE EGMONT", -39.300, 173.550),       // 20
    sea("STEPHENS ISLAND", -40.600, 174.100),   // 21
    sea("COOK STRAIT", -41.300, 174.550),       // 22
    sea("WELLINGTON HEADS", -41.370, 174.830),  // 23
    sea("TORY CHANNEL", -41.210, 174.330),      // 24
    sea("TASMAN BAY", -41.050, 173.450),        // 25
    sea("CAPE PALLISER", -41.750, 175.300),     // 26
    sea("HAWKE BAY", -39.500, 177.200),         // 27
    sea("EAST CAPE", -37.550, 178.750),         // 28
    sea("BAY OF PLENTY", -37.350, 176.300),     // 29
    sea("KAIKOURA", -42.450, 173.900),          // 30
    sea("BANKS PENINSULA", -43.850, 173.300),   // 31
    sea("OTAGO", -45.800, 170.950),             // 32
    sea("TIMARU OFFSHORE", -44.400, 171.500),   // 33
    sea("SLOPE POINT", -46.800, 169.100),       // 34
];

/// Sea lanes (undirected) between nodes.
const LANES: [(usize, usize); 41] = [
    (0, 14),
    (13, 14),
    (14, 15),
    (14, 16),
    (15, 17),
    (17, 10),
    (17, 18),
    (18, 19),
    (19, 20),
    (20, 9),
    (20, 21),
    (21, 25),
    (25, 5),
    (21, 22),
    (22, 23),
    (23, 2),
    (22, 24),
    (24, 3),
    (23, 26),
    (26, 27),
    (27, 6),
    (27, 28),
    (28, 11),
    (28, 29),
    (29, 1),
    (29, 16),
    (16, 15),
    (22, 30),
    (23, 30),
    (26, 30),
    (30, 31),
    (31, 4),
    (31, 33),
    (33, 12),
    (33, 32),
    (32, 7),
    (32, 34),
    (34, 8),
    (21, 24),
    (25, 24),
    (17, 15),
];

/// Anchorages and fishing grounds inside the Hauraki Gulf (at least 2 nm from its edges).
pub(crate) const HAURAKI_GROUNDS: [LatLon; 4] = [
    LatLon::new(-36.450, 175.100),
    LatLon::new(-36.600, 175.050),
    LatLon::new(-36.700, 175.200),
    LatLon::new(-36.350, 175.150),
];

/// Fishing grounds inside the Cook Strait area.
pub(crate) const COOK_GROUNDS: [LatLon; 3] = [
    LatLon::new(-41.250, 174.550),
    LatLon::new(-41.450, 174.600),
    LatLon::new(-41.350, 174.480),
];

/// Words vessel names are built from.
pub(crate) const NAME_WORDS: [&str; 32] = [
    "AORAKI",
    "KOTUKU",
    "TUI",
    "KEA",
    "MOANA",
    "TAKAHE",
    "RANGI",
    "HINE",
    "KIWI",
    "WAKA",
    "AROHA",
    "TASMAN",
    "PACIFIC",
    "SOUTHERN",
    "ENDEAVOUR",
    "KAHU",
    "MATAI",
    "RIMU",
    "TOTARA",
    "KAURI",
    "PUKEKO",
    "WEKA",
    "PIPI",
    "TAIAROA",
    "HAURAKI",
    "TARANAKI",
    "OTAGO",
    "STAR",
    "SPIRIT",
    "QUEEN",
    "TRADER",
    "PIONEER",
];

/// Shortest sea route (by great-circle distance) between two nodes, as the list of points to
/// sail through, both ends included. Dijkstra over the small chart; deterministic.
pub(crate) fn route(from: usize, to: usize) -> Vec<LatLon> {
    let n = NODES.len();
    let mut dist = vec![f64::INFINITY; n];
    let mut prev = vec![usize::MAX; n];
    let mut done = vec![false; n];
    if from >= n || to >= n {
        return Vec::new();
    }
    dist[from] = 0.0;
    for _ in 0..n {
        let Some(u) = (0..n)
            .filter(|&i| !done[i])
            .min_by(|&a, &b| dist[a].total_cmp(&dist[b]))
        else {
            break;
        };
        if dist[u].is_infinite() {
            break;
        }
        done[u] = true;
        for &(a, b) in &LANES {
            let v = if a == u {
                b
            } else if b == u {
                a
            } else {
                continue;
            };
            let d = dist[u] + distance_nm(NODES[u].at, NODES[v].at);
            if d < dist[v] {
                dist[v] = d;
                prev[v] = u;
            }
        }
    }
    let mut path = vec![to];
    let mut cur = to;
    while cur != from {
        cur = prev[cur];
        if cur == usize::MAX {
            return Vec::new();
        }
        path.push(cur);
    }
    path.reverse();
    path.into_iter().map(|i| NODES[i].at).collect()
}

/// Indexes of the ports traders sail between (every port but the Waiheke ferry terminal).
pub(crate) fn trade_ports() -> impl Iterator<Item = usize> {
    (0..NODES.len()).filter(|&i| NODES[i].port && i != MATIATIA)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_port_reaches_every_other_port() {
        for a in trade_ports() {
            for b in trade_ports() {
                let r = route(a, b);
                assert!(!r.is_empty(), "{} -> {}", NODES[a].name, NODES[b].name);
                assert_eq!(r.first().copied(), Some(NODES[a].at));
                assert_eq!(r.last().copied(), Some(NODES[b].at));
            }
        }
        assert!(route(AUCKLAND, MATIATIA).len() == 3);
        assert!(route(WELLINGTON, PICTON).len() >= 4);
    }
}
