//! Keys derived from the store's data key: one encrypts records at rest,
//! one makes the keyed index of record bodies (so finding "the same
//! capture enrolled twice" needs no plaintext hash a thief could test
//! guesses against).

use chacha20poly1305::aead::{Aead, AeadInPlace, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::{CryptoError, nonce};

/// Format byte in front of every record ciphertext.
const FORMAT_V1: u8 = 1;
/// The format byte and the nonce, in front of the ciphertext.
const HEADER: usize = 1 + 24;
/// Poly1305 tag, after the ciphertext.
const TAG: usize = 16;

/// The record cipher and index key of one unlocked store.
#[derive(Clone)]
pub struct RecordKeys {
    cipher: XChaCha20Poly1305,
    index: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for RecordKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordKeys(..)")
    }
}

impl RecordKeys {
    pub(crate) fn derive(data_key: &[u8; 32]) -> RecordKeys {
        let enc = Zeroizing::new(blake3::derive_key(
            "doorstep 2026 laptop store record encryption v1",
            data_key,
        ));
        let index = Zeroizing::new(blake3::derive_key(
            "doorstep 2026 laptop store body index v1",
            data_key,
        ));
        RecordKeys {
            cipher: XChaCha20Poly1305::new(enc.as_ref().into()),
            index,
        }
    }

    /// Encrypts `plaintext` bound to `aad` (the record's content hash, so
    /// a ciphertext moved to another row does not decrypt):
    /// format byte, 24-byte random nonce, ciphertext and tag.
    pub fn encrypt(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let nonce = nonce::<24>()?;
        // Written once, encrypted where it lies: no second buffer.
        let mut out = Vec::with_capacity(HEADER + plaintext.len() + TAG);
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = self
            .cipher
            .encrypt_in_place_detached(XNonce::from_slice(&nonce), aad, &mut out[HEADER..])
            .map_err(|_| CryptoError::Malformed {
                what: "record to encrypt",
            })?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Decrypts what [`RecordKeys::encrypt`] made with the same `aad`.
    pub fn decrypt(&self, aad: &[u8], stored: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let Some((&FORMAT_V1, rest)) = stored.split_first() else {
            return Err(CryptoError::Malformed {
                what: "stored record",
            });
        };
        if rest.len() < 24 + 16 {
            return Err(CryptoError::Malformed {
                what: "stored record",
            });
        }
        let (nonce, ct) = rest.split_at(24);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| CryptoError::Tampered {
                what: "the stored record",
            })
    }

    /// Keyed BLAKE3 of `bytes`: equal inputs give equal outputs only
    /// under this store's key.
    pub fn index(&self, bytes: &[u8]) -> [u8; 32] {
        *blake3::keyed_hash(&self.index, bytes).as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(seed: u8) -> RecordKeys {
        RecordKeys::derive(&[seed; 32])
    }

    #[test]
    fn round_trip_and_binding() {
        let k = keys(1);
        let ct = k.encrypt(b"hash-a", "Nguyễn Văn A".as_bytes()).unwrap();
        assert_eq!(
            k.decrypt(b"hash-a", &ct).unwrap(),
            "Nguyễn Văn A".as_bytes()
        );
        assert!(
            k.decrypt(b"hash-b", &ct).is_err(),
            "moved to another record"
        );
        assert!(
            keys(2).decrypt(b"hash-a", &ct).is_err(),
            "another store's key"
        );
        let mut flipped = ct.clone();
        flipped[30] ^= 0x40;
        assert_eq!(
            k.decrypt(b"hash-a", &flipped).unwrap_err(),
            CryptoError::Tampered {
                what: "the stored record"
            }
        );
        assert!(k.decrypt(b"hash-a", &ct[..20]).is_err());
        assert!(k.decrypt(b"hash-a", &[]).is_err());
    }

    #[test]
    fn nonces_differ_and_plaintext_does_not_show() {
        let k = keys(1);
        let a = k.encrypt(b"", b"079203001234 079203001234").unwrap();
        let b = k.encrypt(b"", b"079203001234 079203001234").unwrap();
        assert_ne!(a, b);
        assert!(!a.windows(12).any(|w| w == b"079203001234"));
    }

    #[test]
    fn the_index_is_keyed() {
        assert_eq!(keys(1).index(b"x"), keys(1).index(b"x"));
        assert_ne!(keys(1).index(b"x"), keys(2).index(b"x"));
        assert_ne!(keys(1).index(b"x"), keys(1).index(b"y"));
    }
}
