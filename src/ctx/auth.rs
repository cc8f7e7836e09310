//! The caller's identity, as `ctx.auth()` gives it.

use crate::value::{Object, Value};

/// The authenticated caller, like Convex's `UserIdentity`.
///
/// The HTTP server builds it from a verified JWT (`Authorization: Bearer <token>`, see
/// [`convoke::http`](crate::http)): issuer and subject from `iss` and `sub`, every other
/// claim under its JWT name, with accessors for the standard ones ([`email`](Self::email),
/// [`name`](Self::name)...). In-process code gives one to the runtime with
/// [`Runtime::with_identity`]. Inside a procedure, `ctx.auth().user_identity()` returns it.
///
/// [`Runtime::with_identity`]: crate::Runtime::with_identity
///
/// ```
/// use convoke::UserIdentity;
/// let me = UserIdentity::new("https://auth.example.com", "user_42").with_claim("email", "a@b.c");
/// assert_eq!(me.token_identifier(), "https://auth.example.com|user_42");
/// assert_eq!(me.claim("email").and_then(|v| v.as_str()), Some("a@b.c"));
/// assert_eq!(me.email(), Some("a@b.c"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct UserIdentity {
    issuer: String,
    subject: String,
    token_identifier: String,
    claims: Object,
}

impl UserIdentity {
    /// An identity from its issuer (`iss`) and subject (`sub`).
    pub fn new(issuer: impl Into<String>, subject: impl Into<String>) -> Self {
        let issuer = issuer.into();
        let subject = subject.into();
        let token_identifier = format!("{issuer}|{subject}");
        UserIdentity {
            issuer,
            subject,
            token_identifier,
            claims: Object::new(),
        }
    }

    /// Adds a claim (e.g. `email`, `name`, or a custom one).
    pub fn with_claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Who issued the token (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The user's id at the issuer (`sub`).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// `"<issuer>|<subject>"`: a stable, unique key for the user.
    pub fn token_identifier(&self) -> &str {
        &self.token_identifier
    }

    /// One claim of the token, by name.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }

    /// All claims other than issuer and subject.
    pub fn claims(&self) -> &Object {
        &self.claims
    }

    fn text_claim(&self, name: &str) -> Option<&str> {
        self.claim(name).and_then(Value::as_str)
    }

    fn bool_claim(&self, name: &str) -> Option<bool> {
        self.claim(name).and_then(Value::as_bool)
    }

    /// The `name` claim.
    pub fn name(&self) -> Option<&str> {
        self.text_claim("name")
    }

    /// The `given_name` claim.
    pub fn given_name(&self) -> Option<&str> {
        self.text_claim("given_name")
    }

    /// The `family_name` claim.
    pub fn family_name(&self) -> Option<&str> {
        self.text_claim("family_name")
    }

    /// The `nickname` claim.
    pub fn nickname(&self) -> Option<&str> {
        self.text_claim("nickname")
    }

    /// The `preferred_username` claim.
    pub fn preferred_username(&self) -> Option<&str> {
        self.text_claim("preferred_username")
    }

    /// The `profile` claim (Convex's `profileUrl`).
    pub fn profile_url(&self) -> Option<&str> {
        self.text_claim("profile")
    }

    /// The `picture` claim (Convex's `pictureUrl`).
    pub fn picture_url(&self) -> Option<&str> {
        self.text_claim("picture")
    }

    /// The `email` claim.
    pub fn email(&self) -> Option<&str> {
        self.text_claim("email")
    }

    /// The `email_verified` claim.
    pub fn email_verified(&self) -> Option<bool> {
        self.bool_claim("email_verified")
    }

    /// The `gender` claim.
    pub fn gender(&self) -> Option<&str> {
        self.text_claim("gender")
    }

    /// The `birthdate` claim (Convex's `birthday`).
    pub fn birthday(&self) -> Option<&str> {
        self.text_claim("birthdate")
    }

    /// The `zoneinfo` claim (Convex's `timezone`).
    pub fn timezone(&self) -> Option<&str> {
        self.text_claim("zoneinfo")
    }

    /// The `locale` claim (Convex's `language`).
    pub fn language(&self) -> Option<&str> {
        self.text_claim("locale")
    }

    /// The `phone_number` claim.
    pub fn phone_number(&self) -> Option<&str> {
        self.text_claim("phone_number")
    }

    /// The `phone_number_verified` claim.
    pub fn phone_number_verified(&self) -> Option<bool> {
        self.bool_claim("phone_number_verified")
    }

    /// The `address` claim, an object.
    pub fn address(&self) -> Option<&Value> {
        self.claim("address")
    }

    /// The `updated_at` claim (seconds since the epoch).
    pub fn updated_at(&self) -> Option<f64> {
        match self.claim("updated_at")? {
            Value::Float64(f) => Some(*f),
            Value::Int64(i) => Some(*i as f64),
            _ => None,
        }
    }
}

/// Access to the caller's identity: `ctx.auth().user_identity()`.
///
/// The identity flows into every call a procedure makes, in-process; scheduled functions
/// will run without it, as in Convex.
///
/// ```
/// # mod users {
/// use convoke::{QueryCtx, Result, procedure};
/// # convoke::module!(users);
///
/// /// The caller's e-mail address, from the token's `email` claim.
/// #[procedure(query)]
/// pub async fn my_email(ctx: &QueryCtx<'_>) -> Result<String> {
///     let me = ctx.auth().user_identity().ok_or_else(|| convoke::Error::user("not signed in"))?;
///     match me.claim("email").and_then(|v| v.as_str()) {
///         Some(email) => Ok(email.to_owned()),
///         None => Err(convoke::Error::user("no e-mail address")),
///     }
/// }
/// # }
/// # fn main() {}
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Auth<'a> {
    identity: Option<&'a UserIdentity>,
}

impl<'a> Auth<'a> {
    pub(crate) fn new(identity: Option<&'a UserIdentity>) -> Self {
        Auth { identity }
    }

    /// The authenticated caller, or `None` for an anonymous call (and for scheduled
    /// functions, which run without the scheduler's identity).
    pub fn user_identity(&self) -> Option<&'a UserIdentity> {
        self.identity
    }
}
