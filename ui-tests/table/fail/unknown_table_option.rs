// An unknown `#[table(..)]` option is reported, and the options after it are still checked.
use convoke::Table;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Table)]
#[table(nmae = "teams", indexes(by_owner = ["owner"]), name = "_teams")]
struct Team {
    owner: String,
}

#[derive(Serialize, Deserialize, Table)]
#[table]
struct Bare {
    owner: String,
}

fn main() {}
