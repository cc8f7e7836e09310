//! A client frame of the WebSocket sync protocol (`/api/{version}/sync`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| convoke::fuzz::sync_message(data));
