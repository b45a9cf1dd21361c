//! The cases of a result. A small suite's stay in memory; past
//! [`SPILL_AFTER`] cases they move to a temporary file of their own and are
//! read back one at a time, so a million-case result costs a file, not
//! memory. Either way the list reads the same: its length, and its cases in
//! order ([`Cases::iter`]).
//!
//! The file is a [`RecordFile`]: with [`super::records`], the one place
//! layer 0 does I/O of its own (an anonymous temporary file that nothing
//! else can see, written once, then only read).

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::sync::{Arc, OnceLock};

use serde::de::{SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::records::{RecordFile, RecordWriter, Records};
use super::result::{CaseResult, ResultTotals};

/// Cases kept in memory before a list moves to a temporary file. Every
/// ordinary suite stays below it; tests of the file choose their own
/// ([`CasesBuilder::spilling_after`]).
pub const SPILL_AFTER: usize = 4_096;

/// A result's cases, in the order they were evaluated.
#[derive(Clone)]
pub struct Cases(Repr);

#[derive(Clone)]
enum Repr {
    Memory(Vec<CaseResult>),
    /// Written once by a [`CasesBuilder`]; shared read-only by clones.
    File(Arc<CaseFile>),
}

impl Default for Cases {
    fn default() -> Self {
        Self(Repr::Memory(Vec::new()))
    }
}

impl Cases {
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Memory(cases) => cases.len(),
            Repr::File(file) => file.records.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the cases live in a temporary file.
    pub fn on_disk(&self) -> bool {
        matches!(self.0, Repr::File(_))
    }

    /// The cases in order: borrowed from memory, or read back from the file.
    ///
    /// # Panics
    /// When the temporary file cannot be read back (the disk failed under
    /// the run): a result must never be reported or stored with cases
    /// silently missing.
    pub fn iter(&self) -> Iter<'_> {
        match &self.0 {
            Repr::Memory(cases) => Iter::Memory(cases.iter()),
            Repr::File(file) => Iter::File(file.records.iter()),
        }
    }

    /// The case at `index`, borrowed from memory or read from the file.
    ///
    /// # Panics
    /// As [`Cases::iter`].
    pub fn get(&self, index: usize) -> Option<Cow<'_, CaseResult>> {
        match &self.0 {
            Repr::Memory(cases) => cases.get(index).map(Cow::Borrowed),
            Repr::File(file) => file
                .records
                .get(index)
                .map(|read| Cow::Owned(read.unwrap_or_else(|e| unreadable(e)))),
        }
    }

    /// The list's totals: counted for a list in memory, counted once and
    /// remembered for a list in its file (which never changes).
    pub fn totals(&self) -> Cow<'_, ResultTotals> {
        let count = || {
            let mut totals = ResultTotals::default();
            self.iter().for_each(|case| totals.add(&case));
            totals
        };
        match &self.0 {
            Repr::Memory(_) => Cow::Owned(count()),
            Repr::File(file) => Cow::Borrowed(file.totals.get_or_init(count)),
        }
    }

    /// Every case, in memory (for tests and small suites).
    pub fn to_vec(&self) -> Vec<CaseResult> {
        self.iter().map(Cow::into_owned).collect()
    }

    /// The cases to change, in memory: a list in a file is read into
    /// memory first (for tests and small suites, as [`Cases::to_vec`]).
    pub fn make_mut(&mut self) -> &mut Vec<CaseResult> {
        if let Repr::File(_) = self.0 {
            self.0 = Repr::Memory(self.to_vec());
        }
        match &mut self.0 {
            Repr::Memory(cases) => cases,
            Repr::File(_) => unreachable!("read into memory above"),
        }
    }
}

/// Builds a [`Cases`] a case at a time, moving it to its temporary file
/// when it grows past its limit.
pub struct CasesBuilder {
    memory: Vec<CaseResult>,
    file: Option<RecordWriter<CaseResult>>,
    spill_after: usize,
}

impl Default for CasesBuilder {
    fn default() -> Self {
        Self::spilling_after(SPILL_AFTER)
    }
}

