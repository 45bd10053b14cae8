//! Line framing, the one rule for every reader of AIS text in the workspace: a line ends at `\n`,
//! `\r\n` or a lone `\r`; a line longer than the limit is discarded (never buffered whole) and
//! reported as [`Frame::TooLong`] with its length, and framing goes on with the next line; a final
//! line without a terminator is a line too.
//!
//! [`Framer`] is a push framer with no I/O: hand it chunks as they arrive, in any sizes (a
//! terminator split across chunks, such as `\r` | `\n`, is still one terminator). The
//! [`Decoder::feed`](crate::Decoder::feed) path, [`crate::read::Lines`] and the network feed
//! (`lookout-feed`, which wraps a `Framer` around an async reader) all frame with it, so a
//! recording replayed from a file and the same bytes received over TCP split into the same lines.
//!
//! ```
//! use ais::framing::{Frame, Framer};
//!
//! let mut framer = Framer::new(8);
//! let mut lines = Vec::new();
//! for chunk in [&b"a\r\nbc\rd"[..], b"\n0123456789\nz"] {
//!     let mut rest = chunk;
//!     loop {
//!         let (used, frame) = framer.next_frame(rest);
//!         rest = rest.get(used..).unwrap_or_default();
//!         match frame {
//!             Some(Frame::Line(line)) => lines.push(String::from_utf8_lossy(line).into_owned()),
//!             Some(Frame::TooLong { len }) => lines.push(format!("<{len} bytes dropped>")),
//!             None => break,
//!         }
//!     }
//! }
//! if let Some(Frame::Line(last)) = framer.finish() {
//!     lines.push(String::from_utf8_lossy(last).into_owned());
//! }
//! assert_eq!(lines, ["a", "bc", "d", "<10 bytes dropped>", "z"]);
//! ```

use crate::nmea::find_line_end;

/// One framing result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete line, without its terminator.
    Line(&'a [u8]),
    /// A line longer than the limit was discarded; `len` is its length in bytes (without the
    /// terminator).
    TooLong {
        /// Bytes discarded.
        len: usize,
    },
}

/// Splits a byte stream, pushed in chunks, into lines of at most `max_line` bytes.
///
/// Memory is bounded by `max_line`: a line that spans chunks is carried in a buffer allocated
/// once, at construction; an over-long line is counted, not kept.
#[derive(Debug, Clone)]
pub struct Framer {
    max_line: usize,
    /// Bytes of an incomplete line carried between chunks.
    partial: Vec<u8>,
    /// Length so far of an incomplete line that exceeded the limit (its bytes are dropped);
    /// non-zero exactly while discarding.
    overflow: usize,
    /// The last line ended in `\r` at the end of a chunk: a `\n` that starts the next belongs to it.
    skip_lf: bool,
    /// The last frame was lent from `partial`: empty it before framing on.
    clear_partial: bool,
    /// Stream offset of the first byte of the line being framed.
    line_start: u64,
    /// Stream offset of the next byte.
    pos: u64,
}

impl Framer {
    /// A framer for lines of at most `max_line` bytes (without the terminator).
    pub fn new(max_line: usize) -> Self {
        Framer {
            max_line,
            partial: Vec::with_capacity(max_line),
            overflow: 0,
            skip_lf: false,
            clear_partial: false,
            line_start: 0,
            pos: 0,
        }
    }

