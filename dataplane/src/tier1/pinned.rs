//! The pinned-session map: session ID → gateway, as a persistent structure.
//!
//! The steering table is republished whenever sessions are pinned, moved or
//! unpinned, and there can be millions of pinned sessions. Copying the whole
//! map per publish would cost time and memory proportional to the table, so
//! the map is a fixed two-level radix tree on a hash of the session ID:
//! 256 root slots, each an optional `Arc` of a node with 256 leaf slots, each
//! an optional `Arc` of a small sorted slice of entries. [`PinnedMap::apply`]
//! returns a new map that copies only the root array (256 pointers), the
//! middle nodes and leaves that the changes touch, and shares every other
//! node with the old map. A lookup is three dependent loads (root slot,
//! middle slot, leaf data) and a binary search in a leaf of a handful of
//! entries; it never allocates.

use std::fmt;
use std::sync::Arc;

use super::session_id::SessionId;
use super::steering::GatewayId;
use crate::hash::hash_u64;

/// Slots per level.
const FANOUT: usize = 256;
/// Seed of the radix hash (independent of the steering hash).
const RADIX_SEED: u64 = 0x7069_6e6e_6564_6d61;

/// One pinned session, kept sorted by session ID inside a leaf.
type Entry = (SessionId, GatewayId);
/// A leaf: the entries of one (root, middle) chunk, sorted by ID.
type Leaf = Arc<[Entry]>;

/// The second level: 256 optional leaves.
struct MiddleNode {
    leaves: [Option<Leaf>; FANOUT],
}

/// An immutable map from session ID to gateway; cheap to derive from.
#[derive(Clone)]
pub struct PinnedMap {
    root: [Option<Arc<MiddleNode>>; FANOUT],
    len: usize,
}

/// Which root and middle slot a session lives under.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct ChunkIndex {
    root: u8,
    middle: u8,
}

impl ChunkIndex {
    #[inline]
    fn of(id: SessionId) -> ChunkIndex {
        let hash = hash_u64(id.0, RADIX_SEED);
        ChunkIndex {
            root: (hash >> 56) as u8,
            middle: (hash >> 48) as u8,
        }
    }
}

impl Default for PinnedMap {
    fn default() -> Self {
        PinnedMap {
            root: std::array::from_fn(|_| None),
            len: 0,
        }
    }
}

impl PinnedMap {
    /// An empty map.
    pub fn new() -> PinnedMap {
        PinnedMap::default()
    }

    /// The gateway `id` is pinned to.
    #[inline]
    pub fn get(&self, id: SessionId) -> Option<GatewayId> {
        let chunk = ChunkIndex::of(id);
        let middle = self.root[usize::from(chunk.root)].as_ref()?;
        let leaf = middle.leaves[usize::from(chunk.middle)].as_ref()?;
        let position = leaf.binary_search_by_key(&id, |entry| entry.0).ok()?;
        leaf.get(position).map(|entry| entry.1)
    }

    /// The leaf `id` would be in (to prefetch before [`get`](Self::get)
    /// searches it; the root and middle levels are small and stay cached).
    #[inline]
    pub fn leaf_of(&self, id: SessionId) -> Option<&[impl Sized]> {
        let chunk = ChunkIndex::of(id);
        let middle = self.root[usize::from(chunk.root)].as_ref()?;
        middle.leaves[usize::from(chunk.middle)].as_deref()
    }

