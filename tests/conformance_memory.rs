//! The storage conformance suite against the in-memory engine.

mod conformance;

use conformance::Engine;
use convoke::Runtime;

fn memory() -> Engine {
    Engine::new(Runtime::in_memory().expect("runtime"))
}

conformance_suite!(memory);
