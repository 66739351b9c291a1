//! The audit trail's pure part: who is acting ([`Actor`], carried by the task-local
//! [`ACTOR`]), the entries, and the hash chain that makes them tamper-evident
//! ([`entry_hash`], [`verify_chain`]). No I/O here besides the task-local; the store writes
//! the entries ([`crate::store::audit`]).
//!
//! **Architecture Invariant:** every change of central's state made on behalf of an actor is
//! written to `audit_log` in the same transaction as the change, and entry `n` carries the
//! hash of entry `n - 1`; nothing updates or deletes an entry.
//!
//! # The hash of an entry
//!
//! `hash = hex(SHA-256(encoding))`, lowercase, where `encoding` is the ASCII bytes
//! `mes-audit-v1` followed by these twelve fields, in this order, each as stored (text, or
//! NULL): `prev_hash, seq, at, actor_kind, actor, address, operation, action, entity,
//! entity_id, before, after`. `seq` is its decimal text. A NULL field is the one byte `0x00`;
//! a text field is the byte `0x01`, its length in bytes as an 8-byte big-endian integer, then
//! its UTF-8 bytes. The length prefix makes the encoding unambiguous (no two different entries
//! encode alike). `prev_hash` of the first entry is NULL.
//!
//! The chain is unkeyed: it shows that an entry was changed, deleted or moved, unless whoever
//! changed it also rewrote every later entry; and it cannot show that the newest entries were
//! cut off. `mes audit verify` prints the number of entries and the newest hash, to be noted
//! elsewhere and compared later.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::future::Future;

/// Who acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A person signed in with a session (`id`: the login).
    User,
    /// A person's API token (`id`: `<login>/<token id>`).
    Token,
    /// An edge agent with its own credential (`id`: the edge id).
    Edge,
    /// The bootstrap administrator token, `MES_ADMIN_TOKEN` (`id`: `admin`).
    AdminToken,
    /// Central itself: the command line, migrations (`id`: what ran).
    System,
    /// A shop-floor TV signed in with a kiosk link (`id`: the link's id).
    Kiosk,
}

impl ActorKind {
    pub const ALL: [ActorKind; 6] = [
        ActorKind::User,
        ActorKind::Token,
        ActorKind::Edge,
        ActorKind::AdminToken,
        ActorKind::System,
        ActorKind::Kiosk,
    ];

    /// The name stored in `audit_log.actor_kind` and used in queries.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Token => "token",
            ActorKind::Edge => "edge",
            ActorKind::AdminToken => "admin_token",
            ActorKind::System => "system",
            ActorKind::Kiosk => "kiosk",
        }
    }

    pub fn parse(s: &str) -> Option<ActorKind> {
        ActorKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for ActorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who acts, from where, through which operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: String,
    /// The peer's address (`ip:port`), when known.
    pub address: Option<String>,
    /// What was asked: method and route template, `POST /api/v1/work-orders/{id}/release`,
    /// or the command (`mes audit verify`).
    pub operation: String,
}

impl Actor {
    pub fn new(kind: ActorKind, id: impl Into<String>, operation: impl Into<String>) -> Actor {
        Actor {
            kind,
            id: id.into(),
            address: None,
            operation: operation.into(),
        }
    }

    pub fn with_address(mut self, address: Option<String>) -> Actor {
        self.address = address;
        self
    }
}

tokio::task_local! {
    /// The actor of the request (or command) this task serves. Set by the API's middleware
    /// around each request's handler ([`with_actor`]); the store reads it when it writes
    /// ([`current_actor`]) and writes the audit entries of that write in its transaction.
    /// Absent (edge ingest, status, plan polls): the write is not audited here, the edge's
    /// events are their own trail.
    pub static ACTOR: Actor;
}

/// Runs `f` with `actor` as [`ACTOR`]: every store write `f` makes is audited as theirs.
pub async fn with_actor<F: Future>(actor: Actor, f: F) -> F::Output {
    ACTOR.scope(actor, f).await
}

/// The actor of the current task, if one is set.
pub fn current_actor() -> Option<Actor> {
    ACTOR.try_with(Actor::clone).ok()
}

/// The domain prefix of the hash encoding (see the module documentation).
pub const HASH_DOMAIN: &[u8] = b"mes-audit-v1";

