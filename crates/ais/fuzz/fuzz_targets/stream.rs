//! Arbitrary bytes through the whole decoder: chunked feeding, line decoding, JSON writing.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First byte picks the chunk size, so chunk-boundary handling is exercised too.
    let (chunk, rest) = match data.split_first() {
        Some((c, rest)) => (usize::from(*c % 64) + 1, rest),
        None => return,
    };
    let mut decoder = ais::Decoder::with_config(
        ais::DecoderConfig::default()
            .max_pending(3)
            .max_fragment_age_sentences(8),
    );
    let mut json = String::new();
    for c in rest.chunks(chunk) {
        for (meta, res) in decoder.feed(c) {
            json.clear();
            match res {
                Ok(msg) => {
                    let _ = ais::gpsd_json::write_message(&mut json, &msg);
                }
                Err(e) => {
                    let _ = ais::gpsd_json::write_error(&mut json, &meta, &e);
                }
            }
        }
    }
    let _ = decoder.finish();
    assert!(decoder.pending() <= 3);
    for line in rest.split(|b| *b == b'\n') {
        let _ = decoder.decode_line(line);
    }
});
