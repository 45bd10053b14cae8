//! 6-bit payload de-armouring into a fixed bit buffer, and a bounds-safe big-endian bit reader.

use crate::AisString;
use crate::DecodeError;
use crate::text::SIXBIT_ALPHABET;

/// Maximum payload characters of one (reassembled) message: 5 slots of 256 bits is 1280 bits, so
/// 214 characters; we accept a little more for non-conforming senders.
pub(crate) const MAX_PAYLOAD_CHARS: usize = 336;
/// Bytes of the bit buffer (6 bits per character).
const BUF_BYTES: usize = MAX_PAYLOAD_CHARS * 6 / 8;

/// A de-armoured payload: up to `MAX_PAYLOAD_CHARS * 6` bits.
#[derive(Clone)]
pub(crate) struct BitBuf {
    bytes: [u8; BUF_BYTES],
    /// Number of valid bits (after removing fill bits).
    len: usize,
    acc: u32,
    acc_bits: u32,
    n_chars: usize,
}

/// Marks bytes outside the armouring alphabet in [`DEARMOR`].
const INVALID: u8 = 0xFF;

/// 6-bit value of every byte (or [`INVALID`]).
// Compile-time table: `ch` is a u8, so the index is always within the 256 entries.
#[allow(clippy::indexing_slicing, clippy::as_conversions)]
static DEARMOR: [u8; 256] = {
    let mut t = [INVALID; 256];
    let mut ch: u8 = 0;
    loop {
        if let Some(v) = dearmor(ch) {
            t[ch as usize] = v;
        }
        if ch == u8::MAX {
            break;
        }
        ch = ch.wrapping_add(1);
    }
    t
};

/// The 6-bit value of an armoured payload character.
#[inline]
pub(crate) const fn dearmor(ch: u8) -> Option<u8> {
    match ch {
        b'0'..=b'W' => Some(ch.wrapping_sub(48)),
        b'`'..=b'w' => Some(ch.wrapping_sub(56)),
        _ => None,
    }
}

/// The armoured character for a 6-bit value (only the low 6 bits are used).
#[inline]
pub(crate) fn armor(v: u8) -> u8 {
    let v = v & 0x3F;
    if v < 40 {
        v.wrapping_add(48)
    } else {
        v.wrapping_add(56)
    }
}

impl BitBuf {
    pub(crate) const fn new() -> Self {
        Self {
            bytes: [0; BUF_BYTES],
            len: 0,
            acc: 0,
            acc_bits: 0,
            n_chars: 0,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.acc = 0;
        self.acc_bits = 0;
        self.n_chars = 0;
    }

    /// Appends armoured characters; `offset` is the position of `chars` in the line, for errors.
    pub(crate) fn push_armored(&mut self, chars: &[u8], offset: usize) -> Result<(), DecodeError> {
        let total = self.n_chars.saturating_add(chars.len());
        if total > MAX_PAYLOAD_CHARS {
            return Err(DecodeError::PayloadTooLong {
                chars: total,
                max: MAX_PAYLOAD_CHARS,
            });
        }
        // Hot loop: a table lookup per character and a store per completed byte. `total` is
        // bounded above, so every `byte_idx` is within `bytes`.
        let mut acc = self.acc;
        let mut acc_bits = self.acc_bits;
        let mut byte_idx = self.len / 8;
        for (i, ch) in chars.iter().enumerate() {
            let v = DEARMOR.get(usize::from(*ch)).copied().unwrap_or(INVALID);
            if v == INVALID {
                return Err(DecodeError::PayloadChar {
                    byte: *ch,
                    offset: offset.saturating_add(i),
                });
            }
            acc = (acc << 6) | u32::from(v);
            acc_bits = acc_bits.wrapping_add(6);
            if acc_bits >= 8 {
                acc_bits = acc_bits.wrapping_sub(8);
                let [low, ..] = (acc >> acc_bits).to_le_bytes();
                if let Some(slot) = self.bytes.get_mut(byte_idx) {
                    *slot = low;
                }
                byte_idx = byte_idx.wrapping_add(1);
            }
        }
        self.acc = acc & 0xFF;
        self.acc_bits = acc_bits;
        self.len = byte_idx.wrapping_mul(8);
        self.n_chars = total;
        Ok(())
    }

    /// Flushes pending bits and removes `fill_bits` from the end.
    pub(crate) fn finish(&mut self, fill_bits: u8) -> Result<(), DecodeError> {
        if self.acc_bits > 0 {
            let byte = (self.acc << (8u32.wrapping_sub(self.acc_bits))) & 0xFF;
            if let Some(slot) = self.bytes.get_mut(self.len / 8) {
                *slot = u8::try_from(byte).unwrap_or(0);
            }
            self.len = self
                .len
                .wrapping_add(usize::try_from(self.acc_bits).unwrap_or(0));
            self.acc_bits = 0;
        }
        let fill = usize::from(fill_bits);
        if self.n_chars == 0 {
            return Err(DecodeError::EmptyPayload);
        }
        if fill > 5 || fill >= self.len {
            return Err(DecodeError::FillBits { fill_bits });
        }
        self.len = self.len.wrapping_sub(fill);
        Ok(())
    }

    pub(crate) fn reader(&self) -> Bits<'_> {
        Bits {
            bytes: &self.bytes,
            len: self.len,
        }
    }
}