/// The fields an entry's hash covers, as stored: text, or `None` for NULL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HashInput<'a> {
    pub prev_hash: Option<&'a str>,
    pub seq: i64,
    pub at: Option<&'a str>,
    pub actor_kind: Option<&'a str>,
    pub actor: Option<&'a str>,
    pub address: Option<&'a str>,
    pub operation: Option<&'a str>,
    pub action: Option<&'a str>,
    pub entity: Option<&'a str>,
    pub entity_id: Option<&'a str>,
    pub before: Option<&'a str>,
    pub after: Option<&'a str>,
}

fn put_field(hasher: &mut Sha256, field: Option<&[u8]>) {
    match field {
        None => hasher.update([0u8]),
        Some(bytes) => {
            hasher.update([1u8]);
            hasher.update((bytes.len() as u64).to_be_bytes());
            hasher.update(bytes);
        }
    }
}

/// The hash of an entry (lowercase hex SHA-256 of the encoding in the module documentation).
pub fn entry_hash(input: &HashInput<'_>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(HASH_DOMAIN);
    let seq = input.seq.to_string();
    put_field(&mut hasher, input.prev_hash.map(str::as_bytes));
    put_field(&mut hasher, Some(seq.as_bytes()));
    for field in [
        input.at,
        input.actor_kind,
        input.actor,
        input.address,
        input.operation,
        input.action,
        input.entity,
        input.entity_id,
        input.before,
        input.after,
    ] {
        put_field(&mut hasher, field.map(str::as_bytes));
    }
    hex::encode(hasher.finalize())
}

/// One entry exactly as stored (every text column may be NULL after tampering), what the
/// chain is verified on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredEntry {
    pub seq: i64,
    pub at: Option<String>,
    pub actor_kind: Option<String>,
    pub actor: Option<String>,
    pub address: Option<String>,
    pub operation: Option<String>,
    pub action: Option<String>,
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

impl StoredEntry {
    pub fn hash_input(&self) -> HashInput<'_> {
        HashInput {
            prev_hash: self.prev_hash.as_deref(),
            seq: self.seq,
            at: self.at.as_deref(),
            actor_kind: self.actor_kind.as_deref(),
            actor: self.actor.as_deref(),
            address: self.address.as_deref(),
            operation: self.operation.as_deref(),
            action: self.action.as_deref(),
            entity: self.entity.as_deref(),
            entity_id: self.entity_id.as_deref(),
            before: self.before.as_deref(),
            after: self.after.as_deref(),
        }
    }

    /// Sets `prev_hash` and `hash` as the entry after `prev` (tests and tools).
    pub fn chain_after(mut self, prev: Option<&StoredEntry>) -> StoredEntry {
        self.prev_hash = prev.and_then(|p| p.hash.clone());
        self.hash = Some(entry_hash(&self.hash_input()));
        self
    }
}

/// The first entry that breaks the chain, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokenEntry {
    pub seq: i64,
    pub reason: String,
}

/// What verifying the chain found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditVerdict {
    /// Entries read (up to and including the broken one, when one is).
    pub entries: u64,
    /// The newest entry's hash, when the chain holds and is not empty.
    pub head: Option<String>,
    /// The first broken entry; `None`: the chain holds.
    pub broken: Option<BrokenEntry>,
}

impl AuditVerdict {
    pub fn holds(&self) -> bool {
        self.broken.is_none()
    }
}

/// Checks a chain fed in storage order (ascending seq): entry `n` must have seq `n`
/// (1-based), carry the hash of entry `n - 1` (NULL for the first), and its own hash must be
/// that of its fields. Stops at the first entry that does not, and names it.
#[derive(Debug, Default)]
pub struct ChainVerifier {
    entries: u64,
    prev: Option<(i64, Option<String>)>,
    broken: Option<BrokenEntry>,
}

impl ChainVerifier {
    pub fn new() -> ChainVerifier {
        ChainVerifier::default()
    }

