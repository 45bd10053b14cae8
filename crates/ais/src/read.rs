//! [`Lines`]: decode AIS from any [`std::io::BufRead`], one bounded line buffer, no other I/O.

use std::io::{self, BufRead};

use crate::{Decoder, Item};

/// Iterator of decoder items over a [`BufRead`].
///
/// Lines longer than the decoder's `max_line_len` are skipped (reported as
/// [`crate::DecodeError::LineTooLong`]), so memory stays bounded whatever the input.
#[derive(Debug)]
pub struct Lines<R> {
    reader: R,
    decoder: Decoder,
    line: Vec<u8>,
    /// Bytes of the current line beyond the limit.
    overflow: usize,
    done: bool,
}

impl<R: BufRead> Lines<R> {
    /// Reads `reader` with `decoder`.
    pub fn new(reader: R, decoder: Decoder) -> Self {
        let cap = decoder.config().max_line_len;
        Self {
            reader,
            decoder,
            line: Vec::with_capacity(cap),
            overflow: 0,
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

    /// Reads the next raw line into `self.line`; false at end of input.
    fn read_line(&mut self) -> io::Result<bool> {
        self.line.clear();
        self.overflow = 0;
        let max = self.decoder.config().max_line_len;
        let mut any = false;
        loop {
            let buf = match self.reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                return Ok(any);
            }
            any = true;
            let (take, found) = match buf.iter().position(|b| *b == b'\n') {
                Some(i) => (i, true),
                None => (buf.len(), false),
            };
            let part = buf.get(..take).unwrap_or(&[]);
            if self.overflow > 0 || self.line.len().saturating_add(part.len()) > max {
                self.overflow = self
                    .overflow
                    .saturating_add(self.line.len())
                    .saturating_add(part.len());
                self.line.clear();
            } else {
                self.line.extend_from_slice(part);
            }
            let consumed = if found { take.saturating_add(1) } else { take };
            self.reader.consume(consumed);
            if found {
                return Ok(true);
            }
        }
    }
}

impl<R: BufRead> Iterator for Lines<R> {
    type Item = io::Result<Item>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.read_line() {
                Ok(false) => self.done = true,
                Ok(true) => {
                    let item = if self.overflow > 0 {
                        // Hand the decoder an over-long line so it reports and counts it.
                        let len = self.overflow;
                        self.line.clear();
                        self.line
                            .resize(self.decoder.config().max_line_len.saturating_add(1), b' ');
                        let item = self.decoder.decode_line(&self.line);
                        item.map(|(meta, _)| {
                            let max = self.decoder.config().max_line_len;
                            (meta, Err(crate::DecodeError::LineTooLong { len, max }))
                        })
                    } else {
                        self.decoder.decode_line(&self.line)
                    };
                    if let Some(item) = item {
                        return Some(Ok(item));
                    }
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}
