//! Test support: the rendering of diagnostics that snapshots record.

/// A diagnostic as a terminal without colour shows it.
pub(crate) fn render(diagnostic: &dyn miette::Diagnostic) -> String {
    let mut out = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .render_report(&mut out, diagnostic)
        .unwrap();
    out
}
