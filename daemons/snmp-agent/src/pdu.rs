//! The AgentX PDUs this subagent sends and answers (RFC 2741), encoded by
//! the `agentx` crate. Pure functions from bytes to bytes, so each element
//! of procedure is tested without a master agent.

use std::time::Duration;

use agentx::encodings::{OctetString, SearchRange, VarBind, VarBindList, ID};
use agentx::pdu::{
    Close, CloseReason, Get, GetBulk, GetNext, Header, Notify, Open, Register, Response, Type,
};

use crate::mib::{Mib, Oid, Val};

pub const HEADER_LEN: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum PduError {
    #[error("malformed AgentX PDU: {0}")]
    Malformed(#[from] std::io::Error),
    #[error("AgentX OID with more than 128 sub-identifiers")]
    OidTooLong,
}

/// The length of the PDU whose header starts `buf` (header included).
pub fn frame_len(header: &[u8]) -> Result<usize, PduError> {
    let h = Header::from_bytes(header)?;
    Ok(HEADER_LEN + h.payload_length as usize)
}

pub fn pdu_type(buf: &[u8]) -> Result<Type, PduError> {
    Ok(Header::from_bytes(buf)?.ty)
}

/// Every OID the agent sends is built here, never echoed from a request:
/// `agentx` decodes an OID with a prefix into up to 260 sub-identifiers
/// and then panics encoding it (its count must fit a byte).
fn id(o: &[u32]) -> Result<ID, PduError> {
    ID::try_from(o.to_vec()).map_err(|_| PduError::OidTooLong)
}

fn oid_of(id: &ID) -> Oid {
    let s = id.to_string();
    if s.is_empty() {
        return Vec::new();
    }
    s.split('.').filter_map(|p| p.parse().ok()).collect()
}

fn value(v: &Val) -> agentx::encodings::Value {
    use agentx::encodings::Value;
    match v {
        Val::Int(i) => Value::Integer(*i),
        Val::Str(s) => Value::OctetString(OctetString(s.clone())),
        Val::Gauge(g) => Value::Gauge32(*g),
        // SNMPv2-TC TruthValue: true(1), false(2).
        Val::Truth(b) => Value::Integer(if *b { 1 } else { 2 }),
    }
}

pub fn open(descr: &str, timeout: Duration, packet_id: u32) -> Result<Vec<u8>, PduError> {
    let mut p = Open::new(id(crate::mib::DERING)?, descr);
    p.timeout = timeout;
    p.header.packet_id = packet_id;
    Ok(p.to_bytes()?)
}

pub fn register(session_id: u32, packet_id: u32, subtree: &[u32]) -> Result<Vec<u8>, PduError> {
    let mut p = Register::new(id(subtree)?);
    p.header.session_id = session_id;
    p.header.packet_id = packet_id;
    p.priority = 127;
    Ok(p.to_bytes()?)
}

pub fn close(session_id: u32, packet_id: u32) -> Result<Vec<u8>, PduError> {
    let mut p = Close::new(CloseReason::Shutdown);
    p.header.session_id = session_id;
    p.header.packet_id = packet_id;
    Ok(p.to_bytes()?)
}

/// A master's Response: its header and whether it reports success.
///
/// The master's sysUpTime is not used here, and is zeroed before decoding:
/// `agentx` 0.1.1 multiplies it by 10 in a `u32`, which overflows for a
/// master up more than 49.7 days (a panic wherever overflow checks are on,
/// as in tests and fuzzing; found by fuzz/fuzz_targets/agentx.rs).
pub fn response(buf: &[u8]) -> Result<(Header, bool), PduError> {
    let mut buf = buf.to_vec();
    if let Some(up) = buf.get_mut(HEADER_LEN..HEADER_LEN + 4) {
        up.fill(0);
    }
    let r = Response::from_bytes(&buf)?;
    let ok = r.res_error == agentx::pdu::ResError::NoAgentXError;
    Ok((r.header, ok))
}

/// snmpTrapOID.0 and sysUpTime.0, which open every notification.
const SNMP_TRAP_OID: &[u32] = &[1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0];
const SYS_UPTIME: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 3, 0];

pub fn notify(
    session_id: u32,
    packet_id: u32,
    uptime: Duration,
    notification: &[u32],
    objects: &[(Oid, Val)],
) -> Result<Vec<u8>, PduError> {
    use agentx::encodings::Value;
    let mut vbs = vec![
        VarBind::new(
            id(SYS_UPTIME)?,
            Value::TimeTicks((uptime.as_millis() / 10).min(i32::MAX as u128) as i32),
        ),
        VarBind::new(
            id(SNMP_TRAP_OID)?,
            Value::ObjectIdentifier(id(notification)?),
        ),
    ];
    for (o, v) in objects {
        vbs.push(VarBind::new(id(o)?, value(v)));
    }
    let mut p = Notify::new(VarBindList(vbs));
    p.header.session_id = session_id;
    p.header.packet_id = packet_id;
    Ok(p.to_bytes()?)
}

