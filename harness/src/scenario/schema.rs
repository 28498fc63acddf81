//! JSON Schemas of scenario files and build files, generated from the raw types the loader
//! reads (`schemars`), so they cannot drift from what routerlab accepts. Editors and taplo
//! read them through each shipped file's `#:schema` line; `routerlab schema scenario|build`
//! prints them; docs/scenario.schema.json and docs/build.schema.json are these, written out.
//! The schema checks shape and types; values (a known target, a duration) are the loader's
//! to judge, with file:line:field errors.
use super::raw::RawBuild;
use super::raw::RawScenario;

/// The schema of a scenario file.
pub fn scenario_schema() -> serde_json::Value {
    with_id(schemars::schema_for!(RawScenario), "scenario.schema.json")
}

/// The schema of a build file (`run --builds FILE`, and `[[proxy.build]]` in a scenario).
pub fn build_schema() -> serde_json::Value {
    let mut v = with_id(schemars::schema_for!(RawBuild), "build.schema.json");
    v["title"] = "routerlab proxy build".into();
    v
}

fn with_id(s: schemars::Schema, file: &str) -> serde_json::Value {
    let mut v = serde_json::to_value(s).expect("a schema is JSON");
    v["$id"] = format!("https://routerlab.invalid/{file}").into();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_wrong_types_are_refused_and_optional_sections_are_not_required() {
        let v = jsonschema::validator_for(&scenario_schema()).unwrap();
        let ok: serde_json::Value = toml::from_str(
            "name = \"x\"\ntargets = [\"aarch64-virt\"]\n[proxy]\nkind = \"l4-forward\"\n[expect]\nclient-ip = \"lost\"\n",
        )
        .unwrap();
        assert!(v.is_valid(&ok), "{:?}", v.iter_errors(&ok).map(|e| e.to_string()).collect::<Vec<_>>());
        let mut bad = ok.clone();
        bad["load"] = serde_json::json!({ "conections": 3 });
        assert!(!v.is_valid(&bad), "an unknown key under [load]");
        let mut bad = ok.clone();
        bad["load"] = serde_json::json!({ "connections": "three" });
        assert!(!v.is_valid(&bad), "a string where a count goes");
        let mut bad = ok;
        bad.as_object_mut().unwrap().remove("expect");
        assert!(!v.is_valid(&bad), "[expect] is required");
    }
}
