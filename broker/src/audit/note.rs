//! Signed notes (C2SP signed-note) with Ed25519 keys, and the tree heads
//! they carry (C2SP tlog-checkpoint).
//!
//! A note is a text ending in a newline, a blank line, then signature
//! lines `— <key name> base64(key id || signature)`. Keys are written the
//! way Go's `golang.org/x/mod/sumdb/note` writes them: a verifier key
//! `<name>+<key id, 8 hex digits>+base64(0x01 || public key)`, a private
//! key `PRIVATE+KEY+<name>+<key id>+base64(0x01 || seed)`.

use std::fmt;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use ed25519_dalek::Signer as _;
use sha2::{Digest, Sha256};

use super::tree::Hash;

/// The signature type byte of Ed25519 (C2SP signed-note, "Signature types").
const ED25519: u8 = 0x01;

/// The most signatures a note may carry; C2SP asks verifiers to accept at
/// least 16, Go's `sumdb/note` accepts 100.
pub const MAX_SIGNATURES: usize = 100;

const SIGNATURE_PREFIX: &str = "\u{2014} ";
const PRIVATE_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// Why a key, a note or a signature was refused.
#[derive(Debug, thiserror::Error)]
pub enum NoteError {
    #[error(
        "`{0}` is not a key name: it must be non-empty, without spaces, `+` or control characters"
    )]
    InvalidKeyName(String),
    #[error(
        "a verifier key must be `<name>+<8 hex digits>+<base64 of 0x01 and a 32-byte Ed25519 public key>`"
    )]
    MalformedVerifierKey,
    #[error(
        "a private key must be `PRIVATE+KEY+<name>+<8 hex digits>+<base64 of 0x01 and a 32-byte Ed25519 seed>`"
    )]
    MalformedPrivateKey,
    #[error("signature type {0:#04x} is not supported, only Ed25519 (0x01)")]
    UnsupportedAlgorithm(u8),
    #[error("the key id does not match the key's name and public key")]
    KeyIdMismatch,
    #[error("a note's text must end in a newline")]
    NoFinalNewline,
    #[error("a note must not contain control characters other than newline")]
    ControlCharacter,
    #[error("a note must end in a blank line and signature lines, each ending in a newline")]
    MissingSignatures,
    #[error("signature line {line} is not `— <key name> <base64 of a key id and a signature>`")]
    MalformedSignatureLine { line: usize },
    #[error("a note may carry at most {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    #[error("the signature by key `{name}+{id:08x}` does not verify")]
    InvalidSignature { name: String, id: u32 },
    #[error("the note is not signed by key `{name}+{id:08x}`")]
    NotSigned { name: String, id: u32 },
}

/// A key name (C2SP signed-note, "Format"): non-empty, without Unicode
/// spaces or `+`; control characters are refused too, since a note may
/// not contain them.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyName(String);

impl KeyName {
    pub fn parse(name: &str) -> Result<Self, NoteError> {
        let valid = !name.is_empty()
            && !name
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '+');
        if !valid {
            return Err(NoteError::InvalidKeyName(name.to_owned()));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// The key id of an Ed25519 key: the first four bytes, big-endian, of
/// SHA-256(name || 0x0A || 0x01 || public key) (C2SP signed-note,
/// "Ed25519 signatures").
pub fn key_id(name: &KeyName, public_key: &[u8; 32]) -> u32 {
    let digest = Sha256::new()
        .chain_update(name.as_str().as_bytes())
        .chain_update(b"\n")
        .chain_update([ED25519])
        .chain_update(public_key)
        .finalize();
    let [a, b, c, d, ..] = <[u8; 32]>::from(digest);
    u32::from_be_bytes([a, b, c, d])
}

/// An Ed25519 signing key. Its `Debug` shows the public key only.
#[derive(Clone, Debug)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// A new key, its seed from the operating system's random source.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)?;
        Ok(Self::from_seed(seed))
    }

    /// The key whose RFC 8032 secret (seed) is `seed`.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// The RFC 8032 secret: whoever holds it can sign.
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The verifier key under `name`: `<name>+<key id>+base64(0x01 || public key)`.
    pub fn verifier_key(&self, name: &KeyName) -> String {
        let public_key = self.0.verifying_key().to_bytes();
        format!(
            "{name}+{:08x}+{}",
            key_id(name, &public_key),
            STANDARD.encode(typed(&public_key))
        )
    }
}

