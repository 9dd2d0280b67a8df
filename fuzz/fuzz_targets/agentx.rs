//! What snmp-agent reads from snmpd over AgentX (RFC 2741): PDUs framed by
//! their header's payload length (the agent's `read_pdu`), then each
//! dispatched as the session loop does: Responses (to the open, the
//! register and notifications) through `pdu::response`, requests (Get,
//! GetNext, GetBulk, the Set phases) answered from the MIB through
//! `pdu::answer`, a Close ending the session. The decoding itself is the
//! `agentx` crate's.
#![no_main]

use std::collections::BTreeMap;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use snmp_agent::mib::{self, Mib, Val};
use snmp_agent::pdu::{self, HEADER_LEN};

/// The agent's `read_pdu` limit.
const MAX_PDU: usize = 1 << 20;

/// A MIB shaped like the real one: scalars and a table row or two.
fn mib() -> Mib {
    let mut values = BTreeMap::new();
    let mut put = |tail: &[u32], v: Val| {
        values.insert(mib::oid(tail), v);
    };
    put(&[1, 1, 1, 0], Val::Str("0.1.0".into()));
    put(&[1, 1, 2, 0], Val::Gauge(12));
    put(&[1, 2, 1, 1, 1], Val::Int(1));
    put(&[1, 2, 1, 2, 1], Val::Str("pbxd".into()));
    put(&[1, 2, 1, 3, 1], Val::Int(mib::DAEMON_UP));
    put(&[1, 3, 1, 0], Val::Gauge(3));
    put(&[1, 7, 1, 0], Val::Truth(true));
    put(&[1, 8, 3, 0], Val::Gauge(41));
    Mib { values }
}

fuzz_target!(|data: &[u8]| {
    let mib = mib();
    let uptime = Duration::from_secs(1234);
    let mut rest = data;
    while rest.len() >= HEADER_LEN {
        let Ok(len) = pdu::frame_len(&rest[..HEADER_LEN]) else {
            return;
        };
        if len > MAX_PDU || len > rest.len() {
            return;
        }
        let (buf, tail) = rest.split_at(len);
        rest = tail;
        match pdu::pdu_type(buf) {
            Ok(agentx::pdu::Type::Response) => {
                if pdu::response(buf).is_err() {
                    return;
                }
            }
            Ok(agentx::pdu::Type::Close) | Err(_) => return,
            Ok(_) => {
                if pdu::answer(buf, &mib, uptime).is_err() {
                    return;
                }
            }
        }
    }
});
