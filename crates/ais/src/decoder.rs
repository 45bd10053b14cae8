//! The streaming [`Decoder`]: line framing, tag blocks, `$PGHP` association, multipart reassembly,
//! payload decoding and the [`DecodeStats`] counters.
//!
//! Invariant: after [`Decoder::with_config`] nothing here allocates. Pending multipart groups live in a
//! vector whose capacity is reserved up front and never exceeded; payloads are de-armoured into one
//! reusable fixed buffer.

use crate::bits::{BitBuf, MAX_PAYLOAD_CHARS};
use crate::decode::decode_message;
use crate::framing::{Frame, Framer};
use crate::nmea::{self, Pghp, Sentence, SourceId, TagBlock};
use crate::{DecodeError, Message, SentenceMeta};

/// One decoder output: the sentence metadata and the decoded message or why it failed.
pub type Item = (SentenceMeta, Result<Message, DecodeError>);

/// Tuning of the [`Decoder`]. All bounds are hard limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecoderConfig {
    /// Most multipart messages pending at once; when full, the oldest is evicted (and counted).
    pub max_pending: usize,
    /// A pending multipart message expires after this many further AIS sentences.
    pub max_fragment_age_sentences: u64,
    /// A pending multipart message expires when the receiver time (tag block or `$PGHP`) has moved
    /// on by more than this many milliseconds.
    pub max_fragment_age_ms: i64,
    /// Longest accepted line in bytes (longer lines are skipped and counted).
    pub max_line_len: usize,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        Self {
            max_pending: 64,
            max_fragment_age_sentences: 500,
            max_fragment_age_ms: 60_000,
            max_line_len: 1024,
        }
    }
}

impl DecoderConfig {
    /// Sets [`DecoderConfig::max_pending`] (at least 1).
    pub fn max_pending(mut self, n: usize) -> Self {
        self.max_pending = n.max(1);
        self
    }

    /// Sets [`DecoderConfig::max_fragment_age_sentences`].
    pub fn max_fragment_age_sentences(mut self, n: u64) -> Self {
        self.max_fragment_age_sentences = n;
        self
    }

    /// Sets [`DecoderConfig::max_fragment_age_ms`].
    pub fn max_fragment_age_ms(mut self, ms: i64) -> Self {
        self.max_fragment_age_ms = ms;
        self
    }

    /// Sets [`DecoderConfig::max_line_len`] (at least 82, the NMEA limit).
    pub fn max_line_len(mut self, n: usize) -> Self {
        self.max_line_len = n.max(82);
        self
    }
}

/// Counters of everything the decoder saw, skipped or dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeStats {
    /// Lines read.
    pub lines: u64,
    /// AIS sentences (fragments included) whose framing and checksum were valid.
    pub sentences: u64,
    /// Messages decoded successfully (including unsupported types).
    pub messages: u64,
    /// Of `messages`, those of a type this crate does not decode.
    pub unsupported: u64,
    /// AIS sentences rejected for a wrong checksum.
    pub checksum_errors: u64,
    /// AIS sentences rejected for malformed fields (or over-long lines).
    pub framing_errors: u64,
    /// Messages whose payload could not be decoded.
    pub payload_errors: u64,
    /// Lines skipped as not AIS: blank, comments, GNSS and other NMEA sentences.
    pub non_ais_skipped: u64,
    /// `$PGHP` timestamp lines read.
    pub pghp_lines: u64,
    /// Tag blocks that were malformed or failed their checksum (the sentence is still decoded).
    pub tag_block_errors: u64,
    /// Tag-block times outside 2000..=2100 (ignored).
    pub tag_time_out_of_range: u64,
    /// Fragments that repeated one already pending.
    pub duplicate_fragments: u64,
    /// Fragments dropped because their message never completed (evicted, expired or superseded).
    pub orphan_fragments: u64,
    /// Pending multipart messages evicted because too many were pending.
    pub groups_evicted: u64,
    /// Pending multipart messages expired by age.
    pub groups_expired: u64,
}

/// Reassembly key of a multipart message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FragKey {
    /// Tag-block source; not used when a tag-block group id is present.
    source: Option<SourceId>,
    group: Option<u32>,
    channel: Option<u8>,
    seq: Option<u8>,
    count: u8,
    own_vessel: bool,
}

