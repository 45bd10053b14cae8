//! Randomly corrupted real lines (flipped bytes, truncations, bogus fragment headers, splices)
//! must never panic, and the decoder must keep decoding good lines afterwards.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::common;

fn real_lines() -> Option<Vec<Vec<u8>>> {
    let files = common::ais_files("LOOKOUT_REQUIRE_DATA")?;
    let mut lines = Vec::new();
    for f in files {
        let data = std::fs::read(f).unwrap();
        lines.extend(
            data.split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec),
        );
    }
    Some(lines)
}

#[derive(Debug, Clone)]
enum Corruption {
    Flip { at: usize, byte: u8 },
    Truncate { at: usize },
    Fragment { count: u8, number: u8, seq: u8 },
    Splice { other: usize, at: usize },
    Duplicate,
}

fn corruption() -> impl Strategy<Value = Corruption> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Corruption::Flip { at, byte }),
        any::<usize>().prop_map(|at| Corruption::Truncate { at }),
        (b'0'..=b'9', b'0'..=b'9', b'0'..=b'9')
            .prop_map(|(count, number, seq)| Corruption::Fragment { count, number, seq }),
        (any::<usize>(), any::<usize>()).prop_map(|(other, at)| Corruption::Splice { other, at }),
        Just(Corruption::Duplicate),
    ]
}

fn apply(lines: &[Vec<u8>], idx: usize, c: &Corruption) -> Vec<Vec<u8>> {
    let mut line = lines[idx % lines.len()].clone();
    match c {
        Corruption::Flip { at, byte } => {
            let n = line.len();
            if n > 0 {
                line[at % n] ^= byte | 1;
            }
            vec![line]
        }
        Corruption::Truncate { at } => {
            line.truncate(at % (line.len() + 1));
            vec![line]
        }
        Corruption::Fragment { count, number, seq } => {
            // Rewrite the fragment header fields of an AIS sentence (the checksum then fails, so
            // also fix it up to reach the reassembly code).
            let text = String::from_utf8_lossy(&line).to_string();
            if let Some(start) = text.find('!') {
                let mut fields: Vec<String> = text[start..].split(',').map(str::to_owned).collect();
                if fields.len() >= 7 {
                    fields[1] = char::from(*count).to_string();
                    fields[2] = char::from(*number).to_string();
                    fields[3] = char::from(*seq).to_string();
                    let joined = fields.join(",");
                    if let Some((body, _)) = joined.split_once('*') {
                        let cs = body[1..].bytes().fold(0u8, |a, b| a ^ b);
                        line = format!("{}{body}*{cs:02X}", &text[..start]).into_bytes();
                    }
                }
            }
            vec![line]
        }
        Corruption::Splice { other, at } => {
            let other = &lines[other % lines.len()];
            let cut = at % (line.len() + 1);
            line.truncate(cut);
            line.extend_from_slice(&other[cut.min(other.len())..]);
            vec![line]
        }
        Corruption::Duplicate => vec![line.clone(), line],
    }
}

#[test]
fn corrupted_real_lines_never_panic() {
    let Some(lines) = real_lines() else { return };
    let mut runner = TestRunner::new(Config {
        cases: 2000,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = proptest::collection::vec((any::<usize>(), corruption()), 1..40);
    runner
        .run(&strategy, |edits| {
            let mut decoder =
                ais::Decoder::with_config(ais::DecoderConfig::default().max_pending(4));
            for (idx, c) in &edits {
                for line in apply(&lines, *idx, c) {
                    let _ = decoder.decode_line(&line);
                    for item in decoder.feed(&line) {
                        drop(item);
                    }
                    let _ = decoder.finish();
                }
            }
            prop_assert!(decoder.pending() <= 4);
            // A good line still decodes after any garbage.
            let (_, msg) = decoder
                .decode_line(b"!AIVDM,1,1,,A,15M67FC000G?ufbE`FepT@3n00Sa,0*5F")
                .unwrap();
            prop_assert!(msg.is_ok());
            Ok(())
        })
        .unwrap();
}

#[test]
fn every_single_byte_truncation_of_every_line_is_safe() {
    let Some(lines) = real_lines() else { return };
    let mut decoder = ais::Decoder::new();
    for line in lines.iter().step_by(7) {
        for cut in 0..=line.len() {
            let _ = decoder.decode_line(&line[..cut]);
        }
    }
    assert!(decoder.stats().lines > 1000);
}
