//! The vessel model: what each simulated vessel does (its plan), where it is at any time, and
//! how often it reports.
//!
//! Every vessel owns its own PRNG seeded from the run's seed and its index, so one vessel's
//! behaviour does not depend on how many others there are.

use super::geo::{LatLon, bearing_deg, destination, distance_nm, intermediate};
use super::scenario::{
    AUCKLAND, COOK_GROUNDS, HAURAKI_GROUNDS, MATIATIA, NAME_WORDS, NODES, PICTON, WELLINGTON,
    route, trade_ports,
};
use crate::rng::SplitMix64;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

/// AIS navigational status codes used by the model.
const STATUS_UNDER_WAY: u8 = 0;
const STATUS_AT_ANCHOR: u8 = 1;
const STATUS_MOORED: u8 = 5;
const STATUS_FISHING: u8 = 7;

/// Transponder class of a simulated vessel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Class A: types 1 and 5.
    A,
    /// Class B: types 18 and 24.
    B,
}

/// What a vessel does with its life.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Plan {
    /// Sails between random trade ports, staying 2–10 h in each.
    Trader,
    /// Shuttles between two ports.
    Ferry { a: usize, b: usize, stay: i64 },
    /// Leaves home for a fishing ground (inside an example area), fishes, sometimes switches
    /// its transponder off for hours there, and returns.
    Fisher {
        home: usize,
        cook_strait: bool,
        dark_chance: f64,
    },
    /// A Class B pleasure boat: day trips from Auckland to Hauraki Gulf anchorages.
    Pleasure,
}

#[derive(Debug, Clone)]
enum Phase {
    Sailing {
        route: Vec<LatLon>,
        leg: usize,
        along_nm: f64,
        speed_kn: f64,
        /// Node index at the end of the route, if a port (for the next departure).
        to_port: Option<usize>,
    },
    Berthed {
        at: LatLon,
        port: Option<usize>,
        until: i64,
        status: u8,
    },
    Fishing {
        center: LatLon,
        heading: f64,
        since: i64,
        until: i64,
    },
}

/// What a vessel sends at one report time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fix {
    pub(crate) lat: f64,
    pub(crate) lon: f64,
    pub(crate) sog: f64,
    pub(crate) cog: f64,
    pub(crate) status: u8,
}

/// One simulated vessel.
#[derive(Debug, Clone)]
pub(crate) struct Vessel {
    pub(crate) mmsi: u32,
    pub(crate) name: String,
    pub(crate) callsign: String,
    pub(crate) imo: u32,
    pub(crate) ship_type: u8,
    /// To bow, stern, port, starboard (m).
    pub(crate) dims: [u16; 4],
    pub(crate) class: Class,
    pub(crate) destination: &'static str,
    plan: Plan,
    phase: Phase,
    /// Time (ms since start) up to which `phase` is advanced.
    clock: i64,
    /// Transponder off in `[from, until)`.
    pub(crate) dark: Option<(i64, i64)>,
    rng: SplitMix64,
}

