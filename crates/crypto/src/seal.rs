//! Records sealed to central's X25519 public key with `crypto_box`
//! (X25519, HChaCha20, XChaCha20-Poly1305: libsodium's
//! `crypto_box_curve25519xchacha20poly1305`). The sender uses one
//! ephemeral key pair per session and forgets its secret half, so only
//! central's secret key opens what was sealed: not the laptop that sealed
//! it, not the station that relays it. Each record has its own random
//! nonce. (The box takes no associated data: what binds a box to its
//! record is that central hashes the opened bytes and compares them with
//! the signed content hash.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crypto_box::aead::Aead;
use crypto_box::{ChaChaBox, PublicKey, SecretKey};

use crate::{CryptoError, nonce, random};

/// Opened sessions central keeps (one Diffie-Hellman each) before it
/// starts over.
const OPENER_CACHE: usize = 4096;

/// One record sealed to a recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedBox {
    /// The recipient's public key.
    pub to: [u8; 32],
    /// The sender's ephemeral public key.
    pub from: [u8; 32],
    pub nonce: [u8; 24],
    pub ciphertext: Vec<u8>,
}

/// First bytes of a sealed blob (`proto/attachments-v1.md` section 4.2).
pub const BLOB_MAGIC: &[u8; 17] = b"doorstep-blob-v1\n";
/// Bytes a sealed blob adds to its plaintext: magic, two keys, nonce, tag.
pub const BLOB_OVERHEAD: usize = 17 + 32 + 32 + 24 + 16;

impl SealedBox {
    /// The sealed-blob layout: magic, `to`, `from`, nonce, ciphertext and tag.
    pub fn to_blob(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(17 + 88 + self.ciphertext.len());
        out.extend_from_slice(BLOB_MAGIC);
        out.extend_from_slice(&self.to);
        out.extend_from_slice(&self.from);
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// Reads the sealed-blob layout; `None` when the bytes are not one.
    pub fn from_blob(bytes: &[u8]) -> Option<SealedBox> {
        let rest = bytes.strip_prefix(BLOB_MAGIC.as_slice())?;
        if rest.len() < 88 + 16 {
            return None;
        }
        let (to, rest) = rest.split_at(32);
        let (from, rest) = rest.split_at(32);
        let (nonce, ciphertext) = rest.split_at(24);
        Some(SealedBox {
            to: to.try_into().ok()?,
            from: from.try_into().ok()?,
            nonce: nonce.try_into().ok()?,
            ciphertext: ciphertext.to_vec(),
        })
    }
}

/// Central's sealing key pair (its secret half lives in `seal.key`).
pub struct SealKey(SecretKey);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealKey({})", hex::encode(self.public()))
    }
}

impl SealKey {
    pub fn generate() -> Result<SealKey, CryptoError> {
        Ok(SealKey(SecretKey::from_bytes(random::<32>()?)))
    }

    pub fn from_bytes(secret: [u8; 32]) -> SealKey {
        SealKey(SecretKey::from_bytes(secret))
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub fn public(&self) -> [u8; 32] {
        self.0.public_key().to_bytes()
    }
}

/// Seals records to one recipient for one session.
#[derive(Clone)]
pub struct Sealer {
    to: [u8; 32],
    from: [u8; 32],
    cipher: Arc<ChaChaBox>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer(to {})", hex::encode(self.to))
    }
}

impl Sealer {
    /// A new session sealing to `recipient`: a fresh ephemeral key pair
    /// whose secret half is dropped with the sealer.
    pub fn new(recipient: [u8; 32]) -> Result<Sealer, CryptoError> {
        let ephemeral = SecretKey::from_bytes(random::<32>()?);
        let cipher = ChaChaBox::new(&PublicKey::from_bytes(recipient), &ephemeral);
        Ok(Sealer {
            to: recipient,
            from: ephemeral.public_key().to_bytes(),
            cipher: Arc::new(cipher),
        })
    }

    /// The recipient's public key.
    pub fn recipient(&self) -> [u8; 32] {
        self.to
    }

    /// Seals `plaintext`.
    pub fn seal(&self, plaintext: &[u8]) -> Result<SealedBox, CryptoError> {
        let nonce = nonce::<24>()?;
        let ciphertext =
            self.cipher
                .encrypt(&nonce.into(), plaintext)
                .map_err(|_| CryptoError::Malformed {
                    what: "record to seal",
                })?;
        Ok(SealedBox {
            to: self.to,
            from: self.from,
            nonce,
            ciphertext,
        })
    }
}

