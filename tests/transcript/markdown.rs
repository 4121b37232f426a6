//! Finding the console transcripts of the book, and writing fresh ones back.

use std::fs;
use std::path::{Path, PathBuf};

/// The chapters that `SUMMARY.md` links (draft entries, `[Title]()`, have no file yet).
pub fn chapters(book_src: &Path) -> Result<Vec<PathBuf>, String> {
    let summary_path = book_src.join("SUMMARY.md");
    let summary = fs::read_to_string(&summary_path)
        .map_err(|e| format!("cannot read {}: {e}", summary_path.display()))?;
    let mut chapters = Vec::new();
    for line in summary.lines() {
        let Some(start) = line.find("](") else {
            continue;
        };
        let target = &line[start + 2..];
        let Some(end) = target.find(')') else {
            continue;
        };
        let target = &target[..end];
        if !target.is_empty() {
            chapters.push(book_src.join(target));
        }
    }
    Ok(chapters)
}

/// What the first line of a console block asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `$ cargo run [--release] -q [--target WINDOWS] --example NAME -- ARGS`: run it and
    /// compare. With `--target x86_64-pc-windows-gnu`, the Windows build runs under Wine.
    Example {
        name: String,
        args: Vec<String>,
        release: bool,
        target: Option<String>,
    },
    /// `$ python3 python/NAME.py ARGS`: one of the book's Python programs, run with the
    /// `python3` on the PATH and compared; its words hold on every CPython. `$ python3.12
    /// python/NAME.py ARGS` names the one CPython whose words it shows, found on the PATH
    /// or through pyenv.
    Python {
        interpreter: Interpreter,
        script: String,
        args: Vec<String>,
    },
    /// `# not run: REASON`: shown to the reader as it is, with the reason.
    NotRun { reason: String },
}

/// The CPython a Python block runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Interpreter {
    /// `python3`: whichever the reader has (3.9 or later).
    Any,
    /// `python3.MINOR`: that version, whose words differ from other versions'.
    Minor(u32),
}

impl Interpreter {
    /// The command's first word: `python3`, `python3.12`.
    pub fn command(self) -> String {
        match self {
            Interpreter::Any => "python3".to_owned(),
            Interpreter::Minor(minor) => format!("python3.{minor}"),
        }
    }
}

/// What a block's run needs of the machine besides the book's own build, named in an
/// HTML comment on the line before its fence (`<!-- needs: python3, huge pages -->`),
/// which a reader of the rendered book does not see. Where it is missing, the block is
/// listed as ignored with what to install or set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// A `python3` on the PATH: the benchmark times CPython's pools with it.
    Python3,
    /// Transparent huge pages the program can ask for (`madvise` or `always`).
    HugePages,
    /// The machine to itself: the program times things, so it runs alone and metered, as
    /// a benchmark (a release build) always does.
    QuietMachine,
}

impl Need {
    fn parse(word: &str) -> Option<Need> {
        match word {
            "python3" => Some(Need::Python3),
            "huge pages" => Some(Need::HugePages),
            "a quiet machine" => Some(Need::QuietMachine),
            _ => None,
        }
    }
}

pub const NEEDS_MARKER: &str = "<!-- needs: ";

/// One ```console block of a chapter.
#[derive(Debug, Clone)]
pub struct Block {
    pub file: PathBuf,
    /// Line number (from 1) of the opening fence.
    pub line: usize,
    /// The command line as written, `$ …`.
    pub command_line: String,
    pub command: Command,
    /// Variables set on the command line before the command (`$ RUST_BACKTRACE=0 cargo
    /// run …`), added to the environment the run inherits.
    pub env: Vec<(String, String)>,
    /// What the run needs of the machine (`<!-- needs: … -->` before the fence).
    pub needs: Vec<Need>,
    /// Everything after the command line: what the run printed.
    pub expected: String,
    /// Index of the first and one past the last line of `expected` in the file.
    body: (usize, usize),
    /// What the block's lines start with in the file (a block in a list item is indented).
    indent: String,
}

impl Block {
    /// A short name for test listings: `module-scope.md:42 fork`.
    pub fn name(&self) -> String {
        let file = self.file.file_name().unwrap_or_default().to_string_lossy();
        let command = [RUN_PREFIX, RELEASE_RUN_PREFIX, "$ "]
            .iter()
            .find_map(|prefix| self.command_line.strip_prefix(prefix))
            .unwrap_or(&self.command_line);
        format!("{file}:{} {command}", self.line)
    }
}

