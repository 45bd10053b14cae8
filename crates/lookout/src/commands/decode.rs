//! `lookout decode`: AIS NMEA in, one gpsd-style JSON object per decoded message out.
//!
//! The field names and scaling are gpsd's, so the output can be compared line by line with
//! `gpsdecode -j` (the `ais` crate's conformance test does exactly that).

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::process::ExitCode;

use std::path::PathBuf;

use anyhow::Context;

/// `lookout decode`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Input file, or `-` for stdin.
    #[arg(default_value = "-")]
    pub input: PathBuf,
    /// Print decode errors as `{"class":"ERROR",...}` lines on stdout instead of stderr.
    #[arg(long)]
    pub errors: bool,
}

/// Runs `lookout decode`: exit 0 unless the input could not be read.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let stdout = io::stdout();
    let stderr = io::stderr();
    let input: Box<dyn BufRead> = if args.input.as_os_str() == "-" {
        Box::new(BufReader::new(io::stdin()))
    } else {
        let file = File::open(&args.input)
            .with_context(|| format!("cannot open {}", args.input.display()))?;
        Box::new(BufReader::with_capacity(64 * 1024, file))
    };
    let summary = decode(
        input,
        &mut BufWriter::new(stdout.lock()),
        &mut stderr.lock(),
        args.errors,
    )
    .with_context(|| format!("cannot read {}", args.input.display()))?;
    let mut err = stderr.lock();
    // A failing stderr cannot be reported anywhere else.
    let _ = writeln!(err, "{summary}");
    Ok(ExitCode::SUCCESS)
}

/// Decodes `input`, writing messages (and errors when `errors_to_out`) to `out` and errors
/// otherwise to `err`; returns the `{"class":"SUMMARY",...}` line.
pub fn decode(
    input: impl BufRead,
    out: &mut impl Write,
    err: &mut impl Write,
    errors_to_out: bool,
) -> io::Result<String> {
    let mut lines = ais::read::Lines::new(input, ais::Decoder::new());
    let mut buf = String::with_capacity(512);
    for item in lines.by_ref() {
        let (meta, result) = item?;
        match result {
            Ok(msg) => ais::gpsd_json::write_message_io(out, &msg, &mut buf)?,
            Err(e) => {
                let line = ais::gpsd_json::error_to_string(&meta, &e);
                if errors_to_out {
                    writeln!(out, "{line}")?;
                } else {
                    writeln!(err, "{line}")?;
                }
            }
        }
    }
    out.flush()?;
    let mut summary = String::new();
    // Writing to a String cannot fail.
    let _ = ais::gpsd_json::write_summary(&mut summary, lines.decoder().stats());
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_position_with_gpsd_field_names_and_reports_errors() {
        let input = b"!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A\n!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*00\n";
        let mut out = Vec::new();
        let mut err = Vec::new();
        let summary = decode(&input[..], &mut out, &mut err, false).unwrap();
        let out = String::from_utf8(out).unwrap();
        let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        assert_eq!(first["class"], "AIS");
        assert_eq!(first["type"], 1);
        assert_eq!(first["mmsi"], 371798000);
        assert_eq!(first["speed"], 12.3);
        assert!(first["lat"].is_number() && first["lon"].is_number());
        assert_eq!(
            out.lines().count(),
            1,
            "the bad-checksum line is not a message"
        );
        let err = String::from_utf8(err).unwrap();
        assert!(err.contains("\"class\":\"ERROR\""), "{err}");
        assert!(summary.contains("\"checksum_errors\":1"), "{summary}");
    }
}