impl Vessel {
    /// A vessel of the random fleet, number `idx`.
    pub(crate) fn random(seed: u64, idx: usize) -> Vessel {
        let mut rng = SplitMix64::new(seed ^ (idx as u64).wrapping_mul(0xA076_1D64_78BD_642F));
        let roll = rng.next_f64();
        let (plan, class, ship_type) = if roll < 0.45 {
            let ty = [70u8, 71, 79, 80, 82, 60][rng.below(6)];
            (Plan::Trader, Class::A, ty)
        } else if roll < 0.55 {
            let plan = if rng.chance(0.5) {
                Plan::Ferry {
                    a: AUCKLAND,
                    b: MATIATIA,
                    stay: 20 * MINUTE,
                }
            } else {
                Plan::Ferry {
                    a: WELLINGTON,
                    b: PICTON,
                    stay: 60 * MINUTE,
                }
            };
            (plan, Class::A, 60)
        } else if roll < 0.75 {
            (
                Plan::Pleasure,
                Class::B,
                if rng.chance(0.5) { 36 } else { 37 },
            )
        } else {
            let cook = rng.chance(0.4);
            let home = if cook { WELLINGTON } else { AUCKLAND };
            let class = if rng.chance(0.6) { Class::A } else { Class::B };
            (
                Plan::Fisher {
                    home,
                    cook_strait: cook,
                    dark_chance: 0.35,
                },
                class,
                30,
            )
        };
        let mut v = Vessel::blank(idx, class, ship_type, plan, &mut rng);
        v.rng = rng;
        // Half the fleet starts part-way along a voyage, half berthed.
        let start_port = v.home_port();
        if v.rng.chance(0.5) {
            v.depart_from(start_port, 0);
            if let Phase::Sailing {
                route,
                leg,
                along_nm,
                ..
            } = &mut v.phase
            {
                let total: f64 = route.windows(2).map(|w| distance_nm(w[0], w[1])).sum();
                let mut skip = total * v.rng.range_f64(0.0, 0.8);
                while *leg + 2 < route.len() {
                    let d = distance_nm(route[*leg], route[*leg + 1]);
                    if skip < d {
                        break;
                    }
                    skip -= d;
                    *leg += 1;
                }
                *along_nm = skip.min(distance_nm(route[*leg], route[*leg + 1]));
            }
        } else {
            let until = v.rng.range_f64(0.0, 3.0 * HOUR as f64) as i64;
            v.phase = Phase::Berthed {
                at: NODES[start_port].at,
                port: Some(start_port),
                until,
                status: STATUS_MOORED,
            };
        }
        v
    }

    /// The scripted vessels every `nz` run starts with, so a demo sees each event kind within
    /// minutes of simulated time (see the module docs of `simulate`).
    pub(crate) fn scripted(seed: u64, which: usize) -> Option<Vessel> {
        let mut rng = SplitMix64::new(seed ^ 0x5EED_0000 ^ which as u64);
        let mut v = match which {
            // Enters the Hauraki Gulf about 2 min in: starts 0.6 nm (along its track) west of its edge.
            0 => {
                let mut v = Vessel::blank(
                    0,
                    Class::A,
                    60,
                    Plan::Ferry {
                        a: AUCKLAND,
                        b: MATIATIA,
                        stay: 20 * MINUTE,
                    },
                    &mut rng,
                );
                v.phase = Phase::Sailing {
                    route: vec![
                        LatLon::new(-36.800, 174.830),
                        NODES[14].at,
                        NODES[MATIATIA].at,
                    ],
                    leg: 0,
                    along_nm: 0.0,
                    speed_kn: 18.0,
                    to_port: Some(MATIATIA),
                };
                v.name = "WAIHEKE FLYER".into();
                v
            }
            // Exits Cook Strait about 3 min in: starts 0.8 nm inside its eastern edge.
            1 => {
                let mut v = Vessel::blank(
                    1,
                    Class::A,
                    60,
                    Plan::Ferry {
                        a: WELLINGTON,
                        b: PICTON,
                        stay: 60 * MINUTE,
                    },
                    &mut rng,
                );
                v.phase = Phase::Sailing {
                    route: vec![
                        LatLon::new(-41.330, 174.715),
                        NODES[23].at,
                        NODES[WELLINGTON].at,
                    ],
                    leg: 0,
                    along_nm: 0.0,
                    speed_kn: 17.0,
                    to_port: Some(WELLINGTON),
                };
                v.name = "STRAIT RUNNER".into();
                v
            }
            // Fishes inside the Hauraki Gulf, goes dark 5 min in for 2 h, reappears in place.
            2 => {
                let mut v = Vessel::blank(
                    2,
                    Class::A,
                    30,
                    Plan::Fisher {
                        home: AUCKLAND,
                        cook_strait: false,
                        dark_chance: 0.35,
                    },
                    &mut rng,
                );
                v.phase = Phase::Fishing {
                    center: HAURAKI_GROUNDS[0],
                    heading: 45.0,
                    since: 0,
                    until: 3 * HOUR,
                };
                v.dark = Some((5 * MINUTE, 5 * MINUTE + 2 * HOUR));
                v.name = "MOANA ROA".into();
                v
            }
            _ => return None,
        };
        v.mmsi = 512_900_001 + which as u32;
        v.rng = rng;
        Some(v)
    }