/// Parses a private key, `PRIVATE+KEY+<name>+<key id>+base64(0x01 || seed)`,
/// checking that the key id matches. Errors never repeat the text.
pub fn parse_private_key(text: &str) -> Result<(KeyName, SigningKey), NoteError> {
    let rest = text
        .strip_prefix(PRIVATE_KEY_PREFIX)
        .ok_or(NoteError::MalformedPrivateKey)?;
    let (name, id, key) = split_key(rest).ok_or(NoteError::MalformedPrivateKey)?;
    let name = KeyName::parse(name).map_err(|_| NoteError::MalformedPrivateKey)?;
    let seed = untyped(key, || NoteError::MalformedPrivateKey)?;
    let key = SigningKey::from_seed(seed);
    if key_id(&name, &key.0.verifying_key().to_bytes()) != id {
        return Err(NoteError::KeyIdMismatch);
    }
    Ok((name, key))
}

/// The private key text that [`parse_private_key`] reads.
pub fn format_private_key(name: &KeyName, key: &SigningKey) -> String {
    format!(
        "{PRIVATE_KEY_PREFIX}{name}+{:08x}+{}",
        key_id(name, &key.0.verifying_key().to_bytes()),
        STANDARD.encode(typed(&key.seed()))
    )
}

/// A public key that signatures are checked against, with its name and id.
#[derive(Clone, Debug)]
pub struct Verifier {
    name: KeyName,
    id: u32,
    key: ed25519_dalek::VerifyingKey,
}

impl Verifier {
    /// Parses a verifier key, `<name>+<key id>+base64(0x01 || public key)`,
    /// checking that the key id matches.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let (name, id, key) = split_key(vkey).ok_or(NoteError::MalformedVerifierKey)?;
        let name = KeyName::parse(name)?;
        let public_key = untyped(key, || NoteError::MalformedVerifierKey)?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&public_key)
            .map_err(|_| NoteError::MalformedVerifierKey)?;
        if key_id(&name, &public_key) != id {
            return Err(NoteError::KeyIdMismatch);
        }
        Ok(Self { name, id, key })
    }

    pub fn name(&self) -> &KeyName {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.id
    }
}

/// Signs `text` (which must end in a newline and hold no control
/// character but newline) with `key` under `name`: the text, a blank
/// line, and the signature line.
pub fn sign_note(text: &str, name: &KeyName, key: &SigningKey) -> Result<String, NoteError> {
    check_characters(text)?;
    if !text.ends_with('\n') {
        return Err(NoteError::NoFinalNewline);
    }
    let id = key_id(name, &key.0.verifying_key().to_bytes());
    let mut signature = id.to_be_bytes().to_vec();
    signature.extend_from_slice(&key.0.sign(text.as_bytes()).to_bytes());
    Ok(format!(
        "{text}\n{SIGNATURE_PREFIX}{name} {}\n",
        STANDARD.encode(signature)
    ))
}

/// Opens a signed note: its text, if `verifier`'s key signed it
/// (C2SP signed-note, "Signatures"). Signatures by other keys are
/// ignored; every signature by `verifier`'s key (same name and id) must
/// verify, with Ed25519's strict rules.
pub fn open_note<'a>(note: &'a str, verifier: &Verifier) -> Result<&'a str, NoteError> {
    check_characters(note)?;
    // The text ends at the note's last blank line, its final newline kept.
    let split = note.rfind("\n\n").ok_or(NoteError::MissingSignatures)?;
    let (Some(text), Some(signatures)) = (note.get(..=split), note.get(split + 2..)) else {
        return Err(NoteError::MissingSignatures);
    };
    let signatures = signatures
        .strip_suffix('\n')
        .filter(|lines| !lines.is_empty())
        .ok_or(NoteError::MissingSignatures)?;
    if signatures.split('\n').count() > MAX_SIGNATURES {
        return Err(NoteError::TooManySignatures);
    }
    let mut verified = false;
    for (number, line) in signatures.split('\n').enumerate() {
        let (name, id, signature) = parse_signature_line(line)
            .ok_or(NoteError::MalformedSignatureLine { line: number + 1 })?;
        if name != verifier.name.as_str() || id != verifier.id {
            continue;
        }
        let invalid = || NoteError::InvalidSignature {
            name: name.to_owned(),
            id,
        };
        let signature = ed25519_dalek::Signature::from_slice(&signature).map_err(|_| invalid())?;
        verifier
            .key
            .verify_strict(text.as_bytes(), &signature)
            .map_err(|_| invalid())?;
        verified = true;
    }
    if !verified {
        return Err(NoteError::NotSigned {
            name: verifier.name.to_string(),
            id: verifier.id,
        });
    }
    Ok(text)
}

