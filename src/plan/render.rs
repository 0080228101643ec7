//! Renderings of a plan: plain text for a terminal (colour only when asked), Markdown for a
//! pull-request comment, and Mermaid and Graphviz DOT drawings of the DAG. Pure functions
//! from a [`Plan`] to a `String`; printing is the CLI's job.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use super::model::{ActionKind, Plan, Step, StepPhase};
use crate::diagnostic::plural;
use crate::package::{Kind, Origin};

/// The counts a summary line shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Packages installed.
    pub install: usize,
    /// Packages upgraded.
    pub upgrade: usize,
    /// Packages downgraded.
    pub downgrade: usize,
    /// Packages reinstalled.
    pub reinstall: usize,
    /// Packages removed.
    pub remove: usize,
    /// Forward steps.
    pub steps: usize,
    /// Groups of steps that may run side by side.
    pub parallel_groups: usize,
}

/// Counts what a plan does.
pub fn summary(plan: &Plan) -> Summary {
    let mut summary = Summary {
        steps: plan.steps.len(),
        ..Summary::default()
    };
    for action in plan.actions.values() {
        match action.action {
            ActionKind::Install => summary.install += 1,
            ActionKind::Upgrade => summary.upgrade += 1,
            ActionKind::Downgrade => summary.downgrade += 1,
            ActionKind::Reinstall => summary.reinstall += 1,
            ActionKind::Uninstall => summary.remove += 1,
            ActionKind::Unchanged => {}
        }
    }
    type Group<'a> = (
        &'a str,
        &'a semver::Version,
        StepPhase,
        Option<&'a Origin>,
        u64,
    );
    let mut groups: BTreeMap<Group<'_>, usize> = BTreeMap::new();
    for step in &plan.steps {
        let number = step
            .script
            .split('.')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        *groups
            .entry((
                &step.package,
                &step.version,
                step.phase,
                step.edge.as_ref(),
                number,
            ))
            .or_default() += 1;
    }
    summary.parallel_groups = groups.values().filter(|n| **n > 1).count();
    summary
}

/// `3 to install, 1 to upgrade, 0 to remove, 27 steps, 4 parallel groups`.
pub fn summary_line(plan: &Plan) -> String {
    let s = summary(plan);
    let mut parts = vec![
        format!("{} to install", s.install),
        format!("{} to upgrade", s.upgrade),
    ];
    if s.downgrade > 0 {
        parts.push(format!("{} to downgrade", s.downgrade));
    }
    if s.reinstall > 0 {
        parts.push(format!("{} to reinstall", s.reinstall));
    }
    parts.push(format!("{} to remove", s.remove));
    parts.push(plural(s.steps, "step"));
    parts.push(plural(s.parallel_groups, "parallel group"));
    parts.join(", ")
}

fn versions(from: Option<&semver::Version>, to: Option<&semver::Version>) -> String {
    match (from, to) {
        (None, Some(to)) => to.to_string(),
        (Some(from), None) => format!("{from} → none"),
        (Some(from), Some(to)) if from == to => to.to_string(),
        (Some(from), Some(to)) => format!("{from} → {to}"),
        (None, None) => String::new(),
    }
}

fn action_sign(action: ActionKind) -> &'static str {
    match action {
        ActionKind::Install => "+",
        ActionKind::Upgrade => "↑",
        ActionKind::Downgrade => "↓",
        ActionKind::Reinstall => "~",
        ActionKind::Uninstall => "-",
        ActionKind::Unchanged => "=",
    }
}

/// `billing@1.1.0 UPGRADE@1.0.0/001.tables`, written without building a string: a large
/// plan has hundreds of thousands of steps.
struct StepLabel<'a>(&'a Step);

impl fmt::Display for StepLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let step = self.0;
        write!(f, "{}@{} {}", step.package, step.version, ScriptLabel(step))
    }
}

/// `UPGRADE@1.0.0/001.tables`: a step within its package.
struct ScriptLabel<'a>(&'a Step);

impl fmt::Display for ScriptLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let step = self.0;
        f.write_str(step.phase.as_str())?;
        if let Some(edge) = &step.edge {
            write!(f, "@{edge}")?;
        }
        write!(f, "/{}", step.script)
    }
}

fn step_label(step: &Step) -> StepLabel<'_> {
    StepLabel(step)
}

