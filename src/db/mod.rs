//! The document database as procedures see it: `ctx.db()`.
//!
//! Queries get a [`DatabaseReader`], mutations a [`DatabaseWriter`]; both work inside the
//! context's transaction. Documents are typed through [`Table`] and serde; every document
//! also has the system fields `_id` and `_creationTime`, reached through [`Doc`].
//!
//! Actions have no `db()`: they reach the database by calling queries and mutations.
//!
//! A [`Query`] reads a range of one of its table's indexes (`with_index`, or the whole
//! `by_creation_time` index), in either order, with a filter and limits (`take`, `first`,
//! `unique`), or one page at a time (`paginate`, with cursors that never skip or repeat a
//! document under concurrent writes).

pub(crate) mod commit_hook;
mod cursor;
mod error;
mod id;
pub mod index;
pub mod schema;
pub(crate) mod system;
mod transaction;

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use error::DbError;
pub use id::{DocumentId, Id};
pub use index::IndexRange;
pub use schema::TableDefinition;
pub use transaction::TransactionLimits;
pub(crate) use transaction::{Database, RetainedSnapshot, Transaction};

pub use crate::store::Order;
use crate::store::{BY_CREATION_TIME, Document, IndexKey, KeyRange};
use crate::value::{self, Object, Value};

/// A document type stored in a table: `#[derive(Table)] #[table(name = "teams")]`.
///
/// The derive names the table after the struct in snake case unless `name` is given. The
/// type must serialize to an object (a struct with named fields), whose fields must not
/// start with `_` (those are system fields).
///
/// ```
/// use convoke::{Id, Table};
///
/// #[derive(serde::Serialize, serde::Deserialize, Table)]
/// #[table(name = "teams")]
/// struct Team { name: String }
///
/// #[derive(serde::Serialize, serde::Deserialize, Table)]
/// struct TeamMember { team_id: Id<Team>, name: String }
///
/// assert_eq!(Team::NAME, "teams");
/// assert_eq!(TeamMember::NAME, "team_member");
/// ```
pub trait Table: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The table's name.
    const NAME: &'static str;
    /// The table's indexes: name and indexed fields, in order. `by_id` and
    /// `by_creation_time` exist on every table and are not listed.
    const INDEXES: &'static [(&'static str, &'static [&'static str])] = &[];
}

/// A document read from the database: the system fields and the typed value.
///
/// Dereferences to the value, and serializes as one object (`_id`, `_creationTime`, then
/// the value's fields), as Convex returns documents.
///
/// ```
/// # mod teams {
/// use convoke::{Doc, Id, MutationCtx, Result, Table, procedure};
/// # convoke::module!(teams);
///
/// #[derive(serde::Serialize, serde::Deserialize, Table)]
/// #[table(name = "teams")]
/// pub struct Team { pub name: String }
///
/// /// Creates a team and returns the stored document.
/// #[procedure(mutation)]
/// pub async fn create(ctx: &MutationCtx<'_>, name: String) -> Result<Doc<Team>> {
///     let id: Id<Team> = ctx.db().insert(&Team { name }).await?;
///     let doc = ctx.db().get(id).await?.expect("just inserted");
///     assert_eq!(doc.id(), id);
///     assert_eq!(doc.name, "Engines"); // `Doc<Team>` dereferences to `Team`
///     Ok(doc)
/// }
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> convoke::Result<()> {
/// # let rt = convoke::Runtime::in_memory()?;
/// let doc = rt.mutation(teams::create, "Engines".to_owned()).await?;
/// let json = serde_json::to_value(&doc).unwrap();
/// assert_eq!(json["_id"], "teams:1");
/// assert_eq!(json["name"], "Engines");
/// assert!(json["_creationTime"].is_f64());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, PartialEq)]
pub struct Doc<T> {
    id: Id<T>,
    creation_time: f64,
    value: T,
}

impl<T> Doc<T> {
    /// `_id`.
    pub fn id(&self) -> Id<T> {
        self.id
    }

    /// `_creationTime`, in milliseconds since the Unix epoch.
    pub fn creation_time(&self) -> f64 {
        self.creation_time
    }

    /// The typed value, without the system fields.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T: Table> Doc<T> {
    fn from_document(doc: &Document) -> Result<Self, DbError> {
        let value = value::from_value(Value::Object(doc.fields.clone()))?;
        Ok(Doc {
            id: doc.id.typed()?,
            creation_time: doc.creation_time,
            value,
        })
    }
}

impl<T> Deref for Doc<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Table + fmt::Debug> fmt::Debug for Doc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Doc")
            .field("_id", &self.id)
            .field("_creationTime", &self.creation_time)
            .field("value", &self.value)
            .finish()
    }
}

