//! Sentence framing: NMEA 4 tag blocks, `!xxVDM`/`!xxVDO` fields, checksums and `$PGHP` timestamps.
//!
//! Everything here borrows from the input line; nothing allocates.

use core::fmt;

use crate::DecodeError;

/// Maximum length of a tag-block source (`s:`) kept in [`SourceId`].
pub(crate) const MAX_SOURCE_LEN: usize = 32;

/// A tag-block source station (`s:` field), stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SourceId {
    buf: [u8; MAX_SOURCE_LEN],
    len: u8,
}

impl SourceId {
    /// Builds from printable ASCII of at most 32 bytes.
    pub fn new(text: &str) -> Option<Self> {
        Self::from_bytes(text.as_bytes())
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > MAX_SOURCE_LEN || !bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ')
        {
            return None;
        }
        let mut buf = [0u8; MAX_SOURCE_LEN];
        buf.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(Self {
            buf,
            len: u8::try_from(bytes.len()).ok()?,
        })
    }

    /// The source text.
    pub fn as_str(&self) -> &str {
        let bytes = self.buf.get(..usize::from(self.len)).unwrap_or(&[]);
        core::str::from_utf8(bytes).unwrap_or("")
    }
}

impl fmt::Debug for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Tag-block sentence grouping (`g:` field): this sentence is number `sentence` of `total` in group `id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TagGroup {
    /// 1-based sentence number within the group.
    pub sentence: u16,
    /// Number of sentences in the group.
    pub total: u16,
    /// Group identifier.
    pub id: u32,
}

/// Metadata of the sentence (or, for a multipart message, of the fragment that completed it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SentenceMeta {
    /// 1-based line number in the stream (of the completing fragment).
    pub line: u64,
    /// Byte offset of the start of that line in the stream.
    pub offset: u64,
    /// Line number of the first fragment of a multipart message (equal to `line` for single sentences).
    pub first_line: u64,
    /// Talker, e.g. `*b"AI"`, `*b"BS"`, `*b"--"`.
    pub talker: [u8; 2],
    /// True for `VDO` (own vessel), false for `VDM`.
    pub own_vessel: bool,
    /// Radio channel (`A`, `B`, `1`, `2`), `None` when empty.
    pub channel: Option<u8>,
    /// Number of fragments of the message.
    pub fragments: u8,
    /// Tag-block source station (`s:`).
    pub source: Option<SourceId>,
    /// Tag-block receiver time (`c:`) in Unix milliseconds (given in seconds or milliseconds,
    /// range-checked to years 2000..=2100).
    pub tag_time_ms: Option<i64>,
    /// Tag-block group (`g:`).
    pub group: Option<TagGroup>,
    /// Receiver time from a preceding `$PGHP` (Gatehouse) line, in Unix milliseconds.
    pub pghp_time_ms: Option<i64>,
}

impl SentenceMeta {
    /// The receiver time: tag-block time, else `$PGHP` time.
    pub fn receiver_time_ms(&self) -> Option<i64> {
        self.tag_time_ms.or(self.pghp_time_ms)
    }

    /// The talker as text (`"AI"`), or `"??"` if it is not ASCII.
    pub fn talker_str(&self) -> &str {
        core::str::from_utf8(&self.talker).unwrap_or("??")
    }
}

/// Parsed tag block.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TagBlock {
    pub(crate) source: Option<SourceId>,
    pub(crate) time_ms: Option<i64>,
    pub(crate) time_out_of_range: bool,
    pub(crate) group: Option<TagGroup>,
}

/// Earliest accepted tag-block time (2000-01-01) in seconds.
const MIN_TAG_SECS: i64 = 946_684_800;
/// Latest accepted tag-block time (2100-01-01) in seconds.
const MAX_TAG_SECS: i64 = 4_102_444_800;

/// XOR of all bytes.
pub(crate) fn xor_checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |acc, b| acc ^ b)
}

pub(crate) fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b.wrapping_sub(b'0')),
        b'A'..=b'F' => Some(b.wrapping_sub(b'A').wrapping_add(10)),
        b'a'..=b'f' => Some(b.wrapping_sub(b'a').wrapping_add(10)),
        _ => None,
    }
}

/// Parses one or two hex digits.
fn parse_hex(bytes: &[u8]) -> Option<u8> {
    match bytes {
        [a] => hex_val(*a),
        [a, b] => Some(hex_val(*a)?.wrapping_mul(16).wrapping_add(hex_val(*b)?)),
        _ => None,
    }
}

/// Parses an unsigned decimal of at most 18 digits.
pub(crate) fn parse_u64(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 18 {
        return None;
    }
    let mut n: u64 = 0;
    for b in bytes {
        let d = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        n = n.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some(n)
}

fn parse_u32(bytes: &[u8]) -> Option<u32> {
    parse_u64(bytes).and_then(|n| u32::try_from(n).ok())
}

/// Parses the inside of a tag block (between the backslashes): `s:...,c:...,g:...*hh`.
/// Returns `None` when the tag block is malformed or its checksum is wrong.
pub(crate) fn parse_tag_block(inner: &[u8]) -> Option<TagBlock> {
    let star = inner.iter().rposition(|b| *b == b'*')?;
    let body = inner.get(..star)?;
    let cs = parse_hex(inner.get(star.checked_add(1)?..)?)?;
    if xor_checksum(body) != cs {
        return None;
    }
    let mut tag = TagBlock::default();
    for field in body.split(|b| *b == b',') {
        match field {
            [b's', b':', rest @ ..] => tag.source = Some(SourceId::from_bytes(rest)?),
            [b'c', b':', rest @ ..] => {
                let n = i64::try_from(parse_u64(rest)?).ok()?;
                if (MIN_TAG_SECS..=MAX_TAG_SECS).contains(&n) {
                    tag.time_ms = n.checked_mul(1000);
                } else if (MIN_TAG_SECS.saturating_mul(1000)..=MAX_TAG_SECS.saturating_mul(1000))
                    .contains(&n)
                {
                    tag.time_ms = Some(n);
                } else {
                    tag.time_out_of_range = true;
                }
            }
            [b'g', b':', rest @ ..] => {
                let mut parts = rest.split(|b| *b == b'-');
                let sentence = u16::try_from(parse_u32(parts.next()?)?).ok()?;
                let total = u16::try_from(parse_u32(parts.next()?)?).ok()?;
                let id = parse_u32(parts.next()?)?;
                if parts.next().is_some() || sentence == 0 || sentence > total {
                    return None;
                }
                tag.group = Some(TagGroup {
                    sentence,
                    total,
                    id,
                });
            }
            // Other fields (n: line count, r: relative time, d: destination, t: text, q:, T:) are ignored.
            _ => {}
        }
    }
    Some(tag)
}

/// A framed `!xxVDM` / `!xxVDO` sentence, borrowing from the line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sentence<'a> {
    pub(crate) talker: [u8; 2],
    pub(crate) own_vessel: bool,
    pub(crate) count: u8,
    pub(crate) number: u8,
    /// Sequential message id (0..=9), `None` when empty.
    pub(crate) seq: Option<u8>,
    pub(crate) channel: Option<u8>,
    pub(crate) payload: &'a [u8],
    /// Byte offset of the payload in the line.
    pub(crate) payload_offset: usize,
    pub(crate) fill_bits: u8,
    /// The sentence's own checksum (also used to match `$PGHP` lines).
    pub(crate) checksum: u8,
}

/// True when `s` starts like an AIS sentence: `!xxVDM` or `!xxVDO`.
pub(crate) fn looks_like_vdm(s: &[u8]) -> bool {
    matches!(s, [b'!', _, _, b'V', b'D', b'M' | b'O', ..])
}

/// Splits off the `*hh` checksum of an NMEA sentence starting with `!` or `$` and verifies it.
/// Returns the body (after the start character, before `*`) and the checksum.
/// `base` is the offset of `s` in the line, for error positions.
pub(crate) fn checked_body(s: &[u8], base: usize) -> Result<(&[u8], u8), DecodeError> {
    let (star, computed) = star_and_xor(s.get(1..).unwrap_or(&[]));
    let star = star
        .map(|p| p.saturating_add(1))
        .ok_or(DecodeError::BadField {
            field: "checksum",
            offset: base.saturating_add(s.len()),
        })?;
    let body = s.get(1..star).unwrap_or(&[]);
    let cs_off = star.saturating_add(1);
    let found = s
        .get(cs_off..cs_off.saturating_add(2))
        .and_then(parse_hex_exact)
        .ok_or(DecodeError::BadField {
            field: "checksum",
            offset: base.saturating_add(cs_off),
        })?;
    if found != computed {
        return Err(DecodeError::Checksum { found, computed });
    }
    Ok((body, found))
}

/// Position of the first `\n` or `\r`, eight bytes at a time.
#[inline]
pub(crate) fn find_line_end(s: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const LFS: u64 = 0x0A0A_0A0A_0A0A_0A0A;
    const CRS: u64 = 0x0D0D_0D0D_0D0D_0D0D;
    let mut done = 0usize;
    for chunk in s.chunks_exact(8) {
        let word = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).unwrap_or([b'\n'; 8]));
        let (a, b) = (word ^ LFS, word ^ CRS);
        if (a.wrapping_sub(ONES) & !a | b.wrapping_sub(ONES) & !b) & HIGHS != 0 {
            break;
        }
        done = done.wrapping_add(8);
    }
    s.iter()
        .skip(done)
        .position(|b| *b == b'\n' || *b == b'\r')
        .map(|p| p.wrapping_add(done))
}

/// Position of the first `*` and the XOR of the bytes before it. Eight bytes at a time: the XOR of
/// whole words folds to the XOR of their bytes, and a word holds a `*` when one of its bytes XOR
/// 0x2A is zero (the classic "has zero byte" test).
#[inline]
pub(crate) fn star_and_xor(s: &[u8]) -> (Option<usize>, u8) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const STARS: u64 = 0x2A2A_2A2A_2A2A_2A2A;
    let mut acc = 0u64;
    let mut done = 0usize;
    for chunk in s.chunks_exact(8) {
        let word = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).unwrap_or([b'*'; 8]));
        let t = word ^ STARS;
        if t.wrapping_sub(ONES) & !t & HIGHS != 0 {
            break;
        }
        acc ^= word;
        done = done.wrapping_add(8);
    }
    let mut xor = acc.to_le_bytes().iter().fold(0u8, |a, b| a ^ b);
    for (i, b) in s.iter().enumerate().skip(done) {
        if *b == b'*' {
            return (Some(i), xor);
        }
        xor ^= *b;
    }
    (None, xor)
}

fn parse_hex_exact(two: &[u8]) -> Option<u8> {
    match two {
        [_, _] => parse_hex(two),
        _ => None,
    }
}

/// Frames an AIS sentence `s` (starting at `!`), located at `base` in the line.
///
/// One pass finds the field separators and the checksum; fields are then checked in place.
pub(crate) fn parse_sentence(s: &[u8], base: usize) -> Result<Sentence<'_>, DecodeError> {
    let body_and_rest = s.get(1..).unwrap_or(&[]);
    let (star, xor) = star_and_xor(body_and_rest);
    let star = star
        .map(|p| p.saturating_add(1))
        .ok_or(DecodeError::BadField {
            field: "checksum",
            offset: base.saturating_add(s.len()),
        })?;
    let cs_off = star.saturating_add(1);
    let found = s
        .get(cs_off..cs_off.saturating_add(2))
        .and_then(parse_hex_exact)
        .ok_or(DecodeError::BadField {
            field: "checksum",
            offset: base.saturating_add(cs_off),
        })?;
    if found != xor {
        return Err(DecodeError::Checksum {
            found,
            computed: xor,
        });
    }
    // Field separators: the first five commas (all in the short header) and the last one (before
    // the one-digit fill-bit field). A comma inside the payload is caught as an invalid payload
    // character when the payload is de-armoured.
    let mut commas = [0usize; 5];
    let mut n_commas = 0usize;
    for (i, b) in s.iter().enumerate().take(star) {
        if *b == b',' {
            if let Some(slot) = commas.get_mut(n_commas) {
                *slot = i;
            }
            n_commas = n_commas.saturating_add(1);
            if n_commas == 5 {
                break;
            }
        }
    }
    let [c0, c1, c2, c3, c4] = commas;
    let c5 = s
        .get(..star)
        .and_then(|h| h.iter().rposition(|b| *b == b','))
        .unwrap_or(0);
    if n_commas < 5 || c5 <= c4 {
        return Err(DecodeError::BadField {
            field: "field count",
            offset: base.saturating_add(star),
        });
    }
    let field = |from: usize, to: usize| s.get(from.saturating_add(1)..to).unwrap_or(&[]);
    let at = |pos: usize| base.saturating_add(pos).saturating_add(1);

    let (talker, own_vessel) = match field(0, c0) {
        [t1, t2, b'V', b'D', b'M'] => ([*t1, *t2], false),
        [t1, t2, b'V', b'D', b'O'] => ([*t1, *t2], true),
        _ => {
            return Err(DecodeError::BadField {
                field: "sentence type",
                offset: at(0),
            });
        }
    };
    let digit = |f: &[u8]| match f {
        [d @ b'0'..=b'9'] => Some(d.wrapping_sub(b'0')),
        _ => None,
    };
    let count = digit(field(c0, c1))
        .filter(|c| *c >= 1)
        .ok_or(DecodeError::BadField {
            field: "fragment count",
            offset: at(c0),
        })?;
    let number = digit(field(c1, c2))
        .filter(|n| *n >= 1 && *n <= count)
        .ok_or(DecodeError::BadField {
            field: "fragment number",
            offset: at(c1),
        })?;
    let seq = match field(c2, c3) {
        [] => None,
        f => Some(digit(f).ok_or(DecodeError::BadField {
            field: "sequential message id",
            offset: at(c2),
        })?),
    };
    let channel = match field(c3, c4) {
        [] => None,
        [c] if c.is_ascii_alphanumeric() => Some(*c),
        _ => {
            return Err(DecodeError::BadField {
                field: "channel",
                offset: at(c3),
            });
        }
    };
    let payload = field(c4, c5);
    let fill_bits = match field(c5, star) {
        [d @ b'0'..=b'5'] => d.wrapping_sub(b'0'),
        _ => {
            return Err(DecodeError::BadField {
                field: "fill bits",
                offset: at(c5),
            });
        }
    };
    Ok(Sentence {
        talker,
        own_vessel,
        count,
        number,
        seq,
        channel,
        payload,
        payload_offset: at(c4),
        fill_bits,
        checksum: found,
    })
}

/// A parsed `$PGHP,1,...` Gatehouse timestamp line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pghp {
    pub(crate) time_ms: i64,
    /// Checksum of the AIS sentence this line belongs to, when given.
    pub(crate) for_checksum: Option<u8>,
}

/// Parses `$PGHP,1,yyyy,mm,dd,hh,mm,ss,ms,country,region,pss,online,cc*hh`.
pub(crate) fn parse_pghp(s: &[u8]) -> Option<Pghp> {
    let (body, _) = checked_body(s, 0).ok()?;
    let mut f = body.split(|b| *b == b',');
    if f.next()? != b"PGHP" || f.next()? != b"1" {
        return None;
    }
    let mut num = || parse_u32(f.next()?);
    let (year, month, day) = (num()?, num()?, num()?);
    let (hour, minute, second, ms) = (num()?, num()?, num()?, num()?);
    let time_ms = crate::time::unix_ms(year, month, day, hour, minute, second, ms)?;
    // country, region, pss, online data, then the checksum of the following sentence.
    let for_checksum = f.nth(4).and_then(parse_hex);
    Some(Pghp {
        time_ms,
        for_checksum,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_a_sentence() {
        let s = parse_sentence(
            b"!AIVDM,2,1,3,B,55P5TL01VIaAL@7WKO@mBplU@<PDhh000000001S;AJ::4A80?4i@E53,0*3E",
            0,
        )
        .unwrap();
        assert_eq!(
            (s.count, s.number, s.seq, s.channel),
            (2, 1, Some(3), Some(b'B'))
        );
        assert_eq!(&s.talker, b"AI");
        assert_eq!(s.fill_bits, 0);
    }

    #[test]
    fn rejects_bad_checksum() {
        let err =
            parse_sentence(b"!AIVDM,1,1,,A,15M67FC000G?ufbE`FepT@3n00Sa,0*5D", 0).unwrap_err();
        assert_eq!(
            err,
            DecodeError::Checksum {
                found: 0x5D,
                computed: 0x5F
            }
        );
    }

    #[test]
    fn tag_block_fields() {
        let t = parse_tag_block(b"g:1-2-1604,s:rORBCOMM008,c:1418169601,T:2014-12-10 00.00.01*37")
            .unwrap();
        assert_eq!(t.source.unwrap().as_str(), "rORBCOMM008");
        assert_eq!(t.time_ms, Some(1_418_169_601_000));
        assert_eq!(
            t.group,
            Some(TagGroup {
                sentence: 1,
                total: 2,
                id: 1604
            })
        );
        let ms = parse_tag_block(b"c:1418169601123*11");
        // wrong checksum on purpose
        assert!(ms.is_none());
    }

    #[test]
    fn star_and_xor_matches_bytewise() {
        let line = b"AIVDM,1,1,,A,15M67FC000G?ufbE`FepT@3n00Sa,0*5F,extra*99";
        let star = line.iter().position(|b| *b == b'*').unwrap();
        let xor = line[..star].iter().fold(0u8, |a, b| a ^ b);
        assert_eq!(star_and_xor(line), (Some(star), xor));
        for cut in 0..line.len() {
            let l = &line[..cut];
            let star = l.iter().position(|b| *b == b'*');
            let xor = l[..star.unwrap_or(cut)].iter().fold(0u8, |a, b| a ^ b);
            assert_eq!(star_and_xor(l), (star, xor), "cut {cut}");
        }
    }

    #[test]
    fn find_line_end_matches_bytewise() {
        let text = b"!AIVDM,1,1,,A,15M67FC000G?ufbE`FepT@3n00Sa,0*5F\r\n$PGHP,1\rx\n";
        for from in 0..text.len() {
            let s = &text[from..];
            let expected = s.iter().position(|b| *b == b'\n' || *b == b'\r');
            assert_eq!(find_line_end(s), expected, "from {from}");
        }
    }

    #[test]
    fn pghp_time() {
        let p = parse_pghp(b"$PGHP,1,2010,6,11,11,46,11,390,231,45,992190934,1,2B*5B").unwrap();
        assert_eq!(p.time_ms, 1_276_256_771_390);
        assert_eq!(p.for_checksum, Some(0x2B));
    }
}
