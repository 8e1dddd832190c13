//! SHA-256 checksums of revision scripts (SPEC section 4) and the chained checksum the runtime
//! uses to verify every applied ancestor of a head with one comparison (SPEC section 7).
//!
//! Line endings are normalised before hashing so that a checkout with `core.autocrlf` on Windows
//! and one on Linux agree on every script's checksum: an edit is a change of content, never of
//! line endings.

use std::fmt;

use sha2::{Digest, Sha256};

/// SHA-256 of a script with line endings normalised to `\n`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Checksum(pub [u8; 32]);

/// Why a string is not a checksum.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChecksumError {
    #[error("checksum {text:?} is {len} characters long; expected 64 hexadecimal characters")]
    Length { text: String, len: usize },
    #[error("checksum {text:?} has a non-hexadecimal character at position {position}")]
    NotHex { text: String, position: usize },
}

/// Domain separation for [`Checksum::chained`]: a chained checksum can never equal the plain
/// checksum of some file, and the scheme can be changed later by bumping the tag.
const CHAIN_TAG: &[u8] = b"cargo-alembic chained checksum v1\n";

impl Checksum {
    /// SHA-256 of `bytes` with every `\r\n` and every lone `\r` replaced by `\n`.
    ///
    /// Hashes slices between carriage returns instead of building a normalised copy, so large
    /// scripts cost no extra allocation.
    pub fn of_file_bytes(bytes: &[u8]) -> Checksum {
        let mut hasher = Sha256::new();
        let mut rest = bytes;
        while let Some(cr) = rest.iter().position(|&b| b == b'\r') {
            hasher.update(&rest[..cr]);
            hasher.update(b"\n");
            // A CR followed by LF is one line ending: skip the LF too.
            let skip = if rest.get(cr + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
            rest = &rest[cr + skip..];
        }
        hasher.update(rest);
        Checksum(hasher.finalize().into())
    }

    /// The checksum of a revision together with all its ancestors: the hash of its own file
    /// checksum and the chained checksums of its parents (down revisions, and dependencies if
    /// the caller includes them).
    ///
    /// The parents are sorted before hashing, so the result depends only on which parents there
    /// are, not on the order a caller lists them in. Because each parent's chained checksum
    /// already covers its own ancestors, comparing one stored value per head verifies that no
    /// applied script below it was edited.
    pub fn chained(own: &Checksum, parents: &[Checksum]) -> Checksum {
        let mut sorted: Vec<&Checksum> = parents.iter().collect();
        sorted.sort();
        let mut hasher = Sha256::new();
        hasher.update(CHAIN_TAG);
        hasher.update(own.0);
        // The count keeps "no parents" distinct from any list of parents, whatever the bytes.
        hasher.update((sorted.len() as u64).to_be_bytes());
        for parent in sorted {
            hasher.update(parent.0);
        }
        Checksum(hasher.finalize().into())
    }

    /// Parses 64 hexadecimal characters (either case), as written by [`fmt::Display`].
    pub fn from_hex(text: &str) -> Result<Checksum, ChecksumError> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return Err(ChecksumError::Length {
                text: text.to_string(),
                len: text.chars().count(),
            });
        }
        let mut out = [0u8; 32];
        let digit = |pos: usize| {
            hex_value(bytes[pos]).ok_or_else(|| ChecksumError::NotHex {
                text: text.to_string(),
                position: pos,
            })
        };
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = (digit(2 * i)? << 4) | digit(2 * i + 1)?;
        }
        Ok(Checksum(out))
    }

    /// Lowercase hexadecimal, 64 characters.
    pub fn to_hex(&self) -> String {
        String::from_utf8_lossy(&self.hex_bytes()).into_owned()
    }

    /// The 64 hexadecimal digits, without the formatting machinery: an offline script of
    /// 10,000 revisions writes two checksums per revision, and formatting them a byte at a
    /// time was a twentieth of its run time.
    fn hex_bytes(&self) -> [u8; 64] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (i, b) in self.0.iter().enumerate() {
            out[2 * i] = DIGITS[usize::from(b >> 4)];
            out[2 * i + 1] = DIGITS[usize::from(b & 0x0f)];
        }
        out
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.hex_bytes()))
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Checksum({self})")
    }
}

