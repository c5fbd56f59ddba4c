//! RFC 9162 proofs over a large stored tree without reading every leaf: the heads of complete,
//! aligned subtrees of height [`TILE_HEIGHTS`] ("tiles") are kept once first computed, so that a
//! subtree's head costs at most 256 reads whatever its size. The receipt log
//! ([`super::transparency`]) stores the leaves and tiles; this module only computes, over any
//! [`TreeStore`], so the same code is tested against the in-memory functions of
//! [`super::signing`].
//!
//! A complete subtree of an append-only log never changes, so a kept tile stays true; it is a
//! cache of what the leaves give (`credit-lists receipt audit` recomputes each one).

use super::signing::{node_hash, root, split, Hash};

/// Heights of the kept subtree heads, largest first: 256 and 65,536 leaves.
pub const TILE_HEIGHTS: [u32; 2] = [16, 8];

/// Where the leaves and the kept tiles live.
pub trait TreeStore {
    type Error;
    /// The leaf hashes `start..end`, in order (all of them: the range is within the log).
    fn leaves(&mut self, start: u64, end: u64) -> Result<Vec<Hash>, Self::Error>;
    /// The kept heads of height `height` with indexes `first..first + count` (those kept; any
    /// order).
    fn tiles(
        &mut self,
        height: u32,
        first: u64,
        count: u64,
    ) -> Result<Vec<(u64, Hash)>, Self::Error>;
    /// Keeps a newly computed head.
    fn keep_tile(&mut self, height: u32, index: u64, hash: &Hash) -> Result<(), Self::Error>;
}

/// The head of the complete subtree of height `height` starting at leaf `start` (aligned: a
/// multiple of 2^height): from kept tiles when it is at least a tile's height.
pub fn subtree<S: TreeStore>(s: &mut S, start: u64, height: u32) -> Result<Hash, S::Error> {
    let Some(&th) = TILE_HEIGHTS.iter().find(|&&th| th <= height) else {
        let leaves = s.leaves(start, start + (1u64 << height))?;
        return Ok(root(&leaves));
    };
    let first = start >> th;
    let count = 1u64 << (height - th);
    let mut heads = vec![None; count as usize];
    for (i, h) in s.tiles(th, first, count)? {
        if let Some(slot) = i.checked_sub(first).and_then(|k| heads.get_mut(k as usize)) {
            *slot = Some(h);
        }
    }
    let mut out = Vec::with_capacity(heads.len());
    for (k, head) in heads.into_iter().enumerate() {
        let h = match head {
            Some(h) => h,
            None => {
                let index = first + k as u64;
                let h = tile_from_below(s, th, index)?;
                s.keep_tile(th, index, &h)?;
                h
            }
        };
        out.push(h);
    }
    Ok(root(&out))
}

/// A tile computed from the level below it (the next smaller tile height, or the leaves).
fn tile_from_below<S: TreeStore>(s: &mut S, height: u32, index: u64) -> Result<Hash, S::Error> {
    let start = index << height;
    match TILE_HEIGHTS.iter().find(|&&th| th < height) {
        Some(_) => subtree_below(s, start, height),
        None => Ok(root(&s.leaves(start, start + (1u64 << height))?)),
    }
}

/// [`subtree`] using only tiles lower than `height` (to compute a tile of that height).
fn subtree_below<S: TreeStore>(s: &mut S, start: u64, height: u32) -> Result<Hash, S::Error> {
    // Two halves, each answered from the smaller tiles.
    let half = height - 1;
    let l = subtree(s, start, half)?;
    let r = subtree(s, start + (1u64 << half), half)?;
    Ok(node_hash(&l, &r))
}

/// `MTH(D[start:end])` by RFC 9162's recursion; its left parts are complete aligned subtrees.
pub fn range_root<S: TreeStore>(s: &mut S, start: u64, end: u64) -> Result<Hash, S::Error> {
    let n = end - start;
    if n == 0 {
        return Ok(root(&[]));
    }
    if n.is_power_of_two() && start.is_multiple_of(n) {
        return subtree(s, start, n.trailing_zeros());
    }
    let k = split(n);
    let l = range_root(s, start, start + k)?;
    let r = range_root(s, start + k, end)?;
    Ok(node_hash(&l, &r))
}

/// `PATH(m, D[0:size])`: the audit path of leaf `m` in the tree of the first `size` leaves.
pub fn inclusion_path<S: TreeStore>(s: &mut S, m: u64, size: u64) -> Result<Vec<Hash>, S::Error> {
    let mut path = Vec::new();
    path_into(s, m, 0, size, &mut path)?;
    Ok(path)
}

fn path_into<S: TreeStore>(
    s: &mut S,
    m: u64,
    start: u64,
    end: u64,
    out: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    let n = end - start;
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path_into(s, m, start, start + k, out)?;
        out.push(range_root(s, start + k, end)?);
    } else {
        path_into(s, m - k, start + k, end, out)?;
        out.push(range_root(s, start, start + k)?);
    }
    Ok(())
}

