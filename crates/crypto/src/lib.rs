//! Protection of citizen data: the laptop's data key wrapped by the
//! officer's passphrase ([`vault`]), records encrypted at rest with it
//! ([`RecordKeys`]), and records sealed to central's public key so a
//! station relays what it cannot read ([`seal`]). Only well-kept
//! primitives (argon2, chacha20poly1305, crypto_box, blake3); nothing
//! here touches files or the network.
#![forbid(unsafe_code)]

mod error;
mod record_keys;
pub mod seal;
pub mod vault;

pub use error::CryptoError;
pub use record_keys::RecordKeys;
pub use seal::{Opener, SealKey, SealedBox, Sealer};
pub use vault::{DataKey, KdfParams, WrappedKey};

/// `N` bytes from the operating system's random source.
pub(crate) fn random<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| CryptoError::Random(e.to_string()))?;
    Ok(out)
}
