//! Differential conformance against gpsd's `gpsdecode -s -j` on every shared AIS file, field by field.
//!
//! Each class of disagreement that is expected has a named reason below (and in the crate README);
//! anything else fails the test.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Map, Value};

use super::common;

/// Why our decoding may differ from gpsd's for one field or message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    /// gpsd prints the "not available" sentinel (lat 91, heading 511, ...); we omit the field.
    SentinelOmitted,
    /// gpsd prints out-of-range coordinates as decoded; we map them to "not available".
    OutOfRangeCoordinate,
    /// gpsd prints type 24B vendor id as 7 characters (ITU-R M.1371-3); we decode the 3-character
    /// vendor id of M.1371-4/5 and its model/serial fields.
    VendorIdLayout,
    /// gpsd 3.22 prints the rate of turn as `(ROT/4.733)²` and so loses its sign; we keep it.
    TurnSign,
    /// gpsd rejects this message of a type we do not decode (its type-specific length check);
    /// we report it as `Unsupported` with its type and MMSI.
    UnsupportedTypeGpsdRejects,
    /// gpsd's packet lexer, after a line with a bad checksum (here `$PGHP` lines), loses the next
    /// sentence; we skip only the bad line.
    GpsdResyncAfterBadChecksum,
    /// The file's last line has no line terminator: gpsd never completes that packet, we decode it.
    NoFinalNewline,
    /// Type 1-3 payload of 163-167 bits (gpsd accepts ≥ 163): the radio field is cut short; gpsd
    /// right-aligns the bits present, we read them in place with the missing low bits as zero.
    TruncatedRadio,
    /// With `-s`, gpsd also emits a merged part A+B record (no `part` field) when it has both
    /// parts cached; we emit parts only. Skipped.
    Type24Merged,
    /// gpsd 3.22's packet lexer knows only some AIS talkers (AI, AB, AD, AN, AR, AS, AT, AX, BS,
    /// SA) and discards sentences from others such as `!BYVDM`; we accept any two characters.
    GpsdUnknownTalker,
}

/// Talkers gpsd 3.22's lexer accepts for `!xxVDM`.
const GPSD_TALKERS: [&str; 10] = ["AI", "AB", "AD", "AN", "AR", "AS", "AT", "AX", "BS", "SA"];

struct Report {
    messages_compared: usize,
    fields_compared: usize,
    explained: BTreeMap<Class, usize>,
    unexplained: Vec<String>,
}

