//! Cuckoo Heavy Keeper (Ngo and Papatriantafilou, PVLDB 18, 2025): heavy hitters in a fixed
//! memory budget.
#![allow(missing_docs, unused_variables, dead_code)]

use std::hash::Hash;

/// Cuckoo Heavy Keeper sketch (stub: the implementation is being written).
pub struct CuckooHeavyKeeper<K> {
    keys: Vec<K>,
}

impl<K: Hash + Eq + Clone> CuckooHeavyKeeper<K> {
    pub fn new(buckets_per_table: usize) -> Self {
        todo!()
    }
    pub fn with_memory(bytes: usize) -> Self {
        todo!()
    }
    pub fn with_seed(buckets_per_table: usize, seed: u64) -> Self {
        todo!()
    }
    pub fn with_memory_and_seed(bytes: usize, seed: u64) -> Self {
        todo!()
    }
    pub fn hash_key(&self, key: &K) -> u64 {
        todo!()
    }
    pub fn add(&mut self, key: &K, weight: u64) {
        todo!()
    }
    pub fn add_hashed(&mut self, key: &K, hash: u64, weight: u64) {
        todo!()
    }
    pub fn count(&self, key: &K) -> u64 {
        todo!()
    }
    pub fn count_hashed(&self, key: &K, hash: u64) -> u64 {
        todo!()
    }
    pub fn contains(&self, key: &K) -> bool {
        todo!()
    }
    pub fn list(&self) -> Vec<(K, u64)> {
        todo!()
    }
    pub fn top(&self, n: usize) -> Vec<(K, u64)> {
        todo!()
    }
    pub fn len(&self) -> usize {
        todo!()
    }
    pub fn is_empty(&self) -> bool {
        todo!()
    }
    pub fn total(&self) -> u64 {
        todo!()
    }
    pub fn memory_bytes(&self) -> usize {
        todo!()
    }
    pub fn buckets_per_table(&self) -> usize {
        todo!()
    }
    pub fn clear(&mut self) {
        todo!()
    }
}