    fn blank(idx: usize, class: Class, ship_type: u8, plan: Plan, rng: &mut SplitMix64) -> Vessel {
        let w1 = NAME_WORDS[rng.below(NAME_WORDS.len())];
        let w2 = NAME_WORDS[rng.below(NAME_WORDS.len())];
        let name = if w1 == w2 {
            w1.to_owned()
        } else {
            format!("{w1} {w2}")
        };
        let (len, beam) = match (class, plan) {
            (Class::B, _) => (rng.range_f64(8.0, 18.0), rng.range_f64(3.0, 5.0)),
            (_, Plan::Fisher { .. }) => (rng.range_f64(15.0, 40.0), rng.range_f64(5.0, 9.0)),
            (_, Plan::Ferry { .. }) => (rng.range_f64(35.0, 185.0), rng.range_f64(10.0, 28.0)),
            _ => (rng.range_f64(90.0, 300.0), rng.range_f64(15.0, 45.0)),
        };
        let bow = (len * 0.7) as u16;
        let port = (beam / 2.0) as u16;
        let callsign = format!("ZM{}{:02}", (b'A' + rng.below(26) as u8) as char, idx % 100);
        Vessel {
            mmsi: 512_000_000 + 1000 + idx as u32,
            name: name.chars().take(20).collect(),
            callsign,
            imo: if class == Class::A {
                9_000_000 + (idx as u32 % 999_999)
            } else {
                0
            },
            ship_type,
            dims: [bow, len as u16 - bow, port, beam as u16 - port],
            class,
            destination: "",
            plan,
            phase: Phase::Berthed {
                at: NODES[AUCKLAND].at,
                port: Some(AUCKLAND),
                until: 0,
                status: STATUS_MOORED,
            },
            clock: 0,
            dark: None,
            rng: SplitMix64::new(0),
        }
    }

    fn home_port(&mut self) -> usize {
        match self.plan {
            Plan::Trader => {
                let ports: Vec<usize> = trade_ports().collect();
                ports[self.rng.below(ports.len())]
            }
            Plan::Ferry { a, b, .. } => {
                if self.rng.chance(0.5) {
                    a
                } else {
                    b
                }
            }
            Plan::Fisher { home, .. } => home,
            Plan::Pleasure => AUCKLAND,
        }
    }

    /// Starts the next voyage from `port` (or from `here` when not at a port) at time `at`.
    fn depart_from(&mut self, port: usize, at: i64) {
        let here = NODES[port].at;
        let (route_pts, to_port, speed) = match self.plan {
            Plan::Trader => {
                let ports: Vec<usize> = trade_ports().filter(|&p| p != port).collect();
                let to = ports[self.rng.below(ports.len())];
                (route(port, to), Some(to), self.rng.range_f64(10.0, 18.0))
            }
            Plan::Ferry { a, b, .. } => {
                let to = if port == a { b } else { a };
                (route(port, to), Some(to), self.rng.range_f64(15.0, 20.0))
            }
            Plan::Fisher { cook_strait, .. } => {
                let grounds: &[LatLon] = if cook_strait {
                    &COOK_GROUNDS
                } else {
                    &HAURAKI_GROUNDS
                };
                let ground = grounds[self.rng.below(grounds.len())];
                let mut pts = route(port, if cook_strait { 22 } else { 14 });
                pts.push(ground);
                (pts, None, self.rng.range_f64(8.0, 11.0))
            }
            Plan::Pleasure => {
                let ground = HAURAKI_GROUNDS[self.rng.below(HAURAKI_GROUNDS.len())];
                let mut pts = route(port, 14);
                pts.push(ground);
                (pts, None, self.rng.range_f64(5.0, 9.0))
            }
        };
        self.destination = to_port.map_or("FISHING GROUNDS", |p| NODES[p].name);
        let route_pts = if route_pts.len() < 2 {
            vec![here, here]
        } else {
            route_pts
        };
        self.phase = Phase::Sailing {
            route: route_pts,
            leg: 0,
            along_nm: 0.0,
            speed_kn: speed,
            to_port,
        };
        self.clock = at;
    }

