//! Python bindings of the compact Cuckoo Heavy Keeper: a `CuckooHeavyKeeper` class with the
//! method names of the `heavykeeper` package where they apply (`add`, `add_bulk`, `query`,
//! `count`, `list`, `get_topk`), over keys of `str`, `bytes` and `int`, sized by a memory
//! budget in bytes. Converting keys is all this file does; the sketch is the crate's.

use chk::CompactHeavyKeeper;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyInt, PyString};

/// A key as Python gave it: the kinds hash apart, so `1`, `"1"` and `b"1"` are three keys.
/// Boxed slices and a boxed wide int keep it at 24 bytes, which the key table multiplies.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum Key {
    Int(i64),
    Wide(Box<i128>),
    Str(Box<str>),
    Bytes(Box<[u8]>),
}

impl Key {
    fn from_py(item: &Bound<'_, PyAny>) -> PyResult<Key> {
        if let Ok(s) = item.cast::<PyString>() {
            return Ok(Key::Str(s.extract::<String>()?.into_boxed_str()));
        }
        if let Ok(b) = item.cast::<PyBytes>() {
            return Ok(Key::Bytes(b.as_bytes().into()));
        }
        if item.is_instance_of::<PyInt>() {
            let wide = item
                .extract::<i128>()
                .map_err(|_| PyValueError::new_err("int keys must fit in 128 bits"))?;
            return Ok(i64::try_from(wide).map_or_else(|_| Key::Wide(Box::new(wide)), Key::Int));
        }
        Err(PyTypeError::new_err(format!(
            "keys must be str, bytes or int, not {}",
            item.get_type().name()?
        )))
    }

    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(match self {
            Key::Int(i) => i.into_pyobject(py)?.into_any(),
            Key::Wide(i) => i.into_pyobject(py)?.into_any(),
            Key::Str(s) => PyString::new(py, s).into_any(),
            Key::Bytes(b) => PyBytes::new(py, b).into_any(),
        })
    }

    /// Heap bytes the key owns beyond its inline size.
    fn heap_bytes(&self) -> usize {
        match self {
            Key::Int(_) => 0,
            Key::Wide(_) => std::mem::size_of::<i128>(),
            Key::Str(s) => s.len(),
            Key::Bytes(b) => b.len(),
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
