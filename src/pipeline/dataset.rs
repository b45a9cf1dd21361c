//! The dataset stage: a prompt's cases, from its inline `testData` and its
//! dataset file (JSONL, CSV, YAML).
//!
//! Dataset files hold one case per JSONL line, CSV row or YAML list item.
//! Every key (CSV: column) is a template variable; the expectation columns
//! (`id`, `expected`, `keywords`, `regex`, `schema`) are read by
//! [`Expectations::read`], the same reader inline `testData` goes through.
//! Without an `id`, a case is named `<file name>:<line>`.
//!
//! Errors name the file and the line (for CSV the line the row starts on)
//! and are collected, not stopped at the first. JSONL and CSV are streamed
//! ([`stream_jsonl`], [`stream_csv`]): a large file is never held as one
//! string. YAML is parsed whole (its structure needs the whole document).

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, Read};

use serde_json::{Map, Value};

use crate::pipeline::spec::yaml;
use crate::types::case::kind_of;
use crate::types::{
    Case, CaseSource, Diagnostic, Diagnostics, Expectations, PromptSpec, RepoFiles, RepoPath,
};

/// Longest piece of an offending line quoted under a diagnostic.
const MAX_QUOTED: usize = 200;

/// The dataset formats, chosen by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetFormat {
    /// `.jsonl`, `.ndjson`
    Jsonl,
    /// `.csv`
    Csv,
    /// `.yaml`, `.yml`
    Yaml,
}

impl DatasetFormat {
    pub fn from_path(path: &RepoPath) -> Option<Self> {
        let extension = path.0.rsplit_once('.')?.1.to_ascii_lowercase();
        match extension.as_str() {
            "jsonl" | "ndjson" => Some(Self::Jsonl),
            "csv" => Some(Self::Csv),
            "yaml" | "yml" => Some(Self::Yaml),
            _ => None,
        }
    }
}

/// The cases of a stream, in order, one at a time.
pub type CaseStream<'a> = Box<dyn Iterator<Item = Result<Case, Diagnostic>> + Send + 'a>;

/// A prompt's cases: its inline `testData`, then its `dataset` file's.
/// Ids must be unique across both (the gate pairs cases by id).
pub fn cases_of(spec: &PromptSpec, files: &dyn RepoFiles) -> Result<Vec<Case>, Diagnostics> {
    collect(stream_cases_of(spec, files)?)
}

/// [`cases_of`] as a stream: a dataset file (JSONL, CSV) is read as the
/// cases are used, so a million cases are never held at once. Duplicate ids
/// are errors in the stream, where the second use is.
pub fn stream_cases_of<'a>(
    spec: &'a PromptSpec,
    files: &dyn RepoFiles,
) -> Result<CaseStream<'a>, Diagnostics> {
    stream_cases_with(spec, files, Ids::Check)
}

/// Whether a reading of a dataset checks that its ids are unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ids {
    Check,
    /// An earlier reading of the same cases checked them: a reading that
    /// is then compared with that one (by a hash of every case, ids
    /// included) needs no table of every id, the largest thing a reading
    /// of a large dataset holds.
    Checked,
}

/// [`stream_cases_of`], checking the dataset's ids only when `ids` says.
pub fn stream_cases_with<'a>(
    spec: &'a PromptSpec,
    files: &dyn RepoFiles,
    ids: Ids,
) -> Result<CaseStream<'a>, Diagnostics> {
    let dataset = match &spec.dataset {
        Some(dataset) => Some(open_cases_with(files, dataset, ids)?),
        None => None,
    };
    // Dataset ids are unique within their file (its `CaseBuilder`); what
    // is left to check is each id against the inline cases, which are few.
    let mut inline = std::collections::HashSet::new();
    let twice = move |case: &Case| {
        Diagnostic::error(
            case.source.file.clone(),
            case.source.line,
            0,
            format!(
                "case id `{}` is used twice in prompt `{}` (testData and dataset ids must be unique)",
                case.id, spec.name
            ),
        )
    };
    let inline_cases: Vec<Result<Case, Diagnostic>> = spec
        .test_data
        .iter()
        .map(|case| {
            if inline.insert(case.id.clone()) {
                Ok(case.clone())
            } else {
                Err(twice(case))
            }
        })
        .collect();
    let from_file = dataset.into_iter().flatten().map(move |case| match case {
        Ok(case) if inline.contains(&case.id) => Err(twice(&case)),
        other => other,
    });
    Ok(Box::new(inline_cases.into_iter().chain(from_file)))
}