pub const RUN_PREFIX: &str = "$ cargo run -q --example ";
pub const RELEASE_RUN_PREFIX: &str = "$ cargo run --release -q --example ";
/// The Windows target the book's programs are built for and run under Wine.
pub const WINDOWS_TARGET: &str = "x86_64-pc-windows-gnu";
pub const WINDOWS_RUN_PREFIX: &str =
    "$ cargo run -q --target x86_64-pc-windows-gnu --example ";
/// What a Python block's command line starts with: `$ python3`, then `.MINOR` or not, then
/// ` python/NAME.py`.
pub const PYTHON_PREFIX: &str = "$ python3";
pub const NOT_RUN_MARKER: &str = "# not run: ";

/// Every ```console block in `file`, found as mdBook finds it: with mdBook's Markdown
/// parser and its extensions (footnotes, tables, …), so a fence indented in a list item,
/// quoted, in a footnote, or longer than three backticks counts too. A block whose first
/// line is neither a runnable command nor the marker `# not run: REASON` is an error:
/// nothing is skipped without saying so.
pub fn console_blocks(file: &Path) -> Result<Vec<Block>, String> {
    use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag};
    let text = fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let lines: Vec<&str> = text.lines().collect();
    let line_of = |offset: usize| text[..offset].matches('\n').count();
    let mut blocks = Vec::new();
    // What mdBook turns on, and its optional definition lists and GitHub alerts too: a
    // block the book could show is never missed.
    let extensions = Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES
        | Options::ENABLE_DEFINITION_LIST
        | Options::ENABLE_GFM;
    for (event, range) in Parser::new_ext(&text, extensions).into_offset_iter() {
        let Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) = event else {
            continue;
        };
        // The language is the info string's first word, however it is separated.
        let language = info
            .split(|c: char| c == ',' || c.is_whitespace())
            .next()
            .unwrap_or_default();
        if language != "console" {
            continue;
        }
        let opening = line_of(range.start);
        let closing = line_of(range.end.saturating_sub(1).max(range.start));
        let fence = lines[opening];
        // What comes before the fence on its line, and on every line of the block: spaces
        // in a list item, `> ` in a quote.
        let indent = &fence[..fence.find(['`', '~']).unwrap_or(0)];
        let closing_fence = lines[closing]
            .strip_prefix(indent)
            .unwrap_or(lines[closing])
            .trim_start();
        if closing <= opening || !closing_fence.starts_with(['`', '~']) {
            return Err(format!(
                "{}:{}: unclosed console block",
                file.display(),
                opening + 1
            ));
        }
        let body: Vec<&str> = lines[opening + 1..closing]
            .iter()
            .map(|line| line.strip_prefix(indent).unwrap_or(line.trim_start()))
            .collect();
        let mut block = parse_block(file, opening + 1, &body, opening + 1)?;
        block.indent = indent.to_owned();
        block.needs =
            needs_before(&lines[..opening], indent, &file.display().to_string())?;
        blocks.push(block);
    }
    Ok(blocks)
}

fn parse_block(
    file: &Path,
    line: usize,
    body: &[&str],
    first: usize,
) -> Result<Block, String> {
    let place = format!("{}:{line}", file.display());
    let written = body.first().copied().unwrap_or_default();
    let (env, rest) = split_env(written);
    let unprefixed = format!("$ {rest}");
    let command_line = if env.is_empty() {
        written
    } else {
        unprefixed.as_str()
    };
    let command = if let Some(reason) = command_line.strip_prefix(NOT_RUN_MARKER) {
        Command::NotRun {
            reason: reason.trim().to_owned(),
        }
    } else if let Some((interpreter, rest)) = python_command(command_line) {
        let mut words = rest.split_whitespace().map(str::to_owned);
        let script = words.next().unwrap_or_default();
        Command::Python {
            interpreter,
            script,
            args: plain_words(&place, words.collect())?,
        }
    } else if let Some((rest, release, target)) = [
        (RUN_PREFIX, false, None),
        (RELEASE_RUN_PREFIX, true, None),
        (WINDOWS_RUN_PREFIX, false, Some(WINDOWS_TARGET)),
    ]
    .into_iter()
    .find_map(|(prefix, release, target)| {
        Some((command_line.strip_prefix(prefix)?, release, target))
    }) {
        let mut words = rest.split_whitespace();
        let name = words.next().unwrap_or_default().to_owned();
        let args: Vec<String> = match words.next() {
            None => Vec::new(),
            Some("--") => words.map(str::to_owned).collect(),
            Some(other) => {
                return Err(format!(
                    "{place}: expected `--` after the example name, found `{other}`"
                ));
            }
        };
        Command::Example {
            name,
            args: plain_words(&place, args)?,
            release,
            target: target.map(str::to_owned),
        }
    } else {
        return Err(format!(
            "{place}: a console block starts with `{RUN_PREFIX}NAME -- ARGS` or \
             `$ python3[.MINOR] python/NAME.py ARGS` (run and checked), or `{NOT_RUN_MARKER}REASON` \
             (shown unchecked); found `{command_line}`"
        ));
    };
    if let Command::Example { .. } | Command::Python { .. } = command
        && let Some(extra) = body[1..].iter().find(|l| l.starts_with("$ "))
    {
        return Err(format!(
            "{place}: one command per checked block; found also `{extra}`"
        ));
    }
    let expected: String = body.iter().skip(1).map(|l| format!("{l}\n")).collect();
    Ok(Block {
        file: file.to_owned(),
        line,
        command_line: written.to_owned(),
        command,
        env,
        needs: Vec::new(),
        expected,
        body: (first + 1.min(body.len()), first + body.len()),
        indent: String::new(),
    })
}

