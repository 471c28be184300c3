//! `GET /api/v1/openapi.json`: the OpenAPI 3 description of the JSON API, built once.

use actix_web::HttpResponse;
use serde_json::{Value, json};
use std::sync::OnceLock;

pub(crate) async fn document() -> HttpResponse {
    static DOC: OnceLock<String> = OnceLock::new();
    let body = DOC.get_or_init(|| build().to_string());
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body.as_str())
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

fn ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn error(description: &str) -> Value {
    ok(description, schema_ref("Error"))
}

fn greylist_action(summary: &str) -> Value {
    json!({ "post": { "summary": summary, "requestBody": body(schema_ref("GreylistKey")),
        "responses": responses(&[("200", ok("done", schema_ref("GreylistKey"))),
            ("400", error("bad network or address")), ("404", error("no such entry"))]) } })
}

fn path_param(name: &str, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": schema, "description": description })
}

/// The answers every authorized operation may give, with `extra` (status, answer) added.
fn responses(extra: &[(&str, Value)]) -> Value {
    let mut r = serde_json::Map::new();
    for (status, answer) in extra {
        r.insert((*status).to_string(), answer.clone());
    }
    r.insert("401".into(), error("no or wrong credentials"));
    r.insert(
        "403".into(),
        error("not an admin, or a session without its CSRF token"),
    );
    r.insert(
        "429".into(),
        error("locked out after too many failed logins"),
    );
    Value::Object(r)
}