/// SNMP error-status notWritable (RFC 3416), which the `agentx` crate's
/// `ResError` cannot express: a read-only MIB answers every TestSet so.
const NOT_WRITABLE: u16 = 17;

/// Answers one request from the master, `None` for PDUs that need no
/// answer here (a Response to something we sent is handled by the caller).
pub fn answer(buf: &[u8], mib: &Mib, uptime: Duration) -> Result<Option<Vec<u8>>, PduError> {
    let header = Header::from_bytes(buf)?;
    let mut resp = Response::from_header(&header);
    resp.sys_uptime = uptime;
    let vbs: Vec<VarBind> = match header.ty {
        Type::Get => {
            let p = Get::from_bytes(buf)?;
            let mut out = Vec::new();
            for sr in &p.sr.0 {
                let o = oid_of(&sr.start);
                let data = match mib.get(&o) {
                    Some(v) => value(v),
                    None => agentx::encodings::Value::NoSuchObject,
                };
                out.push(VarBind::new(id(&o)?, data));
            }
            out
        }
        Type::GetNext => {
            let p = GetNext::from_bytes(buf)?;
            p.sr.0
                .iter()
                .map(|sr| next_of(mib, sr))
                .collect::<Result<_, _>>()?
        }
        Type::GetBulk => {
            let p = GetBulk::from_bytes(buf)?;
            bulk(mib, &p)?
        }
        Type::TestSet => {
            let mut bytes = resp.to_bytes()?;
            // res.error sits after the header and the 4-byte sysUpTime, in
            // the byte order of our header (little endian: no flag set).
            if let Some(b) = bytes.get_mut(HEADER_LEN + 4..HEADER_LEN + 6) {
                b.copy_from_slice(&NOT_WRITABLE.to_le_bytes());
            }
            if let Some(b) = bytes.get_mut(HEADER_LEN + 6..HEADER_LEN + 8) {
                b.copy_from_slice(&1u16.to_le_bytes());
            }
            return Ok(Some(bytes));
        }
        Type::CommitSet | Type::UndoSet => return Ok(Some(resp.to_bytes()?)),
        // CleanupSet has no response; Responses are ours to match.
        _ => return Ok(None),
    };
    resp.vb = Some(VarBindList(vbs));
    Ok(Some(resp.to_bytes()?))
}

fn next_of(mib: &Mib, sr: &SearchRange) -> Result<VarBind, PduError> {
    let start = oid_of(&sr.start);
    let end = oid_of(&sr.end);
    Ok(match mib.next(&start, sr.start.include != 0, &end) {
        Some((o, v)) => VarBind::new(id(o)?, value(v)),
        None => VarBind::new(id(&start)?, agentx::encodings::Value::EndOfMibView),
    })
}

