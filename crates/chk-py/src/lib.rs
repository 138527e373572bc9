//! Python bindings of the compact Cuckoo Heavy Keeper: a `CuckooHeavyKeeper` class with the
//! method names of the `heavykeeper` package where they apply (`add`, `add_bulk`, `query`,
//! `count`, `list`, `get_topk`), over keys of `str`, `bytes` and `int`, sized by a memory
//! budget in bytes. Converting keys is all this file does; the sketch is the crate's.

use chk::CompactHeavyKeeper;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyInt, PyString};

/// What a key was in Python: the kinds hash apart, so `1`, `"1"` and `b"1"` are three keys.
#[derive(Clone, Copy)]
#[repr(u8)]
enum Kind {
    Int = 0,
    Wide = 1,
    Str = 2,
    Bytes = 3,
}

impl Kind {
    fn of(byte: u8) -> Kind {
        match byte & 3 {
            0 => Kind::Int,
            1 => Kind::Wide,
            2 => Kind::Str,
            _ => Kind::Bytes,
        }
    }
}

/// The most bytes a key keeps inline.
const INLINE: usize = 14;

/// A key as Python gave it, in 16 bytes: its kind and up to 14 bytes of content inline (every
/// int that fits in 64 bits, short str and bytes), longer content on the heap. The key table
/// holds `size_of::<Key>()` bytes per key plus the heap bytes, so at a few KB this is what
/// decides how many keys the sketch can name: 16 bytes for `"item-12345"`, where an owned
/// string in an enum takes 24 and its text again on the heap. A key has one representation
/// (inline exactly when its content fits), so the derived hash and equality are the key's.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum Key {
    /// `meta`: the kind in the low 2 bits, the length above them.
    Inline { meta: u8, data: [u8; INLINE] },
    /// The kind's byte, then the content.
    Heap(Box<Box<[u8]>>),
}

impl Key {
    fn new(kind: Kind, content: &[u8]) -> Key {
        if content.len() <= INLINE {
            let mut data = [0; INLINE];
            data[..content.len()].copy_from_slice(content);
            Key::Inline {
                meta: kind as u8 | (content.len() as u8) << 2,
                data,
            }
        } else {
            let mut bytes = Vec::with_capacity(content.len() + 1);
            bytes.push(kind as u8);
            bytes.extend_from_slice(content);
            Key::Heap(Box::new(bytes.into_boxed_slice()))
        }
    }

    fn kind_and_content(&self) -> (Kind, &[u8]) {
        match self {
            Key::Inline { meta, data } => (Kind::of(*meta), &data[..usize::from(meta >> 2)]),
            Key::Heap(bytes) => match bytes.split_first() {
                Some((&kind, content)) => (Kind::of(kind), content),
                None => (Kind::Bytes, &[]), // not built by `new`
            },
        }
    }

    fn from_py(item: &Bound<'_, PyAny>) -> PyResult<Key> {
        if let Ok(s) = item.cast::<PyString>() {
            // Borrowed from the str object when it is UTF-8 already: no copy before hashing.
            return Ok(Key::new(Kind::Str, s.to_cow()?.as_bytes()));
        }
        if let Ok(b) = item.cast::<PyBytes>() {
            return Ok(Key::new(Kind::Bytes, b.as_bytes()));
        }
        if item.is_instance_of::<PyInt>() {
            let wide = item
                .extract::<i128>()
                .map_err(|_| PyValueError::new_err("int keys must fit in 128 bits"))?;
            return Ok(match i64::try_from(wide) {
                Ok(narrow) => Key::new(Kind::Int, &narrow.to_le_bytes()),
                Err(_) => Key::new(Kind::Wide, &wide.to_le_bytes()),
            });
        }
        Err(PyTypeError::new_err(format!(
            "keys must be str, bytes or int, not {}",
            item.get_type().name()?
        )))
    }

    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (kind, content) = self.kind_and_content();
        let corrupt = || PyValueError::new_err("corrupt key");
        Ok(match kind {
            Kind::Int => i64::from_le_bytes(content.try_into().map_err(|_| corrupt())?)
                .into_pyobject(py)?
                .into_any(),
            Kind::Wide => i128::from_le_bytes(content.try_into().map_err(|_| corrupt())?)
                .into_pyobject(py)?
                .into_any(),
            Kind::Str => {
                PyString::new(py, std::str::from_utf8(content).map_err(|_| corrupt())?).into_any()
            }
            Kind::Bytes => PyBytes::new(py, content).into_any(),
        })
    }

    /// Heap bytes the key owns beyond its inline size.
    fn heap_bytes(&self) -> usize {
        match self {
            Key::Inline { .. } => 0,
            Key::Heap(bytes) => std::mem::size_of::<Box<[u8]>>() + bytes.len(),
        }
    }
}

/// Cuckoo Heavy Keeper: the top-K items of a stream and their estimated counts, in a fixed
/// memory budget.
///
/// Args:
///     k: how many items `list` and `get_topk` return.
///     memory: the budget in bytes for the sketch (buckets and key table); keys that own
///         memory (str, bytes) add their length, see `memory_bytes`.
///     seed: makes runs reproducible (a fixed default when omitted).
///     phi: the heavy-hitter share of the stream used by `heavy_hitters` (default 5e-4).
#[pyclass(module = "cuckoo_heavy_keeper")]
struct CuckooHeavyKeeper {
    sketch: CompactHeavyKeeper<Key>,
    k: usize,
}