    /// Sails home from a ground (fishers, pleasure boats).
    fn return_home(&mut self, from: LatLon, at: i64) {
        let (home, via) = match self.plan {
            Plan::Fisher {
                home,
                cook_strait: true,
                ..
            } => (home, 22),
            Plan::Fisher { home, .. } => (home, 14),
            _ => (AUCKLAND, 14),
        };
        let mut pts = vec![from];
        pts.extend(route(via, home));
        let speed = self.rng.range_f64(7.0, 10.0);
        self.destination = NODES[home].name;
        self.phase = Phase::Sailing {
            route: pts,
            leg: 0,
            along_nm: 0.0,
            speed_kn: speed,
            to_port: Some(home),
        };
        self.clock = at;
    }

    /// Arrives at the end of the current route at time `at`.
    fn arrive(&mut self, at_point: LatLon, to_port: Option<usize>, at: i64) {
        match (to_port, self.plan) {
            (Some(port), plan) => {
                let stay = match plan {
                    Plan::Ferry { stay, .. } => stay,
                    Plan::Trader => self.rng.range_f64(2.0, 10.0) as i64 * HOUR,
                    _ => self.rng.range_f64(4.0, 14.0) as i64 * HOUR,
                };
                self.phase = Phase::Berthed {
                    at: NODES[port].at,
                    port: Some(port),
                    until: at + stay,
                    status: STATUS_MOORED,
                };
            }
            (None, Plan::Fisher { dark_chance, .. }) => {
                let mut until = at + (self.rng.range_f64(2.0, 6.0) * HOUR as f64) as i64;
                if self.rng.chance(dark_chance) {
                    let from = at + (self.rng.range_f64(10.0, 30.0) * MINUTE as f64) as i64;
                    let to = from + (self.rng.range_f64(1.0, 5.0) * HOUR as f64) as i64;
                    self.dark = Some((from, to));
                    until = until.max(to + 30 * MINUTE);
                }
                let heading = self.rng.range_f64(0.0, 180.0);
                self.phase = Phase::Fishing {
                    center: at_point,
                    heading,
                    since: at,
                    until,
                };
            }
            (None, _) => {
                let until = at + (self.rng.range_f64(1.0, 4.0) * HOUR as f64) as i64;
                self.phase = Phase::Berthed {
                    at: at_point,
                    port: None,
                    until,
                    status: STATUS_AT_ANCHOR,
                };
            }
        }
        self.clock = at;
    }

