//! What `#[derive(Table)]` accepts: the default and given names, indexes with nested field
//! paths, newtype structs, enums, raw identifiers, and `_` fields that serde renames or skips.

use convoke::Table;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Table)]
struct TeamMember {
    team: String,
}

#[derive(Serialize, Deserialize, Table)]
#[table(name = "teams", index(by_owner = ["owner"], by_owner_name = ["owner", "profile.name"]))]
#[table(index(by_size = ["size"]))]
struct Team {
    owner: String,
    size: u32,
    profile: Profile,
    #[serde(skip)]
    _cache: (),
}

#[derive(Serialize, Deserialize)]
struct Profile {
    name: String,
}

#[derive(Serialize, Deserialize, Table)]
struct Wrapped(Team);

#[derive(Serialize, Deserialize, Table)]
#[serde(tag = "kind")]
enum Event {
    Joined { member: String },
    Left { member: String },
}

#[derive(Serialize, Deserialize, Table)]
#[allow(non_camel_case_types)]
struct r#type {
    #[serde(rename = "value")]
    _value: u32,
}

fn main() {
    assert_eq!(TeamMember::NAME, "team_member");
    assert!(TeamMember::INDEXES.is_empty());
    assert_eq!(Team::NAME, "teams");
    assert_eq!(
        Team::INDEXES,
        &[
            ("by_owner", &["owner"][..]),
            ("by_owner_name", &["owner", "profile.name"][..]),
            ("by_size", &["size"][..]),
        ]
    );
    assert_eq!(Wrapped::NAME, "wrapped");
    assert_eq!(Event::NAME, "event");
    assert_eq!(r#type::NAME, "type");
}