const MAX_FRAGMENTS: usize = 9;

/// A multipart message being reassembled.
#[derive(Clone)]
struct Pending {
    key: FragKey,
    /// Metadata of the first fragment that arrived.
    meta: SentenceMeta,
    born_tick: u64,
    born_time_ms: Option<i64>,
    /// Bit `n` set when fragment `n + 1` has arrived.
    received: u16,
    n_received: u8,
    /// (start, len) of each fragment's payload in `data`.
    ranges: [(u16, u16); MAX_FRAGMENTS],
    data: [u8; MAX_PAYLOAD_CHARS],
    used: usize,
    fill_bits: u8,
}

/// The streaming AIS decoder.
///
/// Feed it lines with [`Decoder::decode_line`], or arbitrary byte chunks with [`Decoder::feed`] (then
/// [`Decoder::finish`] at end of input). Each AIS sentence that completes a message, or fails,
/// produces one [`Item`]; non-AIS lines, `$PGHP` lines and incomplete fragments produce nothing and
/// are counted in [`Decoder::stats`].
pub struct Decoder {
    config: DecoderConfig,
    stats: DecodeStats,
    pending: Vec<Pending>,
    bits: BitBuf,
    pghp: Option<Pghp>,
    line_no: u64,
    /// Sentence counter used for fragment age.
    tick: u64,
    /// Splits [`Decoder::feed`] chunks into lines (and counts stream offsets for both entry points).
    framer: Framer,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Decoder")
            .field("config", &self.config)
            .field("stats", &self.stats)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// A decoder with the default [`DecoderConfig`].
    pub fn new() -> Self {
        Self::with_config(DecoderConfig::default())
    }

