//! Newline-delimited framing for stdio, with a hard cap on line length.
//!
//! Contract: [`LineReader::next_line`] yields each line without its terminator (`\n` or `\r\n`).
//! A line longer than the cap is never buffered whole: it is reported as [`Line::TooLong`] with
//! its first and last few hundred bytes (enough to find a JSON-RPC `id`) and its total length,
//! and reading resumes cleanly at the next line. Memory stays bounded by the cap.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// How many bytes of an over-long line are kept at each end.
pub const EDGE: usize = 512;

/// One line of a child's output.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A complete line within the cap.
    Complete(Vec<u8>),
    /// A line over the cap: its edges and total length.
    TooLong {
        /// The first [`EDGE`] bytes.
        head: Vec<u8>,
        /// The last [`EDGE`] bytes.
        tail: Vec<u8>,
        /// The full length in bytes.
        len: usize,
    },
}

/// Reads capped lines from an async buffered reader.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    max: usize,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    /// Wraps `inner`; lines longer than `max` bytes come back as [`Line::TooLong`].
    pub fn new(inner: R, max: usize) -> Self {
        Self { inner, max }
    }

    /// The next line, or `None` at end of input. A final line without `\n` is still returned.
    pub async fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        let mut buf: Vec<u8> = Vec::new();
        let mut too_long: Option<(Vec<u8>, Vec<u8>, usize)> = None;
        loop {
            let available = self.inner.fill_buf().await?;
            if available.is_empty() {
                // EOF
                return Ok(match too_long {
                    Some((head, tail, len)) => Some(Line::TooLong { head, tail, len }),
                    None if buf.is_empty() => None,
                    None => Some(Line::Complete(trim_cr(buf))),
                });
            }
            let (chunk, done) = match memchr(available) {
                Some(i) => (&available[..i], Some(i + 1)),
                None => (available, None),
            };
            match &mut too_long {
                Some((_, tail, len)) => {
                    *len += chunk.len();
                    push_tail(tail, chunk);
                }
                None if buf.len() + chunk.len() > self.max => {
                    let len = buf.len() + chunk.len();
                    let mut head = buf;
                    head.extend_from_slice(
                        &chunk[..chunk.len().min(EDGE.saturating_sub(head.len()))],
                    );
                    head.truncate(EDGE);
                    let mut tail = Vec::with_capacity(EDGE);
                    push_tail(&mut tail, chunk);
                    buf = Vec::new();
                    too_long = Some((head, tail, len));
                }
                None => buf.extend_from_slice(chunk),
            }
            let consumed = done.unwrap_or(available.len());
            self.inner.consume(consumed);
            if done.is_some() {
                return Ok(Some(match too_long {
                    Some((head, tail, len)) => Line::TooLong { head, tail, len },
                    None => Line::Complete(trim_cr(buf)),
                }));
            }
        }
    }
}

fn memchr(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

fn trim_cr(mut v: Vec<u8>) -> Vec<u8> {
    if v.last() == Some(&b'\r') {
        v.pop();
    }
    v
}

fn push_tail(tail: &mut Vec<u8>, chunk: &[u8]) {
    if chunk.len() >= EDGE {
        tail.clear();
        tail.extend_from_slice(&chunk[chunk.len() - EDGE..]);
    } else {
        tail.extend_from_slice(chunk);
        if tail.len() > EDGE {
            let cut = tail.len() - EDGE;
            tail.drain(..cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    async fn lines(input: &[u8], max: usize, cap: usize) -> Vec<Line> {
        let mut r = LineReader::new(BufReader::with_capacity(cap, input), max);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().await.unwrap() {
            out.push(l);
        }
        out
    }

    #[tokio::test]
    async fn splits_lines_and_strips_terminators() {
        let out = lines(b"a\r\nbb\n\nlast", 100, 3).await;
        assert_eq!(
            out,
            vec![
                Line::Complete(b"a".to_vec()),
                Line::Complete(b"bb".to_vec()),
                Line::Complete(vec![]),
                Line::Complete(b"last".to_vec()),
            ]
        );
    }

    #[tokio::test]
    async fn over_long_line_is_reported_with_edges_and_reading_resumes() {
        let mut input = Vec::new();
        input.extend_from_slice(b"{\"id\":5,");
        input.extend(std::iter::repeat_n(b'x', 5000));
        input.extend_from_slice(b"\"end\":1}\nnext\n");
        for cap in [7, 64, 8192] {
            let out = lines(&input, 1000, cap).await;
            assert_eq!(out.len(), 2, "cap {cap}");
            match &out[0] {
                Line::TooLong { head, tail, len } => {
                    assert_eq!(*len, 5016);
                    assert!(head.starts_with(b"{\"id\":5,"));
                    assert!(head.len() <= EDGE);
                    assert!(tail.ends_with(b"\"end\":1}"));
                    assert_eq!(tail.len(), EDGE);
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(out[1], Line::Complete(b"next".to_vec()));
        }
    }

    #[tokio::test]
    async fn line_exactly_at_cap_is_complete() {
        let out = lines(b"abcd\n", 4, 2).await;
        assert_eq!(out, vec![Line::Complete(b"abcd".to_vec())]);
    }
}
