//! A reference-counted, path-compressed prefix trie of subscriptions (libzmq's `mtrie_t`,
//! with runs of single-child nodes folded into one edge).
//!
//! Each node stands for one prefix and records which subscribers hold it, how many times.
//! Matching walks the trie along the message's first octets and collects the subscribers
//! of every node on the way, so its cost grows with the length of the matching prefix and
//! the number of matches, not with how many subscriptions exist. Edges carry whole runs of
//! octets, so a long prefix costs about its own length in memory, and no operation recurses:
//! a hostile peer's million-octet prefix can neither exhaust memory nor the stack.

use std::fmt;

use bytes::Bytes;
use smallvec::SmallVec;

/// Subscriptions of subscribers of type `K` (a peer id, or `()` for a socket's own set).
pub struct SubscriptionTrie<K> {
    root: Node<K>,
    /// Distinct (prefix, subscriber) pairs.
    entries: usize,
}

struct Node<K> {
    /// Subscribers of exactly this prefix with their reference counts, sorted by key. Most
    /// prefixes have one subscriber, kept inline: an allocation less per subscription.
    subscribers: SmallVec<[(K, u32); 1]>,
    /// Outgoing edges, sorted by their first octet (labels are never empty and no two
    /// start with the same octet).
    children: Vec<Edge<K>>,
}

struct Edge<K> {
    /// Shared slices: splitting an edge never copies its octets.
    label: Bytes,
    node: Node<K>,
}

impl<K> Node<K> {
    fn new() -> Self {
        Self {
            subscribers: SmallVec::new(),
            children: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.subscribers.is_empty() && self.children.is_empty()
    }

    /// The position of the edge starting with `octet`, or where it would go.
    fn find(&self, octet: u8) -> Result<usize, usize> {
        self.children
            .binary_search_by_key(&octet, |edge| edge.label[0])
    }

    /// The child reached by the edge that `rest` fully starts with, and what remains.
    fn descend<'a, 'r>(&'a self, rest: &'r [u8]) -> Option<(&'a Node<K>, &'r [u8])> {
        let edge = &self.children[self.find(*rest.first()?).ok()?];
        rest.strip_prefix(&*edge.label)
            .map(|tail| (&edge.node, tail))
    }
}

impl<K> Drop for Node<K> {
    /// Frees the subtree with an explicit stack: the derived drop would recurse once per
    /// level.
    fn drop(&mut self) {
        let mut stack: Vec<Edge<K>> = std::mem::take(&mut self.children);
        while let Some(mut edge) = stack.pop() {
            stack.append(&mut edge.node.children);
        }
    }
}

/// What [`SubscriptionTrie::add`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Added {
    /// The subscriber did not hold this prefix before.
    pub new_for_subscriber: bool,
    /// Nobody held this prefix before.
    pub new_prefix: bool,
}

/// What [`SubscriptionTrie::remove`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    /// The subscriber no longer holds this prefix at all.
    pub gone_for_subscriber: bool,
    /// Nobody holds this prefix any more.
    pub prefix_gone: bool,
}

impl<K: Copy + Ord> Default for SubscriptionTrie<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K> fmt::Debug for SubscriptionTrie<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriptionTrie")
            .field("entries", &self.entries)
            .finish_non_exhaustive()
    }
}

impl<K: Copy + Ord> SubscriptionTrie<K> {
    /// An empty trie.
    pub fn new() -> Self {
        Self {
            root: Node::new(),
            entries: 0,
        }
    }

    /// Distinct (prefix, subscriber) pairs.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether there are no subscriptions at all.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Adds one reference of `subscriber` to `prefix`.
    pub fn add(&mut self, prefix: &[u8], subscriber: K) -> Added {
        let node = node_for(&mut self.root, prefix);
        let new_prefix = node.subscribers.is_empty();
        match node
            .subscribers
            .binary_search_by_key(&subscriber, |(k, _)| *k)
        {
            Ok(i) => {
                // Saturating: four billion identical subscribes must not overflow.
                node.subscribers[i].1 = node.subscribers[i].1.saturating_add(1);
                Added {
                    new_for_subscriber: false,
                    new_prefix,
                }
            }
            Err(i) => {
                node.subscribers.insert(i, (subscriber, 1));
                self.entries += 1;
                Added {
                    new_for_subscriber: true,
                    new_prefix,
                }
            }
        }
    }

