// Table names: ASCII letters, digits and `_`, starting with a letter; `_` starts system
// tables' names.
use convoke::Table;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Table)]
#[table(name = "_scheduled")]
struct System {
    a: u32,
}

#[derive(Serialize, Deserialize, Table)]
#[table(name = "9lives")]
struct Digit {
    a: u32,
}

#[derive(Serialize, Deserialize, Table)]
#[table(name = "team-members")]
struct Dash {
    a: u32,
}

#[derive(Serialize, Deserialize, Table)]
#[table(name = teams)]
struct NotAString {
    a: u32,
}

#[derive(Serialize, Deserialize, Table)]
#[table(name = "teams")]
#[table(name = "groups")]
struct Twice {
    a: u32,
}

fn main() {}
