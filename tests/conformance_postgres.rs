//! The storage conformance suite against the PostgreSQL engine, each case in a schema of
//! its own on the test server (see `support/postgres.rs`).

mod conformance;
#[path = "support/postgres.rs"]
mod postgres;

use conformance::Engine;
use convoke::Runtime;

fn postgres() -> Option<Engine> {
    let test = std::thread::current()
        .name()
        .unwrap_or("conformance_postgres")
        .to_owned();
    if !postgres::available(&test) {
        return None;
    }
    let schema = postgres::fresh_schema("convoke_conformance");
    let guard = postgres::DropSchema(schema.clone());
    let rt = Runtime::builder()
        .storage(postgres::store(&schema))
        .build()
        .expect("runtime");
    Some(Engine {
        rt,
        guard: Some(Box::new(guard)),
    })
}

conformance_suite!(optional postgres);