    /// Advances the vessel's state to time `t` (ms since start).
    pub(crate) fn advance(&mut self, t: i64) {
        // Each pass either reaches `t` or completes a leg, stay or fishing trip; the cap only
        // guards against a zero-length loop in the chart.
        for _ in 0..10_000 {
            if self.clock >= t {
                return;
            }
            match &mut self.phase {
                Phase::Sailing {
                    route,
                    leg,
                    along_nm,
                    speed_kn,
                    to_port,
                } => {
                    let (a, b) = (route[*leg], route[*leg + 1]);
                    let leg_nm = distance_nm(a, b);
                    let left_ms = ((leg_nm - *along_nm).max(0.0) / *speed_kn * HOUR as f64) as i64;
                    if self.clock + left_ms <= t {
                        let reached = self.clock + left_ms;
                        *leg += 1;
                        *along_nm = 0.0;
                        if *leg + 1 >= route.len() {
                            let (end, to_port) = (b, *to_port);
                            self.arrive(end, to_port, reached);
                        } else {
                            self.clock = reached;
                        }
                    } else {
                        *along_nm += *speed_kn * (t - self.clock) as f64 / HOUR as f64;
                        self.clock = t;
                    }
                }
                Phase::Berthed {
                    at, port, until, ..
                } => {
                    if *until <= t {
                        let (from, port, until) = (*at, *port, *until);
                        match port {
                            Some(p) => self.depart_from(p, until),
                            None => self.return_home(from, until),
                        }
                    } else {
                        self.clock = t;
                    }
                }
                Phase::Fishing { until, .. } => {
                    if *until <= t {
                        let until = *until;
                        let here = self.fix_at(until);
                        self.return_home(LatLon::new(here.lat, here.lon), until);
                    } else {
                        self.clock = t;
                    }
                }
            }
        }
    }

    /// Where the vessel is at `t`, which must be its current clock for sailing vessels.
    fn fix_at(&self, t: i64) -> Fix {
        match &self.phase {
            Phase::Sailing {
                route,
                leg,
                along_nm,
                speed_kn,
                ..
            } => {
                let (a, b) = (route[*leg], route[*leg + 1]);
                let leg_nm = distance_nm(a, b);
                let f = if leg_nm > 0.0 {
                    (*along_nm / leg_nm).min(1.0)
                } else {
                    1.0
                };
                let p = intermediate(a, b, f);
                Fix {
                    lat: p.lat,
                    lon: p.lon,
                    sog: *speed_kn,
                    cog: bearing_deg(p, b),
                    status: STATUS_UNDER_WAY,
                }
            }
            Phase::Berthed { at, status, .. } => Fix {
                lat: at.lat,
                lon: at.lon,
                sog: 0.0,
                cog: 0.0,
                status: *status,
            },
            Phase::Fishing {
                center,
                heading,
                since,
                ..
            } => {
                // Trawls back and forth through the centre at 2.5 kn, turning every 30 min.
                let minutes = (t - since) as f64 / MINUTE as f64;
                let phase = (minutes / 30.0).rem_euclid(2.0);
                let tri = if phase < 1.0 { phase } else { 2.0 - phase };
                let offset = (tri - 0.5) * 1.25;
                let p = destination(*center, *heading, offset);
                let cog = if phase < 1.0 {
                    *heading
                } else {
                    (*heading + 180.0).rem_euclid(360.0)
                };
                Fix {
                    lat: p.lat,
                    lon: p.lon,
                    sog: 2.5,
                    cog,
                    status: STATUS_FISHING,
                }
            }
        }
    }

    /// The vessel's fix now (after [`Vessel::advance`]).
    pub(crate) fn fix(&self) -> Fix {
        self.fix_at(self.clock)
    }

    /// True when the transponder is off at `t`.
    pub(crate) fn is_dark(&self, t: i64) -> bool {
        self.dark
            .is_some_and(|(from, until)| (from..until).contains(&t))
    }

    /// Milliseconds to the next position report, by class, speed and status (ITU-R M.1371).
    pub(crate) fn report_interval_ms(&self) -> i64 {
        let moving = !matches!(self.phase, Phase::Berthed { .. });
        match (self.class, moving) {
            (_, false) => 180_000,
            (Class::B, true) => 30_000,
            (Class::A, true) => {
                let sog = self.fix().sog;
                if sog > 23.0 {
                    2_000
                } else if sog > 14.0 {
                    6_000
                } else {
                    10_000
                }
            }
        }
    }

    /// A first-report offset in `[0, max)`, so vessels do not all report on the same tick.
    pub(crate) fn offset_ms(&mut self, max: i64) -> i64 {
        (self.rng.next_f64() * max as f64) as i64
    }
}
