//! SHA-256 checksums of revision scripts.

/// SHA-256 of a script with line endings normalised to `\n`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Checksum(pub [u8; 32]);
