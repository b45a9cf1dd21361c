//! GitHub's published OpenAPI description (the trimmed copy in
//! `fixtures/github/openapi.json`) as a request checker: which operation a
//! method + path is, and whether its query and body are ones GitHub accepts.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

pub struct Contract {
    operations: Vec<Operation>,
    components: Value,
}

struct Operation {
    method: String,
    template: String,
    segments: Vec<Segment>,
    operation_id: String,
    /// Query parameter name → validator of its value.
    query: HashMap<String, jsonschema::Validator>,
    /// Path parameter name → validator of its value.
    path_params: HashMap<String, jsonschema::Validator>,
    body: Option<Body>,
    /// Status → the JSON schema of that answer's body, compiled when first asked.
    responses: HashMap<u16, Value>,
}

struct Body {
    required: bool,
    validator: jsonschema::Validator,
}

enum Segment {
    Literal(String),
    Param(String),
}

/// The operation a request is, with its path parameters (percent-decoded).
pub struct Matched {
    pub operation_id: String,
    pub template: String,
    pub params: HashMap<String, String>,
}

pub enum Lookup {
    Found(Matched),
    WrongMethod { allowed: Vec<String> },
    UnknownPath,
}

/// These parameters hold paths or refs: GitHub lets them span several segments.
const MULTI_SEGMENT_PARAMS: &[&str] = &["path", "ref", "basehead"];

pub fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let mut doc = description().clone();
        openapi_to_json_schema(&mut doc);
        Contract::new(&doc)
    })
}

/// `fixtures/github/openapi.json` as published (before the JSON Schema fix-ups).
fn description() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/github/openapi.json");
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{path}: {e}; run scripts/update-github-fixtures.sh"));
        serde_json::from_str(&text).expect("openapi.json is JSON")
    })
}

/// One of GitHub's published example bodies (`#/components/examples/NAME`).
pub fn example(name: &str) -> Value {
    description()["components"]["examples"][name]["value"].clone()
}