/// Reads big-endian bit fields; bits past the end read as zero.
#[derive(Clone, Copy)]
pub(crate) struct Bits<'a> {
    bytes: &'a [u8],
    len: usize,
}

impl<'a> Bits<'a> {
    /// Number of valid bits.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Unsigned field of `width` ≤ 32 bits at bit `start`.
    #[inline]
    pub(crate) fn u(&self, start: usize, width: u32) -> u32 {
        if width == 0 || width > 32 {
            return 0;
        }
        // Fast path: the field lies within the payload and an 8-byte window is available.
        let first = start / 8;
        if start.saturating_add(usize::try_from(width).unwrap_or(usize::MAX)) <= self.len
            && let Some(window) = self.bytes.get(first..first.wrapping_add(8))
        {
            let word = u64::from_be_bytes(<[u8; 8]>::try_from(window).unwrap_or([0; 8]));
            let lead = u32::try_from(start % 8).unwrap_or(0);
            // lead ≤ 7 and width ≤ 32, so both shifts are below 64.
            let v = (word << lead) >> 64u32.wrapping_sub(width);
            return u32::try_from(v).unwrap_or(0);
        }
        self.u_slow(start, width)
    }

    /// Bounds-safe path of [`Bits::u`] for fields near or past the payload end.
    #[cold]
    fn u_slow(&self, start: usize, width: u32) -> u32 {
        let mut out: u64 = 0;
        let first = start / 8;
        let end_bit = start.saturating_add(usize::try_from(width).unwrap_or(0));
        let last = end_bit.saturating_sub(1) / 8;
        let mut n_bytes: u32 = 0;
        let mut idx = first;
        while idx <= last && n_bytes < 5 {
            // Bytes past the valid length may hold stale data: mask them out below.
            let byte = self.bytes.get(idx).copied().unwrap_or(0);
            out = (out << 8) | u64::from(byte);
            n_bytes = n_bytes.wrapping_add(1);
            idx = idx.wrapping_add(1);
        }
        let lead = u32::try_from(start % 8).unwrap_or(0);
        let shift = n_bytes
            .wrapping_mul(8)
            .saturating_sub(lead)
            .saturating_sub(width);
        let mask = (1u64 << width).wrapping_sub(1);
        let mut v = (out >> shift) & mask;
        // Zero the bits that lie beyond the payload length.
        if end_bit > self.len {
            let over = end_bit.wrapping_sub(self.len);
            if over >= usize::try_from(width).unwrap_or(0) {
                v = 0;
            } else {
                let keep = width.wrapping_sub(u32::try_from(over).unwrap_or(0));
                v = (v >> (width.wrapping_sub(keep))) << (width.wrapping_sub(keep));
            }
        }
        u32::try_from(v).unwrap_or(0)
    }

