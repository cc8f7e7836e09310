//! The Convex JSON decoder (`convoke::value::from_convex_json`): what it accepts round-trips.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| convoke::fuzz::convex_json(data));
