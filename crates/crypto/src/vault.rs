//! The store's data key, wrapped by a key derived from the officer's
//! passphrase with Argon2id. The passphrase itself is never stored; a
//! wrong one fails the wrap's authentication tag, so it is told apart
//! from damage without decrypting any record.

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use crate::{CryptoError, RecordKeys, random};

/// Shortest passphrase accepted, in characters.
pub const MIN_PASSPHRASE_CHARS: usize = 8;

/// Binds the wrapped key to its purpose and format version.
const WRAP_AAD: &[u8] = b"doorstep-vault-v1";

/// Argon2id cost settings, kept with the wrapped key so they can be
/// raised later without locking out existing stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// OWASP's Argon2id baseline (19 MiB, 2 passes, 1 lane): about 50 ms
    /// on the field laptops, paid once per command that unlocks.
    pub const DEFAULT: KdfParams = KdfParams {
        m_kib: 19 * 1024,
        t: 2,
        p: 1,
    };
}

/// The data key as stored: wrapped, with what is needed to unwrap it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    pub params: KdfParams,
    pub salt: [u8; 16],
    /// Nonce (24 bytes) followed by the encrypted key and its tag.
    pub wrapped: Vec<u8>,
}

/// The store's data key (32 random bytes), wiped from memory on drop.
pub struct DataKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    /// A fresh random key wrapped under `passphrase`.
    pub fn create(
        passphrase: &str,
        params: KdfParams,
    ) -> Result<(DataKey, WrappedKey), CryptoError> {
        let key = DataKey(Zeroizing::new(random::<32>()?));
        let wrapped = key.wrap(passphrase, params)?;
        Ok((key, wrapped))
    }

    /// Unwraps the data key; [`CryptoError::WrongPassphrase`] when the
    /// passphrase is not the one it was wrapped under.
    pub fn unlock(passphrase: &str, stored: &WrappedKey) -> Result<DataKey, CryptoError> {
        let kek = derive_kek(passphrase, &stored.salt, stored.params)?;
        if stored.wrapped.len() != 24 + 32 + 16 {
            return Err(CryptoError::Malformed {
                what: "wrapped key",
            });
        }
        let (nonce, ct) = stored.wrapped.split_at(24);
        let cipher = XChaCha20Poly1305::new(kek.as_ref().into());
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    XNonce::from_slice(nonce),
                    Payload {
                        msg: ct,
                        aad: WRAP_AAD,
                    },
                )
                .map_err(|_| CryptoError::WrongPassphrase)?,
        );
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&plain);
        Ok(DataKey(key))
    }

    /// This key wrapped under `passphrase` (new salt): changing the
    /// passphrase rewraps the key, records stay as they are.
    pub fn wrap(&self, passphrase: &str, params: KdfParams) -> Result<WrappedKey, CryptoError> {
        if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
            return Err(CryptoError::WeakPassphrase {
                min: MIN_PASSPHRASE_CHARS,
            });
        }
        let salt = random::<16>()?;
        let kek = derive_kek(passphrase, &salt, params)?;
        let nonce = random::<24>()?;
        let cipher = XChaCha20Poly1305::new(kek.as_ref().into());
        let ct = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: self.0.as_ref(),
                    aad: WRAP_AAD,
                },
            )
            .map_err(|_| CryptoError::Malformed {
                what: "key to wrap",
            })?;
        let mut wrapped = nonce.to_vec();
        wrapped.extend_from_slice(&ct);
        Ok(WrappedKey {
            params,
            salt,
            wrapped,
        })
    }

    /// The keys records are encrypted and indexed with.
    pub fn record_keys(&self) -> RecordKeys {
        RecordKeys::derive(&self.0)
    }
}

/// Argon2id of the passphrase in Unicode NFC: "Hòa" typed on a keyboard
/// that sends decomposed marks still unlocks.
fn derive_kek(
    passphrase: &str,
    salt: &[u8; 16],
    params: KdfParams,
) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let normalized = Zeroizing::new(passphrase.nfc().collect::<String>());
    let params = Params::new(params.m_kib, params.t, params.p, Some(32))
        .map_err(|e| CryptoError::KdfParams(e.to_string()))?;
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(normalized.as_bytes(), salt, out.as_mut())
        .map_err(|e| CryptoError::KdfParams(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: KdfParams = KdfParams {
        m_kib: 64,
        t: 1,
        p: 1,
    };

    #[test]
    fn the_right_passphrase_unlocks_the_same_key() {
        let (key, wrapped) = DataKey::create("mật khẩu đủ dài", FAST).unwrap();
        let again = DataKey::unlock("mật khẩu đủ dài", &wrapped).unwrap();
        assert_eq!(*key.0, *again.0);
    }

    #[test]
    fn a_wrong_passphrase_is_told_apart() {
        let (_, wrapped) = DataKey::create("correct horse", FAST).unwrap();
        assert_eq!(
            DataKey::unlock("correct horsf", &wrapped).unwrap_err(),
            CryptoError::WrongPassphrase
        );
    }

    #[test]
    fn decomposed_marks_unlock_like_composed_ones() {
        let (_, wrapped) = DataKey::create("Nguyễn Hòa 2026", FAST).unwrap();
        let nfd: String = "Nguyễn Hòa 2026".nfd().collect();
        assert_ne!(nfd, "Nguyễn Hòa 2026");
        DataKey::unlock(&nfd, &wrapped).unwrap();
    }

    #[test]
    fn short_passphrases_are_refused() {
        assert_eq!(
            DataKey::create("1234567", FAST).unwrap_err(),
            CryptoError::WeakPassphrase { min: 8 }
        );
    }

    #[test]
    fn rewrapping_keeps_the_key_and_drops_the_old_passphrase() {
        let (key, _) = DataKey::create("first passphrase", FAST).unwrap();
        let rewrapped = key.wrap("second passphrase", FAST).unwrap();
        assert_eq!(
            *DataKey::unlock("second passphrase", &rewrapped).unwrap().0,
            *key.0
        );
        assert!(DataKey::unlock("first passphrase", &rewrapped).is_err());
    }

    #[test]
    fn a_damaged_wrap_is_refused() {
        let (_, mut wrapped) = DataKey::create("correct horse", FAST).unwrap();
        wrapped.wrapped[30] ^= 1;
        assert!(DataKey::unlock("correct horse", &wrapped).is_err());
        wrapped.wrapped.truncate(10);
        assert!(matches!(
            DataKey::unlock("correct horse", &wrapped),
            Err(CryptoError::Malformed { .. })
        ));
    }
}