    /// Feeds the next entry; `false` once the chain is broken (feed no more).
    pub fn push(&mut self, entry: &StoredEntry) -> bool {
        if self.broken.is_some() {
            return false;
        }
        self.entries += 1;
        let expected_seq = self
            .prev
            .as_ref()
            .map_or(1, |(seq, _)| seq.saturating_add(1));
        let prev_hash = self.prev.as_ref().and_then(|(_, hash)| hash.as_deref());
        let reason = if entry.seq != expected_seq {
            Some(if entry.seq > expected_seq {
                format!(
                    "entry {} follows entry {}: entries {expected_seq} to {} are missing",
                    entry.seq,
                    expected_seq - 1,
                    entry.seq - 1
                )
            } else {
                format!(
                    "entry {} comes after entry {}: the entries are out of order or repeated",
                    entry.seq,
                    expected_seq - 1
                )
            })
        } else if entry.prev_hash.as_deref() != prev_hash {
            Some(match prev_hash {
                None => format!(
                    "entry {} is the first but names a previous hash {:?}",
                    entry.seq,
                    entry.prev_hash.as_deref().unwrap_or_default()
                ),
                Some(_) => format!(
                    "entry {} does not carry the hash of entry {}: entry {} was changed or replaced",
                    entry.seq,
                    entry.seq - 1,
                    entry.seq - 1
                ),
            })
        } else if entry.hash.as_deref() != Some(entry_hash(&entry.hash_input()).as_str()) {
            Some(format!(
                "entry {}'s content does not match its hash: it was changed",
                entry.seq
            ))
        } else {
            None
        };
        match reason {
            Some(reason) => {
                self.broken = Some(BrokenEntry {
                    seq: entry.seq,
                    reason,
                });
                false
            }
            None => {
                self.prev = Some((entry.seq, entry.hash.clone()));
                true
            }
        }
    }

    pub fn finish(self) -> AuditVerdict {
        AuditVerdict {
            entries: self.entries,
            head: if self.broken.is_none() {
                self.prev.and_then(|(_, hash)| hash)
            } else {
                None
            },
            broken: self.broken,
        }
    }
}

/// [`ChainVerifier`] over a whole chain.
pub fn verify_chain<'a>(entries: impl IntoIterator<Item = &'a StoredEntry>) -> AuditVerdict {
    let mut verifier = ChainVerifier::new();
    for entry in entries {
        if !verifier.push(entry) {
            break;
        }
    }
    verifier.finish()
}

/// Whether a column's values are kept out of the trail (written as `[redacted]` when not
/// NULL): names containing `hash`, `password` or `secret`, or with `pin` as one of their
/// `_`-separated words (`pin`, `pin_hash`; not `shipping`).
pub fn is_secret_column(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["hash", "password", "secret"]
        .iter()
        .any(|word| name.contains(word))
        || name.split('_').any(|word| word == "pin")
}

