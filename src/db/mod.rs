//! Everything that talks to a database: connection URLs (and keeping their credentials out of
//! every message), the PostgreSQL repository backend, and the targets dbpm applies plans to.
//! Only this module and the executor touch sqlx.

mod driver;
pub mod repository;
pub mod target;
pub mod url;

pub use driver::DriverError;
pub use url::DbUrl;
