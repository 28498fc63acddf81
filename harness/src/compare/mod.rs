//! `routerlab compare`: runs side by side per metric, with ratios against the first side,
//! median and spread over repetitions, a within-noise call, and a regression gate.
mod error;
mod export;
mod fit;
mod gate;
mod history;
mod metric;
mod render;
mod stats;
mod table;
mod tail;

pub use error::CompareError;
pub use export::{bmf, comparison_json};
pub use fit::{fit, FitPoint};
pub use gate::{evaluate, Gate, Op, Tripped};
pub use history::{
    fence, grade, Fence, History, HistoryCall, HistoryError, Magnitude, Series, FENCE_FLOOR, MIN_HISTORY,
};
pub use metric::Metric;
pub use render::{
    comparison_html, comparison_markdown, comparison_text, overlay_members, run_lead_html, run_lead_markdown,
};
pub use stats::{paired, welch, Estimate, Method, LEVEL, POWER};
pub use table::{compare, Change, Comparison, Group, Row, Side, Stats, MIN_CHANGE};
pub use tail::{too_few, TooFew, TAIL_SAMPLES};