/// `$ python3 python/…` or `$ python3.12 python/…`: the interpreter, and the rest from
/// `python/`.
fn python_command(command_line: &str) -> Option<(Interpreter, &str)> {
    let rest = command_line.strip_prefix(PYTHON_PREFIX)?;
    let (name, rest) = rest.split_once(' ')?;
    let interpreter = match name {
        "" => Interpreter::Any,
        minor => Interpreter::Minor(minor.strip_prefix('.')?.parse().ok()?),
    };
    rest.starts_with("python/").then_some((interpreter, rest))
}

/// The needs named on the line before a fence (`<!-- needs: python3, huge pages -->`).
fn needs_before(lines: &[&str], indent: &str, file: &str) -> Result<Vec<Need>, String> {
    let Some(comment) = lines
        .last()
        .map(|line| line.strip_prefix(indent).unwrap_or(line).trim())
        .and_then(|line| line.strip_prefix(NEEDS_MARKER))
    else {
        return Ok(Vec::new());
    };
    let place = format!("{file}:{}", lines.len());
    let Some(list) = comment.strip_suffix("-->") else {
        return Err(format!(
            "{place}: `{NEEDS_MARKER}…` ends with `-->` on its line"
        ));
    };
    list.split(',')
        .map(str::trim)
        .map(|word| {
            Need::parse(word).ok_or_else(|| {
                format!("{place}: unknown need `{word}` (known: python3, huge pages, a quiet machine)")
            })
        })
        .collect()
}

/// The `NAME=value` words in front of a command, and the rest of the line.
fn split_env(line: &str) -> (Vec<(String, String)>, &str) {
    let mut env = Vec::new();
    let mut rest = line.strip_prefix("$ ").unwrap_or(line);
    while let Some((word, after)) = rest.split_once(' ')
        && let Some((name, value)) = word.split_once('=')
        && !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    {
        env.push((name.to_owned(), value.to_owned()));
        rest = after;
    }
    (env, rest)
}

/// Arguments are split on spaces and passed as they are: no shell syntax.
fn plain_words(place: &str, args: Vec<String>) -> Result<Vec<String>, String> {
    if args
        .iter()
        .any(|a| a.contains(['"', '\'', '$', '|', ';', '>', '<']))
    {
        return Err(format!(
            "{place}: arguments are split on spaces only; no shell syntax"
        ));
    }
    Ok(args)
}

/// Replaces the expected output of `blocks` (all from one file) with fresh outputs.
pub fn rewrite(file: &Path, replacements: &[(&Block, String)]) -> Result<(), String> {
    let text = fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut ordered: Vec<&(&Block, String)> = replacements.iter().collect();
    ordered.sort_by_key(|(block, _)| std::cmp::Reverse(block.body.0));
    for (block, output) in ordered {
        let (start, end) = block.body;
        let indented = output.lines().map(|line| format!("{}{line}", block.indent));
        lines.splice(start..end, indented);
    }
    let mut rewritten = lines.join("\n");
    rewritten.push('\n');
    fs::write(file, rewritten)
        .map_err(|e| format!("cannot write {}: {e}", file.display()))
}

/// The widest transcript line, in characters, that the book's prose column shows whole at a
/// window 1280 px wide with the sidebar open. The theme (`theme/transcript.css`) gives
/// transcripts more room where the browser can (120 characters there, as the browser check in
/// `tests/browser/` measures), but a line is written to fit without it: in print, in a reader
/// with the theme's widening off, and in a narrower window.
pub const BOOK_WIDTH: usize = 94;

/// The lines of `text` longer than `width` characters: their numbers (from 1) and lengths.
pub fn overwide_lines(text: &str, width: usize) -> Vec<(usize, usize)> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.chars().count()))
        .filter(|&(_, length)| length > width)
        .collect()
}