    /// A decoder with the given configuration. Allocates all its buffers now.
    pub fn with_config(config: DecoderConfig) -> Self {
        let config = DecoderConfig {
            max_pending: config.max_pending.max(1),
            ..config
        };
        Self {
            pending: Vec::with_capacity(config.max_pending),
            framer: Framer::new(config.max_line_len),
            config,
            stats: DecodeStats::default(),
            bits: BitBuf::new(),
            pghp: None,
            line_no: 0,
            tick: 0,
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }

    /// The configuration.
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// Number of multipart messages waiting for fragments.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Decodes one line (with or without its `\r\n`). The stream offset in [`SentenceMeta::offset`]
    /// assumes each line was followed by one `\n`.
    pub fn decode_line(&mut self, line: &[u8]) -> Option<Item> {
        let offset = self.framer.count_line(line.len());
        self.process(line, offset)
    }

    /// Feeds a chunk of a byte stream; the returned iterator yields the items of every line the chunk
    /// completes. A trailing incomplete line is kept (bounded by [`DecoderConfig::max_line_len`]) until
    /// the next chunk or [`Decoder::finish`]. Lines are framed by [`crate::framing`]: they end at `\n`,
    /// `\r\n` or a lone `\r`.
    pub fn feed<'a>(&'a mut self, chunk: &'a [u8]) -> Feed<'a> {
        Feed {
            decoder: self,
            chunk,
            pos: 0,
        }
    }

    /// Ends the stream: decodes a final line that had no terminator.
    pub fn finish(&mut self) -> Option<Item> {
        let mut framer = core::mem::replace(&mut self.framer, Framer::new(0));
        let offset = framer.next_offset(&[]);
        let item = framer
            .finish()
            .and_then(|frame| self.decode_frame(frame, offset));
        self.framer = framer;
        item
    }

    /// Decodes one framed line that starts at stream `offset`.
    pub(crate) fn decode_frame(&mut self, frame: Frame<'_>, offset: u64) -> Option<Item> {
        match frame {
            Frame::Line(line) => self.process(line, offset),
            Frame::TooLong { len } => self.too_long(len, offset),
        }
    }

    fn too_long(&mut self, len: usize, offset: u64) -> Option<Item> {
        self.line_no = self.line_no.saturating_add(1);
        self.stats.lines = self.stats.lines.saturating_add(1);
        self.stats.framing_errors = self.stats.framing_errors.saturating_add(1);
        let meta = SentenceMeta {
            line: self.line_no,
            first_line: self.line_no,
            offset,
            ..SentenceMeta::default()
        };
        Some((
            meta,
            Err(DecodeError::LineTooLong {
                len,
                max: self.config.max_line_len,
            }),
        ))
    }

    /// Decodes one line at stream `offset`.
    fn process(&mut self, raw: &[u8], offset: u64) -> Option<Item> {
        if raw.len() > self.config.max_line_len {
            return self.too_long(raw.len(), offset);
        }
        self.line_no = self.line_no.saturating_add(1);
        self.stats.lines = self.stats.lines.saturating_add(1);
        let line = raw.trim_ascii();
        let lead = raw.len().saturating_sub(raw.trim_ascii_start().len());
        let mut meta = SentenceMeta {
            line: self.line_no,
            first_line: self.line_no,
            offset,
            ..SentenceMeta::default()
        };

        // Optional NMEA 4 tag block.
        let mut rest = line;
        let mut base = lead;
        if let [b'\\', after @ ..] = line {
            match after.iter().position(|b| *b == b'\\') {
                Some(end) => {
                    let inner = after.get(..end).unwrap_or(&[]);
                    match nmea::parse_tag_block(inner) {
                        Some(tag) => self.apply_tag(&mut meta, tag),
                        None => {
                            self.stats.tag_block_errors =
                                self.stats.tag_block_errors.saturating_add(1)
                        }
                    }
                    let skip = end.saturating_add(2);
                    rest = line.get(skip..).unwrap_or(&[]);
                    base = base.saturating_add(skip);
                }
                None => {
                    self.stats.tag_block_errors = self.stats.tag_block_errors.saturating_add(1);
                    return self.skip_non_ais();
                }
            }
        }

        if rest.starts_with(b"$PGHP") {
            match nmea::parse_pghp(rest) {
                Some(p) => {
                    self.pghp = Some(p);
                    self.stats.pghp_lines = self.stats.pghp_lines.saturating_add(1);
                    return None;
                }
                None => return self.skip_non_ais(),
            }
        }
        if rest.first() == Some(&b'#') {
            return self.skip_non_ais();
        }
        if !nmea::looks_like_vdm(rest) {
            // Tolerate a prefix (e.g. a receiver timestamp) before the sentence.
            let found = rest
                .iter()
                .enumerate()
                .find(|(i, b)| **b == b'!' && nmea::looks_like_vdm(rest.get(*i..).unwrap_or(&[])))
                .map(|(i, _)| i);
            match found {
                Some(i) => {
                    rest = rest.get(i..).unwrap_or(&[]);
                    base = base.saturating_add(i);
                }
                None => return self.skip_non_ais(),
            }
        }

        let talker = [
            rest.get(1).copied().unwrap_or(b'?'),
            rest.get(2).copied().unwrap_or(b'?'),
        ];
        meta.talker = talker;
        meta.own_vessel = rest.get(5) == Some(&b'O');
        let pghp = self.pghp.take();
        let sentence = match nmea::parse_sentence(rest, base) {
            Ok(s) => s,
            Err(e) => {
                if matches!(e, DecodeError::Checksum { .. }) {
                    self.stats.checksum_errors = self.stats.checksum_errors.saturating_add(1);
                } else {
                    self.stats.framing_errors = self.stats.framing_errors.saturating_add(1);
                }
                return Some((meta, Err(e)));
            }
        };
        self.stats.sentences = self.stats.sentences.saturating_add(1);
        self.tick = self.tick.wrapping_add(1);
        // The `$PGHP` line's last field is the XOR of the checksums of the sentence(s) it
        // describes (00 when unknown): check it for single sentences, accept it for a multipart
        // message, whose fragments are not all known yet.
        if let Some(p) = pghp
            && (sentence.count > 1
                || p.for_checksum
                    .is_none_or(|cs| cs == 0 || cs == sentence.checksum))
        {
            meta.pghp_time_ms = Some(p.time_ms);
        }
        meta.talker = sentence.talker;
        meta.channel = sentence.channel;
        meta.fragments = sentence.count;

        if sentence.count == 1 {
            self.bits.clear();
            let result = self
                .bits
                .push_armored(sentence.payload, sentence.payload_offset)
                .and_then(|()| self.bits.finish(sentence.fill_bits))
                .and_then(|()| decode_message(&self.bits.reader()));
            return Some((meta, self.count_result(result)));
        }
        self.fragment(meta, &sentence)
    }

    fn apply_tag(&mut self, meta: &mut SentenceMeta, tag: TagBlock) {
        meta.source = tag.source;
        meta.tag_time_ms = tag.time_ms;
        meta.group = tag.group;
        if tag.time_out_of_range {
            self.stats.tag_time_out_of_range = self.stats.tag_time_out_of_range.saturating_add(1);
        }
    }

    fn skip_non_ais(&mut self) -> Option<Item> {
        self.stats.non_ais_skipped = self.stats.non_ais_skipped.saturating_add(1);
        None
    }

    fn count_result(
        &mut self,
        result: Result<Message, DecodeError>,
    ) -> Result<Message, DecodeError> {
        match &result {
            Ok(Message::Unsupported { .. }) => {
                self.stats.messages = self.stats.messages.saturating_add(1);
                self.stats.unsupported = self.stats.unsupported.saturating_add(1);
            }
            Ok(_) => self.stats.messages = self.stats.messages.saturating_add(1),
            Err(_) => self.stats.payload_errors = self.stats.payload_errors.saturating_add(1),
        }
        result
    }

    /// Drops pending groups that are too old, by sentence count or by receiver time.
    fn expire(&mut self, now_ms: Option<i64>) {
        let max_age = self.config.max_fragment_age_sentences;
        let max_ms = self.config.max_fragment_age_ms;
        let tick = self.tick;
        let mut idx = 0;
        while let Some(p) = self.pending.get(idx) {
            let too_old = tick.wrapping_sub(p.born_tick) > max_age
                || matches!((now_ms, p.born_time_ms), (Some(now), Some(born)) if now.saturating_sub(born) > max_ms);
            if too_old {
                let p = self.pending.swap_remove(idx);
                tracing::debug!(
                    target: "ais",
                    line = p.meta.line,
                    fragments_received = p.n_received,
                    fragments_expected = p.key.count,
                    "multipart message expired incomplete"
                );
                self.stats.groups_expired = self.stats.groups_expired.saturating_add(1);
                self.stats.orphan_fragments = self
                    .stats
                    .orphan_fragments
                    .saturating_add(u64::from(p.n_received));
            } else {
                idx = idx.saturating_add(1);
            }
        }
    }

    fn fragment(&mut self, meta: SentenceMeta, s: &Sentence<'_>) -> Option<Item> {
        let now_ms = meta.receiver_time_ms();
        self.expire(now_ms);
        let key = FragKey {
            source: if meta.group.is_some() {
                None
            } else {
                meta.source
            },
            group: meta.group.map(|g| g.id),
            channel: s.channel,
            seq: s.seq,
            count: s.count,
            own_vessel: s.own_vessel,
        };
        let frag_idx = usize::from(s.number.saturating_sub(1));
        let frag_bit = 1u16
            .checked_shl(u32::from(s.number.saturating_sub(1)))
            .unwrap_or(0);

        let slot_idx = match self.pending.iter().position(|p| p.key == key) {
            Some(i) => i,
            None => {
                if self.pending.len() >= self.config.max_pending {
                    // Evict the oldest.
                    if let Some((oldest, _)) = self
                        .pending
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, p)| p.born_tick)
                    {
                        let p = self.pending.swap_remove(oldest);
                        tracing::debug!(
                            target: "ais",
                            line = p.meta.line,
                            fragments_received = p.n_received,
                            max_pending = self.config.max_pending,
                            "multipart message evicted: too many pending"
                        );
                        self.stats.groups_evicted = self.stats.groups_evicted.saturating_add(1);
                        self.stats.orphan_fragments = self
                            .stats
                            .orphan_fragments
                            .saturating_add(u64::from(p.n_received));
                    }
                }
                self.pending.push(Pending {
                    key,
                    meta,
                    born_tick: self.tick,
                    born_time_ms: now_ms,
                    received: 0,
                    n_received: 0,
                    ranges: [(0, 0); MAX_FRAGMENTS],
                    data: [0; MAX_PAYLOAD_CHARS],
                    used: 0,
                    fill_bits: 0,
                });
                self.pending.len().saturating_sub(1)
            }
        };
        let slot = self.pending.get_mut(slot_idx)?;

