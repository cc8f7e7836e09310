//! Tables as declared with `#[derive(Table)]` ([`TableDefinition`], registered at link
//! time) and the [`Schema`] built from them; the schema itself belongs to the stored model
//! and is re-exported from [`crate::store`].

use crate::store::StoreError;
pub use crate::store::{Schema, TableIndexes};

/// A table as declared: its name and its indexes (`(name, fields)`).
///
/// `#[derive(Table)]` registers one for each document type at link time, so the runtime
/// knows every table without a hand-kept list.
#[derive(Debug)]
pub struct TableDefinition {
    /// The table's name.
    pub name: &'static str,
    /// User indexes: name and indexed fields, in order.
    pub indexes: &'static [(&'static str, &'static [&'static str])],
}

inventory::collect!(TableDefinition);

impl Schema {
    /// The schema of every table declared with `#[derive(Table)]` in this program.
    pub fn linked() -> Result<Schema, StoreError> {
        Schema::from_definitions(inventory::iter::<TableDefinition>)
    }

    /// A schema from explicit definitions, checked.
    pub fn from_definitions<'a>(
        definitions: impl IntoIterator<Item = &'a TableDefinition>,
    ) -> Result<Schema, StoreError> {
        Schema::from_tables(definitions.into_iter().map(|def| (def.name, def.indexes)))
    }
}
