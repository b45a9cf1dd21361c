//! A temporary file of records, written once in order and then read in
//! order or by position: what lets a large suite's cases and results live
//! on disk instead of in memory ([`super::cases`], and the sequential
//! gate's plan, which reads its cases in a shuffled order).
//!
//! A record is its length (4 bytes, little-endian) and then its JSON; the
//! file is anonymous (`tempfile::tempfile`), so nothing else can see it and
//! it is gone when the last handle is.

use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Records being written to a new temporary file.
pub struct RecordWriter<T> {
    out: BufWriter<std::fs::File>,
    /// The record being written, reused from record to record.
    record: Vec<u8>,
    /// Where each record starts (8 bytes a record).
    offsets: Vec<u64>,
    end: u64,
    kind: PhantomData<fn(&T)>,
}

impl<T: Serialize> RecordWriter<T> {
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            out: BufWriter::with_capacity(64 * 1024, tempfile::tempfile()?),
            record: Vec::new(),
            offsets: Vec::new(),
            end: 0,
            kind: PhantomData,
        })
    }

    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Appends one record.
    pub fn write(&mut self, item: &T) -> io::Result<()> {
        self.record.clear();
        serde_json::to_writer(&mut self.record, item)?;
        let len = u32::try_from(self.record.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "a record over 4 GB"))?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&self.record)?;
        self.offsets.push(self.end);
        self.end += 4 + u64::from(len);
        Ok(())
    }

    /// The file, written through and ready to read.
    pub fn finish(self) -> io::Result<RecordFile<T>> {
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        Ok(RecordFile {
            file: Arc::new(Mutex::new(file)),
            offsets: self.offsets,
            kind: PhantomData,
        })
    }
}

/// A finished file of records. Readers seek before they read, so any
/// number of them share the one handle.
pub struct RecordFile<T> {
    file: Arc<Mutex<std::fs::File>>,
    offsets: Vec<u64>,
    kind: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> RecordFile<T> {
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// The record at `index` (`None` past the end).
    pub fn get(&self, index: usize) -> Option<io::Result<T>> {
        let offset = *self.offsets.get(index)?;
        let mut reader = SharedReader {
            file: self.file.clone(),
            offset,
        };
        Some(read_record(&mut reader, &mut Vec::new()))
    }

    /// Every record in order, through a buffer of its own.
    pub fn iter(&self) -> Records<T> {
        Records {
            reader: BufReader::with_capacity(
                64 * 1024,
                SharedReader {
                    file: self.file.clone(),
                    offset: 0,
                },
            ),
            record: Vec::new(),
            left: self.offsets.len(),
            kind: PhantomData,
        }
    }
}

/// The records of a [`RecordFile`], in order.
pub struct Records<T> {
    reader: BufReader<SharedReader>,
    /// The record being read, reused from record to record.
    record: Vec<u8>,
    left: usize,
    kind: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Iterator for Records<T> {
    type Item = io::Result<T>;

    fn next(&mut self) -> Option<io::Result<T>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        Some(read_record(&mut self.reader, &mut self.record))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<T: DeserializeOwned> ExactSizeIterator for Records<T> {}

/// One record: its length, then its JSON, parsed from a slice (several
/// times faster than from a reader).
fn read_record<T: DeserializeOwned>(reader: &mut impl Read, record: &mut Vec<u8>) -> io::Result<T> {
    let mut len = [0; 4];
    reader.read_exact(&mut len)?;
    record.resize(u32::from_le_bytes(len) as usize, 0);
    reader.read_exact(record)?;
    Ok(serde_json::from_slice(record)?)
}

/// Reads the shared file from a position of its own.
struct SharedReader {
    file: Arc<Mutex<std::fs::File>>,
    offset: u64,
}

impl Read for SharedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.seek(SeekFrom::Start(self.offset))?;
        let read = file.read(buf)?;
        self.offset += read as u64;
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Records read back in order and by position are the ones written.
        #[test]
        fn records_read_back_as_written(
            given in prop::collection::vec(".{0,30}", 0..60),
            picks in prop::collection::vec(0usize..80, 0..20),
        ) {
            let mut writer = RecordWriter::new().unwrap();
            for item in &given {
                writer.write(item).unwrap();
            }
            prop_assert_eq!(writer.len(), given.len());
            let file: RecordFile<String> = writer.finish().unwrap();
            let read: Vec<String> = file.iter().map(Result::unwrap).collect();
            prop_assert_eq!(&read, &given);
            for pick in picks {
                let got = file.get(pick).map(Result::unwrap);
                prop_assert_eq!(got.as_ref(), given.get(pick));
            }
        }
    }
}