impl CasesBuilder {
    /// A builder that moves its cases to a file past `cases` in memory.
    pub fn spilling_after(cases: usize) -> Self {
        Self {
            memory: Vec::new(),
            file: None,
            spill_after: cases,
        }
    }

    pub fn len(&self) -> usize {
        self.file
            .as_ref()
            .map_or(self.memory.len(), RecordWriter::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a case. Fails only when the temporary file cannot be written.
    pub fn push(&mut self, case: CaseResult) -> io::Result<()> {
        if let Some(file) = &mut self.file {
            return file.write(&case);
        }
        if self.memory.len() < self.spill_after {
            self.memory.push(case);
            return Ok(());
        }
        let mut file = RecordWriter::new()?;
        for held in self.memory.drain(..).chain([case]) {
            file.write(&held)?;
        }
        self.file = Some(file);
        Ok(())
    }

    /// The list, readable.
    pub fn finish(self) -> io::Result<Cases> {
        Ok(Cases(match self.file {
            Some(file) => Repr::File(Arc::new(CaseFile {
                records: file.finish()?,
                totals: OnceLock::new(),
            })),
            None => Repr::Memory(self.memory),
        }))
    }

    /// A list of `cases` as they come.
    pub fn collect(mut self, cases: impl IntoIterator<Item = CaseResult>) -> io::Result<Cases> {
        for case in cases {
            self.push(case)?;
        }
        self.finish()
    }
}

impl From<Vec<CaseResult>> for Cases {
    /// The cases as given, in memory however many they are.
    fn from(cases: Vec<CaseResult>) -> Self {
        Self(Repr::Memory(cases))
    }
}

impl FromIterator<CaseResult> for Cases {
    /// The cases, in memory however many they are (see [`CasesBuilder`]).
    fn from_iter<I: IntoIterator<Item = CaseResult>>(cases: I) -> Self {
        Self(Repr::Memory(cases.into_iter().collect()))
    }
}

impl<'a> IntoIterator for &'a Cases {
    type Item = Cow<'a, CaseResult>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// The cases of a [`Cases`], in order.
pub enum Iter<'a> {
    Memory(std::slice::Iter<'a, CaseResult>),
    File(Records<CaseResult>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = Cow<'a, CaseResult>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Memory(cases) => cases.next().map(Cow::Borrowed),
            Iter::File(records) => records
                .next()
                .map(|read| Cow::Owned(read.unwrap_or_else(|e| unreadable(e)))),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.len();
        (left, Some(left))
    }
}

impl ExactSizeIterator for Iter<'_> {
    fn len(&self) -> usize {
        match self {
            Iter::Memory(cases) => cases.len(),
            Iter::File(records) => records.len(),
        }
    }
}

impl fmt::Debug for Cases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Memory(cases) => f.debug_list().entries(cases).finish(),
            Repr::File(_) => write!(f, "Cases({} in a temporary file)", self.len()),
        }
    }
}

impl PartialEq for Cases {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

impl Serialize for Cases {
    /// A JSON array, written a case at a time.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for case in self {
            seq.serialize_element(case.as_ref())?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Cases {
    /// Read a case at a time, so a large stored result moves to its file as
    /// it is read instead of being held whole first.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CasesVisitor;

        impl<'de> Visitor<'de> for CasesVisitor {
            type Value = Cases;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of case results")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Cases, A::Error> {
                use serde::de::Error;
                let mut cases = CasesBuilder::default();
                while let Some(case) = seq.next_element::<CaseResult>()? {
                    cases.push(case).map_err(A::Error::custom)?;
                }
                cases.finish().map_err(A::Error::custom)
            }
        }

        deserializer.deserialize_seq(CasesVisitor)
    }
}

/// A finished temporary file of cases, and what was counted of them.
struct CaseFile {
    records: RecordFile<CaseResult>,
    totals: OnceLock<ResultTotals>,
}

