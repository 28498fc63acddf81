//! Every error prints each cause once. An error that keeps its cause as `source()` (a field
//! named `source`, or one marked `#[source]` or `#[from]`) must leave that cause out of its
//! own message: printers walk the chain (`anyhow`'s `{:#}`, `harness::errtext::Chain`), so
//! a message that embeds it says it twice (`cannot read scenario x: No such file or
//! directory (os error 2): No such file or directory (os error 2)`).
//!
//! The first test reads every `#[error("…")]` of the library and the CLI, so a new variant
//! is checked without being listed here; the second walks real chains at run time.
use std::path::{Path, PathBuf};

use syn::visit::Visit;

#[derive(Default)]
struct Finder {
    file: PathBuf,
    checked: usize,
    bad: Vec<String>,
}

fn error_message(attrs: &[syn::Attribute]) -> Option<String> {
    let a = attrs.iter().find(|a| a.path().is_ident("error"))?;
    a.parse_args::<syn::LitStr>().ok().map(|l| l.value()) // `transparent` has no message
}

fn marks_source(f: &syn::Field) -> bool {
    f.attrs.iter().any(|a| a.path().is_ident("source") || a.path().is_ident("from"))
        || f.ident.as_ref().is_some_and(|i| i == "source")
}

impl Finder {
    fn check(&mut self, name: String, attrs: &[syn::Attribute], fields: &syn::Fields) {
        let Some(msg) = error_message(attrs) else { return };
        for (i, f) in fields.iter().enumerate() {
            if !marks_source(f) {
                continue;
            }
            self.checked += 1;
            let field = f.ident.as_ref().map(|i| i.to_string()).unwrap_or_else(|| i.to_string());
            if msg.contains(&format!("{{{field}}}")) || msg.contains(&format!("{{{field}:")) {
                self.bad.push(format!("{}: {name}: {msg:?} prints its source `{field}`", self.file.display()));
            }
        }
    }
}

impl<'ast> Visit<'ast> for Finder {
    fn visit_item_enum(&mut self, e: &'ast syn::ItemEnum) {
        for v in &e.variants {
            self.check(format!("{}::{}", e.ident, v.ident), &v.attrs, &v.fields);
        }
        syn::visit::visit_item_enum(self, e);
    }
    fn visit_item_struct(&mut self, s: &'ast syn::ItemStruct) {
        self.check(s.ident.to_string(), &s.attrs, &s.fields);
        syn::visit::visit_item_struct(self, s);
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_error_message_repeats_the_cause_it_keeps_as_source() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("../src"), &mut files);
    let mut finder = Finder::default();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        finder.file = f;
        finder.visit_file(&ast);
    }
    assert!(finder.bad.is_empty(), "{}", finder.bad.join("\n"));
    // The walk found the library's error types: a broken walker would pass vacuously.
    assert!(finder.checked >= 30, "only {} source fields found", finder.checked);
}

/// No `": "`-separated part of a printed chain is said twice.
fn assert_each_cause_once(e: &(dyn std::error::Error + 'static)) {
    let text = harness::errtext::chain(e);
    let mut cause = Some(e);
    let mut parts = Vec::new();
    while let Some(c) = cause {
        parts.push(c.to_string());
        cause = c.source();
    }
    for (i, p) in parts.iter().enumerate().skip(1) {
        assert!(!parts[i - 1].contains(p.as_str()), "{text:?}: {:?} already says {p:?}", parts[i - 1]);
        assert_eq!(text.matches(p.as_str()).count(), 1, "{text:?} says {p:?} more than once");
    }
}

#[test]
fn real_chains_say_each_cause_once() {
    let missing = Path::new("/nonexistent/routerlab-scenario.toml");
    let e = harness::scenario::load_plan(missing).unwrap_err();
    assert_each_cause_once(&e);
    assert_eq!(
        harness::errtext::chain(&e).matches("No such file or directory").count(),
        1,
        "{}",
        harness::errtext::chain(&e)
    );
    let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
    let run = harness::runner::RunError::caused("aarch64-virt", "deploy", harness::runner::PathError::new(missing, io));
    assert_each_cause_once(&run);
    let tls = harness::tls::load_certs(missing).expect_err("a missing certificate is refused");
    assert_each_cause_once(&tls);
}
