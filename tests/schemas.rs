//! The checked-in JSON schemas match the Rust types they are generated from.
//! Run with `DBPM_UPDATE_SCHEMAS=1` to rewrite them after changing a type.

#![allow(clippy::unwrap_used)]

mod common;

fn check(file: &str, schema: serde_json::Value) {
    let path = common::repo_root().join("schemas").join(file);
    let text = format!("{}\n", serde_json::to_string_pretty(&schema).unwrap());
    if std::env::var_os("DBPM_UPDATE_SCHEMAS").is_some() {
        fs_err::write(&path, &text).unwrap();
        return;
    }
    let current = fs_err::read_to_string(&path).unwrap_or_default();
    assert!(
        current == text,
        "schemas/{file} is out of date; run `DBPM_UPDATE_SCHEMAS=1 cargo test --test schemas` and commit it"
    );
}

#[test]
fn manifest_schema_is_up_to_date() {
    check("manifest.schema.json", dbpm::manifest::schema());
}

#[test]
fn release_schema_is_up_to_date() {
    check("release.schema.json", dbpm::resolve::release_schema());
}

#[test]
fn plan_schema_is_up_to_date() {
    check("plan.schema.json", dbpm::plan::model::schema());
}

#[test]
fn state_schema_is_up_to_date() {
    check("state.schema.json", dbpm::state::schema());
}
