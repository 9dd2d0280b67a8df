//! The configuration screens (issue 15 §2, TEL-8): every part of
//! `dering.toml` an administrator or supervisor keeps up, as list, edit
//! form and delete, each showing who changed it last. An edit changes the
//! current version's document with `toml_edit` (comments kept) and imports
//! the result as the next version, live through pbxd's control socket or,
//! with pbxd stopped, straight into `config_versions` (decision 0013).

pub mod apply;
pub mod calendar;
pub mod document;
pub mod form;
pub mod pages;
pub mod prompts;
mod routes;
pub mod screens;
pub mod service;
pub mod system;

pub use routes::{routes, Api};

#[cfg(test)]
mod prompt_tests;
#[cfg(test)]
mod tests;
