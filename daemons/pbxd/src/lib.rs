//! pbxd: the call engine. The protocol logic is the sans-IO [`core::Core`];
//! [`shell`] wires it to sockets, the database writer, the media relay and
//! the control socket.
pub use dering_config as config;
pub mod advertise;
pub mod config_versions;
pub mod core;
pub mod dial;
pub mod endpoint;
pub mod feed;
pub mod guard;
pub mod jobs;
pub mod keygate;
pub mod prompt_store;
pub mod recorder;
pub mod registrar;
pub mod relay;
pub mod resolve;
pub mod setup_gate;
pub mod shell;
pub mod spans;
pub mod tls;
pub mod transport;
