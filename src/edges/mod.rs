//! Layer 2: the edges, where promptgate meets the outside world — git, the
//! local store, the registry, GitHub and the server's database. Each sits
//! behind a type or trait that tests point at a real local stand-in.

pub mod db;
pub mod git;
pub mod github;
pub mod memory;
pub mod registry;
pub mod store;
