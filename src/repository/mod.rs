//! Package repositories: where built packages are kept and found. The [`Index`] is the data
//! every decision reads; backends (a directory, database tables, a tree of sources) fill it
//! and hand out the packages it lists.

pub mod index;

pub use index::{Edge, Index, IndexEntry};