fn build() -> Value {
    let id = json!({ "type": "integer", "format": "int64" });
    let text = json!({ "type": "string" });
    let domain_name = path_param("name", text.clone(), "a hosted domain");
    let address = path_param("address", text.clone(), "an account's address");
    let queue_id = path_param("id", id.clone(), "a queued message");
    let limit_param = json!({ "name": "limit", "in": "query", "required": false,
        "schema": { "type": "integer", "minimum": 1, "maximum": 500 }, "description": "how many, newest first" });
    let changed = ok(
        "recipients changed",
        json!({ "type": "object", "required": ["changed"], "properties": { "changed": { "type": "integer" } } }),
    );
    let queue_action = |summary: &str| {
        json!({ "post": {
            "summary": summary, "parameters": [queue_id],
            "responses": responses(&[("200", changed.clone()), ("404", error("no such queued message, or nothing to change"))]) } })
    };
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "mailroom admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Manage a mailroom server. Authorize with HTTP Basic (an admin account) or `Authorization: Bearer <API token>`. Errors are `{\"error\": \"...\"}`."
        },
        "components": {
            "securitySchemes": {
                "basic": { "type": "http", "scheme": "basic" },
                "bearer": { "type": "http", "scheme": "bearer" }
            },
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": { "error": text } },
                "Domain": { "type": "object", "required": ["name", "dkim_selectors", "missing_role_addresses"], "properties": {
                    "name": text, "dkim_selectors": { "type": "array", "items": text },
                    "missing_role_addresses": { "type": "array", "items": text,
                        "description": "postmaster@/abuse@ of the domain that reach no account" } } },
                "NewDomain": { "type": "object", "required": ["name"], "additionalProperties": false,
                    "properties": { "name": text } },
                "Account": { "type": "object", "required": ["address", "role", "quota", "used", "disabled"], "properties": {
                    "address": text, "role": { "type": "string", "enum": ["user", "admin"] },
                    "quota": { "type": "integer", "minimum": 0, "description": "octets; 0 = unlimited" },
                    "used": { "type": "integer", "minimum": 0 }, "disabled": { "type": "boolean" } } },
                "NewAccount": { "type": "object", "required": ["address", "password"], "additionalProperties": false, "properties": {
                    "address": text, "password": { "type": "string", "minLength": 8 },
                    "quota": { "type": "integer", "minimum": 0 }, "role": { "type": "string", "enum": ["user", "admin"] } } },
                "AccountPatch": { "type": "object", "additionalProperties": false, "properties": {
                    "password": { "type": "string", "minLength": 8 }, "quota": { "type": "integer", "minimum": 0 },
                    "role": { "type": "string", "enum": ["user", "admin"] }, "disabled": { "type": "boolean" } } },
                "Alias": { "type": "object", "required": ["source", "targets"], "additionalProperties": false, "properties": {
                    "source": { "type": "string", "description": "local@domain, or @domain for a catch-all" },
                    "targets": { "type": "array", "items": text, "minItems": 1 } } },
                "GreylistKey": { "type": "object", "required": ["net", "sender", "recipient"], "additionalProperties": false, "properties": {
                    "net": { "type": "string", "description": "client network, as listed (192.0.2.0/24)" },
                    "sender": { "type": "string", "description": "reverse-path; empty for <>" },
                    "recipient": text } },
                "QueueRow": { "type": "object", "properties": {
                    "message_id": id, "recipient_id": id, "sender": text, "recipient": text,
                    "status": { "type": "string", "enum": ["queued", "held"] }, "attempts": { "type": "integer" },
                    "next_attempt": id, "last_error": { "type": "string", "nullable": true }, "created": id, "size": { "type": "integer" } } },
                "Token": { "type": "object", "required": ["id", "name", "account", "created"], "properties": {
                    "id": id, "name": text, "account": text, "created": id,
                    "last_used": { "type": "integer", "nullable": true },
                    "token": { "type": "string", "description": "the secret; only in the answer that made it" } } },
                "WebhookAttempt": { "type": "object", "required": ["at", "event_id", "event_type", "delivered", "duration_ms", "attempt"], "properties": {
                    "at": id, "event_id": { "type": "integer", "description": "the event's id in the log; 0 for a test event" },
                    "event_type": text, "delivered": { "type": "boolean", "description": "the receiver answered 2xx" },
                    "status": { "type": "integer", "nullable": true, "description": "the receiver's HTTP status, if it answered" },
                    "error": { "type": "string", "nullable": true }, "duration_ms": { "type": "integer" },
                    "attempt": { "type": "integer", "description": "1 for an event's first POST, 2 for its first retry, ..." } } },
                "Webhook": { "type": "object", "required": ["url", "events", "cursor", "last_event_id", "backlog", "consecutive_failures"], "properties": {
                    "url": text, "events": { "type": "array", "items": text },
                    "cursor": { "type": "integer", "description": "the last event id this target has passed" },
                    "last_event_id": { "type": "integer" },
                    "backlog": { "type": "integer", "description": "events logged after the cursor" },
                    "last_delivery": { "type": "object", "allOf": [schema_ref("WebhookAttempt")], "nullable": true },
                    "last_failure": { "type": "object", "allOf": [schema_ref("WebhookAttempt")], "nullable": true },
                    "consecutive_failures": { "type": "integer" } } },
                "WebhookTest": { "type": "object", "required": ["url"], "additionalProperties": false, "properties": {
                    "url": { "type": "string", "minLength": 1, "description": "a configured target's URL" } } },
                "NewToken": { "type": "object", "required": ["name"], "additionalProperties": false, "properties": {
                    "name": { "type": "string", "minLength": 1, "maxLength": 100 } } },
                "Stats": { "type": "object", "properties": {
                    "version": text, "hostname": text, "uptime_secs": { "type": "integer" }, "started_at": { "type": "integer" },
                    "config_generation": { "type": "integer" }, "connections_open": { "type": "integer" },
                    "domains": { "type": "integer" }, "accounts": { "type": "integer" },
                    "queue": { "type": "object" }, "store": { "type": "object" }, "hourly": { "type": "array", "items": { "type": "object" } } } }
            }
        },
        "security": [ { "basic": [] }, { "bearer": [] } ],
        "paths": {
            "/api/v1/domains": {
                "get": { "summary": "List hosted domains", "responses": responses(&[("200", ok("domains", json!({ "type": "array", "items": schema_ref("Domain") })))]) },
                "post": { "summary": "Host a domain (makes its DKIM keys)", "requestBody": body(schema_ref("NewDomain")),
                    "responses": responses(&[("201", ok("added", schema_ref("Domain"))), ("400", error("not a domain name")), ("409", error("already hosted"))]) }
            },
            "/api/v1/domains/{name}": {
                "get": { "summary": "One domain", "parameters": [domain_name],
                    "responses": responses(&[("200", ok("the domain", schema_ref("Domain"))), ("400", error("not a domain name")), ("404", error("not hosted"))]) },
                "delete": { "summary": "Stop hosting a domain (it must have no accounts)", "parameters": [domain_name],
                    "responses": responses(&[("204", json!({ "description": "removed" })), ("400", error("not a domain name, or it still has accounts")), ("404", error("not hosted"))]) }
            },
            "/api/v1/domains/{name}/dns": {
                "get": { "summary": "The DNS records the domain should publish, optionally checked live", "parameters": [domain_name,
                        { "name": "check", "in": "query", "required": false, "schema": { "type": "boolean" }, "description": "look each record up" }],
                    "responses": responses(&[("200", ok("records", json!({ "type": "array", "items": { "type": "object" } }))), ("400", error("not a domain name")), ("404", error("not hosted"))]) }
            },
            "/api/v1/sessions": {
                "get": { "summary": "Open connections (protocol, peer, account, since)",
                    "responses": responses(&[("200", ok("sessions", json!({ "type": "array", "items": { "type": "object" } })))]) }
            },
            "/api/v1/sessions/{id}": {
                "delete": { "summary": "End an open session", "parameters": [path_param("id", json!({ "type": "integer", "minimum": 0 }), "a session id")],
                    "responses": responses(&[("204", json!({ "description": "ended" })), ("404", error("no such open session"))]) }
            },
            "/api/v1/accounts": {
                "get": { "summary": "List accounts", "responses": responses(&[("200", ok("accounts", json!({ "type": "array", "items": schema_ref("Account") })))]) },
                "post": { "summary": "Create an account", "requestBody": body(schema_ref("NewAccount")),
                    "responses": responses(&[("201", ok("created", schema_ref("Account"))), ("400", error("bad address, password, role or unknown domain")), ("409", error("exists"))]) }
            },
            "/api/v1/accounts/{address}": {
                "get": { "summary": "One account", "parameters": [address],
                    "responses": responses(&[("200", ok("the account", schema_ref("Account"))), ("400", error("not an address")), ("404", error("no such account"))]) },
                "patch": { "summary": "Change password, quota, role or disabled", "parameters": [address], "requestBody": body(schema_ref("AccountPatch")),
                    "responses": responses(&[("200", ok("changed", schema_ref("Account"))), ("400", error("bad value, nothing to change, or the last admin")), ("404", error("no such account"))]) },
                "delete": { "summary": "Delete an account and its mail", "parameters": [address],
                    "responses": responses(&[("204", json!({ "description": "deleted" })), ("400", error("not an address, or your own account")), ("404", error("no such account"))]) }
            },
            "/api/v1/aliases": {
                "get": { "summary": "List aliases", "responses": responses(&[("200", ok("aliases", json!({ "type": "array", "items": schema_ref("Alias") })))]) },
                "post": { "summary": "Add an alias or catch-all", "requestBody": body(schema_ref("Alias")),
                    "responses": responses(&[("201", ok("added", schema_ref("Alias"))), ("400", error("bad source or targets")), ("409", error("exists"))]) }
            },
            "/api/v1/aliases/{source}": {
                "delete": { "summary": "Remove an alias", "parameters": [path_param("source", text.clone(), "the alias source")],
                    "responses": responses(&[("204", json!({ "description": "removed" })), ("400", error("not an alias source")), ("404", error("no such alias"))]) }
            },
            "/api/v1/queue": {
                "get": { "summary": "Outbound queue recipients", "parameters": [
                        { "name": "status", "in": "query", "required": false, "schema": { "type": "string", "enum": ["queued", "held"] } },
                        { "name": "q", "in": "query", "required": false, "schema": text, "description": "part of the sender or recipient" } ],
                    "responses": responses(&[("200", ok("rows", json!({ "type": "array", "items": schema_ref("QueueRow") }))), ("400", error("bad filter"))]) }
            },
            "/api/v1/queue/{id}": {
                "get": { "summary": "A queued message: envelope, attempts, last error", "parameters": [queue_id],
                    "responses": responses(&[("200", ok("its recipients", json!({ "type": "object" }))), ("404", error("no such queued message"))]) },
                "delete": { "summary": "Drop a queued message without a DSN", "parameters": [queue_id],
                    "responses": responses(&[("204", json!({ "description": "deleted" })), ("404", error("no such queued message"))]) }
            },
            "/api/v1/queue/{id}/retry": queue_action("Try a queued message now"),
            "/api/v1/queue/{id}/hold": queue_action("Hold a queued message"),
            "/api/v1/queue/{id}/release": queue_action("Release a held message"),
            "/api/v1/tokens": {
                "get": { "summary": "List API tokens", "responses": responses(&[("200", ok("tokens", json!({ "type": "array", "items": schema_ref("Token") })))]) },
                "post": { "summary": "Make an API token acting as you", "requestBody": body(schema_ref("NewToken")),
                    "responses": responses(&[("201", ok("made; the secret is shown once", schema_ref("Token"))), ("400", error("bad name"))]) }
            },
            "/api/v1/tokens/{id}": {
                "delete": { "summary": "Revoke an API token", "parameters": [path_param("id", id.clone(), "a token")],
                    "responses": responses(&[("204", json!({ "description": "revoked" })), ("404", error("no such token"))]) }
            },
            "/api/v1/policy/rejections": {
                "get": { "summary": "Recent rejections and why (newest first)", "parameters": [limit_param],
                    "responses": responses(&[("200", ok("rejections", json!({ "type": "array", "items": { "type": "object" } }))), ("400", error("bad limit"))]) }
            },
            "/api/v1/policy/spam": {
                "get": { "summary": "Recent spam decisions with the rules that fired", "parameters": [limit_param],
                    "responses": responses(&[("200", ok("decisions", json!({ "type": "array", "items": { "type": "object" } }))), ("400", error("bad limit"))]) }
            },
            "/api/v1/policy/greylist": {
                "get": { "summary": "Greylist entries as last saved", "parameters": [limit_param,
                        { "name": "q", "in": "query", "required": false, "schema": text, "description": "part of the network, sender or recipient" }],
                    "responses": responses(&[("200", ok("entries", json!({ "type": "array", "items": { "type": "object" } }))), ("400", error("bad limit"))]) }
            },
            "/api/v1/policy/greylist/delete": greylist_action("Delete a greylist entry: its next attempt starts a new round"),
            "/api/v1/policy/greylist/whitelist": greylist_action("Let a greylist entry through now (it stays passed until quiet for the expiry)"),
            "/api/v1/webhooks": {
                "get": { "summary": "Webhook targets: event filter, progress, last delivery and failure (never the secret)",
                    "responses": responses(&[("200", ok("targets", json!({ "type": "array", "items": schema_ref("Webhook") })))]) }
            },
            "/api/v1/webhooks/deliveries": {
                "get": { "summary": "A target's last POSTs, newest first", "parameters": [
                        { "name": "url", "in": "query", "required": true, "schema": { "type": "string", "minLength": 1 }, "description": "the target's URL, as configured" },
                        { "name": "limit", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1, "maximum": 500 },
                          "description": "how many (default 50)" }],
                    "responses": responses(&[("200", ok("attempts", json!({ "type": "array", "items": schema_ref("WebhookAttempt") }))),
                        ("400", error("no url, or a bad limit")), ("404", error("no target has that URL"))]) }
            },
            "/api/v1/webhooks/test": {
                "post": { "summary": "Send a signed test event (id 0, type test) to a target now; it is not logged",
                    "requestBody": body(schema_ref("WebhookTest")),
                    "responses": responses(&[("200", ok("how the receiver answered", schema_ref("WebhookAttempt"))),
                        ("400", error("bad body")), ("404", error("no target has that URL"))]) }
            },
            "/api/v1/reload": {
                "post": { "summary": "Reload the configuration file (as SIGHUP)",
                    "responses": responses(&[("200", ok("the new generation", json!({ "type": "object", "properties": { "config_generation": { "type": "integer" } } }))),
                        ("422", error("the file is invalid; the running configuration stays"))]) }
            },
            "/api/v1/stats": {
                "get": { "summary": "Server statistics", "responses": responses(&[("200", ok("statistics", schema_ref("Stats")))]) }
            },
            "/api/v1/config": {
                "get": { "summary": "The running configuration, secrets masked", "responses": responses(&[("200", ok("configuration", json!({ "type": "object" })))]) }
            }
        }
    });
    lockouts(&mut doc);
    mailboxes(&mut doc);
    events(&mut doc);
    doc
}