/// A tree head (C2SP tlog-checkpoint): the log's origin, its size, and
/// the root of its tree at that size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
}

/// Why a checkpoint was refused.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("a checkpoint's origin must not be empty")]
    EmptyOrigin,
    #[error("a checkpoint's origin must not contain control characters or newlines")]
    OriginControlCharacter,
    #[error("a checkpoint must end in a newline")]
    NoFinalNewline,
    #[error("a checkpoint needs an origin, a tree size and a root hash, each on a non-empty line")]
    MissingLine,
    #[error("`{0}` is not a tree size: decimal digits without leading zeros")]
    MalformedSize(String),
    #[error("`{0}` is not a root hash: the standard base64 encoding of 32 bytes")]
    MalformedRoot(String),
}

impl Checkpoint {
    /// A checkpoint for `origin`, which must be non-empty and hold no
    /// newline or other control character (a note may not contain them).
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self, CheckpointError> {
        if origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        if origin.chars().any(|c| c < ' ') {
            return Err(CheckpointError::OriginControlCharacter);
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
        })
    }

    /// Parses a checkpoint's note text: origin, size in decimal without
    /// leading zeros, root in standard base64, each on its own line;
    /// extension lines after them must be non-empty and are ignored.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::NoFinalNewline)?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointError::MissingLine);
        };
        if size.is_empty() || root.is_empty() || lines.any(str::is_empty) {
            return Err(CheckpointError::MissingLine);
        }
        let size =
            parse_size(size).ok_or_else(|| CheckpointError::MalformedSize(size.to_owned()))?;
        let root =
            Hash::from_base64(root).map_err(|_| CheckpointError::MalformedRoot(root.to_owned()))?;
        Self::new(origin, size, root)
    }

    /// The note text: `<origin>\n<size>\n<base64 root>\n`.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        )
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn root(&self) -> Hash {
        self.root
    }
}

/// Decimal digits, no sign, no leading zero (but `0` itself).
fn parse_size(text: &str) -> Option<u64> {
    let canonical =
        text.bytes().all(|b| b.is_ascii_digit()) && (text == "0" || !text.starts_with('0'));
    if !canonical {
        return None;
    }
    text.parse().ok()
}

/// C2SP signed-note: no ASCII control character other than newline.
fn check_characters(text: &str) -> Result<(), NoteError> {
    if text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::ControlCharacter);
    }
    Ok(())
}

/// `— <name> <base64>`, the base64 of a key id and at least one byte.
fn parse_signature_line(line: &str) -> Option<(&str, u32, Vec<u8>)> {
    let (name, encoded) = line.strip_prefix(SIGNATURE_PREFIX)?.split_once(' ')?;
    KeyName::parse(name).ok()?;
    let bytes = STANDARD.decode(encoded).ok()?;
    match bytes.as_slice() {
        [a, b, c, d, signature @ ..] if !signature.is_empty() => Some((
            name,
            u32::from_be_bytes([*a, *b, *c, *d]),
            signature.to_vec(),
        )),
        _ => None,
    }
}

/// `<name>+<8 hex digits>+<rest>`: the name, the key id and the rest.
fn split_key(text: &str) -> Option<(&str, u32, &str)> {
    let (name, rest) = text.split_once('+')?;
    let (id, key) = rest.split_once('+')?;
    if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((name, u32::from_str_radix(id, 16).ok()?, key))
}

/// `0x01 || key`: a key with its signature type.
fn typed(key: &[u8; 32]) -> [u8; 33] {
    let mut bytes = [0u8; 33];
    for (byte, value) in bytes.iter_mut().zip(std::iter::once(&ED25519).chain(key)) {
        *byte = *value;
    }
    bytes
}