        if slot.received & frag_bit != 0 {
            let (start, len) = slot.ranges.get(frag_idx).copied().unwrap_or((0, 0));
            let old = slot
                .data
                .get(usize::from(start)..usize::from(start).saturating_add(usize::from(len)));
            if old == Some(s.payload) {
                self.stats.duplicate_fragments = self.stats.duplicate_fragments.saturating_add(1);
                let err = DecodeError::DuplicateFragment {
                    fragment: s.number,
                    count: s.count,
                };
                return Some((meta, Err(err)));
            }
            // Same key, different content: a new message reusing the sequence id. Start over.
            self.stats.orphan_fragments = self
                .stats
                .orphan_fragments
                .saturating_add(u64::from(slot.n_received));
            slot.received = 0;
            slot.n_received = 0;
            slot.used = 0;
            slot.meta = meta;
            slot.born_tick = self.tick;
            slot.born_time_ms = now_ms;
        }

        let start = slot.used;
        let end = start.saturating_add(s.payload.len());
        let Some(dst) = slot.data.get_mut(start..end) else {
            let p = self.pending.swap_remove(slot_idx);
            self.stats.orphan_fragments = self
                .stats
                .orphan_fragments
                .saturating_add(u64::from(p.n_received));
            self.stats.payload_errors = self.stats.payload_errors.saturating_add(1);
            let err = DecodeError::PayloadTooLong {
                chars: end,
                max: MAX_PAYLOAD_CHARS,
            };
            return Some((meta, Err(err)));
        };
        dst.copy_from_slice(s.payload);
        if let Some(r) = slot.ranges.get_mut(frag_idx) {
            *r = (
                u16::try_from(start).unwrap_or(0),
                u16::try_from(s.payload.len()).unwrap_or(0),
            );
        }
        slot.used = end;
        slot.received |= frag_bit;
        slot.n_received = slot.n_received.saturating_add(1);
        if s.number == s.count {
            slot.fill_bits = s.fill_bits;
        }
        if slot.n_received < s.count {
            return None;
        }