    /// Drops one reference (or, with `all`, every reference) of `subscriber` to `prefix`.
    /// `None` if it held none.
    pub fn remove(&mut self, prefix: &[u8], subscriber: K, all: bool) -> Option<Removed> {
        // Walk down once, remembering the edges taken and the deepest node that must stay
        // even if the target empties (the root, a node with subscribers, or a branch).
        let mut path = Vec::new();
        let mut keep_depth = 0;
        let mut node = &self.root;
        let mut rest = prefix;
        while !rest.is_empty() {
            if path.is_empty() || !node.subscribers.is_empty() || node.children.len() > 1 {
                keep_depth = path.len();
            }
            let index = node.find(rest[0]).ok()?;
            let edge = &node.children[index];
            rest = rest.strip_prefix(&*edge.label)?;
            path.push(index);
            node = &edge.node;
        }

        let target = walk_mut(&mut self.root, &path);
        let i = target
            .subscribers
            .binary_search_by_key(&subscriber, |(k, _)| *k)
            .ok()?;
        let count = &mut target.subscribers[i].1;
        *count = if all { 0 } else { *count - 1 };
        let gone_for_subscriber = *count == 0;
        if gone_for_subscriber {
            target.subscribers.remove(i);
            self.entries -= 1;
        }
        let removed = Removed {
            gone_for_subscriber,
            prefix_gone: target.subscribers.is_empty(),
        };
        // An emptied leaf takes the now useless chain above it along.
        if target.is_empty() && !path.is_empty() {
            let keeper = walk_mut(&mut self.root, &path[..keep_depth]);
            keeper.children.remove(path[keep_depth]);
        }
        Some(removed)
    }

    /// Calls `f` once for every (subscriber, matching prefix) pair whose prefix starts
    /// `data`. A subscriber holding several matching prefixes is reported once per prefix.
    pub fn for_each_match(&self, data: &[u8], mut f: impl FnMut(K)) {
        let mut node = &self.root;
        let mut rest = data;
        loop {
            for &(key, _) in &node.subscribers {
                f(key);
            }
            match node.descend(rest) {
                Some((child, tail)) => (node, rest) = (child, tail),
                None => return,
            }
        }
    }

    /// Whether any prefix matches the start of `data`.
    pub fn matches(&self, data: &[u8]) -> bool {
        let mut node = &self.root;
        let mut rest = data;
        loop {
            if !node.subscribers.is_empty() {
                return true;
            }
            match node.descend(rest) {
                Some((child, tail)) => (node, rest) = (child, tail),
                None => return false,
            }
        }
    }

    /// Every prefix that has at least one subscriber, each once, in octet order.
    pub fn prefixes(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        // Depth-first with an explicit stack of (node, its prefix).
        let mut stack = vec![(&self.root, Vec::new())];
        while let Some((node, prefix)) = stack.pop() {
            if !node.subscribers.is_empty() {
                out.push(prefix.clone());
            }
            for edge in node.children.iter().rev() {
                let mut child = prefix.clone();
                child.extend_from_slice(&edge.label);
                stack.push((&edge.node, child));
            }
        }
        out
    }

    /// Whether anyone holds exactly `prefix`.
    pub fn contains(&self, prefix: &[u8]) -> bool {
        self.node(prefix)
            .is_some_and(|node| !node.subscribers.is_empty())
    }

    /// The node for exactly `prefix`, if there is one.
    fn node(&self, prefix: &[u8]) -> Option<&Node<K>> {
        let mut node = &self.root;
        let mut rest = prefix;
        while !rest.is_empty() {
            (node, rest) = node.descend(rest)?;
        }
        Some(node)
    }