fn step_flags(step: &Step) -> Vec<&'static str> {
    let kind = match step.kind {
        Kind::Sql => None,
        Kind::Sys => Some("admin"),
        Kind::Cmd => Some("shell"),
    };
    [
        kind,
        (!step.transactional).then_some("no transaction"),
        step.idempotent.then_some("idempotent"),
        step.irreversible.then_some("IRREVERSIBLE"),
        step.destructive.then_some("DESTROYS DATA"),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The placeholder values the scripts of this plan were resolved with: (name, value) → the
/// packages that install, upgrade, downgrade or reinstall with it. A reviewer reads the
/// values here, and not only inside the scripts (`--set` on the command line, a release's
/// value, or a package's default).
fn placeholder_uses(plan: &Plan) -> BTreeMap<(&str, &str), Vec<&str>> {
    let mut uses: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for (name, action) in &plan.actions {
        if matches!(action.action, ActionKind::Unchanged | ActionKind::Uninstall) {
            continue;
        }
        let Some(package) = plan.packages.get(name) else {
            continue;
        };
        for (placeholder, value) in &package.placeholders {
            uses.entry((placeholder, value)).or_default().push(name);
        }
    }
    uses
}

/// Plain text for a terminal; `color` adds ANSI colours.
pub fn text(plan: &Plan, color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Plan for {} ({})",
        printable(&plan.target),
        plan.platform
    );
    let _ = writeln!(out);
    for (name, action) in &plan.actions {
        let code = match action.action {
            ActionKind::Install => "32",
            ActionKind::Upgrade | ActionKind::Reinstall => "33",
            ActionKind::Downgrade | ActionKind::Uninstall => "31",
            ActionKind::Unchanged => "2",
        };
        let line = format!(
            "  {} {:<10} {:<20} {}",
            action_sign(action.action),
            action.action.to_string(),
            printable(name),
            versions(action.from.as_ref(), action.to.as_ref())
        );
        let _ = writeln!(
            out,
            "{}  {}",
            paint(code, &line),
            paint("2", &format!("({})", printable(&action.reason)))
        );
    }
    let placeholders = placeholder_uses(plan);
    if !placeholders.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "Placeholders:");
        for ((name, value), packages) in &placeholders {
            // Quoted and escaped: a value's spaces show, and its control characters cannot
            // reach the terminal.
            let _ = writeln!(
                out,
                "  {} = {value:?}  ({})",
                printable(name),
                printable(&packages.join(", "))
            );
        }
    }
    if !plan.steps.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "Steps:");
        for (index, step) in plan.steps.iter().enumerate() {
            let _ = write!(
                out,
                "  {:>3}. {}",
                index + 1,
                printable(&step_label(step).to_string())
            );
            let flags = step_flags(step);
            if !flags.is_empty() {
                let flags = format!("  [{}]", flags.join(", "));
                if step.destructive || step.irreversible {
                    out.push_str(&paint("31", &flags));
                } else {
                    out.push_str(&flags);
                }
            }
            out.push('\n');
        }
        let _ = writeln!(out);
        let irreversible = plan.steps.iter().filter(|s| s.irreversible).count();
        let kept = match irreversible {
            0 => String::new(),
            1 => " The irreversible step is not undone once it ran.".to_owned(),
            n => format!(" The {n} irreversible steps are not undone once they ran."),
        };
        let _ = writeln!(
            out,
            "On failure, the completed steps are undone by {}.{kept}",
            plural(plan.compensations.len(), "compensating step")
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", paint("1", &summary_line(plan)));
    out
}

/// `text` with its control characters escaped (`\u{1b}`, `\n`): a plan under review is
/// anyone's file, and what it says must not reach the terminal as commands (colours, a new
/// title, a cleared screen) or as lines of its own.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    std::borrow::Cow::Owned(shown)
}

/// Markdown for a pull-request comment. Nothing a package, a script or a release chose can
/// change how the comment reads: names, paths and the target go in code spans, reasons are
/// escaped, and each script sits in a fence longer than any run of backticks in it, so every
/// line a step runs shows, and shows as code. The compensations show their text too: a
/// reviewer approves what a failure would run as well.
pub fn markdown(plan: &Plan) -> String {
    markdown_in(plan, &mut Budget::Unlimited)
}

/// The characters GitHub takes in a pull-request comment at most.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;

/// [`markdown`] in at most `limit` characters (a pull-request comment has a limit): the
/// scripts that no longer fit, in the order they come, are left out, and a line at the end
/// says how many. The summary, the warnings and the tables are always there (a plan whose
/// tables alone pass the limit passes it).
pub fn markdown_within(plan: &Plan, limit: usize) -> String {
    let full = markdown(plan);
    if full.chars().count() <= limit {
        return full;
    }
    let bare = markdown_in(
        plan,
        &mut Budget::Left {
            room: 0,
            left_out: 0,
        },
    );
    let room = limit.saturating_sub(bare.chars().count());
    markdown_in(plan, &mut Budget::Left { room, left_out: 0 })
}

