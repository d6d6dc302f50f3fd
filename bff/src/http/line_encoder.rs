//! Streamed compression for NDJSON views: every line is compressed and flushed on its own, so
//! a client decodes each part the moment it is sent. A plain encoder holds output back until
//! its window fills, which is why the compression layer leaves these streams alone.
//!
//! Brotli at quality 3 with a 256 KiB window, else gzip. Every open stream holds its own
//! encoder: measured, about 114 KiB of resident memory for brotli at quality 3 against 344 KiB
//! at 4, for the same size of a 2 KB line (85 B).

use std::io::Write;

use axum::body::Bytes;
use axum::http::{HeaderMap, header};

use crate::assets::accepts;

/// Brotli's quality and window (log2 of its size) for streamed lines.
const BROTLI_QUALITY: u32 = 3;
const BROTLI_WINDOW_BITS: u32 = 18;

/// The encoder of one stream's lines, in the encoding its client asked for.
pub(crate) enum LineEncoder {
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
}

impl LineEncoder {
    /// The encoder `Accept-Encoding` asks for, preferring brotli; `None` for identity.
    pub(crate) fn negotiate(request: &HeaderMap) -> Option<Self> {
        let accept = request
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())?;
        if accepts(accept, "br") {
            Some(Self::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                4096,
                BROTLI_QUALITY,
                BROTLI_WINDOW_BITS,
            ))))
        } else if accepts(accept, "gzip") {
            Some(Self::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::new(4),
            )))
        } else {
            None
        }
    }

    /// The `Content-Encoding` this encoder writes.
    pub(crate) fn coding(&self) -> &'static str {
        match self {
            Self::Brotli(_) => "br",
            Self::Gzip(_) => "gzip",
        }
    }

    /// `line` compressed and flushed: the bytes that let a client decode it whole now.
    pub(crate) fn line(&mut self, line: &[u8]) -> Bytes {
        // Writing to a `Vec` cannot fail.
        let written = match self {
            Self::Brotli(w) => w.write_all(line).and_then(|()| w.flush()),
            Self::Gzip(w) => w.write_all(line).and_then(|()| w.flush()),
        };
        debug_assert!(written.is_ok());
        Bytes::from(std::mem::take(self.output()))
    }

    /// `line`, then the end of the compressed stream.
    pub(crate) fn last(mut self, line: &[u8]) -> Bytes {
        let mut bytes = self.line(line).to_vec();
        let end = match self {
            Self::Brotli(w) => w.into_inner(),
            Self::Gzip(w) => w.finish().unwrap_or_default(),
        };
        bytes.extend_from_slice(&end);
        Bytes::from(bytes)
    }

    fn output(&mut self) -> &mut Vec<u8> {
        match self {
            Self::Brotli(w) => w.get_mut(),
            Self::Gzip(w) => w.get_mut(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use std::io::Read;

    fn asking(accept_encoding: &str) -> Option<LineEncoder> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(accept_encoding).unwrap(),
        );
        LineEncoder::negotiate(&headers)
    }

    #[test]
    fn brotli_is_preferred_and_q_zero_is_respected() {
        assert_eq!(asking("gzip, deflate, br").unwrap().coding(), "br");
        assert_eq!(asking("br;q=0, gzip").unwrap().coding(), "gzip");
        assert!(asking("identity").is_none());
        assert!(LineEncoder::negotiate(&HeaderMap::new()).is_none());
    }

    /// Each flushed piece decodes to exactly the lines written so far, and the whole is one
    /// valid compressed stream.
    #[test]
    fn every_line_decodes_as_soon_as_it_is_flushed() {
        let lines: Vec<Vec<u8>> = (0..4)
            .map(|i| format!("{{\"part\":{i},\"data\":\"{}\"}}\n", "x".repeat(i * 50)).into())
            .collect();
        for coding in ["br", "gzip"] {
            let mut encoder = asking(coding).unwrap();
            let mut sent = Vec::new();
            let decoded_so_far = |sent: &[u8]| -> Vec<u8> {
                let mut out = Vec::new();
                match coding {
                    "br" => {
                        let mut d = brotli::DecompressorWriter::new(Vec::new(), 4096);
                        d.write_all(sent).unwrap();
                        d.flush().unwrap();
                        out = d.get_ref().clone();
                    }
                    _ => {
                        // A gzip decoder reads what a sync flush made whole, then stops.
                        let mut d = flate2::read::GzDecoder::new(sent);
                        let _ = d.read_to_end(&mut out);
                    }
                }
                out
            };
            for (i, line) in lines[..3].iter().enumerate() {
                sent.extend_from_slice(&encoder.line(line));
                assert_eq!(decoded_so_far(&sent), lines[..=i].concat(), "{coding}");
            }
            sent.extend_from_slice(&encoder.last(&lines[3]));
            let mut whole = Vec::new();
            match coding {
                "br" => brotli::Decompressor::new(&sent[..], 4096)
                    .read_to_end(&mut whole)
                    .unwrap(),
                _ => flate2::read::GzDecoder::new(&sent[..])
                    .read_to_end(&mut whole)
                    .unwrap(),
            };
            assert_eq!(whole, lines.concat(), "{coding}: one complete stream");
        }
    }
}
