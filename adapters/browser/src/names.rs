//! Names of the browser resources of one database, a pure function of its app
//! name and scope: every tab derives the same ones, and two scopes never share
//! a lock, a channel or an OPFS directory (invariant 11).
//!
//! Parts are escaped (`%` and `:` and `/` percent-encoded), so no choice of app
//! or scope can make two databases' names collide.

use lockstep::DatabaseId;

/// Percent-encodes the characters that separate parts of a name.
fn escape(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for c in part.chars() {
        match c {
            '%' => out.push_str("%25"),
            ':' => out.push_str("%3A"),
            '/' => out.push_str("%2F"),
            c => out.push(c),
        }
    }
    out
}

/// The BroadcastChannel of a database: `lockstep:<app>:<scope>`.
///
/// ```
/// use lockstep::DatabaseId;
/// let db = DatabaseId::new("todo", "user:1").unwrap();
/// assert_eq!(lockstep_browser::names::channel(&db), "lockstep:todo:user%3A1");
/// ```
pub fn channel(db: &DatabaseId) -> String {
    format!("lockstep:{}:{}", escape(db.app()), escape(db.scope()))
}

/// The Web Lock whose holder leads the database: `lockstep:<app>:<scope>:leader`.
///
/// ```
/// use lockstep::DatabaseId;
/// let db = DatabaseId::new("todo", "u1").unwrap();
/// assert_eq!(lockstep_browser::names::leader_lock(&db), "lockstep:todo:u1:leader");
/// ```
pub fn leader_lock(db: &DatabaseId) -> String {
    format!("{}:leader", channel(db))
}

/// FNV-1a, 64 bits: stable across builds and platforms.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The OPFS directory of the database's SQLite pool:
/// `lockstep/<readable part>-<16 hex digits of a hash of app and scope>`.
///
/// ```
/// use lockstep::DatabaseId;
/// let a = lockstep_browser::names::opfs_directory(&DatabaseId::new("todo", "alice").unwrap());
/// let b = lockstep_browser::names::opfs_directory(&DatabaseId::new("todo", "bob").unwrap());
/// assert!(a.starts_with("lockstep/todo-alice-"));
/// assert_ne!(a, b);
/// ```
pub fn opfs_directory(db: &DatabaseId) -> String {
    let readable: String = format!("{}-{}", db.app(), db.scope())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(48)
        .collect();
    format!("lockstep/{readable}-{:016x}", fnv1a(channel(db).as_bytes()))
}

/// The SQLite VFS name registered for the database's OPFS pool.
///
/// ```
/// use lockstep::DatabaseId;
/// let db = DatabaseId::new("todo", "u1").unwrap();
/// assert!(lockstep_browser::names::vfs(&db).starts_with("lockstep-sahpool-"));
/// ```
pub fn vfs(db: &DatabaseId) -> String {
    format!("lockstep-sahpool-{:016x}", fnv1a(channel(db).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_in_app_or_scope_cannot_make_two_databases_collide() {
        let a = DatabaseId::new("a:b", "c").unwrap();
        let b = DatabaseId::new("a", "b:c").unwrap();
        assert_ne!(channel(&a), channel(&b));
        assert_ne!(leader_lock(&a), leader_lock(&b));
        assert_ne!(opfs_directory(&a), opfs_directory(&b));
        assert_ne!(vfs(&a), vfs(&b));
    }

    #[test]
    fn names_are_a_pure_function_of_the_database() {
        let db = DatabaseId::new("todo", "ü/%x").unwrap();
        assert_eq!(channel(&db), "lockstep:todo:ü%2F%25x");
        assert_eq!(
            opfs_directory(&db),
            opfs_directory(&DatabaseId::new("todo", "ü/%x").unwrap())
        );
    }
}
