// Index declarations: `index(name = ["field", ..])`, checked as the runtime checks the
// schema at start-up; every mistake is reported.
use convoke::Table;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Table)]
#[table(index(
    by_owner = "owner",
    by_label = [name],
    empty = [],
    by_id = ["owner"],
    _hidden = ["owner"],
    by_owner_twice = ["owner", "owner"],
    by_time = ["_creationTime"],
    by_path = ["profile..name", "$size"],
))]
#[table(index(by_name = ["name"], by_name = ["owner"]))]
struct Team {
    owner: String,
    name: String,
}

#[derive(Serialize, Deserialize, Table)]
#[table(index(too_many = [
    "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q"
]))]
struct Wide {
    a: u32,
}

fn main() {}