    /// The line limit in bytes.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Frames the next line from `input` (the unconsumed rest of the current chunk).
    ///
    /// Returns how many bytes of `input` were consumed and the frame they completed, if any. With
    /// `None`, all of `input` was consumed (an incomplete line is carried to the next call);
    /// otherwise call again with the rest.
    pub fn next_frame<'a>(&'a mut self, input: &'a [u8]) -> (usize, Option<Frame<'a>>) {
        if self.clear_partial {
            self.partial.clear();
            self.clear_partial = false;
        }
        let mut rest = input;
        if self.skip_lf && !rest.is_empty() {
            self.skip_lf = false;
            if let [b'\n', after @ ..] = rest {
                rest = after;
                self.advance(1);
                self.line_start = self.pos;
            }
        }
        let skipped = input.len().saturating_sub(rest.len());
        let Some(end) = find_line_end(rest) else {
            self.carry(rest);
            return (input.len(), None);
        };
        let line = rest.get(..end).unwrap_or_default();
        let mut consumed = end.saturating_add(1);
        if rest.get(end) == Some(&b'\r') {
            match rest.get(end.saturating_add(1)) {
                Some(b'\n') => consumed = consumed.saturating_add(1),
                None => self.skip_lf = true,
                Some(_) => {}
            }
        }
        self.advance(consumed);
        self.line_start = self.pos;
        let used = skipped.saturating_add(consumed);
        if self.overflow == 0 && self.partial.is_empty() {
            if line.len() > self.max_line {
                return (used, Some(Frame::TooLong { len: line.len() }));
            }
            return (used, Some(Frame::Line(line)));
        }
        let len = self
            .partial
            .len()
            .saturating_add(self.overflow)
            .saturating_add(line.len());
        if len > self.max_line {
            self.partial.clear();
            self.overflow = 0;
            return (used, Some(Frame::TooLong { len }));
        }
        self.partial.extend_from_slice(line); // within capacity: len <= max_line
        self.clear_partial = true;
        (used, Some(Frame::Line(&self.partial)))
    }

    /// Ends the stream: the final line if it had no terminator.
    pub fn finish(&mut self) -> Option<Frame<'_>> {
        if self.clear_partial {
            self.partial.clear();
            self.clear_partial = false;
        }
        if self.overflow == 0 && self.partial.is_empty() {
            return None;
        }
        self.line_start = self.pos;
        if self.overflow > 0 {
            let len = std::mem::take(&mut self.overflow);
            return Some(Frame::TooLong { len });
        }
        self.clear_partial = true;
        Some(Frame::Line(&self.partial))
    }

    /// Stream offset (bytes pushed before it) of the first byte of the frame that
    /// [`Framer::next_frame`]`(input)` or [`Framer::finish`] will return next.
    pub(crate) fn next_offset(&self, input: &[u8]) -> u64 {
        if self.skip_lf && input.first() == Some(&b'\n') {
            self.line_start.saturating_add(1)
        } else {
            self.line_start
        }
    }

    /// Counts a line framed elsewhere (one line plus a one-byte terminator) and returns its
    /// offset, so [`crate::Decoder::decode_line`] and [`crate::Decoder::feed`] share one offset.
    pub(crate) fn count_line(&mut self, len: usize) -> u64 {
        let offset = self.line_start;
        self.advance(len.saturating_add(1));
        self.line_start = self.pos;
        offset
    }

    /// Carries the incomplete tail of a chunk, or counts it when the line is already too long.
    fn carry(&mut self, tail: &[u8]) {
        self.advance(tail.len());
        if self.overflow > 0 || self.partial.len().saturating_add(tail.len()) > self.max_line {
            self.overflow = self
                .overflow
                .saturating_add(self.partial.len())
                .saturating_add(tail.len());
            self.partial.clear();
        } else {
            self.partial.extend_from_slice(tail);
        }
    }

    fn advance(&mut self, n: usize) {
        self.pos = self
            .pos
            .saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames `chunks` in order and renders each frame.
    fn frames(chunks: &[&[u8]], max: usize) -> Vec<String> {
        let mut framer = Framer::new(max);
        let mut out = Vec::new();
        let render = |frame: Frame<'_>| match frame {
            Frame::Line(l) => String::from_utf8_lossy(l).into_owned(),
            Frame::TooLong { len } => format!("<too long {len}>"),
        };
        for chunk in chunks {
            let mut rest = *chunk;
            loop {
                let (used, frame) = framer.next_frame(rest);
                rest = &rest[used..];
                match frame {
                    Some(f) => out.push(render(f)),
                    None => break,
                }
            }
            assert!(rest.is_empty());
        }
        if let Some(f) = framer.finish() {
            out.push(render(f));
        }
        out
    }

    /// Every way of cutting `input` in two frames it the same way.
    fn check(input: &[u8], max: usize, expected: &[&str]) {
        assert_eq!(frames(&[input], max), expected, "whole");
        for cut in 0..=input.len() {
            let (a, b) = input.split_at(cut);
            assert_eq!(frames(&[a, b], max), expected, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(frames(&bytes, max), expected, "byte by byte");
    }

    #[test]
    fn lines_end_at_lf_crlf_and_lone_cr() {
        check(b"a\r\nbc\n\nd", 10, &["a", "bc", "", "d"]);
        check(b"a\rb\r\nc\n\rd\r", 10, &["a", "b", "c", "", "d"]);
    }

    #[test]
    fn over_long_lines_are_dropped_and_framing_goes_on() {
        check(b"123456\n12\n", 5, &["<too long 6>", "12"]);
        check(b"12345\r\n", 5, &["12345"]);
        check(
            b"ok\nxxxxxxxxxxxx\r\nafter",
            5,
            &["ok", "<too long 12>", "after"],
        );
        check(b"yyyyyyyy", 5, &["<too long 8>"]);
    }

    #[test]
    fn offsets_are_stream_positions() {
        let mut framer = Framer::new(10);
        let mut offsets = Vec::new();
        for chunk in [&b"ab\r"[..], b"\ncd\re", b"f\n"] {
            let mut rest = chunk;
            loop {
                let offset = framer.next_offset(rest);
                let (used, frame) = framer.next_frame(rest);
                rest = &rest[used..];
                if frame.is_none() {
                    break;
                }
                offsets.push(offset);
            }
        }
        assert_eq!(offsets, [0, 4, 7]);
    }
}