    /// The reference count `subscriber` holds on exactly `prefix`.
    pub fn count(&self, prefix: &[u8], subscriber: K) -> u32 {
        let Some(node) = self.node(prefix) else {
            return 0;
        };
        node.subscribers
            .binary_search_by_key(&subscriber, |(k, _)| *k)
            .map_or(0, |i| node.subscribers[i].1)
    }
}

/// The node for `prefix`, created (splitting an edge if needed) when missing.
fn node_for<'a, K>(root: &'a mut Node<K>, prefix: &[u8]) -> &'a mut Node<K> {
    let mut node = root;
    let mut rest = prefix;
    while let Some(&first) = rest.first() {
        let index = match node.find(first) {
            Ok(index) => index,
            Err(index) => {
                node.children.insert(
                    index,
                    Edge {
                        label: Bytes::copy_from_slice(rest),
                        node: Node::new(),
                    },
                );
                return &mut node.children[index].node;
            }
        };
        let edge = &mut node.children[index];
        let common = edge
            .label
            .iter()
            .zip(rest)
            .take_while(|(a, b)| a == b)
            .count();
        if common < edge.label.len() {
            // The prefix ends inside this edge or leaves it: split it at `common`.
            let tail = Edge {
                label: edge.label.slice(common..),
                node: std::mem::replace(&mut edge.node, Node::new()),
            };
            edge.label.truncate(common);
            // Room for the tail and the branch being added, not the default four edges: a
            // split node most often keeps two.
            edge.node.children = Vec::with_capacity(2);
            edge.node.children.push(tail);
        }
        rest = &rest[common..];
        node = &mut node.children[index].node;
    }
    node
}

