//! Lines with their NMEA checksum fixed up, so the fuzzer reaches fragment reassembly and payload
//! decoding instead of stopping at checksum verification. Decoded messages of encodable types are
//! re-encoded and must decode to the same JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;

fn fix_checksum(line: &[u8]) -> Vec<u8> {
    let start = line
        .iter()
        .position(|b| *b == b'!' || *b == b'$')
        .unwrap_or(0);
    let end = line
        .iter()
        .skip(start)
        .position(|b| *b == b'*')
        .map_or(line.len(), |p| p + start);
    let body = &line[start.saturating_add(1).min(end)..end];
    let cs = body.iter().fold(0u8, |a, b| a ^ b);
    let mut out = line[..end].to_vec();
    out.extend_from_slice(format!("*{cs:02X}").as_bytes());
    out
}

fuzz_target!(|data: &[u8]| {
    let mut decoder = ais::Decoder::with_config(ais::DecoderConfig::default().max_pending(4));
    for line in data.split(|b| *b == b'\n') {
        let fixed = fix_checksum(line);
        if let Some((_, Ok(msg))) = decoder.decode_line(&fixed) {
            let json = ais::gpsd_json::to_string(&msg);
            if let Ok(lines) = ais::encode::encode(&msg, &ais::encode::EncodeOptions::default()) {
                let mut again = ais::Decoder::new();
                let mut got = None;
                for l in &lines {
                    if let Some(item) = again.decode_line(l.as_bytes()) {
                        got = Some(item);
                    }
                }
                let (_, res) = got.expect("re-encoded message decodes");
                let back = res.expect("re-encoded message is valid");
                assert_eq!(ais::gpsd_json::to_string(&back), json, "{lines:?}");
            }
        }
    }
});