/// `PROOF(m, D[0:size])` (RFC 9162 §2.1.4.1): the consistency proof from the tree of the first
/// `m` leaves to the tree of the first `size`, each node from [`range_root`] (so from kept tiles
/// and at most a few hundred leaf reads per node, whatever the log's size). Empty when `m` is 0 or
/// past `size`, as [`super::signing::consistency_proof`].
pub fn consistency_path<S: TreeStore>(s: &mut S, m: u64, size: u64) -> Result<Vec<Hash>, S::Error> {
    let mut out = Vec::new();
    if m == 0 || m > size {
        return Ok(out);
    }
    subproof_into(s, m, 0, size, true, &mut out)?;
    Ok(out)
}

/// `SUBPROOF(m, D[start:end], whole)`.
fn subproof_into<S: TreeStore>(
    s: &mut S,
    m: u64,
    start: u64,
    end: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    let n = end - start;
    if m == n {
        if !whole {
            out.push(range_root(s, start, end)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof_into(s, m, start, start + k, whole, out)?;
        out.push(range_root(s, start + k, end)?);
    } else {
        subproof_into(s, m - k, start + k, end, false, out)?;
        out.push(range_root(s, start, start + k)?);
    }
    Ok(())
}

/// Checks kept subtree heads against the log's leaves streamed in order (the full audit), holding
/// one small tile's leaves and one large tile's small heads at most (256 + 256 hashes), whatever
/// the log's size.
pub struct TileAudit {
    kept: std::collections::BTreeMap<(u32, u64), Hash>,
    leaves: Vec<Hash>,
    small_heads: Vec<Hash>,
    seen: u64,
    problems: Vec<String>,
}

impl TileAudit {
    /// `kept`: every kept head, by (height, index).
    pub fn new(kept: std::collections::BTreeMap<(u32, u64), Hash>) -> Self {
        TileAudit {
            kept,
            leaves: Vec::new(),
            small_heads: Vec::new(),
            seen: 0,
            problems: Vec::new(),
        }
    }

    /// The log's next leaf.
    pub fn push(&mut self, leaf: Hash) {
        let [large, small] = TILE_HEIGHTS;
        self.leaves.push(leaf);
        self.seen += 1;
        if self.leaves.len() < 1 << small {
            return;
        }
        let head = root(&self.leaves);
        self.leaves.clear();
        self.check(small, (self.seen >> small) - 1, &head);
        // A complete subtree's head is the tree head of its complete halves' heads.
        self.small_heads.push(head);
        if self.small_heads.len() < 1 << (large - small) {
            return;
        }
        let head = root(&self.small_heads);
        self.small_heads.clear();
        self.check(large, (self.seen >> large) - 1, &head);
    }

    fn check(&mut self, height: u32, index: u64, head: &Hash) {
        if let Some(kept) = self.kept.remove(&(height, index)) {
            if kept != *head {
                self.problems.push(format!(
                    "tile {height}/{index} differs from the root of the leaves it covers"
                ));
            }
        }
    }

    /// What differs, once every leaf is pushed: kept heads that differ from their leaves, and
    /// heads kept for subtrees the log does not complete.
    pub fn finish(self) -> Vec<String> {
        let mut problems = self.problems;
        problems.extend(
            self.kept
                .keys()
                .map(|(h, i)| format!("tile {h}/{i} lies beyond the log")),
        );
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::super::receipt_hash::leaf_hash;
    use super::super::signing;
    use super::*;
    use std::collections::HashMap;
    use std::convert::Infallible;

    /// Leaves in memory, tiles kept in a map, reads counted.
    struct Mem {
        leaves: Vec<Hash>,
        tiles: HashMap<(u32, u64), Hash>,
        leaf_reads: u64,
    }

    impl TreeStore for Mem {
        type Error = Infallible;
        fn leaves(&mut self, start: u64, end: u64) -> Result<Vec<Hash>, Infallible> {
            assert!(end as usize <= self.leaves.len(), "read past the log");
            self.leaf_reads += end - start;
            Ok(self.leaves[start as usize..end as usize].to_vec())
        }
        fn tiles(
            &mut self,
            h: u32,
            first: u64,
            count: u64,
        ) -> Result<Vec<(u64, Hash)>, Infallible> {
            Ok((first..first + count)
                .filter_map(|i| self.tiles.get(&(h, i)).map(|x| (i, *x)))
                .collect())
        }
        fn keep_tile(&mut self, h: u32, i: u64, hash: &Hash) -> Result<(), Infallible> {
            // A tile is only ever computed for a complete subtree.
            assert!((i + 1) << h <= self.leaves.len() as u64);
            self.tiles.insert((h, i), *hash);
            Ok(())
        }
    }

    fn mem(n: usize) -> Mem {
        Mem {
            leaves: (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect(),
            tiles: HashMap::new(),
            leaf_reads: 0,
        }
    }

    fn ok<T>(r: Result<T, Infallible>) -> T {
        match r {
            Ok(t) => t,
            Err(e) => match e {},
        }
    }

    #[test]
    fn paths_equal_the_in_memory_ones_around_tile_boundaries() {
        let mut s = mem(1_300);
        for size in [
            1u64, 2, 3, 255, 256, 257, 511, 512, 513, 767, 1_024, 1_025, 1_300,
        ] {
            let all = &s.leaves[..size as usize].to_vec();
            let r = signing::root(all);
            assert_eq!(ok(range_root(&mut s, 0, size)), r, "root of {size}");
            for m in [0, 1, size / 2, size.saturating_sub(257), size - 1] {
                if m >= size {
                    continue;
                }
                let p = ok(inclusion_path(&mut s, m, size));
                assert_eq!(p, signing::inclusion_path(m as usize, all), "{m} of {size}");
                assert!(signing::verify_inclusion(&all[m as usize], m, size, &p, &r));
            }
        }
    }

    #[test]
    fn consistency_proofs_equal_the_in_memory_ones_around_tile_boundaries() {
        let mut s = mem(1_300);
        for size in [1u64, 2, 3, 255, 256, 257, 512, 513, 1_024, 1_025, 1_300] {
            let all = s.leaves[..size as usize].to_vec();
            for m in [
                0,
                1,
                2,
                3,
                255,
                256,
                257,
                size / 2 + 1,
                size - 1,
                size,
                size + 1,
            ] {
                let p = ok(consistency_path(&mut s, m, size));
                assert_eq!(
                    p,
                    signing::consistency_proof(m as usize, &all),
                    "{m} to {size}"
                );
            }
        }
    }

    /// The streamed audit of kept heads names exactly the wrong and the impossible ones, over a
    /// log with complete large and small tiles and a partial one.
    #[test]
    fn the_streamed_tile_audit_names_the_heads_that_differ() {
        let n = 70_000u64;
        let s = mem(n as usize);
        let mut kept = std::collections::BTreeMap::new();
        for (h, span) in [(16u32, 1u64 << 16), (8, 1 << 8)] {
            for i in 0..n / span {
                let start = (i * span) as usize;
                kept.insert(
                    (h, i),
                    signing::root(&s.leaves[start..start + span as usize]),
                );
            }
        }
        assert_eq!(kept.len(), 1 + 273);
        let all_good = {
            let mut a = TileAudit::new(kept.clone());
            s.leaves.iter().for_each(|l| a.push(*l));
            a.finish()
        };
        assert!(all_good.is_empty(), "{all_good:?}");
        kept.insert((16, 0), [0; 32]);
        kept.insert((8, 100), [1; 32]);
        kept.insert((8, 273), [2; 32]); // 69,888..70,144: past the log's end
        let mut a = TileAudit::new(kept);
        s.leaves.iter().for_each(|l| a.push(*l));
        assert_eq!(
            a.finish(),
            vec![
                "tile 8/100 differs from the root of the leaves it covers",
                "tile 16/0 differs from the root of the leaves it covers",
                "tile 8/273 lies beyond the log",
            ]
        );
    }

    #[test]
    fn a_large_log_is_proved_from_tiles_with_few_leaf_reads() {
        let n = 70_000u64; // past one tile of height 16
        let mut s = mem(n as usize);
        let all = s.leaves.clone();
        let r = signing::root(&all);
        let m = 66_000;
        let first = ok(inclusion_path(&mut s, m, n));
        assert!(signing::verify_inclusion(
            &all[m as usize],
            m,
            n,
            &first,
            &r
        ));
        assert_eq!(first, signing::inclusion_path(m as usize, &all));
        // The tiles are now kept: the next proof reads a few hundred leaves at most.
        s.leaf_reads = 0;
        let m2 = 12_345;
        let p = ok(inclusion_path(&mut s, m2, n));
        assert!(signing::verify_inclusion(&all[m2 as usize], m2, n, &p, &r));
        assert!(s.leaf_reads <= 1_000, "read {} leaves", s.leaf_reads);
        assert!(s.tiles.contains_key(&(16, 0)));
        // So does a consistency proof, and it verifies.
        s.leaf_reads = 0;
        let c = ok(consistency_path(&mut s, 40_000, n));
        assert!(s.leaf_reads <= 2_000, "read {} leaves", s.leaf_reads);
        assert_eq!(c, signing::consistency_proof(40_000, &all));
        let old = signing::root(&all[..40_000]);
        assert!(signing::verify_consistency(40_000, n, &old, &r, &c));
    }
}