/// Reads every case of a dataset file. All problems are collected; an `Err`
/// holds at least one error.
pub fn load_cases(files: &dyn RepoFiles, path: &RepoPath) -> Result<Vec<Case>, Diagnostics> {
    collect(open_cases(files, path)?)
}

/// The cases of a dataset file as a stream (JSONL and CSV read as they are
/// used; YAML parsed whole). A file that cannot be opened is an `Err`.
pub fn open_cases(
    files: &dyn RepoFiles,
    path: &RepoPath,
) -> Result<CaseStream<'static>, Diagnostics> {
    open_cases_with(files, path, Ids::Check)
}

/// [`open_cases`], checking ids only when `ids` says (a YAML dataset,
/// parsed whole, is always checked).
fn open_cases_with(
    files: &dyn RepoFiles,
    path: &RepoPath,
    ids: Ids,
) -> Result<CaseStream<'static>, Diagnostics> {
    let whole_file =
        |message: String| Diagnostics(vec![Diagnostic::error(path.clone(), 0, 0, message)]);
    let Some(format) = DatasetFormat::from_path(path) else {
        return Err(whole_file(
            "unsupported dataset format: name the file `.jsonl`, `.csv`, `.yaml` or `.yml`"
                .to_owned(),
        ));
    };
    let missing = || {
        whole_file(format!(
            "dataset file not found in the {}; check the `dataset` path (relative to the \
             repository root)",
            files.describe()
        ))
    };
    match format {
        DatasetFormat::Jsonl => {
            let reader = files
                .open(path)
                .map_err(|e| whole_file(e.to_string()))?
                .ok_or_else(missing)?;
            let mut cases = stream_jsonl(reader, path);
            cases.builder.ids = ids;
            Ok(Box::new(cases))
        }
        DatasetFormat::Csv => {
            let reader = files
                .open(path)
                .map_err(|e| whole_file(e.to_string()))?
                .ok_or_else(missing)?;
            let mut cases = stream_csv(reader, path);
            cases.builder.ids = ids;
            Ok(Box::new(cases))
        }
        DatasetFormat::Yaml => {
            let bytes = files
                .read(path)
                .map_err(|e| whole_file(e.to_string()))?
                .ok_or_else(missing)?;
            match String::from_utf8(bytes) {
                Ok(text) => Ok(Box::new(
                    parse_yaml(&text, path)?
                        .into_iter()
                        .map(Ok::<Case, Diagnostic>),
                )),
                Err(error) => Err(whole_file(format!(
                    "not valid UTF-8 (byte {}); save the file as UTF-8",
                    error.utf8_error().valid_up_to()
                ))),
            }
        }
    }
}