    /// Number of pinned sessions.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// All entries, in no particular (but deterministic) order.
    pub fn iter(&self) -> impl Iterator<Item = (SessionId, GatewayId)> + '_ {
        self.root.iter().flatten().flat_map(|middle| {
            middle
                .leaves
                .iter()
                .flatten()
                .flat_map(|leaf| leaf.iter().copied())
        })
    }

    /// A new map with `changes` applied in order (`Some` pins or re-pins,
    /// `None` unpins; for repeated IDs the last change wins). Nodes that no
    /// change touches, or whose content ends up unchanged, are shared with
    /// `self`.
    pub fn apply(&self, changes: &[(SessionId, Option<GatewayId>)]) -> PinnedMap {
        let mut sorted: Vec<(ChunkIndex, SessionId, usize)> = changes
            .iter()
            .enumerate()
            .map(|(order, (id, _))| (ChunkIndex::of(*id), *id, order))
            .collect();
        sorted.sort_unstable();
        // Last change per ID wins: keep the highest `order` of each run.
        let mut latest: Vec<SortedChange> = Vec::new();
        for (chunk, id, order) in sorted {
            let change = changes.get(order).and_then(|c| c.1);
            match latest.last_mut() {
                Some(last) if last.1 == id => last.2 = change,
                _ => latest.push((chunk, id, change)),
            }
        }

        let mut next = self.clone();
        for (first, root_group) in runs(&latest, |a, b| a.root == b.root) {
            let root_index = usize::from(first.root);
            let old_middle = self.root[root_index].as_deref();
            let mut leaves: [Option<Leaf>; FANOUT] = match old_middle {
                Some(middle) => middle.leaves.clone(),
                None => std::array::from_fn(|_| None),
            };
            let mut middle_changed = false;
            for (first, leaf_group) in runs(root_group, |a, b| a == b) {
                let leaf_index = usize::from(first.middle);
                let old_leaf: &[Entry] = leaves[leaf_index].as_deref().unwrap_or(&[]);
                if let Some((merged, new_len)) = merge_leaf(old_leaf, leaf_group) {
                    next.len = next.len + new_len - old_leaf.len();
                    leaves[leaf_index] = if merged.is_empty() {
                        None
                    } else {
                        Some(Arc::from(merged))
                    };
                    middle_changed = true;
                }
            }
            if middle_changed {
                next.root[root_index] = if leaves.iter().all(Option::is_none) {
                    None
                } else {
                    Some(Arc::new(MiddleNode { leaves }))
                };
            }
        }
        next
    }
}

/// Merges the sorted, deduplicated `changes` of one chunk into `old`.
/// Returns `None` when nothing changes (so the old leaf can be shared),
/// otherwise the new entries and their count.
fn merge_leaf(old: &[Entry], changes: &[SortedChange]) -> Option<(Vec<Entry>, usize)> {
    let mut merged = Vec::with_capacity(old.len() + changes.len());
    let mut changed = false;
    let mut old_entries = old.iter().peekable();
    for (_, id, gateway) in changes {
        while let Some(entry) = old_entries.next_if(|entry| entry.0 < *id) {
            merged.push(*entry);
        }
        let existing = old_entries
            .next_if(|entry| entry.0 == *id)
            .map(|entry| entry.1);
        if existing != *gateway {
            changed = true;
        }
        if let Some(gateway) = gateway {
            merged.push((*id, *gateway));
        }
    }
    merged.extend(old_entries);
    if changed {
        let len = merged.len();
        Some((merged, len))
    } else {
        None
    }
}

/// A change after sorting by chunk and deduplicating by ID.
type SortedChange = (ChunkIndex, SessionId, Option<GatewayId>);

/// Maximal runs of sorted changes whose chunks compare `same`, each with the
/// chunk of its first change.
fn runs(
    changes: &[SortedChange],
    same: fn(&ChunkIndex, &ChunkIndex) -> bool,
) -> impl Iterator<Item = (ChunkIndex, &[SortedChange])> {
    let mut rest = changes;
    std::iter::from_fn(move || {
        let first = rest.first()?.0;
        let run = rest
            .iter()
            .take_while(|change| same(&first, &change.0))
            .count();
        let (head, tail) = rest.split_at(run);
        rest = tail;
        Some((first, head))
    })
}