#[pymethods]
impl CuckooHeavyKeeper {
    #[new]
    #[pyo3(signature = (k, memory = 4096, seed = None, phi = 5e-4))]
    fn new(k: usize, memory: usize, seed: Option<u64>, phi: f64) -> PyResult<Self> {
        if k == 0 {
            return Err(PyValueError::new_err("k must be at least 1"));
        }
        if !(phi > 0.0 && phi <= 1.0) {
            return Err(PyValueError::new_err("phi must be in (0, 1]"));
        }
        let sketch = match seed {
            Some(seed) => CompactHeavyKeeper::with_memory_and_seed(memory, seed),
            None => CompactHeavyKeeper::with_memory(memory),
        };
        Ok(Self {
            sketch: sketch.with_phi(phi),
            k,
        })
    }

    /// Adds `increment` occurrences of `item` (str, bytes or int).
    #[pyo3(signature = (item, increment = 1))]
    fn add(&mut self, item: &Bound<'_, PyAny>, increment: u64) -> PyResult<()> {
        self.sketch.add(&Key::from_py(item)?, increment);
        Ok(())
    }

    /// Adds every item of an iterable once (or `increment` times each), in one call.
    #[pyo3(signature = (items, increment = 1))]
    fn add_bulk(&mut self, items: &Bound<'_, PyAny>, increment: u64) -> PyResult<()> {
        for item in items.try_iter()? {
            self.sketch.add(&Key::from_py(&item?)?, increment);
        }
        Ok(())
    }

    /// Same as `add_bulk`.
    #[pyo3(signature = (items, increment = 1))]
    fn add_many(&mut self, items: &Bound<'_, PyAny>, increment: u64) -> PyResult<()> {
        self.add_bulk(items, increment)
    }

    /// Whether `item` is among the top k.
    fn query(&self, item: &Bound<'_, PyAny>) -> PyResult<bool> {
        let key = Key::from_py(item)?;
        Ok(self.sketch.top(self.k).iter().any(|(k, _)| *k == key))
    }

    /// The estimated count of `item` (0 when the sketch has no trace of it).
    fn count(&self, item: &Bound<'_, PyAny>) -> PyResult<u64> {
        Ok(self.sketch.count(&Key::from_py(item)?))
    }

    /// The top k items as (item, count) tuples, largest first.
    fn list<'py>(&self, py: Python<'py>) -> PyResult<Vec<(Bound<'py, PyAny>, u64)>> {
        self.sketch
            .top(self.k)
            .into_iter()
            .map(|(key, count)| Ok((key.to_py(py)?, count)))
            .collect()
    }

    /// The top k items as a dict from item to count.
    fn get_topk<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (key, count) in self.sketch.top(self.k) {
            dict.set_item(key.to_py(py)?, count)?;
        }
        Ok(dict)
    }

    /// The reported items with at least `phi` of the total, as (item, count), largest first.
    fn heavy_hitters<'py>(&self, py: Python<'py>) -> PyResult<Vec<(Bound<'py, PyAny>, u64)>> {
        self.sketch
            .heavy_hitters()
            .into_iter()
            .map(|(key, count)| Ok((key.to_py(py)?, count)))
            .collect()
    }

    /// How many items `list` returns now (at most k).
    fn len(&self) -> usize {
        self.sketch.top(self.k).len()
    }

    fn __len__(&self) -> usize {
        self.len()
    }

    /// Whether nothing has been reported yet.
    fn is_empty(&self) -> bool {
        self.sketch.is_empty()
    }

    fn __contains__(&self, item: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.query(item)
    }

    /// Forgets everything, keeping the memory.
    fn clear(&mut self) {
        self.sketch.clear();
    }

    /// The sum of all increments added.
    #[getter]
    fn total(&self) -> u64 {
        self.sketch.total()
    }

    /// The k given at construction.
    #[getter]
    fn k(&self) -> usize {
        self.k
    }

    /// Bytes the sketch holds: buckets, key table and the bytes of the str/bytes keys it keeps.
    #[getter]
    fn memory_bytes(&self) -> usize {
        self.sketch.memory_bytes_with(Key::heap_bytes)
    }

    fn __repr__(&self) -> String {
        format!(
            "CuckooHeavyKeeper(k={}, memory_bytes={}, total={})",
            self.k,
            self.memory_bytes(),
            self.sketch.total()
        )
    }
}

/// Cuckoo Heavy Keeper (PVLDB 2025) in Rust: top-K and heavy hitters in a few KB.
#[pymodule]
fn cuckoo_heavy_keeper(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<CuckooHeavyKeeper>()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_takes_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<Key>(), 16);
    }

    #[test]
    fn keys_round_trip_their_kind_and_content() {
        for (kind, content) in [
            (Kind::Str, &b"item-12345"[..]),
            (Kind::Str, &b"a string longer than fourteen bytes"[..]),
            (Kind::Bytes, &b""[..]),
            (Kind::Int, &7i64.to_le_bytes()[..]),
            (Kind::Wide, &(1i128 << 100).to_le_bytes()[..]),
        ] {
            let key = Key::new(kind, content);
            let (back, bytes) = key.kind_and_content();
            assert_eq!((back as u8, bytes), (kind as u8, content));
            assert_eq!(key.heap_bytes() == 0, content.len() <= INLINE);
        }
        assert_ne!(Key::new(Kind::Str, b"1"), Key::new(Kind::Bytes, b"1"));
    }
}