impl<T: Table> Serialize for Doc<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = value::to_value(&self.value)
            .map_err(serde::ser::Error::custom)?
            .into_object()
            .ok_or_else(|| serde::ser::Error::custom("a document must serialize to an object"))?;
        Document {
            id: self.id.document_id(),
            creation_time: self.creation_time,
            fields,
        }
        .to_value()
        .serialize(serializer)
    }
}

impl<'de, T: Table> Deserialize<'de> for Doc<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut object = match Value::deserialize(deserializer)? {
            Value::Object(object) => object,
            other => {
                return Err(D::Error::custom(format!(
                    "a document must be an object, not {}",
                    other.type_name()
                )));
            }
        };
        let id = match object.shift_remove("_id") {
            Some(Value::String(s)) => s.parse::<Id<T>>().map_err(D::Error::custom)?,
            _ => return Err(D::Error::missing_field("_id")),
        };
        let creation_time = match object.shift_remove("_creationTime") {
            Some(Value::Float64(t)) => t,
            Some(Value::Int64(t)) => t as f64,
            _ => return Err(D::Error::missing_field("_creationTime")),
        };
        let value = value::from_value(Value::Object(object)).map_err(D::Error::custom)?;
        Ok(Doc {
            id,
            creation_time,
            value,
        })
    }
}

fn to_fields<T: Serialize + ?Sized>(value: &T) -> Result<Object, DbError> {
    match value::to_value(value)? {
        Value::Object(object) => Ok(object),
        other => Err(DbError::NotAnObject {
            found: other.type_name(),
        }),
    }
}

/// Reads the database inside a transaction: `ctx.db()` in a query (and, through
/// [`DatabaseWriter`]'s `Deref`, in a mutation).
///
/// Every read is recorded in the transaction's read set: a mutation whose reads are
/// changed by a concurrent commit is re-run.
#[derive(Clone, Copy)]
pub struct DatabaseReader<'a> {
    tx: &'a Transaction,
}

impl std::fmt::Debug for DatabaseReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseReader").finish_non_exhaustive()
    }
}

impl<'a> DatabaseReader<'a> {
    pub(crate) fn new(tx: &'a Transaction) -> Self {
        DatabaseReader { tx }
    }

    /// The document with this id, or `None` if there is none (or it was deleted).
    pub async fn get<T: Table>(&self, id: Id<T>) -> Result<Option<Doc<T>>, DbError> {
        match self.tx.get(&id.document_id()).await? {
            Some(doc) => Ok(Some(Doc::from_document(&doc)?)),
            None => Ok(None),
        }
    }

    /// Any document by untyped id, as a [`Value`] object with its system fields.
    pub async fn get_value(&self, id: &DocumentId) -> Result<Option<Value>, DbError> {
        Ok(self.tx.get(id).await?.map(|doc| doc.to_value()))
    }

    /// A query over table `T`, in creation order unless told otherwise:
    /// `ctx.db().query::<Team>().with_index("by_owner", |r| r.eq("owner_id", id)).take(10).await`.
    pub fn query<T: Table>(&self) -> Query<'a, T> {
        Query {
            tx: self.tx,
            index: BY_CREATION_TIME.to_owned(),
            range: None,
            order: Order::Asc,
            filter: None,
            table: PhantomData,
        }
    }
}

