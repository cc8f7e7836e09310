//! The Convex HTTP API on the wire, shared by the server ([`http`](crate::http), with the
//! `http` feature) and the client ([`remote`](crate::remote), with the `remote` feature):
//! request bodies, value formats, procedure paths, response bodies, the status codes, and
//! the value [`Transformer`] both sides apply.
//!
//! One module holds the format so that the server and the client cannot drift apart; it
//! depends on nothing but [`value`](crate::value) and serde, so it is always compiled.
//!
//! | what | shape |
//! |---|---|
//! | request | `POST /api/{query,mutation,action,run/..}` with `{"path", "args": [{..}], "format"}` |
//! | success | status 200, `{"status": "success", "value", "logLines"}` |
//! | the procedure failed | status [`STATUS_FUNCTION_FAILED`] (560), `{"status": "error", "errorMessage", "errorData"?, "logLines"}` |
//! | refused before running | 4xx or 5xx, `{"code", "message"}` (and `errorMessage` for the official clients) |

// The request and response formats exist for the transports that speak them.
#[cfg(any(feature = "http", feature = "remote"))]
pub(crate) mod call;
#[cfg(any(feature = "http", feature = "remote"))]
pub(crate) mod response;
#[cfg(any(feature = "http", feature = "remote"))]
pub mod sync;
mod transformer;

pub use crate::value::date::{DATE_TAG, TAG_MARKER};
pub use transformer::{Codec, Transformer};

/// Convex's status code for "the function ran and failed": the body is a normal
/// `{"status": "error", ..}` response. The official clients treat it like 200.
pub const STATUS_FUNCTION_FAILED: u16 = 560;

/// A request the wire format refuses: a machine-readable code (such as `"BadJsonBody"`)
/// and a message. The server answers it with HTTP 400.
#[cfg(any(feature = "http", feature = "remote"))]
#[cfg_attr(not(feature = "http"), allow(dead_code))] // the server's refusals
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireError {
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

#[cfg(any(feature = "http", feature = "remote"))]
#[cfg_attr(not(feature = "http"), allow(dead_code))]
impl WireError {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> WireError {
        WireError {
            code,
            message: message.into(),
        }
    }
}
