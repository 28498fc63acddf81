//! Packets on the lab's links, joined to request ids. While a cell's load runs, `tcpdump`
//! records each link into a bounded ring buffer inside the lab's namespaces; the load
//! generator and the backend write a TLS key log. When the cell fails (or always, on
//! request), `tshark` decodes the first failing request ids on every link with that key log,
//! and [`trace`] says on which link the client's address was lost.
//!
//! Pure parts: [`capture_points`], [`tcpdump_args`], [`tshark_args`], [`parse_tshark`] and
//! [`trace`]. [`Recorder`] starts and stops the captures; [`decode`] runs tshark.
mod bundle;
mod decode;
mod error;
mod points;
mod recorder;
mod trace;

pub use bundle::{finish, FailingId, Recorded, TRACED_IDS};
pub use decode::{decode, parse_tshark, tshark_args, Sighting};
pub use error::CaptureError;
pub use points::{capture_points, CapturePoint};
pub use recorder::{tcpdump_args, Recorder, RING_FILES, RING_FILE_MB};
pub use trace::trace;

/// When a cell's packets are captured and kept (`run --capture`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaptureMode {
    /// No capture and no key log.
    Off,
    /// Capture every cell; keep and decode the packets of a cell that does not pass.
    #[default]
    OnFailure,
    /// Capture, keep and decode every cell.
    Always,
}

impl CaptureMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CaptureMode::Off => "off",
            CaptureMode::OnFailure => "on-failure",
            CaptureMode::Always => "always",
        }
    }
}

impl std::fmt::Display for CaptureMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for CaptureMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(CaptureMode::Off),
            "on-failure" => Ok(CaptureMode::OnFailure),
            "always" => Ok(CaptureMode::Always),
            other => Err(format!("`{other}`: expected off, on-failure or always")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CaptureMode;

    #[test]
    fn modes_read_back_what_they_print_and_refuse_others() {
        for m in [CaptureMode::Off, CaptureMode::OnFailure, CaptureMode::Always] {
            assert_eq!(m.as_str().parse::<CaptureMode>(), Ok(m));
        }
        assert!("onfailure".parse::<CaptureMode>().unwrap_err().contains("on-failure"));
    }
}
