//! What people read: the self-contained HTML report, a Markdown summary and JUnit XML,
//! rendered from a run directory.
mod error;
mod escape;
mod html;
mod junit;
mod markdown;
mod merge;
mod packets;
mod plots;
mod view;

pub use error::ReportError;
pub(crate) use escape::esc;
pub use html::{html_page, html_page_with, overlay_page};
pub use junit::junit_xml;
pub(crate) use markdown::cell as md_cell;
pub use markdown::{markdown, markdown_with};
pub use merge::merge;
pub use plots::{latency_plot, time_plot, Series};
pub use view::{load_run, CellView, RunView, CELL_FILES};
