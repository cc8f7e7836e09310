//! The HTTP request envelope (the JSON body of `/api/query` and the others, `ts`, paths).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| convoke::fuzz::http_body(data));