fn collect(
    cases: impl Iterator<Item = Result<Case, Diagnostic>>,
) -> Result<Vec<Case>, Diagnostics> {
    let mut ok = Vec::new();
    let mut problems = Vec::new();
    for case in cases {
        match case {
            Ok(case) => ok.push(case),
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        Ok(ok)
    } else {
        Err(Diagnostics(problems))
    }
}

/// Builds cases from variable maps: reads the expectation keys, assigns ids
/// and rejects duplicate ids. One per file.
#[derive(Debug)]
pub struct CaseBuilder {
    file: RepoPath,
    /// The last path component, used in position-derived ids.
    file_name: String,
    /// Id (as a 96-bit digest, so a million ids take 16 bytes each with
    /// their line, not a string each) → line of the case that first used
    /// it. Two different ids share a digest with odds of about 10⁻¹⁷ at a
    /// million cases.
    seen: HashMap<[u32; 3], u32>,
    /// Whether `seen` is kept at all.
    ids: Ids,
}

/// 96 bits of two independent SipHash digests of an id.
fn id_digest(id: &str) -> [u32; 3] {
    use std::hash::{Hash, Hasher};
    // Compared only within one run, so the default hasher's fixed keys do.
    let half = |salt: u8| {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        salt.hash(&mut hasher);
        id.hash(&mut hasher);
        hasher.finish()
    };
    let (a, b) = (half(1), half(2));
    [a as u32, (a >> 32) as u32, b as u32]
}

impl CaseBuilder {
    pub fn new(file: &RepoPath) -> Self {
        let file_name = file.0.rsplit('/').next().unwrap_or(&file.0).to_owned();
        Self {
            file: file.clone(),
            file_name,
            seen: HashMap::new(),
            ids: Ids::Check,
        }
    }

    /// One case from its variables, found at `line`. `default_id` overrides
    /// the `<file name>:<line>` id used when there is no `id` key.
    pub fn build(
        &mut self,
        vars: Map<String, Value>,
        line: u32,
        default_id: Option<String>,
    ) -> Result<Case, Diagnostic> {
        let error = |message: String| Diagnostic::error(self.file.clone(), line, 0, message);
        let expectations = Expectations::read(&vars).map_err(|problem| error(problem.message))?;
        let id = expectations
            .id
            .unwrap_or_else(|| default_id.unwrap_or_else(|| format!("{}:{line}", self.file_name)));
        if self.ids == Ids::Check {
            match self.seen.entry(id_digest(&id)) {
                std::collections::hash_map::Entry::Occupied(first) => {
                    return Err(error(format!(
                        "duplicate case id `{id}` (first used on line {}); ids must be unique",
                        first.get()
                    )));
                }
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(line);
                }
            }
        }
        Ok(Case {
            id,
            vars,
            expected: expectations.expected,
            keywords: expectations.keywords,
            regex: expectations.regex,
            schema: expectations.schema,
            source: CaseSource {
                file: self.file.clone(),
                line,
            },
        })
    }
}

fn quote(line: &str) -> String {
    match line.char_indices().nth(MAX_QUOTED) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

fn line_number(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Cases of a JSONL file, one object per line, read line by line.
pub fn stream_jsonl<R: BufRead>(reader: R, file: &RepoPath) -> JsonlCases<R> {
    JsonlCases {
        reader,
        builder: CaseBuilder::new(file),
        buffer: Vec::new(),
        line: 0,
        done: false,
    }
}

/// The iterator [`stream_jsonl`] returns.
pub struct JsonlCases<R> {
    reader: R,
    builder: CaseBuilder,
    buffer: Vec<u8>,
    line: u32,
    done: bool,
}

impl<R: BufRead> Iterator for JsonlCases<R> {
    type Item = Result<Case, Diagnostic>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.buffer.clear();
            let read = self.reader.read_until(b'\n', &mut self.buffer);
            self.line = self.line.saturating_add(1);
            let line = self.line;
            let file = self.builder.file.clone();
            let file = &file;
            match read {
                Ok(0) => self.done = true,
                Err(problem) => {
                    self.done = true;
                    return Some(Err(Diagnostic::error(
                        file.clone(),
                        line,
                        0,
                        format!("cannot read the file: {problem}"),
                    )));
                }
                Ok(_) => {
                    let mut bytes = self.buffer.as_slice();
                    if line == 1 {
                        bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
                    }
                    let text = match std::str::from_utf8(bytes) {
                        Ok(text) => text,
                        Err(problem) => {
                            return Some(Err(Diagnostic::error(
                                file.clone(),
                                line,
                                line_number(problem.valid_up_to() as u64 + 1),
                                "not valid UTF-8; save the file as UTF-8",
                            )));
                        }
                    };
                    if text.trim().is_empty() {
                        continue;
                    }
                    let located = |column: u32, message: String| {
                        let mut d = Diagnostic::error(file.clone(), line, column, message);
                        d.source_line = Some(quote(text.trim_end_matches(['\r', '\n'])));
                        d
                    };
                    let case = match serde_json::from_str::<Value>(text) {
                        Ok(Value::Object(vars)) => self
                            .builder
                            .build(vars, line, None)
                            .map_err(|d| located(0, d.message)),
                        Ok(other) => Err(located(
                            0,
                            format!(
                                "each line must be one JSON object (`{{\"var\": …}}`), not {}",
                                kind_of(&other)
                            ),
                        )),
                        Err(problem) => Err(located(
                            line_number(problem.column() as u64),
                            format!("invalid JSON: {problem}"),
                        )),
                    };
                    return Some(case);
                }
            }
        }
        None
    }
}

