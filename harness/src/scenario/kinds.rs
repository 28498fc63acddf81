//! One home per proxy kind. Everything routerlab knows about a kind of proxy under test
//! lives in `scenarios/kinds/<kind>.toml`:
//! - the binary's path in a package tree, the process name and the version flag;
//! - the config's guest path and the shipped config template per mode;
//! - what it can send and why not, and the client-IP directive per header mode.
//!
//! Its start script is `scenarios/templates/router/start-<kind>.sh`. Both are compiled in
//! through [`KINDS`], the one table of kind names. The scenario check, the build file, the
//! installer and the cell's script all read a kind's facts from here.
use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::scenario::{ClientIpHeaderMode, ProxyKind, ProxyMode};

/// What routerlab knows about one kind (see `scenarios/kinds/README.md`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KindFacts {
    pub about: String,
    /// The binary's path inside a package tree (`usr/sbin/haproxy`); none for l4-forward
    /// and custom, whose build names it.
    pub binary: Option<String>,
    /// The process the metrics agent watches; none where the build names it.
    pub process: Option<String>,
    pub version_flag: Option<String>,
    /// Prints how it was built (`haproxy -vv`, `nginx -V`): the report keeps the text.
    pub build_info_flag: Option<String>,
    /// The rendered config's path in the guest.
    pub config: Option<String>,
    #[serde(default)]
    pub templates: BTreeMap<ProxyMode, String>,
    /// What the software can send at all; empty where the build decides (custom).
    #[serde(default)]
    pub client_ip_header: Vec<ClientIpHeaderMode>,
    #[serde(default)]
    pub why_not: BTreeMap<ClientIpHeaderMode, String>,
    #[serde(default)]
    pub http2: bool,
    pub why_no_http2: Option<String>,
    /// The `{{client_ip_directive}}` field per header mode (empty for a mode not listed).
    #[serde(default)]
    pub directives: BTreeMap<ClientIpHeaderMode, String>,
}

/// A kind as compiled in: its name, its facts file and its start script.
pub struct KindEntry {
    pub kind: ProxyKind,
    pub name: &'static str,
    facts: &'static str,
    /// `router/start-<kind>.sh` and its text; none for l4-forward.
    pub start: Option<(&'static str, &'static str)>,
}

macro_rules! kind {
    ($kind:expr, $name:literal) => {
        KindEntry {
            kind: $kind,
            name: $name,
            facts: include_str!(concat!("../../../scenarios/kinds/", $name, ".toml")),
            start: Some((
                concat!("router/start-", $name, ".sh"),
                include_str!(concat!("../../../scenarios/templates/router/start-", $name, ".sh")),
            )),
        }
    };
}

/// Every kind a scenario can name, by the name it uses.
pub const KINDS: [KindEntry; 4] = [
    KindEntry {
        kind: ProxyKind::L4Forward,
        name: "l4-forward",
        facts: include_str!("../../../scenarios/kinds/l4-forward.toml"),
        start: None,
    },
    kind!(ProxyKind::Haproxy, "haproxy"),
    kind!(ProxyKind::Nginx, "nginx"),
    kind!(ProxyKind::Custom, "custom"),
];

/// The kinds' names as `Ctx::choose` takes them.
pub fn names() -> Vec<(&'static str, ProxyKind)> {
    KINDS.iter().map(|k| (k.name, k.kind)).collect()
}

/// The entry of `kind`.
pub fn entry(kind: ProxyKind) -> &'static KindEntry {
    KINDS.iter().find(|k| k.kind == kind).expect("every ProxyKind is in KINDS (unit-tested)")
}

/// The facts of `kind`, parsed once.
pub fn facts(kind: ProxyKind) -> &'static KindFacts {
    static PARSED: OnceLock<Vec<(ProxyKind, KindFacts)>> = OnceLock::new();
    let all = PARSED.get_or_init(|| {
        KINDS
            .iter()
            .map(|k| {
                (k.kind, toml::from_str(k.facts).unwrap_or_else(|e| panic!("scenarios/kinds/{}.toml: {e}", k.name)))
            })
            .collect()
    });
    &all.iter().find(|(k, _)| *k == kind).expect("every ProxyKind is in KINDS (unit-tested)").1
}

