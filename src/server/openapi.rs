//! `/openapi.json`: a hand-written OpenAPI 3.1 description of the routes.
//! A test checks that every path here is routed and every route is here,
//! except the MCP endpoint ([`super::mcp::PATH`]): it speaks JSON-RPC over
//! Streamable HTTP, which this document does not describe.

use serde_json::{Value, json};

/// The routes, as (path, method); the router and this document list the same.
pub const ROUTES: [(&str, &str); 22] = [
    ("/webhooks/github", "post"),
    ("/healthz", "get"),
    ("/readyz", "get"),
    ("/metrics", "get"),
    ("/openapi.json", "get"),
    ("/v1/repos/{owner}/{repo}/prompts/{name}", "get"),
    (
        "/v1/repos/{owner}/{repo}/prompts/{name}/versions/{n}",
        "get",
    ),
    ("/v1/prompts/{rest}", "get"),
    ("/v1/repos/{owner}/{repo}/prompts", "get"),
    ("/v1/repos/{owner}/{repo}/audit", "get"),
    ("/v1/repos/{owner}/{repo}/results/{fingerprint}", "get"),
    ("/v1/repos/{owner}/{repo}/results/{fingerprint}", "put"),
    ("/v1/repos/{owner}/{repo}/prompts/{name}/versions", "get"),
    ("/v1/repos/{owner}/{repo}/prompts/{name}/versions", "post"),
    (
        "/v1/repos/{owner}/{repo}/prompts/{name}/versions/{n}/baseline",
        "get",
    ),
    (
        "/v1/repos/{owner}/{repo}/prompts/{name}/versions/{n}/baseline",
        "put",
    ),
    ("/v1/repos/{owner}/{repo}/prompts/{name}/diff", "get"),
    ("/v1/repos/{owner}/{repo}/prompts/{name}/labels", "get"),
    (
        "/v1/repos/{owner}/{repo}/prompts/{name}/labels/{label}",
        "post",
    ),
    ("/v1/repos/{owner}/{repo}/prompts/{name}/history", "get"),
    ("/v1/repos/{owner}/{repo}/prompts/{name}/promote", "post"),
    ("/v1/repos/{owner}/{repo}/prompts/{name}/rollback", "post"),
];