type Filter<T> = Box<dyn Fn(&T) -> bool + Send + Sync>;

/// A query over one table: an index (by default `by_creation_time`), a range of it, an
/// order, a filter; run with [`collect`](Query::collect), [`take`](Query::take),
/// [`first`](Query::first), [`unique`](Query::unique) or [`paginate`](Query::paginate).
///
/// For conflict detection the query has read the index range it scanned, up to the last
/// document it returned when a limit stopped it; a filter does not narrow that.
///
/// ```
/// # mod teams {
/// use convoke::{Doc, Id, QueryCtx, Result, Table, db::Order, procedure};
/// # convoke::module!(teams);
///
/// #[derive(serde::Serialize, serde::Deserialize, Table)]
/// #[table(name = "squads", index(by_owner = ["owner", "size"]))]
/// pub struct Team { pub owner: String, pub name: String, pub size: u32 }
///
/// /// The owner's biggest teams with fewer than ten members.
/// #[procedure(query)]
/// pub async fn open_teams(ctx: &QueryCtx<'_>, owner: String) -> Result<Vec<Doc<Team>>> {
///     Ok(ctx
///         .db()
///         .query::<Team>()
///         .with_index("by_owner", |r| r.eq("owner", owner).lt("size", 10))
///         .order(Order::Desc)
///         .take(10)
///         .await?)
/// }
/// # }
/// # fn main() {}
/// ```
#[must_use = "a query does nothing until collected"]
pub struct Query<'a, T> {
    tx: &'a Transaction,
    index: String,
    range: Option<IndexRange>,
    order: Order,
    filter: Option<Filter<T>>,
    table: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Query<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query")
            .field("table", &std::any::type_name::<T>())
            .field("index", &self.index)
            .field("order", &self.order)
            .field("filtered", &self.filter.is_some())
            .finish_non_exhaustive()
    }
}

