//! [`AisString`]: fixed-capacity text decoded from AIS 6-bit characters, so decoding allocates nothing.

use core::fmt;

/// Text field of at most `N` ASCII bytes, stored inline.
///
/// Decoded text ends at the first `@` (padding) and has trailing spaces removed, as gpsd does.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AisString<const N: usize> {
    buf: [u8; N],
    len: u8,
}

impl<const N: usize> AisString<N> {
    /// The empty string.
    pub const EMPTY: Self = Self {
        buf: [0; N],
        len: 0,
    };

    /// Builds from ASCII text; `None` when longer than `N` or not ASCII.
    pub fn new(text: &str) -> Option<Self> {
        if !text.is_ascii() || text.len() > N || text.len() > usize::from(u8::MAX) {
            return None;
        }
        let mut out = Self::EMPTY;
        for b in text.bytes() {
            out.push(b);
        }
        Some(out)
    }

    /// Appends one byte; silently ignored when full (callers size `N` for the field).
    pub(crate) fn push(&mut self, byte: u8) {
        let idx = usize::from(self.len);
        if let Some(slot) = self.buf.get_mut(idx) {
            *slot = byte;
            self.len = self.len.saturating_add(1);
        }
    }

    /// Removes trailing `@` and spaces.
    pub(crate) fn trim_end(&mut self) {
        while self.len > 0 {
            let last = self.len.saturating_sub(1);
            match self.buf.get(usize::from(last)) {
                Some(b'@') | Some(b' ') => self.len = last,
                _ => break,
            }
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        let bytes = self.buf.get(..usize::from(self.len)).unwrap_or(&[]);
        // Only ASCII bytes are ever pushed (6-bit alphabet or checked `new`).
        core::str::from_utf8(bytes).unwrap_or("")
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }
}

impl<const N: usize> Default for AisString<N> {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl<const N: usize> fmt::Debug for AisString<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const N: usize> fmt::Display for AisString<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> PartialEq<str> for AisString<N> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl<const N: usize> PartialEq<&str> for AisString<N> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The AIS 6-bit text alphabet, indexed by the 6-bit value.
pub(crate) const SIXBIT_ALPHABET: &[u8; 64] =
    b"@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_ !\"#$%&'()*+,-./0123456789:;<=>?";

/// 6-bit value of an ASCII character, if the alphabet has it (lowercase is upper-cased).
pub(crate) fn sixbit_of(ch: u8) -> Option<u8> {
    let ch = ch.to_ascii_uppercase();
    match ch {
        b'@'..=b'_' => Some(ch.wrapping_sub(b'@')),
        b' '..=b'?' => Some(ch),
        _ => None,
    }
}