fn gpsd_available() -> bool {
    Command::new("gpsdecode")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn run_gpsdecode(input: &[u8]) -> Vec<Map<String, Value>> {
    let mut child = Command::new("gpsdecode")
        .args(["-s", "-j"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn gpsdecode");
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("gpsdecode output");
    writer.join().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| match v {
            Value::Object(m) if m.get("class") == Some(&Value::from("AIS")) => Some(m),
            _ => None,
        })
        .collect()
}

struct File<'a> {
    name: &'a str,
    lines: Vec<&'a str>,
    ends_with_newline: bool,
}

/// One message we decoded.
struct Ours {
    first_line: u64,
    line: u64,
    talker: String,
    json: Map<String, Value>,
}

/// Our messages with their JSON as gpsd-style objects.
fn ours(input: &[u8]) -> Vec<Ours> {
    let mut decoder = ais::Decoder::new();
    let mut out = Vec::new();
    let mut push = |(meta, res): ais::Item| {
        if let Ok(msg) = res {
            let json = ais::gpsd_json::to_string(&msg);
            match serde_json::from_str::<Value>(&json) {
                Ok(Value::Object(json)) => out.push(Ours {
                    first_line: meta.first_line,
                    line: meta.line,
                    talker: meta.talker_str().to_owned(),
                    json,
                }),
                other => panic!("our JSON does not parse: {json} -> {other:?}"),
            }
        }
    };
    for item in decoder.feed(input) {
        push(item);
    }
    if let Some(item) = decoder.finish() {
        push(item);
    }
    out
}

fn key(m: &Map<String, Value>) -> (u64, u64) {
    (
        m.get("type").and_then(Value::as_u64).unwrap_or(999),
        m.get("mmsi").and_then(Value::as_u64).unwrap_or(0),
    )
}

/// Float tolerance per field: half a unit of the coarser printed resolution.
fn tolerance(msg_type: u64, field: &str) -> f64 {
    match field {
        // gpsd prints type 27 positions with one decimal; we print six.
        "lat" | "lon" if msg_type == 27 => 0.051,
        // Both print six decimals of 1/600000-degree values.
        "lat" | "lon" => 0.000_001_5,
        // Rate of turn, speed, course, draught: printed with 0 or 1 decimal from the same integer.
        _ => 0.051,
    }
}

/// Is gpsd's value the "not available" sentinel (or an out-of-range value) for this field?
fn sentinel(msg_type: u64, field: &str, v: &Value) -> Option<Class> {
    let f = v.as_f64()?;
    let s = match (msg_type, field) {
        (27, "speed") => f >= 63.0,
        (27, "course") => f >= 360.0,
        (_, "speed") => f >= 102.25,
        (_, "course") => f >= 360.0,
        (_, "heading") => f >= 360.0,
        (_, "second") => f >= 60.0,
        (_, "lat") if f.abs() > 90.0 => {
            return Some(if (f - 91.0).abs() < 1e-6 {
                Class::SentinelOmitted
            } else {
                Class::OutOfRangeCoordinate
            });
        }
        (_, "lon") if f.abs() > 180.0 => {
            return Some(if (f - 181.0).abs() < 1e-6 {
                Class::SentinelOmitted
            } else {
                Class::OutOfRangeCoordinate
            });
        }
        _ => false,
    };
    s.then_some(Class::SentinelOmitted)
}

fn compare(file: &str, line: u64, g: &Map<String, Value>, o: &Map<String, Value>, r: &mut Report) {
    let msg_type = key(g).0;
    r.messages_compared += 1;
    for (field, gv) in g {
        if matches!(field.as_str(), "class" | "device" | "scaled") || field.ends_with("_text") {
            continue;
        }
        let Some(ov) = o.get(field) else {
            if let Some(class) = sentinel(msg_type, field, gv) {
                *r.explained.entry(class).or_default() += 1;
            }
            // Fields gpsd decodes and we do not (types we leave Unsupported, reserved bits) are not compared.
            continue;
        };
        r.fields_compared += 1;
        let same = match (gv, ov) {
            (Value::Number(a), Value::Number(b)) => {
                let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
                (a - b).abs() <= tolerance(msg_type, field)
            }
            (a, b) => a == b,
        };
        if same {
            continue;
        }
        if field == "turn"
            && let (Some(a), Some(b)) = (gv.as_f64(), ov.as_f64())
            && (a + b).abs() <= 0.5
        {
            *r.explained.entry(Class::TurnSign).or_default() += 1;
            continue;
        }
        if field == "radio"
            && let (Some(a), Some(b)) = (gv.as_u64(), ov.as_u64())
            && (1..=5).any(|k| b >> k == a)
        {
            *r.explained.entry(Class::TruncatedRadio).or_default() += 1;
            continue;
        }
        if msg_type == 24 && field == "vendorid" {
            let (gs, os) = (gv.as_str().unwrap_or(""), ov.as_str().unwrap_or(""));
            if gs.starts_with(os) {
                *r.explained.entry(Class::VendorIdLayout).or_default() += 1;
                continue;
            }
        }
        if msg_type == 24
            && matches!(field.as_str(), "model" | "serial")
            && g.contains_key("vendorid")
        {
            *r.explained.entry(Class::VendorIdLayout).or_default() += 1;
            continue;
        }
        r.unexplained.push(format!(
            "{file}:{line}: type {msg_type} field {field}: gpsd {gv} ours {ov}"
        ));
    }
    for field in o.keys() {
        if !g.contains_key(field) {
            r.unexplained.push(format!(
                "{file}:{line}: type {msg_type}: we print {field:?}, gpsd does not"
            ));
        }
    }
}

/// True when `line` is an NMEA sentence whose checksum does not match.
fn bad_checksum(line: &str) -> bool {
    let line = line.trim_end();
    let Some(body) = line.strip_prefix('$').or_else(|| line.strip_prefix('!')) else {
        return false;
    };
    let Some((body, cs)) = body.split_once('*') else {
        return false;
    };
    let computed = body.bytes().fold(0u8, |a, b| a ^ b);
    u8::from_str_radix(cs.get(..2).unwrap_or(""), 16).is_ok_and(|cs| cs != computed)
}

/// A message we decode and gpsd does not.
fn only_ours(file: &File<'_>, ours: &Ours, r: &mut Report) {
    let (first_line, line, o) = (ours.first_line, ours.line, &ours.json);
    let (msg_type, _) = key(o);
    let decoded_type = matches!(msg_type, 1..=5 | 18 | 19 | 21 | 24 | 27);
    if !decoded_type {
        *r.explained
            .entry(Class::UnsupportedTypeGpsdRejects)
            .or_default() += 1;
        return;
    }
    if !GPSD_TALKERS.contains(&ours.talker.as_str()) {
        *r.explained.entry(Class::GpsdUnknownTalker).or_default() += 1;
        return;
    }
    let prev = usize::try_from(first_line)
        .unwrap()
        .checked_sub(2)
        .and_then(|i| file.lines.get(i));
    if prev.is_some_and(|l: &&str| bad_checksum(l)) {
        *r.explained
            .entry(Class::GpsdResyncAfterBadChecksum)
            .or_default() += 1;
        return;
    }
    if line as usize == file.lines.len() && !file.ends_with_newline {
        *r.explained.entry(Class::NoFinalNewline).or_default() += 1;
        return;
    }
    let file = file.name;
    r.unexplained
        .push(format!("{file}:{line}: we decode {o:?}, gpsd does not"));
}

#[test]
fn matches_gpsdecode_field_by_field() {
    let require = std::env::var("LOOKOUT_REQUIRE_CONFORMANCE").is_ok_and(|v| v == "1");
    let Some(files) = common::ais_files("LOOKOUT_REQUIRE_CONFORMANCE") else {
        return;
    };
    if !gpsd_available() {
        assert!(
            !require,
            "gpsdecode not found but LOOKOUT_REQUIRE_CONFORMANCE=1 (apt-get install gpsd-clients)"
        );
        eprintln!("SKIP: gpsdecode not installed (Debian package gpsd-clients)");
        return;
    }
    let mut r = Report {
        messages_compared: 0,
        fields_compared: 0,
        explained: BTreeMap::new(),
        unexplained: Vec::new(),
    };
    for path in &files {
        let input = std::fs::read(path).unwrap();
        let name = path
            .strip_prefix(common::data_dir())
            .unwrap_or(path)
            .display()
            .to_string();
        let gpsd = run_gpsdecode(&input);
        let ours = ours(&input);
        let mut j = 0;
        let text = String::from_utf8_lossy(&input);
        let file = File {
            name: &name,
            lines: text.lines().collect(),
            ends_with_newline: input.ends_with(b"\n"),
        };
        let mut last_merged: Option<u64> = None;
        for g in &gpsd {
            let mut g = g.clone();
            if key(&g).0 == 24 {
                if !g.contains_key("part") {
                    // Merged A+B record: compare it as part B.
                    *r.explained.entry(Class::Type24Merged).or_default() += 1;
                    g.remove("shipname");
                    g.insert("part".into(), "B".into());
                    last_merged = Some(key(&g).1);
                } else if g.get("part") == Some(&Value::from("B")) && last_merged == Some(key(&g).1)
                {
                    // gpsd repeats part B after the merged record.
                    last_merged = None;
                    continue;
                } else {
                    last_merged = None;
                }
            } else {
                last_merged = None;
            }
            let g = &g;
            // Align by (type, mmsi), allowing messages only one side decodes.
            let found = (j..ours.len().min(j + 20)).find(|k| key(&ours[*k].json) == key(g));
            match found {
                Some(k) => {
                    for o in &ours[j..k] {
                        only_ours(&file, o, &mut r);
                    }
                    compare(&name, ours[k].line, g, &ours[k].json, &mut r);
                    j = k + 1;
                }
                None => r
                    .unexplained
                    .push(format!("{name}: gpsd decodes {g:?}, we do not")),
            }
        }
        for o in &ours[j..] {
            only_ours(&file, o, &mut r);
        }
    }
    eprintln!(
        "conformance: {} files, {} messages, {} fields compared; explained: {:?}; unexplained: {}",
        files.len(),
        r.messages_compared,
        r.fields_compared,
        r.explained,
        r.unexplained.len()
    );
    for u in r
        .unexplained
        .iter()
        .take(if std::env::var_os("AIS_CONFORMANCE_ALL").is_some() {
            usize::MAX
        } else {
            60
        })
    {
        eprintln!("  {u}");
    }
    assert!(
        r.unexplained.is_empty(),
        "{} unexplained disagreements with gpsd",
        r.unexplained.len()
    );
    assert!(
        r.messages_compared > 5_000,
        "too few messages compared: {}",
        r.messages_compared
    );
}
