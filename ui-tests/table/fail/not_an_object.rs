// A document is stored as an object: types that cannot serialize to one are refused.
use convoke::Table;
use serde::{Deserialize, Serialize};

#[derive(Table)]
union Bits {
    a: u32,
    b: f32,
}

#[derive(Serialize, Deserialize, Table)]
struct Unit;

#[derive(Serialize, Deserialize, Table)]
struct Pair(u32, u32);

fn main() {}
