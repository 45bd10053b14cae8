//! Line framing with a bound: splits a byte stream into NMEA lines, discarding (and reporting)
//! any line longer than the configured maximum without ever buffering it whole.
//!
//! A feed that never sends a newline therefore costs at most `max_line` bytes of memory, and
//! the connection continues with the next line.

use tokio::io::{AsyncRead, AsyncReadExt};

/// One framing result.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// A complete line without its terminator (`\n`, `\r\n` or a lone `\r`).
    Line(&'a [u8]),
    /// A line longer than the maximum was discarded; `len` is how many bytes it had (at least).
    TooLong {
        /// Bytes discarded.
        len: usize,
    },
}

/// Splits an [`AsyncRead`] into lines of at most `max_line` bytes.
#[derive(Debug)]
pub(crate) struct LineReader<R> {
    reader: R,
    buf: Vec<u8>,
    /// Start of unconsumed data in `buf`.
    start: usize,
    /// End of valid data in `buf`.
    end: usize,
    /// Bytes of the current over-long line discarded so far; `Some` while discarding.
    discarding: Option<usize>,
    max_line: usize,
    eof: bool,
    /// Bytes read since the last [`LineReader::take_read`].
    read: usize,
    /// The last line ended in `\r` at the end of the data held: a `\n` that follows belongs
    /// to it.
    skip_lf: bool,
}

impl<R> LineReader<R> {
    /// Bytes read from the stream since the last call.
    pub(crate) fn take_read(&mut self) -> usize {
        std::mem::take(&mut self.read)
    }
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// Frames `reader` with the given maximum line length (bytes, without the newline).
    pub(crate) fn new(reader: R, max_line: usize) -> LineReader<R> {
        let max_line = max_line.max(1);
        LineReader {
            reader,
            buf: vec![0; (max_line + 2).max(8 * 1024)],
            start: 0,
            end: 0,
            discarding: None,
            max_line,
            eof: false,
            read: 0,
            skip_lf: false,
        }
    }

    /// The next frame, `Ok(None)` at end of stream.
    ///
    /// # Cancel safety
    /// Cancel safe: bytes already read stay in the internal buffer for the next call.
    pub(crate) async fn next_frame(&mut self) -> std::io::Result<Option<Frame<'_>>> {
        loop {
            if self.skip_lf && self.start < self.end {
                if self.buf[self.start] == b'\n' {
                    self.start += 1;
                }
                self.skip_lf = false;
            }
            // Look for a line terminator in what we hold.
            let window = &self.buf[self.start..self.end];
            if let Some(pos) = window.iter().position(|&b| b == b'\n' || b == b'\r') {
                let line_start = self.start;
                self.start += pos + 1;
                if window[pos] == b'\r' {
                    // `\r\n` is one terminator; a lone `\r` is one too.
                    if self.start < self.end {
                        if self.buf[self.start] == b'\n' {
                            self.start += 1;
                        }
                    } else {
                        self.skip_lf = true;
                    }
                }
                if let Some(discarded) = self.discarding.take() {
                    return Ok(Some(Frame::TooLong {
                        len: discarded + pos,
                    }));
                }
                let line = &self.buf[line_start..line_start + pos];
                if line.len() > self.max_line {
                    return Ok(Some(Frame::TooLong { len: line.len() }));
                }
                return Ok(Some(Frame::Line(line)));
            }
            // No newline: a partial line longer than allowed is dropped now.
            let pending = self.end - self.start;
            if let Some(discarded) = self.discarding.as_mut() {
                *discarded += pending;
                self.start = self.end;
            } else if pending > self.max_line + 1 {
                self.discarding = Some(pending);
                self.start = self.end;
            }
            if self.eof {
                let line_start = self.start;
                self.start = self.end;
                if let Some(discarded) = self.discarding.take() {
                    return Ok(Some(Frame::TooLong { len: discarded }));
                }
                if line_start == self.end {
                    return Ok(None);
                }
                return Ok(Some(Frame::Line(&self.buf[line_start..self.end])));
            }
            // Compact, then read more.
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let n = self.reader.read(&mut self.buf[self.end..]).await?;
            self.read += n;
            if n == 0 {
                self.eof = true;
            }
            self.end += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(input: &[u8], max: usize) -> Vec<String> {
        let mut reader = LineReader::new(input, max);
        let mut out = Vec::new();
        let mut total = 0;
        while let Some(frame) = reader.next_frame().await.unwrap() {
            out.push(match frame {
                Frame::Line(l) => String::from_utf8_lossy(l).into_owned(),
                Frame::TooLong { len } => format!("<too long {len}>"),
            });
            total += reader.take_read();
        }
        total += reader.take_read();
        assert_eq!(total, input.len());
        out
    }

    #[tokio::test]
    async fn splits_lines_at_lf_crlf_and_lone_cr() {
        assert_eq!(frames(b"a\r\nbc\n\nd", 10).await, ["a", "bc", "", "d"]);
        assert_eq!(
            frames(b"a\rb\r\nc\n\rd\r", 10).await,
            ["a", "b", "c", "", "d"]
        );
    }

    #[tokio::test]
    async fn crlf_split_across_reads_is_one_terminator() {
        use tokio::io::AsyncReadExt;
        let input = (&b"ab\r"[..]).chain(&b"\ncd\n"[..]);
        let mut reader = LineReader::new(input, 10);
        let mut out = Vec::new();
        while let Some(frame) = reader.next_frame().await.unwrap() {
            out.push(format!("{frame:?}"));
        }
        assert_eq!(out, ["Line([97, 98])", "Line([99, 100])"]);
    }

    #[tokio::test]
    async fn over_long_lines_are_discarded_and_reading_continues() {
        let mut input = b"ok\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 50_000));
        input.extend(b"\nafter\n");
        assert_eq!(
            frames(&input, 100).await,
            ["ok", "<too long 50000>", "after"]
        );
        assert_eq!(frames(b"123456\n12\n", 5).await, ["<too long 6>", "12"]);
        assert_eq!(frames(b"12345\r\n", 5).await, ["12345"]);
    }

    #[tokio::test]
    async fn over_long_tail_without_newline_is_reported() {
        let input = vec![b'y'; 20_000];
        assert_eq!(frames(&input, 100).await, ["<too long 20000>"]);
    }
}
