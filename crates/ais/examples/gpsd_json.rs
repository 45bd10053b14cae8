//! Decodes an AIS file (or stdin) to gpsd-style JSON lines on stdout; errors and the summary go to
//! stderr as JSON. A reference for `lookout decode` and for whole-process timing.
//!
//! Run: `cargo run --release -p ais --example gpsd_json -- FILE`
use std::io::{self, BufRead, BufReader, BufWriter, Write};

fn main() -> io::Result<()> {
    let input: Box<dyn BufRead> = match std::env::args().nth(1).as_deref() {
        None | Some("-") => Box::new(BufReader::new(io::stdin().lock())),
        Some(path) => Box::new(BufReader::new(std::fs::File::open(path)?)),
    };
    let mut out = BufWriter::new(io::stdout().lock());
    let mut err = BufWriter::new(io::stderr().lock());
    let mut buf = String::with_capacity(512);
    let mut lines = ais::read::Lines::new(input, ais::Decoder::new());
    for item in lines.by_ref() {
        let (meta, result) = item?;
        buf.clear();
        match result {
            Ok(msg) => {
                let _ = ais::gpsd_json::write_message(&mut buf, &msg);
                buf.push('\n');
                out.write_all(buf.as_bytes())?;
            }
            Err(e) => {
                let _ = ais::gpsd_json::write_error(&mut buf, &meta, &e);
                buf.push('\n');
                err.write_all(buf.as_bytes())?;
            }
        }
    }
    buf.clear();
    let _ = ais::gpsd_json::write_summary(&mut buf, lines.decoder().stats());
    buf.push('\n');
    err.write_all(buf.as_bytes())?;
    out.flush()?;
    err.flush()
}
