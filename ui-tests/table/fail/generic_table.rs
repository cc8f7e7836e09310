// A table has one concrete document type.
use convoke::Table;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Table)]
struct Wrapper<T> {
    value: T,
}

fn main() {}
