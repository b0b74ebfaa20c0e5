//! The generator's one error type: a message that says which spec element is at fault.

use std::fmt;

/// A generation failure, with enough context to find the spec element at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

/// Result alias for the generator.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Builds an error from anything printable.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self(message.to_string())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// Adds context to any displayable error.
pub trait Context<T> {
    /// Prefixes the error with `what`.
    fn context(self, what: impl fmt::Display) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error(format!("{what}: {e}")))
    }
}