/// The node reached by following child indices from `root`.
fn walk_mut<'a, K>(root: &'a mut Node<K>, path: &[usize]) -> &'a mut Node<K> {
    path.iter()
        .fold(root, |node, &index| &mut node.children[index].node)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches_of(trie: &SubscriptionTrie<u32>, data: &[u8]) -> Vec<u32> {
        let mut found = Vec::new();
        trie.for_each_match(data, |k| found.push(k));
        found.sort_unstable();
        found
    }

    #[test]
    fn prefix_matching() {
        let mut trie = SubscriptionTrie::new();
        trie.add(b"A", 1);
        trie.add(b"AB", 2);
        trie.add(b"", 3);
        trie.add(b"B", 4);
        assert_eq!(matches_of(&trie, b"ABC"), [1, 2, 3]);
        assert_eq!(matches_of(&trie, b"A"), [1, 3]);
        assert_eq!(matches_of(&trie, b""), [3]);
        assert_eq!(matches_of(&trie, b"C"), [3]);
        assert!(trie.matches(b"anything"));
    }

    #[test]
    fn edges_split_and_compress() {
        let mut trie = SubscriptionTrie::new();
        trie.add(b"weather.london", 1);
        trie.add(b"weather.paris", 2);
        trie.add(b"weather", 3);
        assert_eq!(matches_of(&trie, b"weather.london.rain"), [1, 3]);
        assert_eq!(matches_of(&trie, b"weather.paris"), [2, 3]);
        assert_eq!(matches_of(&trie, b"weather.p"), [3]);
        assert_eq!(matches_of(&trie, b"weath"), Vec::<u32>::new());
        assert_eq!(trie.root.children.len(), 1, "one edge: \"weather\"");
        assert_eq!(&*trie.root.children[0].label, b"weather");
        assert_eq!(trie.count(b"weather.paris", 2), 1);
        assert_eq!(trie.count(b"weather.par", 2), 0);
    }

    #[test]
    fn references_are_counted() {
        let mut trie = SubscriptionTrie::new();
        assert_eq!(
            trie.add(b"A", 1),
            Added {
                new_for_subscriber: true,
                new_prefix: true
            }
        );
        assert_eq!(
            trie.add(b"A", 1),
            Added {
                new_for_subscriber: false,
                new_prefix: false
            }
        );
        assert_eq!(
            trie.add(b"A", 2),
            Added {
                new_for_subscriber: true,
                new_prefix: false
            }
        );
        assert_eq!(trie.count(b"A", 1), 2);
        assert_eq!(
            trie.remove(b"A", 1, false),
            Some(Removed {
                gone_for_subscriber: false,
                prefix_gone: false
            })
        );
        assert_eq!(
            trie.remove(b"A", 1, false),
            Some(Removed {
                gone_for_subscriber: true,
                prefix_gone: false
            })
        );
        assert_eq!(
            trie.remove(b"A", 1, false),
            None,
            "cancel without subscription"
        );
        assert_eq!(
            trie.remove(b"AB", 2, false),
            None,
            "a longer prefix nobody holds"
        );
        assert_eq!(
            trie.remove(b"A", 2, true),
            Some(Removed {
                gone_for_subscriber: true,
                prefix_gone: true
            })
        );
        assert!(trie.is_empty());
        assert!(trie.root.is_empty(), "empty branches are pruned");
    }

    #[test]
    fn pruning_keeps_what_others_need() {
        let mut trie = SubscriptionTrie::new();
        trie.add(b"abc", 1);
        trie.add(b"abd", 2);
        trie.add(b"a", 3);
        trie.remove(b"abc", 1, true).unwrap();
        assert_eq!(matches_of(&trie, b"abd"), [2, 3]);
        trie.remove(b"abd", 2, true).unwrap();
        assert_eq!(matches_of(&trie, b"abd"), [3]);
        assert_eq!(trie.prefixes(), [b"a".to_vec()]);
        trie.remove(b"a", 3, true).unwrap();
        assert!(trie.root.is_empty());
    }

    #[test]
    fn prefixes_lists_each_once() {
        let mut trie = SubscriptionTrie::new();
        for (p, k) in [
            (&b"b"[..], ()),
            (b"a", ()),
            (b"a", ()),
            (b"", ()),
            (b"ab", ()),
        ] {
            trie.add(p, k);
        }
        assert_eq!(
            trie.prefixes(),
            [b"".to_vec(), b"a".to_vec(), b"ab".to_vec(), b"b".to_vec()]
        );
        assert_eq!(trie.len(), 4);
    }

    #[test]
    fn no_false_matches() {
        let mut trie = SubscriptionTrie::new();
        trie.add(b"1000", 1);
        assert!(trie.matches(b"1000 text hi"));
        assert!(
            trie.matches(b"10001 text hi"),
            "prefix semantics: 1000 matches 10001"
        );
        assert!(!trie.matches(b"100"));
        assert!(!trie.matches(b"2000"));
    }

    #[test]
    fn huge_and_deep_prefixes_neither_recurse_nor_bloat() {
        // Found by the `pattern` fuzz target: one node per octet made a 100 000-octet
        // prefix cost ~24 MB and overflow the stack on removal and drop. Run on a small
        // stack, where recursing once per level would overflow.
        std::thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(|| {
                let mut trie = SubscriptionTrie::new();
                let long = vec![b'a'; 1_000_000];
                trie.add(&long, 1u32);
                assert_eq!(trie.root.children.len(), 1);
                assert_eq!(
                    trie.root.children[0].label.len(),
                    1_000_000,
                    "one edge, one node"
                );
                // Nested prefixes make a chain 4 000 levels deep.
                for len in 1..4_000 {
                    trie.add(&long[..len], 2);
                }
                assert!(trie.matches(&long));
                assert_eq!(matches_of(&trie, &long[..3]), [2, 2, 2]);
                assert!(trie.remove(&long, 1, true).unwrap().prefix_gone);
                assert_eq!(trie.prefixes().len(), 3_999);
                drop(trie);
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