impl<T: Table> Query<'_, T> {
    /// Reads through the named index, limited to the range `range` builds (Convex's
    /// `withIndex`): `|r| r.eq("owner", id).gte("size", 2)`; `|r| r` for the whole index.
    pub fn with_index(mut self, index: &str, range: impl FnOnce(IndexRange) -> IndexRange) -> Self {
        self.index = index.to_owned();
        self.range = Some(range(IndexRange::default()));
        self
    }

    /// Ascending index order ([`Order::Asc`], the default) or descending.
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// Keeps only the documents for which `keep` returns `true`.
    pub fn filter(mut self, keep: impl Fn(&T) -> bool + Send + Sync + 'static) -> Self {
        self.filter = Some(Box::new(keep));
        self
    }

    fn key_range(&mut self) -> Result<KeyRange, DbError> {
        let schema = self.tx.schema();
        let defs = schema.table(T::NAME);
        let Some(fields) = defs.get(&self.index) else {
            return Err(DbError::UnknownIndex {
                table: T::NAME.to_owned(),
                index: self.index.clone(),
                available: defs.names(),
            });
        };
        match self.range.take() {
            Some(range) => range.resolve(T::NAME, &self.index, fields),
            None => Ok(KeyRange::all()),
        }
    }

    /// Runs the query over `range`: at most `limit` matching documents, with their keys.
    async fn run_range(
        &self,
        range: KeyRange,
        limit: Option<usize>,
    ) -> Result<Vec<(IndexKey, Doc<T>)>, DbError> {
        // Without a filter the engine can stop at the limit; with one, the range is read
        // until enough documents match.
        let scan_limit = if self.filter.is_some() { None } else { limit };
        let docs = self
            .tx
            .scan(T::NAME, &self.index, range, self.order, scan_limit)
            .await?;
        let mut out = Vec::new();
        for (key, doc) in docs {
            if limit.is_some_and(|n| out.len() >= n) {
                break;
            }
            let doc = Doc::<T>::from_document(&doc)?;
            if self.filter.as_ref().is_none_or(|keep| keep(&doc.value)) {
                out.push((key, doc));
            }
        }
        Ok(out)
    }

    async fn run(mut self, limit: Option<usize>) -> Result<Vec<Doc<T>>, DbError> {
        let range = self.key_range()?;
        Ok(self
            .run_range(range, limit)
            .await?
            .into_iter()
            .map(|(_, doc)| doc)
            .collect())
    }

    /// Every matching document.
    pub async fn collect(self) -> Result<Vec<Doc<T>>, DbError> {
        self.run(None).await
    }

    /// At most `n` matching documents.
    pub async fn take(self, n: usize) -> Result<Vec<Doc<T>>, DbError> {
        self.run(Some(n)).await
    }

    /// The first matching document, if any.
    pub async fn first(self) -> Result<Option<Doc<T>>, DbError> {
        Ok(self.run(Some(1)).await?.into_iter().next())
    }

    /// The only matching document, if any; [`DbError::NotUnique`] if there are several.
    pub async fn unique(self) -> Result<Option<Doc<T>>, DbError> {
        let mut docs = self.run(Some(2)).await?;
        if docs.len() > 1 {
            return Err(DbError::NotUnique {
                table: T::NAME.to_owned(),
            });
        }
        Ok(docs.pop())
    }

    /// One page of matching documents, continuing after `options.cursor`.
    ///
    /// Pages follow index order by position, so documents inserted or deleted between
    /// pages never make a page skip or repeat a document. Pass the result's
    /// `continue_cursor` to get the next page; `is_done` says the range is exhausted.
    ///
    /// With `options.end_cursor` (what `usePaginatedQuery` sends when it splits a page), the
    /// page is every document after `cursor` up to and including `end_cursor`, however many,
    /// and `continue_cursor` is `end_cursor`. In a subscribed query (`Runtime::subscribe`,
    /// the sync protocol) the first run's `continue_cursor` is recorded as the query's
    /// *journal*, and later runs end there too: when documents are inserted into or deleted
    /// from a page, the page grows or shrinks but its boundary stays put, so pages stay
    /// gapless. A query should paginate once per run; if it paginates several times, the
    /// last page's end is recorded.
    pub async fn paginate(
        mut self,
        options: PaginationOptions,
    ) -> Result<PaginationResult<Doc<T>>, DbError> {
        let descending = self.order == Order::Desc;
        let mut range = self.key_range()?;
        let start = match options.cursor.as_deref() {
            Some(cursor) => cursor::decode(cursor, &self.index, descending)?,
            None => cursor::Position::Start,
        };
        let end_cursor = options.end_cursor.clone().or_else(|| self.tx.journal());
        let end = match end_cursor.as_deref() {
            Some(end) => Some(cursor::decode(end, &self.index, descending)?),
            None => None,
        };
        match start {
            cursor::Position::Start => {}
            cursor::Position::After(key) => range = range.after(key, descending),
            // Nothing after the end.
            cursor::Position::End => {
                let continue_cursor = cursor::encode_end(&self.index, descending);
                self.tx.record_journal(continue_cursor.clone());
                return Ok(PaginationResult {
                    page: Vec::new(),
                    is_done: true,
                    continue_cursor,
                });
            }
        }
        let (page, is_done, continue_cursor) = match (end, end_cursor) {
            (Some(end), Some(end_cursor)) => match end {
                // An end at the start of the range: an empty page.
                cursor::Position::Start => {
                    let is_done = self.run_range(range, Some(1)).await?.is_empty();
                    (Vec::new(), is_done, end_cursor)
                }
                cursor::Position::After(end_key) => {
                    let page = self
                        .run_range(range.up_to(end_key.clone(), descending), None)
                        .await?;
                    let rest = range.after(end_key, descending);
                    let is_done = self.run_range(rest, Some(1)).await?.is_empty();
                    (page, is_done, end_cursor)
                }
                cursor::Position::End => (self.run_range(range, None).await?, true, end_cursor),
            },
            _ => {
                let mut page = self
                    .run_range(range, Some(options.num_items.saturating_add(1)))
                    .await?;
                let is_done = page.len() <= options.num_items;
                page.truncate(options.num_items);
                // The last page continues at the end of the range, so that documents added
                // after it later belong to it (and a subscribed last page shows them).
                let continue_cursor = match page.last() {
                    _ if is_done => cursor::encode_end(&self.index, descending),
                    Some((key, _)) => cursor::encode(&self.index, descending, Some(key)),
                    None => cursor::encode(&self.index, descending, None),
                };
                (page, is_done, continue_cursor)
            }
        };
        self.tx.record_journal(continue_cursor.clone());
        Ok(PaginationResult {
            page: page.into_iter().map(|(_, doc)| doc).collect(),
            is_done,
            continue_cursor,
        })
    }
}

