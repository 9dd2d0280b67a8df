//! The box's certificate page: its SHA-256 fingerprint (`view_config`) and
//! the upload of a replacement certificate and key as PEM text
//! (`edit_config`, audited with the fingerprints before and after). The
//! HTTPS listener takes it for new connections at once.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::auth::{Perm, Viewer};
use crate::error::AppError;
use crate::i18n::Text;
use crate::tls::{self, TlsError};
use crate::ui::{csrf_field, esc, page};

pub fn routes() -> Router<AppState> {
    Router::new().route("/certificate", get(show).post(upload))
}

/// The SHA-256 fingerprint of the first certificate in `pem`, as
/// browsers show it (`AB:CD:…`).
pub fn fingerprint(pem: &[u8]) -> Option<String> {
    let der = CertificateDer::pem_slice_iter(pem).next()?.ok()?;
    let hex: Vec<String> = Sha256::digest(der.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    Some(hex.join(":"))
}

fn current(state: &AppState) -> Option<String> {
    let pem = std::fs::read(tls::dir(state.data_dir()).join("cert.pem")).ok()?;
    fingerprint(&pem)
}

const TITLE: Text = Text {
    id: "Sertifikat HTTPS",
    en: "HTTPS certificate",
};
const FP: Text = Text {
    id: "Sidik jari SHA-256 sertifikat saat ini",
    en: "SHA-256 fingerprint of the current certificate",
};
const CERT: Text = Text {
    id: "Sertifikat (PEM, boleh dengan rantai)",
    en: "Certificate (PEM, chain allowed)",
};
const KEY: Text = Text {
    id: "Kunci privat (PEM)",
    en: "Private key (PEM)",
};
const SAVE: Text = Text {
    id: "Pasang",
    en: "Install",
};

async fn show(State(state): State<AppState>, viewer: Viewer) -> Result<Response, AppError> {
    viewer.require(Perm::ViewConfig)?;
    let lang = viewer.lang;
    let mut b = format!(
        "<p>{}: <code id=\"fingerprint\">{}</code></p>",
        lang.t(&FP),
        esc(&current(&state).unwrap_or_default())
    );
    if viewer.may(Perm::EditConfig) {
        b.push_str(&format!(
            "<form method=\"post\" action=\"/certificate\" id=\"certificate-form\">{}\
             <label>{}<textarea name=\"certificate\" rows=\"8\" cols=\"70\" required></textarea></label>\
             <label>{}<textarea name=\"key\" rows=\"8\" cols=\"70\" required></textarea></label>\
             <button>{}</button></form>",
            csrf_field(&viewer),
            lang.t(&CERT),
            lang.t(&KEY),
            lang.t(&SAVE)
        ));
    }
    Ok(page(&viewer, lang.t(&TITLE), &b).into_response())
}

#[derive(Debug, Deserialize)]
struct Upload {
    certificate: String,
    key: String,
}

async fn upload(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(f): Form<Upload>,
) -> Result<Redirect, AppError> {
    viewer.require(Perm::EditConfig)?;
    let before = current(&state);
    let config = tls::install(state.data_dir(), f.certificate.as_bytes(), f.key.as_bytes())
        .map_err(|e| match e {
            TlsError::Certificate(m) => AppError::invalid("certificate", m),
            TlsError::Key(m) | TlsError::Mismatch(m) => AppError::invalid("key", m),
            other => AppError::Internal(other.to_string()),
        })?;
    if let Some(live) = state.tls() {
        live.reload_from_config(Arc::new(config));
    }
    let after = fingerprint(f.certificate.as_bytes());
    crate::audit::log(
        &state,
        &viewer,
        "tls.certificate",
        "certificate",
        Some(serde_json::json!({ "sha256": before })),
        Some(serde_json::json!({ "sha256": after })),
    )
    .await?;
    tracing::info!(fingerprint = ?after, "the box's certificate was replaced");
    Ok(Redirect::to("/certificate"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use crate::testing::TestBox;
    use axum::http::StatusCode;

    fn enc(s: &str) -> String {
        crate::ui::url_encode(s).replace('/', "%2F")
    }

    #[tokio::test]
    async fn an_admin_replaces_the_certificate_and_a_mismatched_key_is_refused() {
        let b = TestBox::new();
        tls::ensure(b.dir.path()).unwrap();
        let admin = b.login_as(Role::Admin);
        let old = current(&b.state).unwrap();
        let new = rcgen::generate_simple_self_signed(vec!["box.example".into()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["x.example".into()]).unwrap();
        let form = |c: &str, k: &str| format!("certificate={}&key={}", enc(c), enc(k));
        let r = b
            .post_form(
                "/certificate",
                Some(&admin),
                &form(&new.cert.pem(), &other.key_pair.serialize_pem()),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("data-field=\"key\""), "{}", r.body);
        assert_eq!(current(&b.state).unwrap(), old);
        let r = b
            .post_form(
                "/certificate",
                Some(&admin),
                &form(&new.cert.pem(), &new.key_pair.serialize_pem()),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let page = b.get("/certificate", Some(&admin)).await;
        let fp = fingerprint(new.cert.pem().as_bytes()).unwrap();
        assert!(page.body.contains(&fp) && fp != old);
        let after: String = b
            .db()
            .query_row(
                "SELECT after FROM audit_log WHERE action = 'tls.certificate'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(after.contains(&fp));
        // A supervisor sees the fingerprint but cannot upload.
        let sup = b.login_as(Role::Supervisor);
        assert_eq!(
            b.get("/certificate", Some(&sup)).await.status,
            StatusCode::OK
        );
        let r = b
            .post_form(
                "/certificate",
                Some(&sup),
                &form(&new.cert.pem(), &new.key_pair.serialize_pem()),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
}
