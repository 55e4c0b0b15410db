//! A reference-counted prefix trie of subscriptions (libzmq's `mtrie_t`).
//!
//! Each node stands for one prefix and records which subscribers hold it, how many times.
//! Matching walks the trie along the message's first octets and collects the subscribers
//! of every node on the way, so its cost grows with the length of the matching prefix and
//! the number of matches, not with how many subscriptions exist.

/// Subscriptions of subscribers of type `K` (a peer id, or `()` for a socket's own set).
#[derive(Debug, Clone)]
pub struct SubscriptionTrie<K> {
    root: Node<K>,
    /// Distinct (prefix, subscriber) pairs.
    entries: usize,
}

#[derive(Debug, Clone)]
struct Node<K> {
    /// Subscribers of exactly this prefix with their reference counts, sorted by key.
    subscribers: Vec<(K, u32)>,
    /// Children sorted by their octet.
    children: Vec<(u8, Node<K>)>,
}

impl<K> Default for Node<K> {
    fn default() -> Self {
        Self {
            subscribers: Vec::new(),
            children: Vec::new(),
        }
    }
}

impl<K> Node<K> {
    fn is_empty(&self) -> bool {
        self.subscribers.is_empty() && self.children.is_empty()
    }

    fn child(&self, octet: u8) -> Option<&Node<K>> {
        self.children
            .binary_search_by_key(&octet, |(b, _)| *b)
            .ok()
            .map(|i| &self.children[i].1)
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

impl<K: Copy + Ord> SubscriptionTrie<K> {
    /// An empty trie.
    pub fn new() -> Self {
        Self {
            root: Node::default(),
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
        let mut node = &mut self.root;
        for &octet in prefix {
            let i = match node.children.binary_search_by_key(&octet, |(b, _)| *b) {
                Ok(i) => i,
                Err(i) => {
                    node.children.insert(i, (octet, Node::default()));
                    i
                }
            };
            node = &mut node.children[i].1;
        }
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
        let removed = remove_in(&mut self.root, prefix, subscriber, all)?;
        if removed.gone_for_subscriber {
            self.entries -= 1;
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
            let Some((&octet, tail)) = rest.split_first() else {
                return;
            };
            match node.child(octet) {
                Some(child) => {
                    node = child;
                    rest = tail;
                }
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
            let Some((&octet, tail)) = rest.split_first() else {
                return false;
            };
            match node.child(octet) {
                Some(child) => {
                    node = child;
                    rest = tail;
                }
                None => return false,
            }
        }
    }

    /// Every prefix that has at least one subscriber, each once, in octet order.
    pub fn prefixes(&self) -> Vec<Vec<u8>> {
        fn walk<K>(node: &Node<K>, path: &mut Vec<u8>, out: &mut Vec<Vec<u8>>) {
            if !node.subscribers.is_empty() {
                out.push(path.clone());
            }
            for (octet, child) in &node.children {
                path.push(*octet);
                walk(child, path, out);
                path.pop();
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &mut Vec::new(), &mut out);
        out
    }

    /// The reference count `subscriber` holds on exactly `prefix`.
    pub fn count(&self, prefix: &[u8], subscriber: K) -> u32 {
        let mut node = &self.root;
        for &octet in prefix {
            match node.child(octet) {
                Some(child) => node = child,
                None => return 0,
            }
        }
        node.subscribers
            .binary_search_by_key(&subscriber, |(k, _)| *k)
            .map_or(0, |i| node.subscribers[i].1)
    }
}

/// Removes from the subtree and prunes nodes left empty on the way back up.
fn remove_in<K: Copy + Ord>(
    node: &mut Node<K>,
    prefix: &[u8],
    subscriber: K,
    all: bool,
) -> Option<Removed> {
    match prefix.split_first() {
        None => {
            let i = node
                .subscribers
                .binary_search_by_key(&subscriber, |(k, _)| *k)
                .ok()?;
            let count = &mut node.subscribers[i].1;
            *count = if all { 0 } else { *count - 1 };
            let gone_for_subscriber = *count == 0;
            if gone_for_subscriber {
                node.subscribers.remove(i);
            }
            Some(Removed {
                gone_for_subscriber,
                prefix_gone: node.subscribers.is_empty(),
            })
        }
        Some((&octet, rest)) => {
            let i = node
                .children
                .binary_search_by_key(&octet, |(b, _)| *b)
                .ok()?;
            let removed = remove_in(&mut node.children[i].1, rest, subscriber, all)?;
            if node.children[i].1.is_empty() {
                node.children.remove(i);
            }
            Some(removed)
        }
    }
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
}
