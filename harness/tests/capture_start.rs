//! Packet capture in a real lab: a tcpdump that cannot start is reported as soon as it
//! exits, in its own words, and nothing of the capture is left running.
use harness::capture::{capture_points, Recorder};
use harness::netlab::{standard_topology, Lab, LabOptions};

#[test]
fn a_capture_that_cannot_start_says_why_as_soon_as_tcpdump_exits() {
    harness::needs!(Root);
    let dir = tempfile::tempdir().unwrap();
    let (topo, _) = standard_topology(&LabOptions::default()).unwrap();
    let mut lab = Lab::build(topo, &dir.path().join("run"), &dir.path().join("state")).unwrap();
    let points = capture_points(&lab.topo, None);
    let mut bad = points[1].clone();
    bad.ifname = "nosuch0".into();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // A good point first: the recorder must stop it again when the second fails.
    let e = rt.block_on(Recorder::start(&mut lab, &[points[0].clone(), bad], &dir.path().join("cap"))).err();
    let text = e.map(|e| e.to_string()).unwrap_or_default();
    assert!(text.contains("exit status") && text.contains("nosuch0"), "tcpdump's exit and its words: {text}");
    assert!(lab.pid(&format!("tcpdump-{}", points[0].link)).is_none(), "the started capture is stopped");
    let report = lab.teardown();
    assert!(report.errors.is_empty(), "{report:?}");
}
