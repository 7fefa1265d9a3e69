//! Storage: what the service keeps, behind one implementation per database.

pub mod sqlite;

pub use sqlite::*;
