//! What a database driver said, for a message: once. sqlx's errors repeat their cause in
//! their own text ("error returned from database: X", then X as the cause), which a
//! diagnostic's chain of causes printed twice; the database's own words are the message.

use std::fmt;

/// A driver error as the cause of one of dbpm's errors.
#[derive(Debug)]
pub struct DriverError(pub sqlx::Error);

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            sqlx::Error::Database(err) => write!(f, "{err}"),
            // The server went away mid-conversation: sqlx says so in terms of bytes.
            sqlx::Error::Io(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::UnexpectedEof
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::BrokenPipe
                ) =>
            {
                write!(f, "the server closed the connection ({err})")
            }
            sqlx::Error::Io(err) => write!(f, "{err}"),
            other => write!(f, "{other}"),
        }
    }
}

/// Its cause is in its text already.
impl std::error::Error for DriverError {}

impl From<sqlx::Error> for DriverError {
    fn from(err: sqlx::Error) -> Self {
        DriverError(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cause_is_said_once() {
        let io = DriverError(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        )));
        assert_eq!(io.to_string(), "Connection refused (os error 111)");
        assert!(std::error::Error::source(&io).is_none());
        let closed = DriverError(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "expected to read 4 bytes, got 0 bytes at EOF",
        )));
        assert_eq!(
            closed.to_string(),
            "the server closed the connection (expected to read 4 bytes, got 0 bytes at EOF)"
        );
        let timeout = DriverError(sqlx::Error::PoolTimedOut);
        assert_eq!(timeout.to_string(), sqlx::Error::PoolTimedOut.to_string());
    }
}