/// The lockout operations (apart: one `json!` for the whole document is past the macro's
/// recursion limit).
fn lockouts(doc: &mut Value) {
    doc["components"]["schemas"]["Lockout"] = json!({ "type": "object", "required": ["scope", "target", "failures", "until", "locked"], "properties": {
        "scope": { "type": "string", "enum": ["account", "ip"] },
        "target": { "type": "string", "description": "the account's address, or the client IP address" },
        "failures": { "type": "integer", "minimum": 0 },
        "until": { "type": "integer", "description": "unix seconds when the run is forgotten, and a lockout ends" },
        "locked": { "type": "boolean", "description": "whether it refuses logins now" } } });
    doc["paths"]["/api/v1/lockouts"] = json!({
        "get": { "summary": "Failed-login runs remembered by the login guard (every protocol), and which lock now",
            "responses": responses(&[("200", ok("runs, oldest first", json!({ "type": "array", "items": schema_ref("Lockout") })))]) } });
    doc["paths"]["/api/v1/lockouts/{target}"] = json!({
        "delete": { "summary": "Lift a lockout (forget the failures) of an account or client IP, on every protocol",
            "parameters": [path_param("target", json!({ "type": "string", "minLength": 1 }), "an account's address or a client IP address")],
            "responses": responses(&[("204", json!({ "description": "lifted" })), ("404", error("no failed logins remembered for it"))]) } });
}