    /// Two's-complement signed field of `width` ≤ 32 bits.
    #[inline]
    pub(crate) fn i(&self, start: usize, width: u32) -> i32 {
        if width == 0 || width > 32 {
            return 0;
        }
        let raw = self.u(start, width);
        let shift = 32u32.wrapping_sub(width);
        // Sign-extend: move the sign bit to bit 31, then arithmetic shift back.
        (i32::from_ne_bytes((raw << shift).to_ne_bytes())) >> shift
    }

    /// One bit as a flag.
    #[inline]
    pub(crate) fn flag(&self, start: usize) -> bool {
        self.u(start, 1) != 0
    }

    /// Field of ≤ 8 bits.
    #[inline]
    pub(crate) fn u8(&self, start: usize, width: u32) -> u8 {
        u8::try_from(self.u(start, width.min(8))).unwrap_or(0)
    }

    /// Field of ≤ 16 bits.
    #[inline]
    pub(crate) fn u16(&self, start: usize, width: u32) -> u16 {
        u16::try_from(self.u(start, width.min(16))).unwrap_or(0)
    }

    /// Text of `n_chars` 6-bit characters at `start`: stops at the first `@` (the padding
    /// character; gpsd does the same) or the payload end, then trims trailing spaces.
    pub(crate) fn text<const N: usize>(&self, start: usize, n_chars: usize) -> AisString<N> {
        let mut out = AisString::EMPTY;
        let mut pos = start;
        for _ in 0..n_chars {
            if pos.saturating_add(6) > self.len {
                break;
            }
            let v = usize::from(self.u8(pos, 6));
            if v == 0 {
                break;
            }
            out.push(SIXBIT_ALPHABET.get(v).copied().unwrap_or(b'@'));
            pos = pos.saturating_add(6);
        }
        out.trim_end();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn armor_roundtrip() {
        for v in 0u8..64 {
            assert_eq!(dearmor(armor(v)), Some(v));
        }
        assert_eq!(dearmor(b'X'), None);
        assert_eq!(dearmor(b'x'), None);
    }

    #[test]
    fn reads_fields() {
        let mut b = BitBuf::new();
        b.push_armored(b"15M67FC000G?ufbE`FepT@3n00Sa", 0).unwrap();
        b.finish(0).unwrap();
        let r = b.reader();
        assert_eq!(r.len(), 168);
        assert_eq!(r.u(0, 6), 1);
        assert_eq!(r.u(8, 30), 366_053_209);
        // reading past the end yields zeros, never panics
        assert_eq!(r.u(200, 32), 0);
        assert_eq!(r.u(usize::MAX - 3, 32), 0);
    }

    #[test]
    fn fast_and_slow_paths_agree() {
        let mut b = BitBuf::new();
        b.push_armored(
            b"55?MbV02;H;s<HtKR20EHE:0@T4@Dn2222222216L961O5Gf0NSQEp6ClRp888888888880",
            0,
        )
        .unwrap();
        b.finish(2).unwrap();
        let r = b.reader();
        for start in 0..r.len() + 40 {
            for width in 1..=32 {
                assert_eq!(
                    r.u(start, width),
                    r.u_slow(start, width),
                    "start {start} width {width}"
                );
            }
        }
    }

    #[test]
    fn signed_fields() {
        let mut b = BitBuf::new();
        b.push_armored(b"w", 0).unwrap(); // 111111
        b.finish(0).unwrap();
        assert_eq!(b.reader().i(0, 6), -1);
        assert_eq!(b.reader().i(0, 3), -1);
    }
}
