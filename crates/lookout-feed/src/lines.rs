//! Async line framing with a bound: wraps `ais`'s [`Framer`] (the workspace's one framing rule:
//! lines end at `\n`, `\r\n` or a lone `\r`; over-long lines are discarded and reported) around
//! an [`AsyncRead`].
//!
//! A feed that never sends a newline therefore costs at most `max_line` bytes of memory, and
//! the connection continues with the next line. Because `lookout replay` (`ais::read::Lines`)
//! and `ais::Decoder::feed` frame with the same [`Framer`], a file replayed either way and the
//! same bytes received over TCP split into the same lines.

pub(crate) use ais::framing::Frame;
use ais::framing::Framer;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Read buffer size.
const READ_BUF: usize = 8 * 1024;

/// Splits an [`AsyncRead`] into lines of at most `max_line` bytes.
#[derive(Debug)]
pub(crate) struct LineReader<R> {
    reader: R,
    buf: Box<[u8]>,
    /// Start of unframed data in `buf`.
    start: usize,
    /// End of valid data in `buf`.
    end: usize,
    framer: Framer,
    /// The last line, copied out of the framer (so the next read can reuse its buffers).
    line: Vec<u8>,
    eof: bool,
    /// Bytes read since the last [`LineReader::take_read`].
    read: usize,
}

impl<R> LineReader<R> {
    /// Bytes read from the stream since the last call.
    pub(crate) fn take_read(&mut self) -> usize {
        std::mem::take(&mut self.read)
    }
}

/// What one framing step found, without borrowing the framer.
enum Found {
    Line,
    TooLong(usize),
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// Frames `reader` with the given maximum line length (bytes, without the newline).
    pub(crate) fn new(reader: R, max_line: usize) -> LineReader<R> {
        let max_line = max_line.max(1);
        LineReader {
            reader,
            buf: vec![0; READ_BUF].into_boxed_slice(),
            start: 0,
            end: 0,
            framer: Framer::new(max_line),
            line: Vec::with_capacity(max_line),
            eof: false,
            read: 0,
        }
    }

    /// The next frame, `Ok(None)` at end of stream.
    ///
    /// # Cancel safety
    /// Cancel safe: bytes already read stay in the internal buffer or the framer for the next call.
    pub(crate) async fn next_frame(&mut self) -> std::io::Result<Option<Frame<'_>>> {
        let found = loop {
            if self.start < self.end {
                let window = self.buf.get(self.start..self.end).unwrap_or_default();
                let (used, frame) = self.framer.next_frame(window);
                self.start += used;
                match frame {
                    Some(Frame::Line(line)) => {
                        self.line.clear();
                        self.line.extend_from_slice(line);
                        break Found::Line;
                    }
                    Some(Frame::TooLong { len }) => break Found::TooLong(len),
                    None => continue,
                }
            }
            if self.eof {
                match self.framer.finish() {
                    Some(Frame::Line(line)) => {
                        self.line.clear();
                        self.line.extend_from_slice(line);
                        break Found::Line;
                    }
                    Some(Frame::TooLong { len }) => break Found::TooLong(len),
                    None => return Ok(None),
                }
            }
            let n = self.reader.read(&mut self.buf).await?;
            self.start = 0;
            self.end = n;
            self.read += n;
            if n == 0 {
                self.eof = true;
            }
        };
        Ok(Some(match found {
            Found::Line => Frame::Line(&self.line),
            Found::TooLong(len) => Frame::TooLong { len },
        }))
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
