use std::time::Duration;

/// What a VM is doing, for progress displays. The engine sends these; the UI decides how to show them.
#[derive(Debug, Clone, PartialEq)]
pub enum VmEvent {
    Starting { vm: String, target: String },
    Booted { vm: String, after: Duration },
    Exec { vm: String, command: String },
    Uploaded { vm: String, path: String, bytes: u64, after: Duration },
    Stopped { vm: String },
}
