//! Point-in-polygon in (near) constant time: a uniform grid over the polygon's bounding box.
//!
//! Each grid cell is `Inside`, `Outside` or `Boundary`. A cell that no edge's (padded) bounding
//! box touches is uniformly inside or outside, decided once at build time by a ray test from its
//! centre; a point there is answered by one array read. A point in a boundary cell gets an exact
//! even-odd ray test against only the edges of its grid row (edges are bucketed by the rows
//! their latitude span covers), so the cost is bounded by the row's edges, not the polygon's.
//! Even-odd counting makes the result independent of winding order and handles holes.

use super::Polygon;

const OUTSIDE: u8 = 0;
const INSIDE: u8 = 1;
const BOUNDARY: u8 = 2;

/// A grid-indexed polygon (all rings), in its own longitude frame.
#[derive(Debug, Clone)]
pub(crate) struct PolyGrid {
    /// `[min_lon, min_lat, max_lon, max_lat]` of the polygon.
    pub(crate) bbox: [f64; 4],
    nx: usize,
    ny: usize,
    inv_cw: f64,
    inv_ch: f64,
    cells: Vec<u8>,
    row_start: Vec<u32>,
    row_edges: Vec<[f64; 4]>,
}

impl PolyGrid {
    /// Builds the grid; `polygon` must be valid (closed rings, finite coordinates).
    pub(crate) fn new(polygon: &Polygon) -> PolyGrid {
        let mut edges = Vec::new();
        let mut bbox = [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ];
        for ring in &polygon.rings {
            for w in ring.windows(2) {
                let ([x1, y1], [x2, y2]) = (w[0], w[1]);
                bbox = [
                    bbox[0].min(x1),
                    bbox[1].min(y1),
                    bbox[2].max(x1),
                    bbox[3].max(y1),
                ];
                // Horizontal edges never cross a horizontal ray, but they still make boundary cells.
                edges.push([x1, y1, x2, y2]);
            }
        }
        let side = ((edges.len() as f64).sqrt() * 4.0).clamp(4.0, 512.0) as usize;
        let (nx, ny) = (side, side);
        let width = (bbox[2] - bbox[0]).max(1e-9);
        let height = (bbox[3] - bbox[1]).max(1e-9);
        let mut grid = PolyGrid {
            bbox,
            nx,
            ny,
            inv_cw: nx as f64 / width,
            inv_ch: ny as f64 / height,
            cells: vec![OUTSIDE; nx * ny],
            row_start: Vec::new(),
            row_edges: Vec::new(),
        };
        // Bucket edges by row (exact: row_of is monotone, so an edge spanning a point's
        // latitude is always in that point's row).
        let mut per_row: Vec<Vec<[f64; 4]>> = vec![Vec::new(); ny];
        for e in &edges {
            let (r0, r1) = (grid.row_of(e[1].min(e[3])), grid.row_of(e[1].max(e[3])));
            if e[1] != e[3] {
                for row in &mut per_row[r0..=r1] {
                    row.push(*e);
                }
            }
            let (c0, c1) = (grid.col_of(e[0].min(e[2])), grid.col_of(e[0].max(e[2])));
            for r in r0.saturating_sub(1)..=(r1 + 1).min(ny - 1) {
                for c in c0.saturating_sub(1)..=(c1 + 1).min(nx - 1) {
                    grid.cells[r * nx + c] = BOUNDARY;
                }
            }
        }
        grid.row_start.push(0);
        for row in per_row {
            grid.row_edges.extend(row);
            grid.row_start.push(grid.row_edges.len() as u32);
        }
        for r in 0..ny {
            for c in 0..nx {
                if grid.cells[r * nx + c] != BOUNDARY {
                    let cx = bbox[0] + (c as f64 + 0.5) * width / nx as f64;
                    let cy = bbox[1] + (r as f64 + 0.5) * height / ny as f64;
                    grid.cells[r * nx + c] = if grid.ray(cx, cy) { INSIDE } else { OUTSIDE };
                }
            }
        }
        grid
    }

    fn row_of(&self, y: f64) -> usize {
        (((y - self.bbox[1]) * self.inv_ch).max(0.0) as usize).min(self.ny - 1)
    }

    fn col_of(&self, x: f64) -> usize {
        (((x - self.bbox[0]) * self.inv_cw).max(0.0) as usize).min(self.nx - 1)
    }

    /// Even-odd ray test towards +lon against the edges of the point's row.
    fn ray(&self, px: f64, py: f64) -> bool {
        let r = self.row_of(py);
        let edges = &self.row_edges[self.row_start[r] as usize..self.row_start[r + 1] as usize];
        let mut inside = false;
        for &[x1, y1, x2, y2] in edges {
            if (y1 > py) != (y2 > py) && px < x1 + (py - y1) * (x2 - x1) / (y2 - y1) {
                inside = !inside;
            }
        }
        inside
    }

    /// True when `(lon, lat)` is inside, in this polygon's own longitude frame.
    fn contains_in_frame(&self, lon: f64, lat: f64) -> bool {
        if lon < self.bbox[0] || lon > self.bbox[2] || lat < self.bbox[1] || lat > self.bbox[3] {
            return false;
        }
        match self.cells[self.row_of(lat) * self.nx + self.col_of(lon)] {
            INSIDE => true,
            OUTSIDE => false,
            _ => self.ray(lon, lat),
        }
    }

    /// True when `(lon, lat)` (any longitude frame) is inside the polygon.
    pub(crate) fn contains(&self, lon: f64, lat: f64) -> bool {
        self.contains_in_frame(lon, lat)
            || (lon + 360.0 <= self.bbox[2] && self.contains_in_frame(lon + 360.0, lat))
            || (lon - 360.0 >= self.bbox[0] && self.contains_in_frame(lon - 360.0, lat))
    }

    /// Heap bytes held by the grid.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.cells.len() + self.row_start.len() * 4 + self.row_edges.len() * 32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(polygon: &Polygon, px: f64, py: f64) -> bool {
        let mut inside = false;
        for ring in &polygon.rings {
            for w in ring.windows(2) {
                let ([x1, y1], [x2, y2]) = (w[0], w[1]);
                if (y1 > py) != (y2 > py) && px < x1 + (py - y1) * (x2 - x1) / (y2 - y1) {
                    inside = !inside;
                }
            }
        }
        inside
    }

    #[test]
    fn grid_agrees_with_a_plain_ray_test() {
        // A star with a hole, dense enough to have many boundary cells.
        let star: Vec<[f64; 2]> = (0..=200)
            .map(|i| {
                let t = (i % 200) as f64 / 200.0 * std::f64::consts::TAU;
                let r = if i % 2 == 0 { 10.0 } else { 6.0 };
                [r * t.cos(), r * t.sin()]
            })
            .collect();
        let hole = vec![
            [-1.0, -1.0],
            [-1.0, 1.0],
            [1.0, 1.0],
            [1.0, -1.0],
            [-1.0, -1.0],
        ];
        let polygon = Polygon::new(vec![star, hole]);
        let grid = PolyGrid::new(&polygon);
        let mut n_inside = 0;
        for i in 0..200 {
            for j in 0..200 {
                let (x, y) = (-11.0 + i as f64 * 0.1103, -11.0 + j as f64 * 0.1097);
                let want = naive(&polygon, x, y);
                assert_eq!(grid.contains(x, y), want, "at {x},{y}");
                n_inside += usize::from(want);
            }
        }
        assert!(n_inside > 1000);
        assert!(!grid.contains(0.0, 0.0), "the hole is outside");
    }
}