/// OpenAPI 3.0 says `nullable: true` where JSON Schema says `"null"` is a type.
fn openapi_to_json_schema(node: &mut Value) {
    match node {
        Value::Object(map) => {
            for v in map.values_mut() {
                openapi_to_json_schema(v);
            }
            if map.remove("nullable") == Some(Value::Bool(true)) {
                if let Some(Value::Array(values)) = map.get_mut("enum") {
                    values.push(Value::Null);
                }
                match map.get("type").cloned() {
                    Some(Value::String(t)) => {
                        map.insert("type".into(), json!([t, "null"]));
                    }
                    _ => {
                        let inner = Value::Object(std::mem::take(map));
                        map.insert("anyOf".into(), json!([inner, {"type": "null"}]));
                    }
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(openapi_to_json_schema),
        _ => {}
    }
}

fn compile(schema: &Value, components: &Value) -> jsonschema::Validator {
    let mut root = match schema {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    // `#/components/...` refs resolve against the root of the schema we compile.
    root.insert("components".into(), components.clone());
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(&Value::Object(root))
        .unwrap_or_else(|e| panic!("schema does not compile: {e}"))
}

fn resolve<'a>(doc: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling $ref {r}")),
        None => node,
    }
}

impl Contract {
    fn new(doc: &Value) -> Self {
        let components = doc.get("components").cloned().unwrap_or(json!({}));
        let mut operations = Vec::new();
        let paths = doc["paths"].as_object().expect("paths");
        for (template, item) in paths {
            for (method, op) in item.as_object().expect("path item") {
                let mut query = HashMap::new();
                let mut path_params = HashMap::new();
                for p in op["parameters"].as_array().into_iter().flatten() {
                    let p = resolve(doc, p);
                    let name = p["name"].as_str().expect("parameter name").to_owned();
                    let validator = compile(&p["schema"], &components);
                    match p["in"].as_str() {
                        Some("query") => {
                            query.insert(name, validator);
                        }
                        Some("path") => {
                            path_params.insert(name, validator);
                        }
                        _ => {}
                    }
                }
                let body = op.get("requestBody").map(|rb| {
                    let rb = resolve(doc, rb);
                    Body {
                        required: rb["required"].as_bool().unwrap_or(false),
                        validator: compile(
                            &rb["content"]["application/json"]["schema"],
                            &components,
                        ),
                    }
                });
                let mut responses = HashMap::new();
                for (status, response) in op["responses"].as_object().into_iter().flatten() {
                    let schema = &resolve(doc, response)["content"]["application/json"]["schema"];
                    if let (Ok(status), false) = (status.parse::<u16>(), schema.is_null()) {
                        responses.insert(status, schema.clone());
                    }
                }
                operations.push(Operation {
                    method: method.to_uppercase(),
                    template: template.clone(),
                    segments: template
                        .trim_start_matches('/')
                        .split('/')
                        .map(
                            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                                Some(p) => Segment::Param(p.to_owned()),
                                None => Segment::Literal(s.to_owned()),
                            },
                        )
                        .collect(),
                    operation_id: op["operationId"].as_str().expect("operationId").to_owned(),
                    query,
                    path_params,
                    body,
                    responses,
                });
            }
        }
        Self {
            operations,
            components,
        }
    }

    /// What GitHub's description says is wrong with an answer the fake gives
    /// (empty: nothing), so a stand-in cannot drift from GitHub's real shape.
    pub fn check_response(&self, operation_id: &str, status: u16, body: &Value) -> Vec<String> {
        let op = self
            .operations
            .iter()
            .find(|o| o.operation_id == operation_id)
            .expect("known operation");
        let at = format!(
            "{} {} ({operation_id}) answer {status}",
            op.method, op.template
        );
        let Some(schema) = op.responses.get(&status) else {
            return vec![format!("{at}: status not in GitHub's description")];
        };
        compile(schema, &self.components)
            .iter_errors(body)
            .map(|e| format!("{at}: rejected at `{}`: {e}", e.instance_path))
            .collect()
    }

    /// Finds the operation; exact segment counts win over a multi-segment tail.
    pub fn lookup(&self, method: &str, path: &str) -> Lookup {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut allowed = Vec::new();
        for greedy in [false, true] {
            for op in &self.operations {
                if let Some(params) = match_segments(&op.segments, &parts, greedy) {
                    if op.method == method {
                        return Lookup::Found(Matched {
                            operation_id: op.operation_id.clone(),
                            template: op.template.clone(),
                            params,
                        });
                    }
                    allowed.push(op.method.clone());
                }
            }
            if !allowed.is_empty() {
                return Lookup::WrongMethod { allowed };
            }
        }
        Lookup::UnknownPath
    }

    /// What GitHub's description says is wrong with the request (empty: nothing).
    pub fn check(
        &self,
        matched: &Matched,
        method: &str,
        query: &[(String, String)],
        content_type: Option<&str>,
        body: &[u8],
    ) -> Vec<String> {
        let op = self
            .operations
            .iter()
            .find(|o| o.operation_id == matched.operation_id && o.method == method)
            .expect("matched operation exists");
        let at = format!("{method} {} ({})", matched.template, op.operation_id);
        let mut problems = Vec::new();
        for (name, value) in &matched.params {
            if let Some(v) = op.path_params.get(name) {
                let instance = typed(v, value);
                for e in v.iter_errors(&instance) {
                    problems.push(format!("{at}: path parameter `{name}`={value}: {e}"));
                }
            }
        }
        for (name, value) in query {
            match op.query.get(name) {
                None => problems.push(format!("{at}: unknown query parameter `{name}`")),
                Some(v) => {
                    let instance = typed(v, value);
                    for e in v.iter_errors(&instance) {
                        problems.push(format!("{at}: query parameter `{name}`={value}: {e}"));
                    }
                }
            }
        }
        match (&op.body, body.is_empty()) {
            (None, false) => problems.push(format!("{at}: takes no request body")),
            (Some(b), true) if b.required => {
                problems.push(format!("{at}: request body is required"))
            }
            (Some(b), false) => {
                if !content_type.is_some_and(|c| c.starts_with("application/json")) {
                    problems.push(format!(
                        "{at}: content-type {content_type:?}, expected application/json"
                    ));
                }
                match serde_json::from_slice::<Value>(body) {
                    Err(e) => problems.push(format!("{at}: body is not JSON: {e}")),
                    Ok(instance) => {
                        for e in b.validator.iter_errors(&instance) {
                            problems
                                .push(format!("{at}: body rejected at `{}`: {e}", e.instance_path));
                        }
                    }
                }
            }
            _ => {}
        }
        problems
    }
}

/// Query and path values are strings on the wire; try them as numbers and
/// booleans first so integer-typed parameters validate as GitHub reads them.
fn typed(validator: &jsonschema::Validator, value: &str) -> Value {
    for candidate in [
        value.parse::<i64>().ok().map(Value::from),
        value.parse::<bool>().ok().map(Value::from),
    ]
    .into_iter()
    .flatten()
    {
        if validator.is_valid(&candidate) {
            return candidate;
        }
    }
    Value::String(value.to_owned())
}

fn match_segments(
    segments: &[Segment],
    parts: &[&str],
    greedy: bool,
) -> Option<HashMap<String, String>> {
    let mut params = HashMap::new();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match segment {
            Segment::Literal(l) => {
                if parts.get(i) != Some(&l.as_str()) {
                    return None;
                }
            }
            Segment::Param(name) => {
                if greedy && last && MULTI_SEGMENT_PARAMS.contains(&name.as_str()) {
                    if parts.len() <= i {
                        return None;
                    }
                    params.insert(name.clone(), decode(&parts[i..].join("/")));
                    return Some(params);
                }
                match parts.get(i) {
                    Some(p) if !p.is_empty() => {
                        params.insert(name.clone(), decode(p));
                    }
                    _ => return None,
                }
            }
        }
    }
    (parts.len() == segments.len()).then_some(params)
}

pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
