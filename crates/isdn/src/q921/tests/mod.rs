//! Tests in virtual time: the codec against known trace bytes, and a user
//! and a network link joined by an in-memory wire that can lose, duplicate
//! and reorder frames.

mod codec;
mod link;
mod wire;