/// What a secret column's value becomes in the trail.
pub const REDACTED: &str = "[redacted]";

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64, entity_id: &str) -> StoredEntry {
        StoredEntry {
            seq,
            at: Some(format!("2026-12-06T08:00:{seq:02}.000000Z")),
            actor_kind: Some("admin_token".into()),
            actor: Some("admin".into()),
            address: None,
            operation: Some("PUT /api/v1/items/{item}".into()),
            action: Some("update".into()),
            entity: Some("erp_items".into()),
            entity_id: Some(entity_id.into()),
            before: Some(r#"{"item":"A","description":"old"}"#.into()),
            after: Some(r#"{"item":"A","description":"new"}"#.into()),
            prev_hash: None,
            hash: None,
        }
    }

    fn chain(n: i64) -> Vec<StoredEntry> {
        let mut out: Vec<StoredEntry> = Vec::new();
        for seq in 1..=n {
            let next = entry(seq, &format!("ITEM-{seq}")).chain_after(out.last());
            out.push(next);
        }
        out
    }

    fn broken_at(entries: &[StoredEntry]) -> Option<i64> {
        verify_chain(entries).broken.map(|b| b.seq)
    }

    #[test]
    fn an_intact_chain_holds() {
        let entries = chain(5);
        let verdict = verify_chain(&entries);
        assert_eq!(verdict.entries, 5);
        assert_eq!(verdict.broken, None);
        assert_eq!(verdict.head, entries[4].hash);
        assert_eq!(verify_chain(&[]).entries, 0);
        assert!(verify_chain(&[]).holds());
    }

    #[test]
    fn the_hash_is_pinned() {
        // A change of the encoding changes every stored chain: it must be deliberate.
        let e = entry(1, "ITEM-1").chain_after(None);
        // Computed independently (Python's hashlib over the documented encoding).
        const PINNED: &str = "2441c352bcce67429d545ea9573c09e1e2a8af103078a7926aa91eaa8bba7566";
        assert_eq!(e.hash.as_deref(), Some(PINNED));
        // NULL and empty text differ; so do fields that only move a boundary.
        let mut a = entry(1, "ab");
        a.address = None;
        let mut b = a.clone();
        b.address = Some(String::new());
        assert_ne!(entry_hash(&a.hash_input()), entry_hash(&b.hash_input()));
        let mut c = entry(1, "a");
        c.entity = Some("erp_itemsb".into());
        let mut d = entry(1, "ba");
        d.entity = Some("erp_items".into());
        assert_ne!(entry_hash(&c.hash_input()), entry_hash(&d.hash_input()));
    }

    #[test]
    fn every_changed_field_is_named_at_its_entry() {
        type Edit = fn(&mut StoredEntry);
        let edits: [(&str, Edit); 11] = [
            ("at", |e| e.at = Some("2026-01-01T00:00:00.000000Z".into())),
            ("actor_kind", |e| e.actor_kind = Some("user".into())),
            ("actor", |e| e.actor = Some("mallory".into())),
            ("address", |e| e.address = Some("10.0.0.9:4000".into())),
            ("operation", |e| e.operation = None),
            ("action", |e| e.action = Some("insert".into())),
            ("entity", |e| e.entity = Some("wo_orders".into())),
            ("entity_id", |e| e.entity_id = Some("ITEM-9".into())),
            ("before", |e| e.before = None),
            ("after", |e| {
                e.after = Some(r#"{"item":"A","description":"forged"}"#.into())
            }),
            ("hash", |e| e.hash = Some("0".repeat(64))),
        ];
        for (field, edit) in edits {
            let mut entries = chain(5);
            edit(&mut entries[2]);
            let verdict = verify_chain(&entries);
            let broken = verdict.broken.expect(field);
            assert_eq!(broken.seq, 3, "{field}: {}", broken.reason);
            assert_eq!(verdict.entries, 3);
            assert_eq!(verdict.head, None);
        }
    }

    #[test]
    fn a_rehashed_change_is_named_at_the_next_entry() {
        let mut entries = chain(5);
        entries[2].after = Some("{}".into());
        let prev = entries[1].clone();
        entries[2] = entries[2].clone().chain_after(Some(&prev));
        let broken = verify_chain(&entries).broken.unwrap();
        assert_eq!(broken.seq, 4);
        assert!(
            broken.reason.contains("entry 3 was changed"),
            "{}",
            broken.reason
        );
    }

    #[test]
    fn a_deleted_entry_is_named() {
        let mut entries = chain(5);
        entries.remove(2);
        let broken = verify_chain(&entries).broken.unwrap();
        assert_eq!(broken.seq, 4);
        assert!(
            broken.reason.contains("entries 3 to 3 are missing"),
            "{}",
            broken.reason
        );
        // The first one deleted: the chain must start at 1.
        let mut entries = chain(3);
        entries.remove(0);
        assert_eq!(broken_at(&entries), Some(2));
    }

    #[test]
    fn reordered_entries_are_named() {
        let mut entries = chain(5);
        entries.swap(1, 3);
        assert_eq!(broken_at(&entries), Some(4));
        // Renumbered to look in order: the links do not hold.
        let mut entries = chain(5);
        entries.swap(1, 3);
        entries[1].seq = 2;
        entries[3].seq = 4;
        assert_eq!(broken_at(&entries), Some(2));
        // A repeated entry.
        let mut entries = chain(3);
        entries.insert(2, entries[1].clone());
        assert_eq!(broken_at(&entries), Some(2));
    }

    #[test]
    fn a_first_entry_with_a_previous_hash_is_named() {
        let mut entries = chain(2);
        entries[0].prev_hash = Some("ab".into());
        assert_eq!(broken_at(&entries), Some(1));
    }

    #[test]
    fn secret_columns() {
        for name in [
            "token_hash",
            "pin_hash",
            "pin",
            "password",
            "client_secret",
            "PasswordHash",
        ] {
            assert!(is_secret_column(name), "{name}");
        }
        for name in ["shipping", "pinned_at", "item", "spindle", "edge_id"] {
            assert!(!is_secret_column(name), "{name}");
        }
    }

    #[tokio::test]
    async fn the_actor_is_task_local() {
        assert_eq!(current_actor(), None);
        let actor = Actor::new(ActorKind::User, "alice", "POST /api/v1/x");
        let seen = with_actor(actor.clone(), async { current_actor() }).await;
        assert_eq!(seen, Some(actor));
        assert_eq!(current_actor(), None);
        for kind in ActorKind::ALL {
            assert_eq!(ActorKind::parse(kind.as_str()), Some(kind));
        }
    }
}
