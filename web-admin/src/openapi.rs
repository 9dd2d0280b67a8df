//! The OpenAPI document of `/api/v1`, served at `/api/v1/openapi.json`
//! (utoipa, generated from the handlers' annotations so it cannot drift
//! from the code). Each module documents its own routes in a
//! `#[derive(utoipa::OpenApi)] pub struct Api` and adds one line below.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::Response;
use utoipa::OpenApi;

use crate::app::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Dering web admin API",
        description = "Everything the web admin does, with the same permission checks. \
                       Authenticate with an API token: `Authorization: Bearer drg_…`. \
                       Errors are `{error, field, message}`."
    ),
    tags(
        (name = "account", description = "The caller"),
        (name = "users", description = "Accounts (manage_users)"),
        (name = "audit", description = "The audit log (view_audit)")
    )
)]
struct Base;

/// The whole document: the base plus each module's part.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = Base::openapi();
    doc.merge(crate::auth::Api::openapi());
    doc.merge(crate::audit::Api::openapi());
    doc.merge(crate::admin::Api::openapi());
    doc.merge(crate::flows::Api::openapi());
    doc.merge(crate::history::Api::openapi());
    doc.merge(crate::live::Api::openapi());
    doc.merge(crate::tickets::Api::openapi());
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            add_framework_answers(op);
        }
    }
    doc
}

/// The answers every operation can give before its handler runs, which
/// no handler documents itself (Schemathesis found them undocumented):
/// 400 when a path, query or body value cannot be read as its type, 415
/// when a body is not sent as JSON, and 404 when a path names nothing.
/// A handler's own description of the same code is kept.
fn add_framework_answers(op: &mut Operation) {
    let has_path_param = op
        .parameters
        .iter()
        .flatten()
        .any(|p| p.parameter_in == ParameterIn::Path);
    let has_body = op.request_body.is_some();
    op.responses
        .responses
        .entry("400".into())
        .or_insert_with(|| {
            Response::new("The input could not be read: `{error, field, message}`").into()
        });
    if has_body {
        op.responses
            .responses
            .entry("415".into())
            .or_insert_with(|| Response::new("The body is not of the documented type").into());
    }
    if has_path_param {
        op.responses
            .responses
            .entry("404".into())
            .or_insert_with(|| Response::new("The path names nothing").into());
    }
}

async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}

/// Public: the document holds no data, and integrators read it first.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/openapi.json", get(openapi_json))
}

#[cfg(test)]
mod tests {
    /// Regression (found by Schemathesis): an unreadable query answered
    /// 400, a body sent as form 415, which the document did not list.
    #[test]
    #[allow(clippy::unwrap_used)] // A test: the panic is the failure.
    fn every_operation_documents_the_framework_s_refusals() {
        let doc = serde_json::to_value(super::document()).unwrap();
        let audit = &doc["paths"]["/api/v1/audit"]["get"]["responses"];
        assert!(audit["400"].is_object(), "{audit}");
        let users = &doc["paths"]["/api/v1/users"]["post"]["responses"];
        assert!(users["415"].is_object(), "{users}");
        let hangup = &doc["paths"]["/api/v1/live/calls/{uuid}/hangup"]["post"]["responses"];
        assert!(hangup["404"].is_object(), "{hangup}");
    }

    #[tokio::test]
    async fn the_document_lists_the_api_with_bearer_security() {
        let b = crate::testing::TestBox::new();
        let r = b.get("/api/v1/openapi.json", None).await;
        assert_eq!(r.status, axum::http::StatusCode::OK);
        let doc = r.json();
        assert!(doc["openapi"].as_str().unwrap_or("").starts_with("3."));
        for path in [
            "/api/v1/me",
            "/api/v1/users",
            "/api/v1/users/{id}",
            "/api/v1/audit",
        ] {
            assert!(doc["paths"][path].is_object(), "{path} missing");
        }
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
    }
}