        // Complete: de-armour the fragments in order.
        self.bits.clear();
        let mut result = Ok(());
        for (start, len) in slot.ranges.iter().take(usize::from(s.count)) {
            let chars = slot
                .data
                .get(usize::from(*start)..usize::from(*start).saturating_add(usize::from(*len)));
            result = self
                .bits
                .push_armored(chars.unwrap_or(&[]), s.payload_offset);
            if result.is_err() {
                break;
            }
        }
        let fill_bits = slot.fill_bits;
        let first = slot.meta;
        let result = result
            .and_then(|()| self.bits.finish(fill_bits))
            .and_then(|()| decode_message(&self.bits.reader()));
        self.pending.swap_remove(slot_idx);
        let meta = SentenceMeta {
            first_line: first.line,
            source: meta.source.or(first.source),
            tag_time_ms: first.tag_time_ms.or(meta.tag_time_ms),
            pghp_time_ms: first.pghp_time_ms.or(meta.pghp_time_ms),
            group: meta.group.or(first.group),
            ..meta
        };
        Some((meta, self.count_result(result)))
    }
}

/// Iterator over the items completed by one chunk given to [`Decoder::feed`].
#[derive(Debug)]
pub struct Feed<'a> {
    decoder: &'a mut Decoder,
    chunk: &'a [u8],
    pos: usize,
}

impl Iterator for Feed<'_> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        let chunk = self.chunk;
        let decoder = &mut *self.decoder;
        // The framer lends lines out of its own buffer, so it leaves the decoder while they are decoded
        // (an empty placeholder allocates nothing).
        let mut framer = core::mem::replace(&mut decoder.framer, Framer::new(0));
        let item = loop {
            let rest = chunk.get(self.pos..).unwrap_or_default();
            if rest.is_empty() {
                break None;
            }
            let offset = framer.next_offset(rest);
            let (used, frame) = framer.next_frame(rest);
            self.pos = self.pos.saturating_add(used);
            let Some(frame) = frame else { break None };
            if let Some(item) = decoder.decode_frame(frame, offset) {
                break Some(item);
            }
        };
        decoder.framer = framer;
        item
    }
}