impl fmt::Debug for PinnedMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinnedMap").field("len", &self.len).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use std::sync::OnceLock;

    fn pin(id: u64, gateway: u32) -> (SessionId, Option<GatewayId>) {
        (SessionId(id), Some(GatewayId(gateway)))
    }

    fn unpin(id: u64) -> (SessionId, Option<GatewayId>) {
        (SessionId(id), None)
    }

    #[test]
    fn pins_repins_and_unpins() {
        let empty = PinnedMap::new();
        let one = empty.apply(&[pin(1, 10), pin(2, 20), pin(1, 11)]);
        assert_eq!(
            one.get(SessionId(1)),
            Some(GatewayId(11)),
            "last change wins"
        );
        assert_eq!(one.get(SessionId(2)), Some(GatewayId(20)));
        assert_eq!(one.len(), 2);
        let two = one.apply(&[unpin(2), unpin(3)]);
        assert_eq!(two.get(SessionId(2)), None);
        assert_eq!(two.len(), 1);
        assert_eq!(
            one.get(SessionId(2)),
            Some(GatewayId(20)),
            "old map unchanged"
        );
        let none = two.apply(&[pin(1, 5), unpin(1)]);
        assert!(none.is_empty());
        assert!(
            none.root.iter().all(Option::is_none),
            "empty nodes are pruned"
        );
        assert!(empty.is_empty());
    }

    #[test]
    fn one_change_copies_one_leaf_and_one_middle_node() {
        let initial: Vec<_> = (0..100_000u64).map(|id| pin(id, (id % 7) as u32)).collect();
        let big = PinnedMap::new().apply(&initial);
        assert_eq!(big.len(), 100_000);

        let changed_id = SessionId(1_000_000);
        let next = big.apply(&[(changed_id, Some(GatewayId(3)))]);
        assert_eq!(next.len(), 100_001);
        let chunk = ChunkIndex::of(changed_id);

        let mut copied_middles = 0;
        let mut copied_leaves = 0;
        for (root_index, (old, new)) in big.root.iter().zip(next.root.iter()).enumerate() {
            let (Some(old), Some(new)) = (old, new) else {
                panic!("100k entries fill every root slot");
            };
            if Arc::ptr_eq(old, new) {
                continue;
            }
            copied_middles += 1;
            assert_eq!(root_index, usize::from(chunk.root));
            for (leaf_index, (old_leaf, new_leaf)) in
                old.leaves.iter().zip(new.leaves.iter()).enumerate()
            {
                let shared = match (old_leaf, new_leaf) {
                    (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                    (None, None) => true,
                    _ => false,
                };
                if !shared {
                    copied_leaves += 1;
                    assert_eq!(leaf_index, usize::from(chunk.middle));
                }
            }
        }
        assert_eq!((copied_middles, copied_leaves), (1, 1));

        // A change that changes nothing shares everything.
        let same = next.apply(&[(changed_id, Some(GatewayId(3))), unpin(5_000_000)]);
        let all_shared = next
            .root
            .iter()
            .zip(same.root.iter())
            .all(|pair| match pair {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            });
        assert!(all_shared);
    }

    /// Session IDs that all land in a few chunks, so the property test
    /// exercises merging inside crowded leaves, not just singleton leaves.
    fn crowded_ids() -> &'static [u64] {
        static IDS: OnceLock<Vec<u64>> = OnceLock::new();
        IDS.get_or_init(|| {
            let target_root = ChunkIndex::of(SessionId(0)).root;
            let target = ChunkIndex::of(SessionId(0));
            let mut same_leaf = Vec::new();
            let mut same_root = Vec::new();
            let mut candidate = 0u64;
            while same_leaf.len() < 12 || same_root.len() < 12 {
                let chunk = ChunkIndex::of(SessionId(candidate));
                if chunk == target && same_leaf.len() < 12 {
                    same_leaf.push(candidate);
                } else if chunk.root == target_root && same_root.len() < 12 {
                    same_root.push(candidate);
                }
                candidate += 1;
            }
            same_leaf.extend(same_root);
            same_leaf.extend(1_000..1_016);
            same_leaf
        })
    }

    fn change_strategy() -> impl Strategy<Value = (SessionId, Option<GatewayId>)> {
        (0..crowded_ids().len(), prop::option::of(0u32..4))
            .prop_map(|(index, gateway)| (SessionId(crowded_ids()[index]), gateway.map(GatewayId)))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Model check against a HashMap: after every batch the map, its
        /// length and its iteration agree with the model, and the previous
        /// version still agrees with the previous model.
        #[test]
        fn behaves_like_a_hash_map(
            batches in prop::collection::vec(prop::collection::vec(change_strategy(), 0..12), 1..8)
        ) {
            let mut model: HashMap<SessionId, GatewayId> = HashMap::new();
            let mut map = PinnedMap::new();
            for batch in batches {
                let previous_model = model.clone();
                let previous = map.clone();
                for (id, gateway) in &batch {
                    match gateway {
                        Some(gateway) => model.insert(*id, *gateway),
                        None => model.remove(id),
                    };
                }
                map = map.apply(&batch);
                prop_assert_eq!(map.len(), model.len());
                let listed: HashMap<_, _> = map.iter().collect();
                prop_assert_eq!(listed.len(), map.len());
                prop_assert_eq!(&listed, &model);
                for id in crowded_ids() {
                    let id = SessionId(*id);
                    prop_assert_eq!(map.get(id), model.get(&id).copied());
                    prop_assert_eq!(previous.get(id), previous_model.get(&id).copied());
                }
            }
        }
    }
}
