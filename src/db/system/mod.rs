//! The system tables: tables whose names start with `_`, which the runtime writes and
//! procedures can only read.

pub(crate) mod scheduled_functions;
pub(crate) mod session_requests;