/// An account's mailboxes and messages, and its classifier's training.
fn mailboxes(doc: &mut Value) {
    let text = json!({ "type": "string" });
    let address = path_param("address", text.clone(), "an account's address");
    let mailbox = path_param("name", text, "a mailbox name (`INBOX` in any case)");
    let uid = path_param(
        "uid",
        json!({ "type": "integer", "minimum": 0, "maximum": u32::MAX }),
        "the message's UID",
    );
    let count = json!({ "type": "integer", "minimum": 0 });
    doc["components"]["schemas"]["Mailbox"] = json!({ "type": "object",
        "required": ["name", "uidvalidity", "uidnext", "highestmodseq", "subscribed", "exists", "unseen", "size"], "properties": {
        "name": { "type": "string" },
        "special_use": { "type": "string", "nullable": true, "description": "RFC 6154 attribute, e.g. \\Sent" },
        "uidvalidity": count, "uidnext": count, "highestmodseq": count, "subscribed": { "type": "boolean" },
        "exists": count, "unseen": count, "size": { "type": "integer", "minimum": 0, "description": "octets" } } });
    doc["components"]["schemas"]["Message"] = json!({ "type": "object",
        "required": ["uid", "size", "flags", "internal_date", "modseq", "from"], "properties": {
        "uid": count, "size": { "type": "integer", "minimum": 0, "description": "octets (RFC822.SIZE)" },
        "flags": { "type": "array", "items": { "type": "string" }, "description": "system flags, then keywords" },
        "internal_date": { "type": "integer", "description": "unix seconds" },
        "modseq": count,
        "subject": { "type": "string", "nullable": true },
        "from": { "type": "array", "items": { "type": "object", "required": ["address"], "properties": {
            "name": { "type": "string", "nullable": true }, "address": { "type": "string" } } } } } });
    doc["paths"]["/api/v1/accounts/{address}/mailboxes"] = json!({
        "get": { "summary": "An account's mailboxes with their counters", "parameters": [address],
            "responses": responses(&[("200", ok("mailboxes", json!({ "type": "array", "items": schema_ref("Mailbox") }))),
                ("400", error("not an address")), ("404", error("no such account"))]) } });
    doc["paths"]["/api/v1/accounts/{address}/mailboxes/{name}/messages"] = json!({
        "get": { "summary": "A mailbox's messages by ascending UID: size, flags, date, subject and senders", "parameters": [address, mailbox],
            "responses": responses(&[("200", ok("messages", json!({ "type": "array", "items": schema_ref("Message") }))),
                ("400", error("not an address")), ("404", error("no such account or mailbox"))]) } });
    doc["paths"]["/api/v1/accounts/{address}/mailboxes/{name}/messages/{uid}"] = json!({
        "delete": { "summary": "Remove a message now, whatever its flags; IMAP sessions on the mailbox see EXPUNGE", "parameters": [address, mailbox, uid],
            "responses": responses(&[("204", json!({ "description": "removed" })),
                ("400", error("not an address, or a bad UID")), ("404", error("no such account, mailbox or message"))]) } });
    doc["paths"]["/api/v1/accounts/{address}/classifier"] = json!({
        "get": { "summary": "How many messages the account's spam classifier was trained on", "parameters": [address],
            "responses": responses(&[("200", ok("its totals", json!({ "type": "object", "required": ["account", "trained_spam", "trained_ham"], "properties": {
                "account": { "type": "string" }, "trained_spam": count, "trained_ham": count } }))),
                ("400", error("not an address")), ("404", error("no such account"))]) } });
}