/// Why a case cannot be read back: a result must never be reported or
/// stored with cases silently missing.
fn unreadable(error: io::Error) -> ! {
    panic!(
        "promptgate could not read back this run's case results from its temporary file: {error}"
    )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::types::{CallOutcome, CriterionScore, RepeatResult, Score, Usage};

    fn case(id: &str, reply: Result<String, String>, score: f64) -> CaseResult {
        let mut vars = serde_json::Map::new();
        vars.insert("question".into(), serde_json::json!(format!("about {id}")));
        CaseResult {
            case_id: id.to_owned(),
            vars,
            repeats: vec![RepeatResult {
                call: CallOutcome {
                    result: reply,
                    usage: Usage::default(),
                    latency_ms: 3,
                    cost_usd: None,
                    cached: false,
                },
                scores: vec![CriterionScore {
                    score: Ok(Score::pass_fail(score > 0.5, "because")),
                }],
            }],
        }
    }

    fn cases() -> impl Strategy<Value = Vec<CaseResult>> {
        prop::collection::vec(
            (
                "[a-z0-9:#]{1,8}",
                prop::result::maybe_ok(".{0,40}", ".{0,10}"),
                0.0..1.0,
            )
                .prop_map(|(id, reply, score)| case(&id, reply, score)),
            0..40,
        )
    }

    proptest! {
        /// However early a list moves to its file, it reads, compares and
        /// serializes exactly as the cases it was given, and reads back the
        /// same from a stored result.
        #[test]
        fn a_list_in_its_file_is_the_list_it_was_given(
            given in cases(),
            spill_after in 0usize..50,
        ) {
            let list = CasesBuilder::spilling_after(spill_after)
                .collect(given.clone())
                .unwrap();
            prop_assert_eq!(list.on_disk(), given.len() > spill_after);
            prop_assert_eq!(list.len(), given.len());
            prop_assert_eq!(list.iter().len(), given.len());
            prop_assert_eq!(list.to_vec(), given.clone());
            for (index, expected) in given.iter().enumerate().rev() {
                let got = list.get(index);
                prop_assert_eq!(got.as_deref(), Some(expected));
            }
            prop_assert!(list.get(given.len()).is_none());
            // Two readers at once each read from their own position.
            let mut first = list.iter();
            let mut second = list.iter();
            for expected in &given {
                let (a, b) = (first.next(), second.next());
                prop_assert_eq!(a.as_deref(), Some(expected));
                prop_assert_eq!(b.as_deref(), Some(expected));
            }
            prop_assert!(first.next().is_none());
            let in_memory = Cases::from(given.clone());
            prop_assert_eq!(&list, &in_memory);
            // Totals are the same however the list is kept, asked twice.
            let passing = given
                .iter()
                .filter(|case| {
                    case.repeats.iter().all(|r| {
                        r.call.result.is_ok()
                            && r.scores.iter().all(|s| s.score.as_ref().is_ok_and(|s| s.value > 0.0))
                    })
                })
                .count();
            for _ in 0..2 {
                let totals = list.totals();
                prop_assert_eq!(&*totals, &*in_memory.totals());
                prop_assert_eq!(totals.passing_every_criterion, passing);
                prop_assert_eq!(
                    totals.failed_calls,
                    given.iter().filter(|c| c.repeats[0].call.result.is_err()).count()
                );
            }
            let written = serde_json::to_string(&list).unwrap();
            prop_assert_eq!(&written, &serde_json::to_string(&given).unwrap());
            let read: Cases = serde_json::from_str(&written).unwrap();
            prop_assert_eq!(read.on_disk(), given.len() > SPILL_AFTER);
            prop_assert_eq!(read, in_memory);
        }
    }

    #[test]
    fn a_stored_list_larger_than_memory_holds_moves_to_its_file_as_it_is_read() {
        let given: Vec<CaseResult> = (0..SPILL_AFTER + 3)
            .map(|i| case(&i.to_string(), Ok(format!("reply {i}")), 1.0))
            .collect();
        let read: Cases = serde_json::from_str(&serde_json::to_string(&given).unwrap()).unwrap();
        assert!(read.on_disk());
        assert_eq!(read.len(), given.len());
        assert_eq!(read.to_vec(), given);
        let mut copy = read.clone();
        copy.make_mut()[0].case_id = "changed".into();
        assert_eq!(
            read.to_vec()[0].case_id,
            "0",
            "a clone's change stays its own"
        );
    }
}