/// Opens records sealed to this node's key; remembers the shared key of
/// each recent session so a batch of thousands costs one key agreement.
pub struct Opener {
    key: SecretKey,
    public: [u8; 32],
    sessions: Mutex<HashMap<[u8; 32], Arc<ChaChaBox>>>,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Opener({})", hex::encode(self.public))
    }
}

impl Opener {
    pub fn new(key: &SealKey) -> Opener {
        Opener {
            key: key.0.clone(),
            public: key.public(),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// This node's public sealing key.
    pub fn public(&self) -> [u8; 32] {
        self.public
    }

    /// Opens `sealed`.
    pub fn open(&self, sealed: &SealedBox) -> Result<Vec<u8>, CryptoError> {
        if sealed.to != self.public {
            return Err(CryptoError::WrongRecipient {
                to: hex::encode(sealed.to),
                ours: hex::encode(self.public),
            });
        }
        let cipher = self.session(&sealed.from);
        cipher
            .decrypt(&sealed.nonce.into(), sealed.ciphertext.as_slice())
            .map_err(|_| CryptoError::Tampered {
                what: "the sealed record",
            })
    }

    fn session(&self, from: &[u8; 32]) -> Arc<ChaChaBox> {
        // A poisoned lock only means another thread panicked mid-insert:
        // the map is still a valid cache.
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cipher) = sessions.get(from) {
            return Arc::clone(cipher);
        }
        if sessions.len() >= OPENER_CACHE {
            sessions.clear();
        }
        let cipher = Arc::new(ChaChaBox::new(&PublicKey::from_bytes(*from), &self.key));
        sessions.insert(*from, Arc::clone(&cipher));
        cipher
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_recipient_opens() {
        let central = SealKey::generate().unwrap();
        let other = SealKey::generate().unwrap();
        let sealer = Sealer::new(central.public()).unwrap();
        let sealed = sealer.seal("Trần Thị Bích".as_bytes()).unwrap();
        assert!(!sealed.ciphertext.windows(4).any(|w| w == "Trần".as_bytes()));
        let opener = Opener::new(&central);
        assert_eq!(opener.open(&sealed).unwrap(), "Trần Thị Bích".as_bytes());
        assert!(matches!(
            Opener::new(&other).open(&sealed),
            Err(CryptoError::WrongRecipient { .. })
        ));
        // Another node's key claiming to be the recipient still cannot open.
        let mut misaddressed = sealed.clone();
        misaddressed.to = other.public();
        assert!(Opener::new(&other).open(&misaddressed).is_err());
    }

    #[test]
    fn tampering_is_detected() {
        let central = SealKey::generate().unwrap();
        let opener = Opener::new(&central);
        let sealed = Sealer::new(central.public())
            .unwrap()
            .seal(b"record")
            .unwrap();
        let mut flipped = sealed.clone();
        flipped.ciphertext[0] ^= 1;
        assert_eq!(
            opener.open(&flipped).unwrap_err(),
            CryptoError::Tampered {
                what: "the sealed record"
            }
        );
        let mut renonced = sealed.clone();
        renonced.nonce[0] ^= 1;
        assert!(opener.open(&renonced).is_err());
        let mut resent = sealed;
        resent.from[0] ^= 1;
        assert!(opener.open(&resent).is_err());
    }

    #[test]
    fn a_sealed_blob_reads_back_and_opens() {
        let central = SealKey::generate().unwrap();
        let image = vec![0xffu8; 1000];
        let blob = Sealer::new(central.public())
            .unwrap()
            .seal(&image)
            .unwrap()
            .to_blob();
        assert_eq!(blob.len(), image.len() + BLOB_OVERHEAD);
        let back = SealedBox::from_blob(&blob).unwrap();
        assert_eq!(Opener::new(&central).open(&back).unwrap(), image);
        assert!(SealedBox::from_blob(&blob[1..]).is_none());
        assert!(SealedBox::from_blob(&blob[..120]).is_none());
    }

    #[test]
    fn many_sessions_open_through_the_cache() {
        let central = SealKey::generate().unwrap();
        let opener = Opener::new(&central);
        for i in 0..3u8 {
            let sealer = Sealer::new(central.public()).unwrap();
            for j in 0..3u8 {
                let sealed = sealer.seal(&[i, j, 7]).unwrap();
                assert_eq!(opener.open(&sealed).unwrap(), vec![i, j, 7]);
            }
        }
        let key = SealKey::from_bytes(central.to_bytes());
        assert_eq!(key.public(), central.public());
    }
}
