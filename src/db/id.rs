//! Document ids as procedures use them: the typed [`Id<T>`], and the parsing of ids
//! (`"teams:42"`) for both it and the stored model's untyped [`DocumentId`].

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::db::DbError;
use crate::db::Table;
pub use crate::store::DocumentId;

impl DocumentId {
    /// This id as an id of table `T`, if the document is in `T`'s table.
    pub fn typed<T: Table>(&self) -> Result<Id<T>, DbError> {
        if self.table() == T::NAME {
            Ok(Id::from_number(self.number()))
        } else {
            Err(DbError::WrongTable {
                id: self.to_string(),
                expected: T::NAME.to_owned(),
            })
        }
    }
}

impl FromStr for DocumentId {
    type Err = DbError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || DbError::InvalidId { id: s.to_owned() };
        let (table, number) = s.rsplit_once(':').ok_or_else(invalid)?;
        if table.is_empty() {
            return Err(invalid());
        }
        let number = number.parse::<u64>().map_err(|_| invalid())?;
        Ok(DocumentId::new(table, number))
    }
}

impl<'de> Deserialize<'de> for DocumentId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The id of a document in table `T`: `Id<Team>`.
///
/// Copyable, comparable, and serialized as the same string as its [`DocumentId`]; parsing
/// (and deserializing) checks that the id belongs to `T`'s table. So an argument type with an
/// `Id<Team>` field refuses, as invalid arguments, a by-name call that passes a user's id.
///
/// ```
/// use convoke::{Id, Table};
/// #[derive(serde::Serialize, serde::Deserialize, Table)]
/// #[table(name = "teams")]
/// struct Team { name: String }
///
/// let id: Id<Team> = "teams:7".parse().unwrap();
/// assert_eq!(id.to_string(), "teams:7");
/// assert!("users:7".parse::<Id<Team>>().is_err());
/// ```
pub struct Id<T> {
    number: u64,
    table: PhantomData<fn() -> T>,
}

impl<T> Id<T> {
    pub(crate) fn from_number(number: u64) -> Self {
        Id {
            number,
            table: PhantomData,
        }
    }

    /// The document's number, unique in the store.
    pub fn number(&self) -> u64 {
        self.number
    }
}

impl<T: Table> Id<T> {
    /// The untyped id.
    pub fn document_id(&self) -> DocumentId {
        DocumentId::new(T::NAME, self.number)
    }
}

impl<T> Clone for Id<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Id<T> {}
impl<T> PartialEq for Id<T> {
    fn eq(&self, other: &Self) -> bool {
        self.number == other.number
    }
}
impl<T> Eq for Id<T> {}
impl<T> PartialOrd for Id<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Id<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.number.cmp(&other.number)
    }
}
impl<T> Hash for Id<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.number.hash(state);
    }
}

impl<T: Table> fmt::Display for Id<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", T::NAME, self.number)
    }
}

impl<T: Table> fmt::Debug for Id<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({self})")
    }
}

impl<T: Table> FromStr for Id<T> {
    type Err = DbError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<DocumentId>()?.typed()
    }
}

impl<T: Table> Serialize for Id<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de, T: Table> Deserialize<'de> for Id<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
