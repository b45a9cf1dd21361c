//! `/openapi.json`: a hand-written OpenAPI 3.1 description of the routes.
//! A test checks that every path here is routed and every route is here.

use serde_json::{Value, json};

/// The routes, as (path, method); the router and this document list the same.
pub const ROUTES: [(&str, &str); 7] = [
    ("/webhooks/github", "post"),
    ("/healthz", "get"),
    ("/readyz", "get"),
    ("/metrics", "get"),
    ("/openapi.json", "get"),
    ("/v1/prompts/{name}", "get"),
    ("/v1/prompts/{name}/versions/{n}", "get"),
];

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

pub fn document() -> Value {
    let mut document = routes_document();
    // Telemetry describes its own routes (`super::telemetry::ROUTES`).
    if let Some(paths) = document["paths"].as_object_mut() {
        paths.extend(super::telemetry::openapi_paths());
    }
    if let Some(schemas) = document["components"]["schemas"].as_object_mut() {
        schemas.extend(super::telemetry::openapi_schemas());
    }
    document
}

fn routes_document() -> Value {
    let name =
        json!({"name": "name", "in": "path", "required": true, "schema": {"type": "string"}});
    let prompt_responses = json!({
        "200": {
            "description": "The prompt version; `ETag` is its content hash.",
            "headers": {"ETag": {"schema": {"type": "string"}}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ServedPrompt"}}}
        },
        "304": {"description": "`If-None-Match` matched: unchanged."},
        "401": error_response("No API key, or an unknown or revoked one."),
        "403": error_response("The API key's scope is too small."),
        "404": error_response("No such prompt, label or version.")
    });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "promptgate server",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "GitHub webhooks in, gate jobs out; published prompts served to applications."
        },
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "A promptgate API key (scopes read < publish < admin)."}
            },
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
                "ServedPrompt": {
                    "type": "object",
                    "required": ["name", "version", "version_id", "content"],
                    "properties": {
                        "name": {"type": "string"},
                        "version": {"type": "integer", "minimum": 1},
                        "version_id": {"type": "string", "description": "Content hash of the version."},
                        "label": {"type": ["string", "null"]},
                        "content": {"type": "object", "description": "Messages, model, parameters, response format."}
                    }
                }
            }
        },
        "paths": {
            "/webhooks/github": {"post": {
                "summary": "Receive a GitHub webhook delivery.",
                "description": "`X-Hub-Signature-256` is checked over the raw body before anything is parsed. A redelivery (same `X-GitHub-Delivery`) is acknowledged and not processed again. Bodies above the limit (25 MB by default) get 413.",
                "parameters": [
                    {"name": "X-Hub-Signature-256", "in": "header", "required": true, "schema": {"type": "string"}},
                    {"name": "X-GitHub-Event", "in": "header", "required": true, "schema": {"type": "string"}},
                    {"name": "X-GitHub-Delivery", "in": "header", "required": true, "schema": {"type": "string"}}
                ],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {
                    "200": {"description": "`ping` answered."},
                    "202": {"description": "Accepted: queued, a duplicate delivery, or an event that is ignored."},
                    "400": error_response("Missing event or delivery header, or an unreadable payload."),
                    "401": error_response("Missing, malformed or wrong signature."),
                    "413": {"description": "Body above the limit."},
                    "503": error_response("The job queue is unavailable; redeliver later.")
                }
            }},
            "/healthz": {"get": {"summary": "The process is alive.", "responses": {"200": {"description": "Alive."}}}},
            "/readyz": {"get": {
                "summary": "The database answers and every migration is applied.",
                "responses": {"200": {"description": "Ready."}, "503": error_response("Not ready; the body says why.")}
            }},
            "/metrics": {"get": {
                "summary": "Prometheus metrics: deliveries, signature failures, queue depth, job durations.",
                "responses": {"200": {"description": "Text exposition format 0.0.4.", "content": {"text/plain": {}}}}
            }},
            "/openapi.json": {"get": {"summary": "This document.", "responses": {"200": {"description": "OpenAPI 3.1."}}}},
            "/v1/prompts/{name}": {"get": {
                "summary": "The version an application should run.",
                "security": [{"apiKey": []}],
                "parameters": [
                    name.clone(),
                    {"name": "label", "in": "query", "schema": {"type": "string", "default": "production"}},
                    {"name": "key", "in": "query", "description": "Picks an A/B arm deterministically (e.g. a user id).", "schema": {"type": "string"}},
                    {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}
                ],
                "responses": prompt_responses.clone()
            }},
            "/v1/prompts/{name}/versions/{n}": {"get": {
                "summary": "One published version by number.",
                "security": [{"apiKey": []}],
                "parameters": [
                    name,
                    {"name": "n", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 1}},
                    {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}
                ],
                "responses": prompt_responses
            }}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_lists_exactly_the_routes() {
        let document = document();
        let paths = document["paths"].as_object().unwrap();
        let mut listed: Vec<(String, String)> = paths
            .iter()
            .flat_map(|(path, methods)| {
                methods
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(move |method| (path.clone(), method.clone()))
            })
            .collect();
        listed.sort();
        let mut routes: Vec<(String, String)> = ROUTES
            .iter()
            .chain(&crate::server::telemetry::ROUTES)
            .map(|(p, m)| (p.to_string(), m.to_string()))
            .collect();
        routes.sort();
        assert_eq!(listed, routes);
    }
}
