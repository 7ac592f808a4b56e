//! An incremental Server-Sent Events parser (the WHATWG rules MCP's Streamable HTTP uses).
//!
//! Contract: [`Parser::push`] takes bytes as they arrive and returns the events completed by
//! them (a blank line ends an event; `data:` lines are joined with `\n`; `id:` sets the last
//! event id, `event:` the type; comments and other fields are ignored; lines end with `\n`,
//! `\r\n` or `\r`). An event whose data is empty is not returned. A pending line or event larger
//! than the parser's bound is an error: the stream must then be dropped.

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `event:` type (`message` when absent).
    pub kind: String,
    /// The joined `data:` lines.
    pub data: String,
    /// The last event id seen on the stream so far, if any.
    pub id: Option<String>,
}

/// An event or line over the bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an SSE event is larger than {0} bytes")]
pub struct TooLarge(pub usize);

/// The parser's state between chunks.
pub struct Parser {
    max: usize,
    line: Vec<u8>,
    after_cr: bool,
    data: String,
    has_data: bool,
    kind: String,
    last_id: Option<String>,
}

impl Parser {
    /// A parser that refuses events (or lines) larger than `max` bytes.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            line: Vec::new(),
            after_cr: false,
            data: String::new(),
            has_data: false,
            kind: String::new(),
            last_id: None,
        }
    }

    /// The last event id seen (for `Last-Event-ID` on a reconnection).
    pub fn last_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// Feeds `chunk`; the events it completes.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Event>, TooLarge> {
        let mut out = Vec::new();
        for &b in chunk {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(e) = self.line_done(&line) {
                        out.push(e);
                    }
                }
                _ => {
                    if self.line.len() + self.data.len() >= self.max {
                        return Err(TooLarge(self.max));
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(out)
    }

    fn line_done(&mut self, line: &[u8]) -> Option<Event> {
        if line.is_empty() {
            let data = std::mem::take(&mut self.data);
            let kind = std::mem::take(&mut self.kind);
            let had = std::mem::replace(&mut self.has_data, false);
            return (had && !data.is_empty()).then(|| Event {
                kind: if kind.is_empty() {
                    "message".into()
                } else {
                    kind
                },
                data,
                id: self.last_id.clone(),
            });
        }
        if line[0] == b':' {
            return None;
        }
        let text = String::from_utf8_lossy(line);
        let (field, value) = match text.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (text.as_ref(), ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.kind = value.to_owned(),
            "id" if !value.contains('\0') => self.last_id = Some(value.to_owned()),
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_across_chunks_and_line_endings() {
        let mut p = Parser::new(1024);
        let mut got = p.push(b"id: 7\r\nevent: message\r\ndata: {\"a\"").unwrap();
        assert!(got.is_empty());
        got.extend(
            p.push(b":1}\r\n\r\n: keep-alive\n\ndata: x\rdata: y\r\r")
                .unwrap(),
        );
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].data, "{\"a\":1}");
        assert_eq!(got[0].id.as_deref(), Some("7"));
        assert_eq!(got[1].data, "x\ny");
        assert_eq!(p.last_id(), Some("7"));
        // A priming event with an id and no data sets the id only.
        let got = p.push(b"id: 9\ndata:\n\n").unwrap();
        assert!(got.is_empty());
        assert_eq!(p.last_id(), Some("9"));
    }

    #[test]
    fn bounded() {
        let mut p = Parser::new(16);
        assert!(p.push(b"data: 0123456789").is_ok());
        assert!(p.push(b"abcdef").is_err());
        let mut p = Parser::new(16);
        assert!(p.push(b"data: 0123456789\n").is_ok());
        assert!(p.push(b"data: 0123456789\n").is_err());
    }
}
