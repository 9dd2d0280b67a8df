//! The OpenAPI document of `/api/v1`, served at `/api/v1/openapi.json`
//! (utoipa, generated from the handlers' annotations so it cannot drift
//! from the code). Each module documents its own routes in a
//! `#[derive(utoipa::OpenApi)] pub struct Api` and adds one line below.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
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
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    doc
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