/// Where a page starts and how long it is: Convex's `paginationOpts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaginationOptions {
    /// `None` for the first page, then the previous page's `continue_cursor`.
    pub cursor: Option<String>,
    /// How many documents per page.
    pub num_items: usize,
    /// Where the page ends (inclusive), if it must end at a given document rather than
    /// after `num_items`: a `continue_cursor` returned earlier. Convex's `endCursor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_cursor: Option<String>,
}

impl PaginationOptions {
    /// The first page of `num_items` documents.
    pub fn first(num_items: usize) -> Self {
        PaginationOptions {
            cursor: None,
            num_items,
            end_cursor: None,
        }
    }

    /// The page after the one that returned `continue_cursor`.
    pub fn after(continue_cursor: impl Into<String>, num_items: usize) -> Self {
        PaginationOptions {
            cursor: Some(continue_cursor.into()),
            num_items,
            end_cursor: None,
        }
    }
}

/// One page of results: Convex's `{ page, isDone, continueCursor }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaginationResult<T> {
    /// The documents of this page.
    pub page: Vec<T>,
    /// Whether no documents follow this page.
    pub is_done: bool,
    /// The cursor to pass for the next page.
    pub continue_cursor: String,
}

/// Reads and writes the database inside a transaction: `ctx.db()` in a mutation.
///
/// Dereferences to [`DatabaseReader`] for reads, which see this transaction's writes.
/// Writes are buffered and become visible to others only when the mutation commits.
///
/// System tables (names starting with `_`, such as the scheduler's
/// `_scheduled_functions`) can be read but not written: `insert`, `patch`, `replace` and
/// `delete` on them fail with [`DbError::SystemTable`].
///
/// ```
/// # mod teams {
/// use convoke::{Id, MutationCtx, Result, Table, procedure};
/// # convoke::module!(teams);
///
/// #[derive(serde::Serialize, serde::Deserialize, Table)]
/// #[table(name = "teams")]
/// pub struct Team { pub name: String, pub size: u32 }
///
/// #[procedure(mutation)]
/// pub async fn shuffle(ctx: &MutationCtx<'_>) -> Result<()> {
///     let db = ctx.db();
///     let id: Id<Team> = db.insert(&Team { name: "Engines".into(), size: 1 }).await?;
///     db.patch(id, &serde_json::json!({ "size": 2 })).await?; // set some fields
///     db.replace(id, &Team { name: "Looms".into(), size: 3 }).await?; // set all fields
///     assert_eq!(db.get(id).await?.map(|t| t.size), Some(3)); // reads see the writes
///     db.delete(id).await?;
///     Ok(())
/// }
/// # }
/// # fn main() {}
/// ```
#[derive(Clone, Copy)]
pub struct DatabaseWriter<'a> {
    reader: DatabaseReader<'a>,
}

impl std::fmt::Debug for DatabaseWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseWriter").finish_non_exhaustive()
    }
}