/// The 32-byte key inside the base64 of `0x01 || key`; `malformed` when
/// it is not that shape.
fn untyped(encoded: &str, malformed: fn() -> NoteError) -> Result<[u8; 32], NoteError> {
    let bytes = STANDARD.decode(encoded).map_err(|_| malformed())?;
    let Some((&algorithm, key)) = bytes.split_first() else {
        return Err(malformed());
    };
    if algorithm != ED25519 {
        return Err(NoteError::UnsupportedAlgorithm(algorithm));
    }
    <[u8; 32]>::try_from(key).map_err(|_| malformed())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Go's `golang.org/x/mod/sumdb/note` test vectors (note_test.go).
    const PETER_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n";
    const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    // C2SP signed-note, "Verifier keys", example.
    const C2SP_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    const C2SP_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

    fn peter() -> Verifier {
        Verifier::parse(PETER_VKEY).unwrap()
    }

    fn enoch() -> Verifier {
        Verifier::parse(ENOCH_VKEY).unwrap()
    }

    fn name(text: &str) -> KeyName {
        KeyName::parse(text).unwrap()
    }

    #[test]
    fn c2sp_signed_note_example_verifies() {
        let verifier = Verifier::parse(C2SP_VKEY).unwrap();
        assert_eq!(verifier.name().as_str(), "example.com/foo");
        assert_eq!(verifier.key_id(), 0x530d_903a);
        assert_eq!(
            open_note(C2SP_NOTE, &verifier).unwrap(),
            "This is an example message.\n"
        );
        let public_key = STANDARD
            .decode("AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k")
            .unwrap();
        let public_key: [u8; 32] = public_key[1..].try_into().unwrap();
        assert_eq!(key_id(&name("example.com/foo"), &public_key), 0x530d_903a);
    }

    #[test]
    fn go_sumdb_note_private_key_signs_the_vector_byte_for_byte() {
        let (name, key) = parse_private_key(PETER_SKEY).unwrap();
        assert_eq!(name.as_str(), "PeterNeumann");
        assert_eq!(key.verifier_key(&name), PETER_VKEY);
        assert_eq!(format_private_key(&name, &key), PETER_SKEY);
        assert_eq!(
            sign_note(TEXT, &name, &key).unwrap(),
            format!("{TEXT}\n{PETER_SIG}")
        );
    }

    #[test]
    fn go_sumdb_note_signatures_by_unknown_keys_are_ignored() {
        let both = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
        assert_eq!(open_note(&both, &peter()).unwrap(), TEXT);
        assert_eq!(open_note(&both, &enoch()).unwrap(), TEXT);
        let enoch_only = format!("{TEXT}\n{ENOCH_SIG}");
        assert_eq!(open_note(&enoch_only, &enoch()).unwrap(), TEXT);
        assert!(matches!(
            open_note(&enoch_only, &peter()),
            Err(NoteError::NotSigned { .. })
        ));
        // C2SP: a signature that shares a name or an id, but not both, with
        // a known key is from an unknown key.
        let other_id = PETER_SIG.replace("x08g", "xxxx");
        let other_name = PETER_SIG.replace("PeterNeumann", "CarmenSandiego");
        for signature in [other_id, other_name] {
            assert!(matches!(
                open_note(&format!("{TEXT}\n{signature}"), &peter()),
                Err(NoteError::NotSigned { .. })
            ));
        }
    }

    #[test]
    fn go_sumdb_note_a_failed_signature_by_the_known_key_rejects_the_note() {
        let corrupted = format!("{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
        let flipped = PETER_SIG.replace("x08go/ZJ", "x08go/ZK");
        for signature in [corrupted, flipped] {
            for note in [
                format!("{TEXT}\n{signature}"),
                format!("{TEXT}\n{PETER_SIG}{signature}"),
                format!("{TEXT}\n{signature}{PETER_SIG}"),
            ] {
                assert!(
                    matches!(
                        open_note(&note, &peter()),
                        Err(NoteError::InvalidSignature { ref name, id: 0xc74f_20a3 })
                            if name == "PeterNeumann"
                    ),
                    "{note}"
                );
            }
        }
        // The same signature over another text.
        let other_text = TEXT.replace("answer", "question");
        assert!(matches!(
            open_note(&format!("{other_text}\n{PETER_SIG}"), &peter()),
            Err(NoteError::InvalidSignature { .. })
        ));
    }

    #[test]
    fn go_sumdb_note_malformed_notes_are_refused() {
        let cases = [
            // No signature block at all, or an empty one.
            (TEXT.to_owned(), "MissingSignatures"),
            (format!("{TEXT}\n"), "MissingSignatures"),
            // The signature line lacks its final newline.
            (
                format!("{TEXT}\n{}", PETER_SIG.trim_end_matches('\n')),
                "MissingSignatures",
            ),
            (format!("\x01{TEXT}\n{PETER_SIG}"), "ControlCharacter"),
            (
                format!("{TEXT}\n{PETER_SIG}").replace("problem,", "problem,\r"),
                "ControlCharacter",
            ),
            // A key name with a space.
            (
                format!("{TEXT}\n{}", PETER_SIG.replace("PeterNeumann", "Bad Name")),
                "MalformedSignatureLine",
            ),
            // A line after the signatures that is not one.
            (
                format!("{TEXT}\n{PETER_SIG}Unsigned.\n"),
                "MalformedSignatureLine",
            ),
            (format!("{TEXT}\n{PETER_SIG}\n"), "MissingSignatures"),
            (
                format!("{TEXT}\n- PeterNeumann x08g\n"),
                "MalformedSignatureLine",
            ),
            (
                format!("{TEXT}\n\u{2014} PeterNeumann\n"),
                "MalformedSignatureLine",
            ),
            (
                format!("{TEXT}\n\u{2014} PeterNeumann \n"),
                "MalformedSignatureLine",
            ),
            (
                format!("{TEXT}\n\u{2014}  x08go/ZJ\n"),
                "MalformedSignatureLine",
            ),
            (
                format!("{TEXT}\n\u{2014} a+b x08go/ZJ\n"),
                "MalformedSignatureLine",
            ),
            // Four bytes of key id and no signature.
            (
                format!("{TEXT}\n\u{2014} PeterNeumann x08gow==\n"),
                "MalformedSignatureLine",
            ),
            (
                format!("{TEXT}\n\u{2014} PeterNeumann x08go/Z\n"),
                "MalformedSignatureLine",
            ),
        ];
        // Invalid UTF-8 (Go's `\xff` case) cannot reach `open_note`: it takes `&str`.
        for (note, expected) in cases {
            let error = open_note(&note, &peter()).unwrap_err();
            assert!(
                format!("{error:?}").starts_with(expected),
                "{note:?}: {error:?}"
            );
        }
    }

    #[test]
    fn go_sumdb_note_at_most_100_signatures() {
        let hundred = format!("{TEXT}\n{}{PETER_SIG}", ENOCH_SIG.repeat(99));
        assert_eq!(open_note(&hundred, &peter()).unwrap(), TEXT);
        let too_many = format!("{TEXT}\n{}{PETER_SIG}", ENOCH_SIG.repeat(100));
        assert!(matches!(
            open_note(&too_many, &peter()),
            Err(NoteError::TooManySignatures)
        ));
    }

    #[test]
    fn c2sp_signed_note_the_text_ends_at_the_last_blank_line() {
        // C2SP signed-note's own example, by a key that is not published.
        let note = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned \u{e8} subito sera.\n\n\u{2014} quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";
        assert!(matches!(
            open_note(note, &peter()),
            Err(NoteError::NotSigned { .. })
        ));
        // A text with blank lines, even a final one, survives signing.
        let (name, key) = parse_private_key(PETER_SKEY).unwrap();
        for text in ["a\n\nb\n", "a\n\n", "\n"] {
            let signed = sign_note(text, &name, &key).unwrap();
            assert_eq!(open_note(&signed, &peter()).unwrap(), text);
        }
    }

    #[test]
    fn only_well_formed_texts_are_signed() {
        let (name, key) = parse_private_key(PETER_SKEY).unwrap();
        assert!(matches!(
            sign_note("no newline", &name, &key),
            Err(NoteError::NoFinalNewline)
        ));
        assert!(matches!(
            sign_note("", &name, &key),
            Err(NoteError::NoFinalNewline)
        ));
        assert!(matches!(
            sign_note("a\tb\n", &name, &key),
            Err(NoteError::ControlCharacter)
        ));
    }

    #[test]
    fn c2sp_signed_note_key_names() {
        for valid in ["example.com/log", "PeterNeumann", "\u{e9}t\u{e9}"] {
            assert_eq!(name(valid).as_str(), valid);
        }
        for invalid in [
            "",
            "a b",
            "a+b",
            "a\u{2003}b",
            "a\tb",
            "a\nb",
            "a\u{7f}b",
            "a\u{85}b",
        ] {
            assert!(
                matches!(KeyName::parse(invalid), Err(NoteError::InvalidKeyName(_))),
                "{invalid:?}"
            );
        }
    }

    #[test]
    fn malformed_verifier_keys_are_refused() {
        let cases = [
            (
                "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                "KeyIdMismatch",
            ),
            (
                "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                "InvalidKeyName",
            ),
            (
                "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                "InvalidKeyName",
            ),
            (
                "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                "MalformedVerifierKey",
            ),
            (
                "PeterNeumann+-74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                "MalformedVerifierKey",
            ),
            ("PeterNeumann+c74f20a3", "MalformedVerifierKey"),
            ("PeterNeumann+c74f20a3+", "MalformedVerifierKey"),
            (
                "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
                "MalformedVerifierKey",
            ),
            (
                "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy1w==",
                "MalformedVerifierKey",
            ),
            // Signature type 0x02 (ECDSA).
            (
                "PeterNeumann+c74f20a3+Alpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                "UnsupportedAlgorithm",
            ),
        ];
        for (vkey, expected) in cases {
            let error = Verifier::parse(vkey).unwrap_err();
            assert!(
                format!("{error:?}").starts_with(expected),
                "{vkey}: {error:?}"
            );
        }
    }

    #[test]
    fn malformed_private_keys_are_refused_without_repeating_them() {
        let cases = [
            (
                "PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
                "KeyIdMismatch",
            ),
            (
                "PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
                "MalformedPrivateKey",
            ),
            (
                "PRIVATE+KEY+Peter Neumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
                "MalformedPrivateKey",
            ),
            (
                "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDF",
                "MalformedPrivateKey",
            ),
            (
                "PRIVATE+KEY+PeterNeumann+c74f20a3+AoEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
                "UnsupportedAlgorithm",
            ),
            (PETER_VKEY, "MalformedPrivateKey"),
        ];
        for (skey, expected) in cases {
            let error = parse_private_key(skey).unwrap_err();
            assert!(format!("{error:?}").starts_with(expected), "{error:?}");
            assert!(!error.to_string().contains("AYEKFALVFGyNhPJEMzD1QIDr"));
        }
    }

    #[test]
    fn generated_keys_sign_and_round_trip() {
        let key = SigningKey::generate().unwrap();
        let other = SigningKey::generate().unwrap();
        assert_ne!(key.seed(), other.seed());
        let name = name("example.com/log");
        let again = SigningKey::from_seed(key.seed());
        assert_eq!(again.verifier_key(&name), key.verifier_key(&name));
        let (parsed_name, parsed) = parse_private_key(&format_private_key(&name, &key)).unwrap();
        assert_eq!(parsed_name, name);
        assert_eq!(parsed.seed(), key.seed());
        let verifier = Verifier::parse(&key.verifier_key(&name)).unwrap();
        let note = sign_note("hello\n", &name, &key).unwrap();
        assert_eq!(open_note(&note, &verifier).unwrap(), "hello\n");
        let stranger = Verifier::parse(&other.verifier_key(&name)).unwrap();
        assert!(matches!(
            open_note(&note, &stranger),
            Err(NoteError::NotSigned { .. })
        ));
        // Debug shows the public key only.
        assert!(!format!("{key:?}").contains(&format!("{:?}", key.seed())));
    }

    fn sample_root() -> Hash {
        Hash::from_base64("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=").unwrap()
    }

    #[test]
    fn c2sp_tlog_checkpoint_example_parses() {
        // C2SP tlog-checkpoint's example (its key is not published).
        let text =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let note = format!(
            "{text}\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
        );
        assert!(matches!(
            open_note(&note, &peter()),
            Err(NoteError::NotSigned { .. })
        ));
        let checkpoint = Checkpoint::parse(text).unwrap();
        assert_eq!(checkpoint.origin(), "example.com/behind-the-sofa");
        assert_eq!(checkpoint.size(), 20_852_163);
        assert_eq!(checkpoint.root(), sample_root());
        assert_eq!(checkpoint.body(), text);
    }

    #[test]
    fn c2sp_tlog_checkpoint_signed_round_trip() {
        let (name, key) = parse_private_key(PETER_SKEY).unwrap();
        for size in [0, 1, 20_852_163, u64::MAX] {
            let checkpoint = Checkpoint::new("example.com/log 42+x", size, sample_root()).unwrap();
            let note = sign_note(&checkpoint.body(), &name, &key).unwrap();
            let text = open_note(&note, &peter()).unwrap();
            assert_eq!(Checkpoint::parse(text).unwrap(), checkpoint);
            // A changed size no longer verifies.
            let forged = note.replacen(&format!("\n{size}\n"), &format!("\n{}\n", size ^ 1), 1);
            assert!(matches!(
                open_note(&forged, &peter()),
                Err(NoteError::InvalidSignature { .. })
            ));
        }
        let empty = Checkpoint::new("o", 0, crate::audit::tree::EMPTY_ROOT).unwrap();
        assert_eq!(
            empty.body(),
            "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
        );
    }

    #[test]
    fn c2sp_tlog_checkpoint_extension_lines_are_ignored() {
        let text = "example.com/log\n3\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\nextension one\nextension two\n";
        let checkpoint = Checkpoint::parse(text).unwrap();
        assert_eq!(checkpoint.size(), 3);
        assert_eq!(
            checkpoint.body(),
            "example.com/log\n3\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
    }

    #[test]
    fn c2sp_tlog_checkpoint_mutated_checkpoints_are_refused() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        let cases = [
            (format!("o\n5\n{root}"), "NoFinalNewline"),
            (format!("o\n5\n{root}\n\n"), "MissingLine"),
            (format!("o\n5\n{root}\nextension\n\n"), "MissingLine"),
            (format!("o\n5\n{root}\n\nextension\n"), "MissingLine"),
            ("o\n5\n".to_owned(), "MissingLine"),
            (format!("o\n\n{root}\n"), "MissingLine"),
            ("o\n5\n\n".to_owned(), "MissingLine"),
            (format!("\n5\n{root}\n"), "EmptyOrigin"),
            (format!("o\u{1}\n5\n{root}\n"), "OriginControlCharacter"),
            (format!("o\n05\n{root}\n"), "MalformedSize"),
            (format!("o\n00\n{root}\n"), "MalformedSize"),
            (format!("o\n+5\n{root}\n"), "MalformedSize"),
            (format!("o\n-5\n{root}\n"), "MalformedSize"),
            (format!("o\n 5\n{root}\n"), "MalformedSize"),
            (format!("o\n5 \n{root}\n"), "MalformedSize"),
            (format!("o\n0x5\n{root}\n"), "MalformedSize"),
            (
                format!("o\n18446744073709551616\n{root}\n"),
                "MalformedSize",
            ),
            (
                "o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n".to_owned(),
                "MalformedRoot",
            ),
            (
                "o\n5\nCsUYapGGPo4dkMgIAUqom_Xajj7h2fB2MPA3j2jxq2I=\n".to_owned(),
                "MalformedRoot",
            ),
            (
                "o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n".to_owned(),
                "MalformedRoot",
            ),
            (
                "o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jx\n".to_owned(),
                "MalformedRoot",
            ),
            (format!("o\n5\n {root}\n"), "MalformedRoot"),
        ];
        for (text, expected) in cases {
            let error = Checkpoint::parse(&text).unwrap_err();
            assert!(
                format!("{error:?}").starts_with(expected),
                "{text:?}: {error:?}"
            );
        }
        assert_eq!(
            Checkpoint::parse(&format!("o\n0\n{root}\n"))
                .unwrap()
                .size(),
            0
        );
        assert!(matches!(
            Checkpoint::new("", 1, sample_root()),
            Err(CheckpointError::EmptyOrigin)
        ));
        assert!(matches!(
            Checkpoint::new("a\nb", 1, sample_root()),
            Err(CheckpointError::OriginControlCharacter)
        ));
    }
}