/// Cases of a CSV file (RFC 4180; the header row names the variables),
/// read row by row. Every value is a string.
pub fn stream_csv<R: Read>(reader: R, file: &RepoPath) -> CsvCases<R> {
    let reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(LineCounter {
            inner: reader,
            offset: 0,
            breaks: VecDeque::new(),
            lines_before: 0,
        });
    CsvCases {
        reader,
        builder: CaseBuilder::new(file),
        header: None,
        record: csv::StringRecord::new(),
        last_error_at: None,
        done: false,
    }
}

/// The iterator [`stream_csv`] returns.
pub struct CsvCases<R> {
    reader: csv::Reader<LineCounter<R>>,
    builder: CaseBuilder,
    header: Option<Vec<String>>,
    record: csv::StringRecord,
    /// Byte offset of the last error, to stop if the reader cannot move on.
    last_error_at: Option<u64>,
    done: bool,
}

/// Counts lines under the CSV reader, whose own line numbers skip blank
/// lines (and whose row positions point at the blank lines before a row).
/// Only the line breaks the reader has buffered ahead are kept.
struct LineCounter<R> {
    inner: R,
    /// Bytes read so far.
    offset: u64,
    /// Offsets of `\r` and `\n` bytes not yet behind a row start, and
    /// whether each is a `\n`.
    breaks: VecDeque<(u64, bool)>,
    /// `\n`s before the last row start.
    lines_before: u64,
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for (i, byte) in buf[..n].iter().enumerate() {
            if matches!(byte, b'\n' | b'\r') {
                self.breaks
                    .push_back((self.offset + i as u64, *byte == b'\n'));
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

impl<R> LineCounter<R> {
    /// The 1-based line of the first byte at or after `offset` that is not a
    /// line break; offsets must not go back.
    fn line_at(&mut self, mut offset: u64) -> u32 {
        while let Some(&(at, newline)) = self.breaks.front() {
            if at > offset {
                break;
            }
            if at == offset {
                offset += 1;
            }
            self.lines_before += u64::from(newline);
            self.breaks.pop_front();
        }
        line_number(self.lines_before + 1)
    }
}

impl<R: Read> CsvCases<R> {
    fn row_error(&self, line: u32, message: String) -> Diagnostic {
        Diagnostic::error(self.builder.file.clone(), line, 0, message)
    }

    /// Reads and checks the header row; `Err` ends the stream.
    fn read_header(&mut self, line: u32) -> Result<(), Diagnostic> {
        let mut names: Vec<String> = Vec::new();
        for (index, name) in self.record.iter().enumerate() {
            let name = if index == 0 {
                name.trim_start_matches('\u{FEFF}')
            } else {
                name
            }
            .trim();
            if name.is_empty() {
                return Err(self.row_error(
                    line,
                    format!(
                        "header column {} has no name; the first row must name every column",
                        index + 1
                    ),
                ));
            }
            if names.iter().any(|seen| seen == name) {
                return Err(self.row_error(line, format!("header names the column `{name}` twice")));
            }
            names.push(name.to_owned());
        }
        self.header = Some(names);
        Ok(())
    }
}

impl<R: Read> Iterator for CsvCases<R> {
    type Item = Result<Case, Diagnostic>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.reader.read_record(&mut self.record) {
                Ok(false) => self.done = true,
                Err(problem) => {
                    let at = problem.position().map(csv::Position::byte);
                    let line = at.map_or(0, |byte| self.reader.get_mut().line_at(byte));
                    let stuck = at == self.last_error_at;
                    self.last_error_at = at;
                    if stuck || matches!(problem.kind(), csv::ErrorKind::Io(_)) || at.is_none() {
                        self.done = true;
                    }
                    if self.header.is_none() {
                        // Without a header no row can be read.
                        self.done = true;
                    }
                    let message = match problem.kind() {
                        csv::ErrorKind::Utf8 { .. } => {
                            "not valid UTF-8; save the file as UTF-8".to_owned()
                        }
                        _ => format!("cannot read the row: {problem}"),
                    };
                    return Some(Err(self.row_error(line, message)));
                }
                Ok(true) => {
                    let start = self.record.position().map(csv::Position::byte);
                    let line = start.map_or(0, |byte| self.reader.get_mut().line_at(byte));
                    let Some(header) = &self.header else {
                        if let Err(problem) = self.read_header(line) {
                            self.done = true;
                            return Some(Err(problem));
                        }
                        continue;
                    };
                    // A row with one empty field is a blank line.
                    if self.record.len() == 1 && self.record[0].trim().is_empty() {
                        continue;
                    }
                    if self.record.len() != header.len() {
                        return Some(Err(self.row_error(
                            line,
                            format!(
                                "this row has {} fields but the header has {}; quote fields \
                                 that contain commas (\"a, b\")",
                                self.record.len(),
                                header.len()
                            ),
                        )));
                    }
                    let vars: Map<String, Value> = header
                        .iter()
                        .zip(self.record.iter())
                        .map(|(name, value)| (name.clone(), Value::String(value.to_owned())))
                        .collect();
                    return Some(self.builder.build(vars, line, None));
                }
            }
        }
        None
    }
}

/// Cases of a YAML dataset: a list of maps. Read with the prompt files' YAML
/// reader ([`crate::pipeline::spec::yaml`]), which knows where every item sits.
pub fn parse_yaml(text: &str, file: &RepoPath) -> Result<Vec<Case>, Diagnostics> {
    let at = |pos: yaml::Pos, message: String| {
        Diagnostic::error(file.clone(), pos.line, pos.column, message).with_source(text)
    };
    let problem_at = |problem: yaml::YamlProblem| {
        let message = if problem.message.contains("one YAML document") {
            // The reader words this for prompt files.
            "a dataset holds one YAML document; remove the extra `---`".to_owned()
        } else if problem.fatal {
            problem.message
        } else {
            // A duplicate key: in a prompt file a warning, but a case
            // silently losing a value is worse than refusing the file.
            format!("{}; write each key of a case once", problem.message)
        };
        at(problem.pos, message)
    };
    let (mut document, warnings) = yaml::parse(text)
        .map_err(|problems| Diagnostics(problems.into_iter().map(problem_at).collect()))?;
    let mut problems: Vec<Diagnostic> = warnings.into_iter().map(problem_at).collect();
    let items = match std::mem::take(&mut document.value) {
        Value::Array(items) => items,
        Value::Null => return Ok(Vec::new()),
        _ => {
            return Err(Diagnostics(vec![at(
                document.pos(""),
                "a YAML dataset must be a list of cases (`- input: …`)".to_owned(),
            )]));
        }
    };
    let mut builder = CaseBuilder::new(file);
    let mut cases = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let pos = document.pos(&yaml::index("", i));
        let result = match item {
            Value::Object(vars) => builder
                .build(vars, pos.line, None)
                .map_err(|d| d.with_source(text)),
            other => Err(at(
                pos,
                format!(
                    "each list item must be a map of variables, not {}",
                    kind_of(&other)
                ),
            )),
        };
        match result {
            Ok(case) => cases.push(case),
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        Ok(cases)
    } else {
        Err(Diagnostics(problems))
    }
}