/// The event log.
fn events(doc: &mut Value) {
    let kinds: Vec<&str> = mailroom_shared::events::EventKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    doc["paths"]["/api/v1/events"] = json!({
        "get": { "summary": "The event log (what webhooks are sent), oldest first", "parameters": [
                { "name": "after", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 0 }, "description": "only events with ids above this" },
                { "name": "limit", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1, "maximum": 1000 }, "description": "how many at most (default 100)" },
                { "name": "type", "in": "query", "required": false, "schema": { "type": "string", "enum": kinds }, "description": "only events of this type" } ],
            "responses": responses(&[("200", ok("events: id, timestamp, type and the type's fields", json!({ "type": "array", "items": { "type": "object",
                "required": ["id", "timestamp", "type"], "properties": { "id": { "type": "integer" }, "timestamp": { "type": "integer" }, "type": { "type": "string" } } } }))),
                ("400", error("bad after, limit or type"))]) } });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_under_the_api_and_every_ref_resolves() {
        let doc = build();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        let text = doc.to_string();
        for piece in text.split("#/components/schemas/").skip(1) {
            let name: String = piece.chars().take_while(|c| c.is_alphanumeric()).collect();
            assert!(schemas.contains_key(&name), "dangling $ref {name}");
        }
        for path in doc["paths"].as_object().expect("paths").keys() {
            assert!(path.starts_with("/api/v1/"), "{path}");
        }
    }
}