impl KindFacts {
    /// The shipped config template for `mode`, if there is one.
    pub fn template(&self, mode: ProxyMode) -> Option<&str> {
        self.templates.get(&mode).map(String::as_str)
    }

    /// What `{{client_ip_directive}}` becomes for `header`.
    pub fn directive(&self, header: Option<ClientIpHeaderMode>) -> String {
        header.and_then(|h| self.directives.get(&h).cloned()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::kebab;
    use std::path::Path;

    fn repo() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
    }

    #[test]
    fn every_kind_has_one_entry_named_as_serde_names_it_and_its_facts_parse() {
        for k in [ProxyKind::L4Forward, ProxyKind::Haproxy, ProxyKind::Nginx, ProxyKind::Custom] {
            assert_eq!(KINDS.iter().filter(|e| e.kind == k).count(), 1, "{k:?}");
            assert_eq!(entry(k).name, kebab(&k));
            assert!(!facts(k).about.is_empty(), "{k:?}");
        }
        // Every file in scenarios/kinds/ is a kind (no stray file goes unread).
        let mut files: Vec<String> = std::fs::read_dir(repo().join("scenarios/kinds"))
            .unwrap()
            .filter_map(|e| e.unwrap().file_name().to_str()?.strip_suffix(".toml").map(String::from))
            .collect();
        files.sort();
        let mut names: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
        names.sort();
        assert_eq!(files, names);
    }

    #[test]
    fn each_kind_is_consistent_with_itself_and_its_files_exist() {
        for e in &KINDS {
            let f = facts(e.kind);
            for (mode, t) in &f.templates {
                assert!(repo().join("scenarios/templates").join(t).is_file(), "{}: {mode:?} {t}", e.name);
            }
            // A header it cannot send has a reason; one it can send has none.
            for h in f.why_not.keys() {
                assert!(!f.client_ip_header.contains(h), "{}: why-not {h:?} but it can send it", e.name);
            }
            for h in f.directives.keys() {
                assert!(f.client_ip_header.contains(h), "{}: a directive for {h:?}, which it cannot send", e.name);
            }
            assert_eq!(f.http2 || f.templates.is_empty(), f.why_no_http2.is_none(), "{}: http2 and its reason", e.name);
            // A kind that runs a process has a start script, a config path and a version flag.
            let runs = e.start.is_some();
            assert_eq!(runs, f.config.is_some() && f.version_flag.is_some(), "{}", e.name);
            assert_eq!(f.binary.is_some(), f.process.is_some(), "{}: binary and process go together", e.name);
        }
        assert_eq!(facts(ProxyKind::Haproxy).template(ProxyMode::TerminatePlain), Some("haproxy-terminate-plain.cfg"));
        assert_eq!(facts(ProxyKind::Nginx).template(ProxyMode::TerminatePlain), None);
        assert_eq!(facts(ProxyKind::Haproxy).directive(Some(ClientIpHeaderMode::XffAppend)), "option forwardfor");
        assert_eq!(facts(ProxyKind::Nginx).directive(Some(ClientIpHeaderMode::ProxyV1)), "");
    }

    #[test]
    fn a_facts_file_with_a_typo_is_refused() {
        let bad = "about = \"x\"\nprocess = \"p\"\n[templates]\nterminate-reencrypted = \"a.cfg\"\n";
        let e = toml::from_str::<KindFacts>(bad).unwrap_err().to_string();
        assert!(e.contains("terminate-reencrypted"), "{e}");
        let e = toml::from_str::<KindFacts>("about = \"x\"\nversion = \"-v\"\n").unwrap_err().to_string();
        assert!(e.contains("unknown field `version`"), "{e}");
    }
}
