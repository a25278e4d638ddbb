//! The two-ways check: can the dictionary produce one string from two
//! different word choices (in one style or across two)? If so, the counted
//! space is a lie and unique mode could hand out a repeat, so such a
//! dictionary is refused, naming the string and both ways.
//!
//! Each style is an automaton over bytes: one trie per pool, and after a
//! complete word the walk may either continue in the trie or jump to the next
//! pool's trie. Two different choices producing one string are two different
//! accepting walks over it, so the check explores pairs of walks in lockstep
//! (the product automaton) and looks for a pair that has diverged and where
//! both walks accept. The search is breadth first, so the reported string is
//! a shortest one.

use super::dict::Dictionary;
use std::collections::{HashMap, VecDeque};

type NodeId = u32;

struct Node {
    children: Vec<(u8, NodeId)>,
    /// A pool entry ends here.
    end: bool,
    style: u16,
    pool: u16,
}

struct Automaton {
    nodes: Vec<Node>,
    /// `roots[style][pool]`.
    roots: Vec<Vec<NodeId>>,
}

impl Automaton {
    fn build(dict: &Dictionary) -> Automaton {
        let mut nodes = Vec::new();
        let mut roots = Vec::new();
        for (s, style) in dict.styles.iter().enumerate() {
            let mut style_roots = Vec::new();
            for (p, pool) in style.pools.iter().enumerate() {
                let root = nodes.len() as NodeId;
                let new_node = |nodes: &mut Vec<Node>| {
                    nodes.push(Node {
                        children: Vec::new(),
                        end: false,
                        style: s as u16,
                        pool: p as u16,
                    });
                    (nodes.len() - 1) as NodeId
                };
                new_node(&mut nodes);
                for &entry in pool.entries.iter() {
                    let mut at = root;
                    for &b in dict.entry_bytes(entry) {
                        let existing = nodes[at as usize]
                            .children
                            .iter()
                            .find(|&&(c, _)| c == b)
                            .map(|&(_, n)| n);
                        at = match existing {
                            Some(n) => n,
                            None => {
                                let n = new_node(&mut nodes);
                                nodes[at as usize].children.push((b, n));
                                n
                            }
                        };
                    }
                    nodes[at as usize].end = true;
                }
                style_roots.push(root);
            }
            roots.push(style_roots);
        }
        Automaton { nodes, roots }
    }

    fn child(&self, n: NodeId, b: u8) -> Option<NodeId> {
        self.nodes[n as usize]
            .children
            .iter()
            .find(|&&(c, _)| c == b)
            .map(|&(_, n)| n)
    }

    /// Root of the pool after `n`'s, when `n` ends a word that is not last.
    fn next_root(&self, n: NodeId) -> Option<NodeId> {
        let node = &self.nodes[n as usize];
        if !node.end {
            return None;
        }
        self.roots[node.style as usize]
            .get(node.pool as usize + 1)
            .copied()
    }

    fn accepts(&self, n: NodeId) -> bool {
        self.nodes[n as usize].end && self.next_root(n).is_none()
    }

    /// Every way to read byte `b` from `n`: continuing the current word
    /// (choice 0) or starting the next pool's word (choice 1).
    fn steps(&self, n: NodeId, b: u8) -> [Option<NodeId>; 2] {
        [
            self.child(n, b),
            self.next_root(n).and_then(|r| self.child(r, b)),
        ]
    }

    /// Bytes that can follow `n`.
    fn next_bytes(&self, n: NodeId, out: &mut Vec<u8>) {
        out.clear();
        out.extend(self.nodes[n as usize].children.iter().map(|&(c, _)| c));
        if let Some(r) = self.next_root(n) {
            out.extend(self.nodes[r as usize].children.iter().map(|&(c, _)| c));
        }
        out.sort_unstable();
        out.dedup();
    }
}

/// A pair of walks over the same bytes; `diverged` once they made different
/// choices (or started in different styles).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct State {
    a: NodeId,
    b: NodeId,
    diverged: bool,
}

/// Looks for one string the dictionary can produce in two ways. Returns a
/// message naming the string and both ways, or `None` if there is none.
pub(crate) fn find_two_ways(dict: &Dictionary) -> Option<String> {
    let auto = Automaton::build(dict);
    let mut parent: HashMap<State, Option<(State, u8)>> = HashMap::new();
    let mut queue = VecDeque::new();
    let styles = auto.roots.len();
    for s1 in 0..styles {
        for s2 in s1..styles {
            let start = State {
                a: auto.roots[s1][0],
                b: auto.roots[s2][0],
                diverged: s1 != s2,
            };
            parent.insert(start, None);
            queue.push_back(start);
        }
    }
    let mut bytes_a = Vec::new();
    let mut bytes_b = Vec::new();
    while let Some(state) = queue.pop_front() {
        if state.diverged && auto.accepts(state.a) && auto.accepts(state.b) {
            return Some(describe(dict, &auto, &parent, state));
        }
        auto.next_bytes(state.a, &mut bytes_a);
        auto.next_bytes(state.b, &mut bytes_b);
        for &byte in bytes_a.iter().filter(|c| bytes_b.binary_search(c).is_ok()) {
            let steps_a = auto.steps(state.a, byte);
            let steps_b = auto.steps(state.b, byte);
            for (ca, na) in steps_a.iter().enumerate() {
                for (cb, nb) in steps_b.iter().enumerate() {
                    let (Some(na), Some(nb)) = (*na, *nb) else {
                        continue;
                    };
                    if !state.diverged && cb < ca {
                        continue; // Same walk so far: the mirror pair suffices.
                    }
                    let next = State {
                        a: na,
                        b: nb,
                        diverged: state.diverged || ca != cb,
                    };
                    if let std::collections::hash_map::Entry::Vacant(v) = parent.entry(next) {
                        v.insert(Some((state, byte)));
                        queue.push_back(next);
                    }
                }
            }
        }
    }
    None
}

fn describe(
    dict: &Dictionary,
    auto: &Automaton,
    parent: &HashMap<State, Option<(State, u8)>>,
    end: State,
) -> String {
    let mut bytes = Vec::new();
    let mut walk = vec![end];
    let mut at = end;
    while let Some(Some((prev, byte))) = parent.get(&at) {
        bytes.push(*byte);
        walk.push(*prev);
        at = *prev;
    }
    bytes.reverse();
    walk.reverse();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let way = |side: fn(&State) -> NodeId| {
        let nodes: Vec<&Node> = walk.iter().map(|s| &auto.nodes[side(s) as usize]).collect();
        let style = &dict.styles[nodes[0].style as usize];
        // A new word starts wherever the walk moved to the next pool.
        let mut words: Vec<Vec<u8>> = vec![Vec::new()];
        for (i, &b) in bytes.iter().enumerate() {
            if i > 0 && nodes[i + 1].pool != nodes[i].pool {
                words.push(Vec::new());
            }
            words.last_mut().expect("starts with one word").push(b);
        }
        let words: Vec<String> = words
            .iter()
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        format!(
            "style '{}' (line {}, {}) as {}",
            style.name,
            style.line,
            style.template,
            words.join(" + ")
        )
    };
    format!(
        "'{text}' can be produced two ways: {} and {}; remove or change a word so each nickname has one way",
        way(|s| s.a),
        way(|s| s.b)
    )
}
