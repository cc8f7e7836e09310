//! The schema of the stored model: each table's indexes ([`TableIndexes`]), checked at
//! start-up ([`Schema`]).

use std::collections::HashMap;
use std::sync::Arc;

use super::StoreError;
use super::key::{BY_CREATION_TIME, BY_ID, IndexFields};

/// One table's indexes, ready to compute keys: the system indexes and the declared ones.
#[derive(Debug, Clone)]
pub struct TableIndexes {
    indexes: Vec<(String, IndexFields)>,
}

impl TableIndexes {
    /// Only the system indexes: for tables nobody declared.
    pub fn system() -> Self {
        TableIndexes {
            indexes: vec![
                (BY_ID.to_owned(), IndexFields::by_id()),
                (BY_CREATION_TIME.to_owned(), IndexFields::over(Vec::new())),
            ],
        }
    }

    /// The index of this name.
    pub fn get(&self, name: &str) -> Option<&IndexFields> {
        self.indexes.iter().find(|(n, _)| n == name).map(|(_, f)| f)
    }

    /// Every index, system ones first.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &IndexFields)> {
        self.indexes.iter().map(|(n, f)| (n.as_str(), f))
    }

    /// The index names, for error messages.
    pub fn names(&self) -> String {
        self.indexes
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Every table's indexes, checked.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    tables: HashMap<String, Arc<TableIndexes>>,
    system: Arc<TableIndexes>,
}

impl Default for TableIndexes {
    fn default() -> Self {
        TableIndexes::system()
    }
}

impl Schema {
    /// A schema from tables' names and indexes (`(name, fields)`), checked.
    pub(crate) fn from_tables<'a>(
        tables: impl IntoIterator<Item = (&'a str, &'a [(&'a str, &'a [&'a str])])>,
    ) -> Result<Schema, StoreError> {
        let mut seen: HashMap<&str, &[(&str, &[&str])]> = HashMap::new();
        let mut checked = HashMap::new();
        for (name, indexes) in tables {
            if let Some(previous) = seen.get(name) {
                if *previous != indexes {
                    return Err(invalid(
                        name,
                        "two document types declare this table with different indexes",
                    ));
                }
                continue;
            }
            seen.insert(name, indexes);
            checked.insert(name.to_owned(), Arc::new(check_table(name, indexes)?));
        }
        Ok(Schema {
            tables: checked,
            system: Arc::new(TableIndexes::system()),
        })
    }

    /// The indexes of `table` (only the system ones if it was not declared).
    pub fn table(&self, table: &str) -> Arc<TableIndexes> {
        self.tables
            .get(table)
            .cloned()
            .unwrap_or_else(|| self.system.clone())
    }

    /// The declared tables.
    pub fn table_names(&self) -> impl Iterator<Item = &str> {
        self.tables.keys().map(String::as_str)
    }
}

fn invalid(table: &str, reason: impl Into<String>) -> StoreError {
    StoreError::InvalidSchema {
        table: table.to_owned(),
        reason: reason.into(),
    }
}

fn check_table(table: &str, declared: &[(&str, &[&str])]) -> Result<TableIndexes, StoreError> {
    let mut indexes = TableIndexes::system();
    for (name, fields) in declared {
        if *name == BY_ID || *name == BY_CREATION_TIME {
            return Err(invalid(
                table,
                format!("`{name}` is a system index and cannot be redefined"),
            ));
        }
        if !is_identifier(name) || name.starts_with('_') {
            return Err(invalid(
                table,
                format!(
                    "invalid index name `{name}`: use ASCII letters, digits and `_`, not starting with `_`"
                ),
            ));
        }
        if indexes.get(name).is_some() {
            return Err(invalid(table, format!("index `{name}` is declared twice")));
        }
        if fields.is_empty() {
            return Err(invalid(table, format!("index `{name}` has no fields")));
        }
        if fields.len() > 16 {
            return Err(invalid(
                table,
                format!(
                    "index `{name}` has {} fields; the limit is 16",
                    fields.len()
                ),
            ));
        }
        let mut owned = Vec::with_capacity(fields.len());
        for field in fields.iter() {
            if field
                .split('.')
                .any(|part| part.is_empty() || part.starts_with('$'))
            {
                return Err(invalid(
                    table,
                    format!("index `{name}` has an invalid field path `{field}`"),
                ));
            }
            if *field == "_id" || *field == "_creationTime" {
                return Err(invalid(
                    table,
                    format!("index `{name}`: `{field}` is added to every index automatically"),
                ));
            }
            if owned.iter().any(|f: &String| f == field) {
                return Err(invalid(
                    table,
                    format!("index `{name}` lists `{field}` twice"),
                ));
            }
            owned.push((*field).to_owned());
        }
        indexes
            .indexes
            .push(((*name).to_owned(), IndexFields::over(owned)));
    }
    Ok(indexes)
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
