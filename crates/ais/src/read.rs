//! [`Lines`]: decode AIS from any [`std::io::BufRead`], one bounded line buffer, no other I/O.

use std::io::{self, BufRead};

use crate::framing::Framer;
use crate::{Decoder, Item};

/// Iterator of decoder items over a [`BufRead`].
///
/// Lines are split by [`crate::framing`] (at `\n`, `\r\n` or a lone `\r`, like [`Decoder::feed`] and
/// the network feed). Lines longer than the decoder's `max_line_len` are skipped (reported as
/// [`crate::DecodeError::LineTooLong`]), so memory stays bounded whatever the input.
#[derive(Debug)]
pub struct Lines<R> {
    reader: R,
    decoder: Decoder,
    framer: Framer,
    done: bool,
}

impl<R: BufRead> Lines<R> {
    /// Reads `reader` with `decoder`.
    pub fn new(reader: R, decoder: Decoder) -> Self {
        let framer = Framer::new(decoder.config().max_line_len);
        Self {
            reader,
            decoder,
            framer,
            done: false,
        }
    }

    /// The decoder (for its [`crate::DecodeStats`]).
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// Gives the decoder back.
    pub fn into_decoder(self) -> Decoder {
        self.decoder
    }
}

impl<R: BufRead> Iterator for Lines<R> {
    type Item = io::Result<Item>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let buf = match self.reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            if buf.is_empty() {
                self.done = true;
                let offset = self.framer.next_offset(&[]);
                let item = self
                    .framer
                    .finish()
                    .and_then(|frame| self.decoder.decode_frame(frame, offset));
                return item.map(Ok);
            }
            let offset = self.framer.next_offset(buf);
            let (used, frame) = self.framer.next_frame(buf);
            let item = frame.and_then(|frame| self.decoder.decode_frame(frame, offset));
            self.reader.consume(used);
            if let Some(item) = item {
                return Some(Ok(item));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "!AIVDM,1,1,,A,15M67FC000G?ufbE`FepT@3n00Sa,0*5F";

    /// `Lines` used to split at `\n` only, so two sentences joined by a lone `\r` became one bad line;
    /// it now frames exactly like `Decoder::feed`.
    #[test]
    fn lines_frames_like_feed_including_lone_cr_and_over_long_lines() {
        let long = "x".repeat(2000);
        let input = format!("{A}\r{A}\r\n{A}\n{long}\n\n{A}");
        let from_lines: Vec<Item> = Lines::new(input.as_bytes(), Decoder::new())
            .map(|r| r.unwrap())
            .collect();
        let mut decoder = Decoder::new();
        let mut from_feed: Vec<Item> = decoder.feed(input.as_bytes()).collect();
        from_feed.extend(decoder.finish());
        assert_eq!(from_lines.len(), 5);
        assert_eq!(from_lines.iter().filter(|(_, r)| r.is_ok()).count(), 4);
        assert_eq!(format!("{from_lines:?}"), format!("{from_feed:?}"));
    }
}