/// RFC 2741 §7.2.3.3: non-repeaters once, then up to max-repetitions
/// rounds over the repeaters, each continuing where the last left off.
fn bulk(mib: &Mib, p: &GetBulk) -> Result<Vec<VarBind>, PduError> {
    let n = usize::from(p.non_repeaters).min(p.sr.0.len());
    let mut out = Vec::new();
    for sr in &p.sr.0[..n] {
        out.push(next_of(mib, sr)?);
    }
    let mut cursors: Vec<(Oid, bool, Oid)> = p.sr.0[n..]
        .iter()
        .map(|sr| (oid_of(&sr.start), sr.start.include != 0, oid_of(&sr.end)))
        .collect();
    for _ in 0..p.max_repetitions.min(256) {
        let mut any = false;
        for (start, include, end) in cursors.iter_mut() {
            match mib.next(start, *include, end) {
                Some((o, v)) => {
                    out.push(VarBind::new(id(o)?, value(v)));
                    *start = o.clone();
                    *include = false;
                    any = true;
                }
                None => out.push(VarBind::new(
                    id(start)?,
                    agentx::encodings::Value::EndOfMibView,
                )),
            }
        }
        if !any {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mib::oid;
    use agentx::encodings::SearchRangeList;

    fn mib() -> Mib {
        let mut m = Mib::default();
        m.values.insert(oid(&[1, 3, 1, 0]), Val::Gauge(4));
        m.values.insert(oid(&[1, 3, 2, 0]), Val::Gauge(2));
        m.values.insert(oid(&[1, 3, 4, 0]), Val::Truth(true));
        m
    }

    fn reply(bytes: &[u8]) -> Response {
        Response::from_bytes(bytes).unwrap()
    }

    #[test]
    fn get_and_getnext_answer_with_the_request_ids() {
        let mut get = Get::new(SearchRangeList(vec![
            SearchRange::new(id(&oid(&[1, 3, 2, 0])).unwrap(), ID::default()),
            SearchRange::new(id(&oid(&[1, 3, 9, 0])).unwrap(), ID::default()),
        ]));
        get.header.session_id = 7;
        get.header.packet_id = 99;
        let r = reply(
            &answer(&get.to_bytes().unwrap(), &mib(), Duration::ZERO)
                .unwrap()
                .unwrap(),
        );
        assert_eq!((r.header.session_id, r.header.packet_id), (7, 99));
        let vb = r.vb.unwrap().0;
        assert_eq!(vb[0].data, agentx::encodings::Value::Gauge32(2));
        assert_eq!(vb[1].data, agentx::encodings::Value::NoSuchObject);

        let mut next = GetNext::new(SearchRangeList(vec![SearchRange::new(
            id(&oid(&[1, 3, 2, 0])).unwrap(),
            ID::default(),
        )]));
        let r = reply(
            &answer(&next.to_bytes().unwrap(), &mib(), Duration::ZERO)
                .unwrap()
                .unwrap(),
        );
        let vb = r.vb.unwrap().0;
        assert_eq!(oid_of(&vb[0].name), oid(&[1, 3, 4, 0]));
        assert_eq!(vb[0].data, agentx::encodings::Value::Integer(1));
    }

    #[test]
    fn getbulk_walks_to_the_end_of_the_view() {
        let mut bulk = GetBulk::new(SearchRangeList(vec![SearchRange::new(
            id(crate::mib::DERING).unwrap(),
            ID::default(),
        )]));
        bulk.max_repetitions = 10;
        let r = reply(
            &answer(&bulk.to_bytes().unwrap(), &mib(), Duration::ZERO)
                .unwrap()
                .unwrap(),
        );
        let vb = r.vb.unwrap().0;
        let names: Vec<Oid> = vb.iter().map(|v| oid_of(&v.name)).collect();
        assert_eq!(
            names[..3],
            [oid(&[1, 3, 1, 0]), oid(&[1, 3, 2, 0]), oid(&[1, 3, 4, 0])]
        );
        assert_eq!(vb[3].data, agentx::encodings::Value::EndOfMibView);
        assert_eq!(vb.len(), 4, "stops once every repeater is at the end");
    }

    #[test]
    fn sets_are_refused_and_garbage_is_an_error() {
        let mut set = agentx::pdu::TestSet::new(VarBindList(vec![VarBind::new(
            id(&oid(&[1, 3, 1, 0])).unwrap(),
            agentx::encodings::Value::Gauge32(1),
        )]));
        let bytes = answer(&set.to_bytes().unwrap(), &mib(), Duration::ZERO)
            .unwrap()
            .unwrap();
        assert_eq!(u16::from_le_bytes([bytes[24], bytes[25]]), NOT_WRITABLE);
        assert!(answer(&[1, 2, 3], &mib(), Duration::ZERO).is_err());
        assert!(answer(&[0xff; 24], &mib(), Duration::ZERO).is_err());
    }

    /// A Response from a master up for 50 days used to panic in the
    /// `agentx` decoder (sysUpTime × 10 in a `u32`).
    #[test]
    fn a_response_from_a_long_running_master_is_read() {
        let mut ok = Response::from_header(&Header::new(Type::Response));
        ok.header.session_id = 5;
        ok.sys_uptime = Duration::from_secs(50 * 86_400);
        let (h, success) = response(&ok.to_bytes().unwrap()).unwrap();
        assert_eq!(h.session_id, 5);
        assert!(success);
        assert!(response(&[1, 18, 0, 0]).is_err());
    }

    /// A Get for an OID of 255 sub-identifiers after the 1.3.6.1.4 prefix
    /// (260 in all, after the whole MIB) used to panic the agent when it
    /// echoed the OID back, in a Get and at the end of a GetNext.
    #[test]
    fn an_oid_too_long_to_send_back_is_an_error_not_a_panic() {
        let mut payload = vec![255, 4, 0, 0];
        payload.extend(std::iter::repeat_n([0xFF; 4], 255).flatten());
        payload.extend([0, 0, 0, 0]);
        for ty in [5u8, 6] {
            let mut get = vec![1, ty, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0];
            get.extend((payload.len() as u32).to_le_bytes());
            get.extend(&payload);
            assert!(matches!(
                answer(&get, &mib(), Duration::ZERO),
                Err(PduError::OidTooLong)
            ));
        }
    }

    #[test]
    fn notify_carries_uptime_trap_oid_and_objects() {
        let b = notify(
            3,
            4,
            Duration::from_secs(2),
            &oid(&[0, 1]),
            &[(oid(&[1, 7, 3, 0]), Val::Gauge(60))],
        )
        .unwrap();
        assert_eq!(pdu_type(&b).unwrap(), Type::Notify);
        let n = Notify::from_bytes(&b).unwrap();
        assert_eq!(n.vb.0.len(), 3);
        assert_eq!(n.vb.0[0].data, agentx::encodings::Value::TimeTicks(200));
        assert_eq!(
            n.vb.0[1].data,
            agentx::encodings::Value::ObjectIdentifier(id(&oid(&[0, 1])).unwrap())
        );
        assert_eq!(frame_len(&b).unwrap(), b.len());
    }
}