/// How many more characters the scripts of a Markdown rendering may take.
enum Budget {
    Unlimited,
    /// The room left, and how many scripts were left out.
    Left {
        room: usize,
        left_out: usize,
    },
}

fn markdown_in(plan: &Plan, budget: &mut Budget) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## dbpm plan for {} ({})",
        code(&plan.target),
        plan.platform
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "**{}**", summary_line(plan));
    let _ = writeln!(out);
    let destructive: Vec<&Step> = plan.steps.iter().filter(|s| s.destructive).collect();
    let irreversible: Vec<&Step> = plan.steps.iter().filter(|s| s.irreversible).collect();
    if !destructive.is_empty() {
        let _ = writeln!(out, "> [!WARNING]");
        let _ = writeln!(out, "> {} destroy data:", plural(destructive.len(), "step"));
        for step in &destructive {
            let _ = writeln!(out, "> - {}", code(&step_label(step).to_string()));
        }
        let _ = writeln!(out);
    }
    if !irreversible.is_empty() {
        let _ = writeln!(out, "> [!CAUTION]");
        let _ = writeln!(
            out,
            "> {} cannot be undone if the run fails later:",
            plural(irreversible.len(), "step")
        );
        for step in &irreversible {
            let _ = writeln!(out, "> - {}", code(&step_label(step).to_string()));
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "| package | action | version | reason |");
    let _ = writeln!(out, "|---|---|---|---|");
    for (name, action) in &plan.actions {
        let _ = writeln!(
            out,
            "| {} | {} {} | {} | {} |",
            cell(&code(name)),
            action_sign(action.action),
            action.action,
            inline(&versions(action.from.as_ref(), action.to.as_ref())),
            prose(&action.reason)
        );
    }
    let placeholders = placeholder_uses(plan);
    if !placeholders.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "| placeholder | value | used by |");
        let _ = writeln!(out, "|---|---|---|");
        for ((name, value), packages) in &placeholders {
            let packages: Vec<String> = packages.iter().map(|p| cell(&code(p))).collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                cell(&code(name)),
                cell(&code(value)),
                packages.join(", ")
            );
        }
    }
    let compensations: BTreeMap<&str, &Step> =
        plan.compensations.iter().map(|c| (&*c.id, c)).collect();
    let mut by_package: BTreeMap<&str, Vec<(usize, &Step)>> = BTreeMap::new();
    for (index, step) in plan.steps.iter().enumerate() {
        by_package
            .entry(&step.package)
            .or_default()
            .push((index + 1, step));
    }
    for (name, steps) in by_package {
        let _ = writeln!(out);
        match plan.actions.get(name) {
            Some(action) => {
                let _ = writeln!(
                    out,
                    "### {}: {} {}",
                    code(name),
                    action.action,
                    inline(&versions(action.from.as_ref(), action.to.as_ref()))
                );
                if !action.path.is_empty() {
                    let path: Vec<String> = action.path.iter().map(ToString::to_string).collect();
                    let _ = writeln!(out);
                    let _ = writeln!(out, "Path: {}", inline(&path.join(" → ")));
                }
            }
            None => {
                let _ = writeln!(out, "### {}", code(name));
            }
        }
        let _ = writeln!(out);
        // The version each script is of: an upgrade removes the old version's code with its
        // own ROLLBACK scripts, and a downgrade runs the newer version's DOWNGRADE scripts.
        let _ = writeln!(out, "| # | version | step | runs | compensated by |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for (index, step) in &steps {
            let flags = step_flags(step);
            let runs = if flags.is_empty() {
                "sql".to_owned()
            } else {
                flags.join(", ")
            };
            let compensation = step
                .compensated_by
                .as_ref()
                .and_then(|id| compensations.get(&**id))
                .map_or_else(
                    || {
                        if step.irreversible {
                            "**none (irreversible)**".to_owned()
                        } else {
                            "—".to_owned()
                        }
                    },
                    |c| cell(&code(&c.path)),
                );
            let _ = writeln!(
                out,
                "| {index} | {} | {} | {runs} | {compensation} |",
                step.version,
                cell(&code(&step.path))
            );
        }
        for (_, step) in &steps {
            let title = format!("{}@{} {}", step.package, step.version, step.path);
            script_details(&mut out, plan, step, &html(&title), "", budget);
        }
    }
    if !plan.compensations.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "<details><summary>On failure: {}, undoing completed steps in reverse</summary>",
            plural(plan.compensations.len(), "compensating step")
        );
        for step in &plan.compensations {
            let flags = step_flags(step);
            let flags = if flags.is_empty() {
                String::new()
            } else {
                format!(" ({})", flags.join(", "))
            };
            script_details(
                &mut out,
                plan,
                step,
                &html(&step_label(step).to_string()),
                &flags,
                budget,
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "</details>");
    }
    if let Budget::Left { left_out, .. } = budget {
        if *left_out > 0 {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "_{} left out to keep this comment within its limit: the plan file has them all, and `dbpm show PLAN --format markdown --max-chars 0` shows them._",
                plural(*left_out, "script")
            );
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "<sub>plan {}</sub>", inline(&plan.hash));
    out
}

