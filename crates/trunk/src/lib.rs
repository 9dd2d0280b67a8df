//! SIP trunks to carriers, without I/O (TRK-3, TRK-4, OPS-3): the
//! outbound registration, the OPTIONS keep-alive that marks a trunk up
//! or down, and which failures a route fails over on. pbxd's core owns
//! one of each per trunk and carries out what they ask (sending REGISTER
//! and OPTIONS through its transaction layer), feeding back answers and
//! time, as it does with every other machine (decision 0002).

pub mod failover;
pub mod keepalive;
pub mod registration;
pub mod resolve;

pub use failover::{try_order, FailoverPolicy, Order, Outcome, RouteTrunk};
pub use keepalive::{Change, Health, Keepalive};
pub use registration::{Registration, RegistrationSpec};
pub use resolve::{Target, Transport};
