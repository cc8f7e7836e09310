//! The document decoder of the durable engines (a document's fields as Convex JSON text).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| convoke::fuzz::document_fields(data));