/// A step's script after a blank line, collapsed under its `title` (HTML, escaped by the
/// caller) and `note` (plain words of dbpm's own), in a fence nothing in the script can
/// close; nothing, counted as left out, when the `budget` has no room for it.
fn script_details(
    out: &mut String,
    plan: &Plan,
    step: &Step,
    title: &str,
    note: &str,
    budget: &mut Budget,
) {
    let script = plan.text_of(step).trim_end();
    let fence = fence_for(script);
    let info = if step.kind == Kind::Cmd { "sh" } else { "sql" };
    let details = format!(
        "\n<details><summary><code>{title}</code>{note}</summary>\n\n{fence}{info}\n{script}\n{fence}\n\n</details>\n"
    );
    if let Budget::Left { room, left_out } = budget {
        let cost = details.chars().count();
        if cost > *room {
            *left_out += 1;
            return;
        }
        *room -= cost;
    }
    out.push_str(&details);
}

/// A code fence for `text`: CommonMark closes a fence of N backticks only with a line of N
/// or more, so one longer than every run of backticks in the text (and at least the usual
/// three) holds all of it, whatever its lines look like.
fn fence_for(text: &str) -> String {
    "`".repeat(longest_run(text, '`').max(2) + 1)
}

/// The length of the longest run of `c` in `text`.
fn longest_run(text: &str, c: char) -> usize {
    let (mut longest, mut run) = (0, 0);
    for ch in text.chars() {
        run = if ch == c { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

/// `text` on one line: a line break would end a table row, a heading or an HTML block, so
/// control characters show as their escapes (`\n`).
fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(char::is_control) {
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect::<String>()
            .into()
    } else {
        text.into()
    }
}

/// An inline code span that shows `text` literally: its delimiter is longer than every run
/// of backticks inside, and a space pads text that starts or ends with a backtick or space
/// (CommonMark strips one from each side). Nothing inside a code span is Markdown or HTML.
fn code(text: &str) -> String {
    let text = one_line(text);
    let delimiter = "`".repeat(longest_run(&text, '`') + 1);
    let pad = if text.is_empty() || text.starts_with(['`', ' ']) || text.ends_with(['`', ' ']) {
        " "
    } else {
        ""
    };
    format!("{delimiter}{pad}{text}{pad}{delimiter}")
}

/// Text of dbpm's own making that carries names or requirements (reasons, versions), as
/// plain inline Markdown: every character that could start emphasis, a link, a code span,
/// HTML, an entity, a table cell, a strikethrough or math is escaped.
fn inline(text: &str) -> String {
    let text = one_line(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '&' | '|' | '~' | '!' | '$'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A sentence of dbpm's own (a reason) with names in backticks, as the code spans it means
/// and escaped text between them: a name's own backticks can shift which parts read as
/// code, never make anything else of them.
fn prose(text: &str) -> String {
    let mut parts: Vec<&str> = text.split('`').collect();
    // An odd number of backticks leaves the last one unpaired: it is text.
    let unpaired = if parts.len().is_multiple_of(2) {
        parts.pop()
    } else {
        None
    };
    let mut out = String::with_capacity(text.len());
    for (index, part) in parts.iter().enumerate() {
        if index % 2 == 1 {
            out.push_str(&cell(&code(part)));
        } else {
            out.push_str(&inline(part));
        }
    }
    if let Some(rest) = unpaired {
        out.push_str(&inline(&format!("`{rest}")));
    }
    out
}

/// A code span in a table cell: GitHub splits a row at every `|` not escaped, even inside a
/// code span, and unescapes `\|` there.
fn cell(code_span: &str) -> String {
    code_span.replace('|', "\\|")
}

/// Text for an HTML block (a `<summary>`), where Markdown is not read but HTML is.
fn html(text: &str) -> String {
    let text = one_line(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// The forward steps of each package, in plan order.
fn steps_by_package(plan: &Plan) -> BTreeMap<&str, Vec<&Step>> {
    let mut by_package: BTreeMap<&str, Vec<&Step>> = BTreeMap::new();
    for step in &plan.steps {
        by_package.entry(&step.package).or_default().push(step);
    }
    by_package
}

/// A Mermaid flowchart of the forward steps, one subgraph per package.
pub fn mermaid(plan: &Plan) -> String {
    let ids: BTreeMap<&str, String> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (&*s.id, format!("s{}", i + 1)))
        .collect();
    let mut out = String::from("flowchart TD\n");
    let by_package = steps_by_package(plan);
    for (index, (name, steps)) in by_package.iter().enumerate() {
        let action = &plan.actions[*name];
        let _ = writeln!(
            out,
            "  subgraph p{index}[\"{name}: {} {}\"]",
            action.action,
            versions(action.from.as_ref(), action.to.as_ref())
        );
        for step in steps {
            let label = ScriptLabel(step);
            let shape = if step.destructive || step.irreversible {
                ("{{", "}}")
            } else {
                ("[", "]")
            };
            let _ = writeln!(
                out,
                "    {}{}\"{label}\"{}",
                ids[&*step.id], shape.0, shape.1
            );
        }
        let _ = writeln!(out, "  end");
    }
    for step in &plan.steps {
        for dependency in &step.depends_on {
            if let Some(from) = ids.get(&**dependency) {
                let _ = writeln!(out, "  {from} --> {}", ids[&*step.id]);
            }
        }
    }
    out
}

/// A Graphviz DOT drawing of the forward steps.
pub fn dot(plan: &Plan) -> String {
    let mut out = String::from(
        "digraph plan {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    let by_package = steps_by_package(plan);
    for (index, (name, steps)) in by_package.iter().enumerate() {
        let action = &plan.actions[*name];
        let _ = writeln!(out, "  subgraph cluster_{index} {{");
        let _ = writeln!(
            out,
            "    label=\"{name}: {} {}\";",
            action.action,
            versions(action.from.as_ref(), action.to.as_ref())
        );
        for step in steps {
            let style = if step.destructive || step.irreversible {
                ", color=red"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "    \"{}\" [label=\"{}\"{style}];",
                step.id,
                ScriptLabel(step)
            );
        }
        let _ = writeln!(out, "  }}");
    }
    for step in &plan.steps {
        for dependency in &step.depends_on {
            let _ = writeln!(out, "  \"{dependency}\" -> \"{}\";", step.id);
        }
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QA: `--target-label $'prod\e]0;pwned\a\e[2J'` reached the terminal of whoever ran
    /// `dbpm show` on the plan: a new window title and a cleared screen.
    #[test]
    fn a_terminal_gets_no_control_characters_from_a_plan() {
        assert_eq!(printable("prod"), "prod");
        assert_eq!(
            printable("prod\u{1b}]0;pwned\u{7}\u{1b}[2J\nx"),
            "prod\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\nx"
        );
    }

    #[test]
    fn a_fence_outlasts_every_run_of_backticks() {
        assert_eq!(fence_for("SELECT 1;"), "```");
        assert_eq!(fence_for("a\n```\nb"), "````");
        assert_eq!(fence_for("`````` inline"), "```````");
    }

    #[test]
    fn a_code_span_holds_backticks_pipes_and_line_breaks() {
        assert_eq!(code("core"), "`core`");
        assert_eq!(code("a``b"), "```a``b```");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(code("a\nb"), "`a\\nb`");
        assert_eq!(cell(&code("a|b")), "`a\\|b`");
    }

    #[test]
    fn a_reason_keeps_its_code_and_escapes_the_rest() {
        assert_eq!(
            prose("installed, and `--prune` is on"),
            "installed, and `--prune` is on"
        );
        assert_eq!(prose("<!-- `a|b` [x]"), "\\<\\!-- `a\\|b` \\[x\\]");
        assert_eq!(prose("odd ` one"), "odd \\` one");
    }

    #[test]
    fn html_text_is_escaped() {
        assert_eq!(html("<b>&\"\n"), "&lt;b&gt;&amp;&quot;\\n");
    }
}