/// A request path for a route of [`ROUTES`], its parameters filled with
/// plain example values (tests call every route with it).
pub fn example_path(route: &str) -> String {
    route
        .replace("{owner}", "octo")
        .replace("{repo}", "prompts")
        .replace("{name}", "summarize")
        .replace("{rest}", "summarize")
        .replace("{n}", "1")
        .replace("{label}", "production")
        .replace("{fingerprint}", "fp")
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

pub fn document() -> Value {
    let mut document = serving_document();
    let registry = registry_document();
    for section in ["paths", "components"] {
        let target = document[section].as_object_mut().expect("an object");
        for (key, value) in registry[section].as_object().expect("an object") {
            if let (Some(Value::Object(into)), Value::Object(from)) = (target.get_mut(key), value) {
                into.extend(from.clone());
            } else {
                target.insert(key.clone(), value.clone());
            }
        }
    }
    // Telemetry describes its own routes (`super::telemetry::ROUTES`).
    if let Some(paths) = document["paths"].as_object_mut() {
        paths.extend(super::telemetry::openapi_paths());
    }
    if let Some(schemas) = document["components"]["schemas"].as_object_mut() {
        schemas.extend(super::telemetry::openapi_schemas());
    }
    // So do the review routes (`super::reviews::ROUTES`).
    if let Some(paths) = document["paths"].as_object_mut() {
        paths.extend(super::reviews::openapi_paths());
    }
    if let Some(schemas) = document["components"]["schemas"].as_object_mut() {
        schemas.extend(super::reviews::openapi_schemas());
    }
    document
}

/// What `validate_name` accepts, for prompt and label names.
pub(super) fn name_schema() -> Value {
    const NAME: &str = r#"^[^\s.\-/\\:*?"<>|#%\x00-\x1f\x7f-\x9f](?:[^/\\:*?"<>|#%\x00-\x1f\x7f-\x9f]*[^\s/\\:*?"<>|#%\x00-\x1f\x7f-\x9f])?$"#;
    json!({"type": "string", "maxLength": 200, "pattern": NAME})
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// The registry's routes ([`super::registry_api`]): their paths and the
/// schemas of what they take and answer.
fn registry_document() -> Value {
    let path_param = |name: &str| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "minLength": 1}});
    let name_param =
        |name: &str| json!({"name": name, "in": "path", "required": true, "schema": name_schema()});
    let repo_params = || vec![path_param("owner"), path_param("repo")];
    let version_param = json!({"name": "n", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 1, "maximum": 4294967295u64}});
    let prompt_params = || vec![path_param("owner"), path_param("repo"), name_param("name")];
    let with = |mut params: Vec<Value>, more: Vec<Value>| {
        params.extend(more);
        Value::Array(params)
    };
    let refusals = |extra: Vec<(&str, Value)>| {
        let mut responses = serde_json::Map::new();
        responses.insert(
            "400".into(),
            error_response("A malformed request: the message names the field."),
        );
        responses.insert(
            "401".into(),
            error_response("No API key, or an unknown or revoked one."),
        );
        responses.insert(
            "403".into(),
            error_response("The API key's scope is too small."),
        );
        responses.insert(
            "404".into(),
            error_response(
                "Nothing there, or a repository the key does not reach (answered alike).",
            ),
        );
        responses.insert("503".into(), error_response("The registry is unavailable."));
        for (status, response) in extra {
            responses.insert(status.into(), response);
        }
        Value::Object(responses)
    };
    let body = |schema: Value| json!({"required": true, "content": {"application/json": {"schema": schema}}});
    let security = json!([{"apiKey": []}]);
    let any_object = json!({"type": "object"});
    json!({
        "components": {"schemas": {
            "RegistryError": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {"type": "string"},
                    "kind": {"type": "string", "description": "For programs: version_not_found, label_not_set, conflict, unchanged, result_not_found, result_mismatch, refused (with `refused.rules`, each naming its `rule`), force_without_reason, nothing_to_roll_back, invalid_target."}
                }
            },
            "LabelTarget": {
                "description": "A version number, or a split: version number → weight.",
                "oneOf": [
                    {"type": "integer", "minimum": 1, "maximum": 4294967295u64},
                    {
                        "type": "object",
                        "minProperties": 1,
                        "maxProperties": 100,
                        "propertyNames": {"pattern": "^[1-9][0-9]{0,8}$"},
                        "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 1000000}
                    }
                ]
            },
            "Version": {
                "type": "object",
                "required": ["prompt", "number", "id", "content", "author", "created_at"],
                "properties": {
                    "prompt": {"type": "string"},
                    "number": {"type": "integer", "minimum": 1},
                    "id": {"type": "string", "description": "Content hash."},
                    "content": {"type": "object", "description": "Messages (includes resolved), model, parameters, response format."},
                    "parent": {"type": ["integer", "null"]},
                    "git_commit": {"type": ["string", "null"]},
                    "author": {"type": "string"},
                    "message": {"type": ["string", "null"], "description": "The changelog: the commit's or merge's message."},
                    "created_at": {"type": "string"}
                }
            },
            "VersionPage": {
                "type": "object",
                "required": ["prompt", "page", "per_page", "total", "versions"],
                "properties": {
                    "prompt": {"type": "string"},
                    "page": {"type": "integer"},
                    "per_page": {"type": "integer"},
                    "total": {"type": "integer"},
                    "versions": {"type": "array", "items": schema_ref("Version")}
                }
            },
            "PromptSummary": {
                "type": "object",
                "required": ["name", "versions", "labels"],
                "properties": {
                    "name": {"type": "string"},
                    "latest_version": {"type": ["integer", "null"]},
                    "versions": {"type": "integer"},
                    "labels": {"type": "object", "additionalProperties": schema_ref("LabelTarget")}
                }
            },
            "LabelMove": {
                "type": "object",
                "required": ["prompt", "label", "to", "kind", "forced", "actor", "at"],
                "properties": {
                    "prompt": {"type": "string"},
                    "label": {"type": "string"},
                    "from": {"oneOf": [schema_ref("LabelTarget"), {"type": "null"}]},
                    "to": schema_ref("LabelTarget"),
                    "kind": {"type": "string", "enum": ["publish", "promote", "rollback", "set"]},
                    "forced": {"type": "boolean"},
                    "actor": {"type": "string"},
                    "reason": {"type": ["string", "null"]},
                    "at": {"type": "string"}
                }
            },
            "Baseline": {
                "type": "object",
                "required": ["prompt", "number", "fingerprint", "gate", "result", "set_by", "set_at"],
                "properties": {
                    "prompt": {"type": "string"},
                    "number": {"type": "integer"},
                    "fingerprint": {"type": "string"},
                    "gate": {"type": "string", "enum": ["passed", "failed", "not_run"], "description": "The gate verdict of the pull request that produced the version."},
                    "result": {"type": "object", "description": "The evaluation: per criterion mean, interval and cases; per case output, scores and reasons."},
                    "set_by": {"type": "string"},
                    "set_at": {"type": "string"}
                }
            },
            "AuditEntry": {
                "type": "object",
                "required": ["seq", "at", "actor", "action", "detail"],
                "properties": {
                    "seq": {"type": "integer"},
                    "at": {"type": "string"},
                    "actor": {"type": "string"},
                    "action": {"type": "string"},
                    "prompt": {"type": ["string", "null"]},
                    "detail": {}
                }
            },
            "NewVersion": {
                "type": "object",
                "required": ["prompt", "id", "content", "author"],
                "properties": {
                    "prompt": {"type": "string", "description": "Ignored: the path names the prompt."},
                    "id": {"type": "string"},
                    "content": {"type": "object"},
                    "parent": {"type": ["string", "null"]},
                    "git_commit": {"type": ["string", "null"]},
                    "author": {"type": "string"},
                    "message": {"type": ["string", "null"]}
                }
            },
            "Promote": {
                "type": "object",
                "required": ["version", "to", "actor"],
                "if": {"required": ["force"], "properties": {"force": {"const": true}}},
                "then": {"required": ["reason"], "properties": {"reason": {"type": "string", "pattern": "\\S"}}},
                "properties": {
                    "version": {"type": "string", "description": "`v7`, `7`, or a version id."},
                    "to": {"type": "string"},
                    "actor": {"type": "string"},
                    "reason": {"type": ["string", "null"]},
                    "force": {"type": "boolean", "description": "Override the policy: needs `admin` and a reason; recorded."},
                    "environments": {"type": ["array", "null"], "items": {"type": "string"}},
                    "policy": {
                        "type": ["object", "null"],
                        "additionalProperties": false,
                        "properties": {
                            "min_cases": {"type": "integer", "minimum": 0, "maximum": 4294967295u64},
                            "min_score": {"type": ["number", "null"]},
                            "require_gate_passed": {"type": "boolean"}
                        },
                        "description": "The repository's [promotion]; never weaker than the server's floor; without one, the default policy."
                    }
                }
            }
        }},
        "paths": {
            "/v1/repos/{owner}/{repo}/prompts": {"get": {
                "summary": "Every prompt of the repository: its newest version and its labels.",
                "security": security.clone(),
                "parameters": repo_params(),
                "responses": refusals(vec![("200", json_response("The prompts.", json!({"type": "array", "items": schema_ref("PromptSummary")})))])
            }},
            "/v1/repos/{owner}/{repo}/audit": {"get": {
                "summary": "The repository's audit log, oldest first.",
                "security": security.clone(),
                "parameters": repo_params(),
                "responses": refusals(vec![("200", json_response("Every write.", json!({"type": "array", "items": schema_ref("AuditEntry")})))])
            }},
            "/v1/repos/{owner}/{repo}/results/{fingerprint}": {
                "get": {
                    "summary": "A stored evaluation result.",
                    "security": security.clone(),
                    "parameters": with(repo_params(), vec![path_param("fingerprint")]),
                    "responses": refusals(vec![("200", json_response("The result.", any_object.clone()))])
                },
                "put": {
                    "summary": "Store an evaluation result (scope publish).",
                    "operationId": "recordResult",
                    "security": security.clone(),
                    "parameters": with(repo_params(), vec![path_param("fingerprint")]),
                    "requestBody": body(json!({"type": "object", "required": ["result", "actor"], "properties": {"result": any_object.clone(), "actor": {"type": "string"}}})),
                    "responses": refusals(vec![("200", json_response("Stored.", json!({"type": "object", "required": ["fingerprint"], "properties": {"fingerprint": {"type": "string"}}})))])
                }
            },
            "/v1/repos/{owner}/{repo}/prompts/{name}/versions": {
                "get": {
                    "summary": "A prompt's versions, oldest first, paged; or the one `number` or `id` names.",
                    "security": security.clone(),
                    "parameters": with(prompt_params(), vec![
                        json!({"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}}),
                        json!({"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}}),
                        json!({"name": "number", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 4294967295u64}}),
                        json!({"name": "id", "in": "query", "schema": {"type": "string"}})
                    ]),
                    "responses": refusals(vec![("200", json_response("A page of versions.", schema_ref("VersionPage")))])
                },
                "post": {
                    "summary": "Publish a version (scope publish); the same content again answers the existing version.",
                    "operationId": "publishVersion",
                    "security": security.clone(),
                    "parameters": prompt_params(),
                    "requestBody": body(schema_ref("NewVersion")),
                    "responses": refusals(vec![
                        ("200", json_response("Already published.", json!({"type": "object", "required": ["version", "created"], "properties": {"version": schema_ref("Version"), "created": {"type": "boolean"}}}))),
                        ("201", json_response("Published.", json!({"type": "object", "required": ["version", "created"], "properties": {"version": schema_ref("Version"), "created": {"type": "boolean"}}})))
                    ])
                }
            },
            "/v1/repos/{owner}/{repo}/prompts/{name}/versions/{n}/baseline": {
                "get": {
                    "summary": "The result published with a version, and its gate verdict.",
                    "security": security.clone(),
                    "parameters": with(prompt_params(), vec![version_param.clone()]),
                    "responses": refusals(vec![("200", json_response("The baseline.", schema_ref("Baseline")))])
                },
                "put": {
                    "summary": "Make a stored result the version's baseline (scope publish).",
                    "security": security.clone(),
                    "parameters": with(prompt_params(), vec![version_param]),
                    "requestBody": body(json!({"type": "object", "required": ["fingerprint", "gate", "actor"], "properties": {"fingerprint": {"type": "string"}, "gate": {"type": "string", "enum": ["passed", "failed", "not_run"]}, "actor": {"type": "string"}}})),
                    "responses": refusals(vec![
                        ("200", json_response("The baseline.", schema_ref("Baseline"))),
                        ("422", json_response("The result is of another version.", schema_ref("RegistryError")))
                    ])
                }
            },
            "/v1/repos/{owner}/{repo}/prompts/{name}/diff": {"get": {
                "summary": "What changed between two versions (numbers, labels or ids), part by part with word diffs.",
                "security": security.clone(),
                "parameters": with(prompt_params(), vec![
                    json!({"name": "from", "in": "query", "required": true, "schema": {"type": "string"}}),
                    json!({"name": "to", "in": "query", "required": true, "schema": {"type": "string"}}),
                    json!({"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "markdown"]}})
                ]),
                "responses": refusals(vec![("200", {
                    let mut both = json_response("The diff.", json!({"type": "object", "required": ["prompt", "from", "to", "changes", "markdown"], "properties": {
                        "prompt": {"type": "string"}, "from": {"type": "integer"}, "to": {"type": "integer"},
                        "changes": {"type": "array", "items": {"type": "object", "required": ["part", "words"], "properties": {"part": {"type": "string"}, "old": {"type": ["string", "null"]}, "new": {"type": ["string", "null"]}, "words": {"type": "string"}}}},
                        "markdown": {"type": "string"}
                    }}));
                    both["content"]["text/markdown"] = json!({"schema": {"type": "string"}});
                    both
                })])
            }},
            "/v1/repos/{owner}/{repo}/prompts/{name}/labels": {"get": {
                "summary": "A prompt's labels and where they point.",
                "security": security.clone(),
                "parameters": prompt_params(),
                "responses": refusals(vec![("200", json_response("Label → target.", json!({"type": "object", "additionalProperties": schema_ref("LabelTarget")})))])
            }},
            "/v1/repos/{owner}/{repo}/prompts/{name}/labels/{label}": {"post": {
                "summary": "Move a label (scope admin; a publish moving `latest` needs publish).",
                "security": security.clone(),
                "parameters": with(prompt_params(), vec![name_param("label")]),
                "requestBody": body(json!({"type": "object", "required": ["to", "expect", "kind", "actor"], "properties": {
                    "to": schema_ref("LabelTarget"),
                    "expect": {
                        "description": "The move happens only if the label is so.",
                        "oneOf": [
                            {"type": "string", "enum": ["anything", "unset"]},
                            {"type": "object", "required": ["target"], "additionalProperties": false, "properties": {"target": schema_ref("LabelTarget")}}
                        ]
                    },
                    "kind": {"type": "string", "enum": ["publish", "promote", "rollback", "set"]},
                    "forced": {"type": "boolean"},
                    "actor": {"type": "string"},
                    "reason": {"type": ["string", "null"]}
                }})),
                "responses": refusals(vec![
                    ("200", json_response("The move.", schema_ref("LabelMove"))),
                    ("409", json_response("The label moved meanwhile, or already points there.", schema_ref("RegistryError")))
                ])
            }},
            "/v1/repos/{owner}/{repo}/prompts/{name}/history": {"get": {
                "summary": "Every move of every label of a prompt, oldest first.",
                "security": security.clone(),
                "parameters": prompt_params(),
                "responses": refusals(vec![("200", json_response("The moves.", json!({"type": "array", "items": schema_ref("LabelMove")})))])
            }},
            "/v1/repos/{owner}/{repo}/prompts/{name}/promote": {"post": {
                "summary": "Promote a version to an environment under the promotion policy (scope publish; force: admin).",
                "security": security.clone(),
                "parameters": prompt_params(),
                "requestBody": body(schema_ref("Promote")),
                "responses": refusals(vec![
                    ("200", json_response("The move.", schema_ref("LabelMove"))),
                    ("409", json_response("Refused: `refused.rules` names every rule that refused it.", schema_ref("RegistryError")))
                ])
            }},
            "/v1/repos/{owner}/{repo}/prompts/{name}/rollback": {"post": {
                "summary": "Move a label back to its previous target (scope publish).",
                "security": security,
                "parameters": prompt_params(),
                "requestBody": body(json!({"type": "object", "required": ["label", "actor"], "properties": {"label": {"type": "string"}, "actor": {"type": "string"}, "reason": {"type": ["string", "null"]}}})),
                "responses": refusals(vec![
                    ("200", json_response("The move.", schema_ref("LabelMove"))),
                    ("409", json_response("Nothing to roll back to.", schema_ref("RegistryError")))
                ])
            }}
        }
    })
}

/// The webhook, health and serving routes.
fn serving_document() -> Value {
    let path_param = |name: &str, description: &str| json!({"name": name, "in": "path", "required": true, "description": description, "schema": {"type": "string"}});
    let owner = path_param("owner", "The repository's owner (any case).");
    let repo = path_param("repo", "The repository's name (any case).");
    let name = path_param("name", "The prompt's name.");
    let prompt_responses = json!({
        "200": {
            "description": "The prompt version; `ETag` is its content hash.",
            "headers": {"ETag": {"schema": {"type": "string"}}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ServedPrompt"}}}
        },
        "304": {"description": "`If-None-Match` matched: unchanged."},
        "400": error_response("A version that is not a whole number, or a malformed query string."),
        "401": error_response("No API key, or an unknown or revoked one."),
        "403": error_response("The API key's scope is too small."),
        "404": error_response("No such prompt, label or version in the repository, or a repository the API key does not reach (the two are answered alike).")
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
                "apiKey": {"type": "http", "scheme": "bearer", "description": "A promptgate API key (scopes read < telemetry < publish < admin)."}
            },
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
                "ServedPrompt": {
                    "type": "object",
                    "required": ["repository", "name", "version", "version_id", "content"],
                    "properties": {
                        "repository": {"type": "string", "description": "`owner/repo`, lower case."},
                        "name": {"type": "string"},
                        "version": {"type": "integer", "minimum": 1},
                        "version_id": {"type": "string", "description": "Content hash of the version."},
                        "label": {"type": ["string", "null"]},
                        "content": {"type": "object", "description": "Messages, model, parameters, response format."},
                        "git_commit": {"type": ["string", "null"]},
                        "author": {"type": ["string", "null"]},
                        "message": {"type": ["string", "null"]},
                        "created_at": {"type": ["string", "null"]}
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
            "/v1/repos/{owner}/{repo}/prompts/{name}": {"get": {
                "summary": "The version an application should run.",
                "security": [{"apiKey": []}],
                "parameters": [
                    owner.clone(),
                    repo.clone(),
                    name.clone(),
                    {"name": "label", "in": "query", "schema": {"type": "string", "default": "production"}},
                    {"name": "key", "in": "query", "description": "Picks an A/B arm deterministically (e.g. a user id).", "schema": {"type": "string"}},
                    {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}
                ],
                "responses": prompt_responses.clone()
            }},
            "/v1/prompts/{rest}": {"get": {
                "summary": "Gone: prompts belong to a repository; the message names the route to use.",
                "deprecated": true,
                "security": [{"apiKey": []}],
                "parameters": [path_param("rest", "Whatever followed /v1/prompts/.")],
                "responses": {
                    "401": error_response("No API key, or an unknown or revoked one."),
                    "410": error_response("Use /v1/repos/{owner}/{repo}/prompts/….")
                }
            }},
            "/v1/repos/{owner}/{repo}/prompts/{name}/versions/{n}": {"get": {
                "summary": "One published version by number, with where it came from.",
                "security": [{"apiKey": []}],
                "parameters": [
                    owner,
                    repo,
                    name,
                    {"name": "n", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 1, "maximum": 4294967295u64}},
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
            .chain(&crate::server::reviews::ROUTES)
            .map(|(p, m)| (p.to_string(), m.to_string()))
            .collect();
        routes.sort();
        assert_eq!(listed, routes);
    }
}
