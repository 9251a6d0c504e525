//! What can go wrong protecting or opening citizen data.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The passphrase does not open the store's key.
    #[error("wrong passphrase: it does not open this store's key")]
    WrongPassphrase,

    #[error("the passphrase is too short: at least {min} characters")]
    WeakPassphrase { min: usize },

    #[error("key derivation settings are not usable: {0}")]
    KdfParams(String),

    #[error("the operating system's random source failed: {0}")]
    Random(String),

    /// Authenticated decryption failed: the bytes were altered, belong to
    /// another record, or were encrypted under another key.
    #[error("{what} does not decrypt: it was altered or belongs to another key or record")]
    Tampered { what: &'static str },

    /// The bytes were sealed to another public key than this node's.
    #[error("sealed to key {to}, not to this node's key {ours}")]
    WrongRecipient { to: String, ours: String },

    #[error("malformed {what}")]
    Malformed { what: &'static str },
}
