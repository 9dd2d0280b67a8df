//! A B leg's INVITE challenged by its far side (401/407): answered with
//! the target's credential (RFC 3261 §22.2), or the leg fails as on any
//! other final answer, with the reason logged.

use dering_sip::{uac, Message};

use super::{CallState, ClientPurpose, Core, Now, Reply};

impl Core {
    /// Sends the B leg's INVITE of `call` again with credentials that
    /// answer the challenge in `r`: same Call-ID, From tag and To, the
    /// next CSeq, a new branch. The call keeps the new INVITE, so a
    /// CANCEL matches it (same CSeq number and branch) and the ACK of its
    /// 2xx and later BYEs follow its CSeq. Returns false when the
    /// challenge is not answered: no credential for the target, the same
    /// nonce challenged again (a wrong password), or too many tries.
    pub(super) fn answer_b_challenge(&mut self, now: Now, call: u64, r: Reply<'_>) -> bool {
        let listen = &self.listen;
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        if !c.b.is_live()
            || c.b.invite_key != r.key
            || !matches!(c.state(), CallState::Ringing | CallState::Flow)
        {
            return false;
        }
        let uri =
            c.b.invite
                .as_ref()
                .and_then(Message::request_uri)
                .unwrap_or_default()
                .to_string();
        let Some(auth) = c.b.auth.as_mut() else {
            tracing::warn!(
                call,
                code = r.code,
                target = %uri,
                "callee challenged the INVITE and no credential is known for its target"
            );
            return false;
        };
        let answer = match auth.answer(r.msg, "INVITE", &uri, &self.listen.tokens.token(16)) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(call, code = r.code, target = %uri, error = %e, "callee's challenge not answered");
                return false;
            }
        };
        let via = listen.via(c.b.peer.transport);
        let Some(invite) = c.b.invite.as_ref() else {
            return false;
        };
        let (data, cseq) = match uac::resend(invite, via, answer) {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(call, error = %e, "cannot rebuild the INVITE with credentials");
                return false;
            }
        };
        let Ok(msg) = Message::parse_datagram(&data) else {
            return false;
        };
        let peer = c.b.peer;
        c.b.cseq = cseq;
        let Some(key) = self.tx.send_request(now.at, peer, msg.clone(), data) else {
            return false;
        };
        self.clients
            .insert(key.clone(), ClientPurpose::BInvite(call));
        if let Some(c) = self.calls.get_mut(&call) {
            c.b.invite_key = key;
            c.b.invite = Some(msg);
        }
        tracing::info!(call, code = r.code, cseq, "answered the callee's challenge");
        true
    }
}