impl<'a> DatabaseWriter<'a> {
    pub(crate) fn new(tx: &'a Transaction) -> Self {
        DatabaseWriter {
            reader: DatabaseReader { tx },
        }
    }

    /// Inserts a new document into `T`'s table and returns its id. The store sets `_id`
    /// and `_creationTime`.
    pub async fn insert<T: Table>(&self, value: &T) -> Result<Id<T>, DbError> {
        check_user_table::<T>("insert")?;
        let id = self.reader.tx.insert(T::NAME, to_fields(value)?).await?;
        id.typed()
    }

    /// Merges fields into the document: `patch(id, &json!({ "size": 2 }))` (any serializable
    /// object) sets the listed fields and keeps the others; a [`Patch`] can also remove
    /// fields. Fails with [`DbError::NotFound`] if there is no such document.
    pub async fn patch<T: Table>(&self, id: Id<T>, patch: impl IntoPatch) -> Result<(), DbError> {
        check_user_table::<T>("patch")?;
        let patch = patch.into_patch()?;
        self.reader
            .tx
            .patch(&id.document_id(), patch.set, &patch.unset)
            .await
    }

    /// Replaces the document's fields with `value`; `_id` and `_creationTime` stay.
    /// Fails with [`DbError::NotFound`] if there is no such document.
    pub async fn replace<T: Table>(&self, id: Id<T>, value: &T) -> Result<(), DbError> {
        check_user_table::<T>("replace")?;
        self.reader
            .tx
            .replace(&id.document_id(), to_fields(value)?)
            .await
    }

    /// Deletes the document. Fails with [`DbError::NotFound`] if there is none.
    pub async fn delete<T: Table>(&self, id: Id<T>) -> Result<(), DbError> {
        check_user_table::<T>("delete")?;
        self.reader.tx.delete(&id.document_id()).await
    }
}

/// Refuses writes to system tables (names starting with `_`), which only the runtime
/// writes.
fn check_user_table<T: Table>(operation: &'static str) -> Result<(), DbError> {
    if T::NAME.starts_with('_') {
        return Err(DbError::SystemTable {
            table: T::NAME.to_owned(),
            operation,
        });
    }
    Ok(())
}

/// A partial update: fields to set and fields to remove.
///
/// ```
/// use convoke::db::Patch;
/// let patch = Patch::new().set("name", "Looms").unset("nickname");
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct Patch {
    set: Object,
    unset: Vec<String>,
    error: Option<value::ValueError>,
}

impl Patch {
    /// An empty patch.
    pub fn new() -> Self {
        Patch::default()
    }

    /// Sets `field` to `value`.
    pub fn set(mut self, field: &str, value: impl Serialize) -> Self {
        match value::to_value(&value) {
            Ok(v) => {
                self.set.insert(field.to_owned(), v);
            }
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// Removes `field` from the document (Convex's `undefined` in a patch).
    pub fn unset(mut self, field: &str) -> Self {
        self.unset.push(field.to_owned());
        self
    }
}

/// What [`DatabaseWriter::patch`] takes: a [`Patch`], or any serializable object whose
/// fields are all set.
pub trait IntoPatch {
    /// The patch, or why the value is not one.
    fn into_patch(self) -> Result<Patch, DbError>;
}

impl IntoPatch for Patch {
    fn into_patch(self) -> Result<Patch, DbError> {
        match self.error {
            Some(e) => Err(e.into()),
            None => Ok(self),
        }
    }
}

impl<T: Serialize + ?Sized> IntoPatch for &T {
    fn into_patch(self) -> Result<Patch, DbError> {
        Ok(Patch {
            set: to_fields(self)?,
            unset: Vec::new(),
            error: None,
        })
    }
}

impl<'a> Deref for DatabaseWriter<'a> {
    type Target = DatabaseReader<'a>;
    fn deref(&self) -> &DatabaseReader<'a> {
        &self.reader
    }
}