impl std::str::FromStr for Checksum {
    type Err = ChecksumError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Checksum::from_hex(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_sha256_of_empty_and_abc() {
        assert_eq!(
            Checksum::of_file_bytes(b"").to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            Checksum::of_file_bytes(b"abc").to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn crlf_and_lone_cr_hash_like_lf() {
        let lf = Checksum::of_file_bytes(b"-- m\n-- Revision ID: a\n\nSELECT 1;\n");
        let crlf = Checksum::of_file_bytes(b"-- m\r\n-- Revision ID: a\r\n\r\nSELECT 1;\r\n");
        let cr = Checksum::of_file_bytes(b"-- m\r-- Revision ID: a\r\rSELECT 1;\r");
        let mixed = Checksum::of_file_bytes(b"-- m\r\n-- Revision ID: a\r\nSELECT 1;\n");
        assert_eq!(lf, crlf);
        assert_eq!(lf, cr);
        assert_ne!(lf, mixed, "dropping a blank line is a real change");
        assert_eq!(
            Checksum::of_file_bytes(b"-- m\n-- Revision ID: a\nSELECT 1;\n"),
            mixed
        );
    }

    #[test]
    fn cr_at_end_and_double_cr() {
        assert_eq!(
            Checksum::of_file_bytes(b"a\r"),
            Checksum::of_file_bytes(b"a\n")
        );
        // "\r\r\n" is a lone CR followed by a CRLF: two line endings.
        assert_eq!(
            Checksum::of_file_bytes(b"a\r\r\nb"),
            Checksum::of_file_bytes(b"a\n\nb")
        );
    }

    #[test]
    fn content_changes_change_the_checksum() {
        assert_ne!(
            Checksum::of_file_bytes(b"SELECT 1;\n"),
            Checksum::of_file_bytes(b"SELECT 2;\n")
        );
    }

    #[test]
    fn hex_round_trip_and_errors() {
        let c = Checksum::of_file_bytes(b"x");
        let hex = c.to_string();
        assert_eq!(hex.len(), 64);
        assert_eq!(hex, hex.to_lowercase());
        assert_eq!(Checksum::from_hex(&hex), Ok(c));
        assert_eq!(Checksum::from_hex(&hex.to_uppercase()), Ok(c));
        assert_eq!(format!("{c:?}"), format!("Checksum({hex})"));

        let short = Checksum::from_hex("abc").unwrap_err();
        assert!(short.to_string().contains("expected 64"), "{short}");
        let mut bad = hex.clone();
        bad.replace_range(10..11, "g");
        match Checksum::from_hex(&bad) {
            Err(ChecksumError::NotHex { position, .. }) => assert_eq!(position, 10),
            other => panic!("expected NotHex, got {other:?}"),
        }
        // Multi-byte characters must not panic on slicing.
        assert!(Checksum::from_hex(&"é".repeat(32)).is_err());
    }

    #[test]
    fn chained_depends_on_own_and_parents_but_not_their_order() {
        let a = Checksum::of_file_bytes(b"a");
        let b = Checksum::of_file_bytes(b"b");
        let c = Checksum::of_file_bytes(b"c");
        let base = Checksum::chained(&a, &[]);
        assert_ne!(base, a);
        assert_ne!(Checksum::chained(&c, &[a, b]), Checksum::chained(&c, &[a]));
        assert_eq!(
            Checksum::chained(&c, &[a, b]),
            Checksum::chained(&c, &[b, a])
        );
        assert_ne!(Checksum::chained(&c, &[a]), Checksum::chained(&b, &[a]));
        // An edit far below changes the chain at the top.
        let chain = |root: Checksum| {
            let r = Checksum::chained(&root, &[]);
            let m = Checksum::chained(&b, &[r]);
            Checksum::chained(&c, &[m])
        };
        assert_ne!(chain(a), chain(Checksum::of_file_bytes(b"a2")));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn equals_the_checksum_of_the_normalised_text(
                bytes in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), any::<u8>()], 0..200)
            ) {
                let mut normalised = Vec::with_capacity(bytes.len());
                let mut i = 0;
                while i < bytes.len() {
                    if bytes[i] == b'\r' {
                        normalised.push(b'\n');
                        if bytes.get(i + 1) == Some(&b'\n') {
                            i += 1;
                        }
                    } else {
                        normalised.push(bytes[i]);
                    }
                    i += 1;
                }
                let plain = Checksum(Sha256::digest(&normalised).into());
                prop_assert_eq!(Checksum::of_file_bytes(&bytes), plain);
                prop_assert_eq!(Checksum::from_hex(&plain.to_string()), Ok(plain));
            }
        }
    }
}
