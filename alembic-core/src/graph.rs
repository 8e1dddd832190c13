//! The revision graph: a validated map of [`Revision`]s with Alembic's notions of heads, bases,
//! branch labels and `depends_on` dependencies.
//!
//! Built once from a list of revisions ([`RevisionMap::new`]) and then only queried. Internally
//! every revision is an index into a vector, so walks are linear in the part of the graph they
//! touch; ids are looked up through one hash map.
//!
//! Two kinds of edges exist, as in Alembic:
//! - *versioned* edges: `Revises` (`down_revisions`). They decide heads, bases, branch points,
//!   merge points and which rows `alembic_version` holds.
//! - *dependency* edges: `Depends On`. They order migrations (a revision runs after what it
//!   depends on) without making the two revisions one branch.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use crate::revision::Revision;

/// One problem found while building a [`RevisionMap`]. Each carries the ids involved, so that the
/// caller (which knows the files) can point at the right script.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    #[error("revision {id} is declared more than once")]
    DuplicateId { id: String },
    #[error("revision {id} lists itself in Revises")]
    RevisesItself { id: String },
    #[error("revision {id} lists itself in Depends On")]
    DependsOnItself { id: String },
    #[error("revision {id} revises {missing}, which does not exist")]
    MissingDownRevision { id: String, missing: String },
    #[error("revision {id} depends on {missing}, which is neither a revision nor a branch label")]
    MissingDependency { id: String, missing: String },
    #[error(
        "revision {id} depends on '{dependency}', which is a prefix of several revisions: {}",
        candidates.join(", ")
    )]
    AmbiguousDependency {
        id: String,
        dependency: String,
        candidates: Vec<String>,
    },
    #[error("branch label '{label}' of revision {id} is already declared by revision {first}")]
    DuplicateLabel {
        label: String,
        id: String,
        first: String,
    },
    #[error("branch label '{label}' of revision {id} is also the id of a revision")]
    LabelIsRevisionId { label: String, id: String },
    /// A cycle through `Revises`: the ids of the revisions on it, in map order.
    #[error("cycle detected in revisions ({})", ids.join(", "))]
    Cycle { ids: Vec<String> },
    /// A cycle that needs `Depends On` edges to close.
    #[error("dependency cycle detected in revisions ({})", ids.join(", "))]
    DependencyCycle { ids: Vec<String> },
}

/// Every problem found in a set of revisions, in a stable order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphErrors(pub Vec<GraphError>);

impl fmt::Display for GraphErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for GraphErrors {}

/// Per-revision derived data, indices into [`RevisionMap::revs`].
#[derive(Clone, Debug, Default)]
pub(crate) struct Node {
    /// `Revises`, as indices, in declared order.
    pub(crate) down: Vec<usize>,
    /// `Depends On` resolved to revision indices (labels resolve to the revision declaring them).
    pub(crate) deps: Vec<usize>,
    /// `deps` minus what an ancestor (through `Revises`) already depends on.
    pub(crate) norm_deps: Vec<usize>,
    /// `down` followed by `norm_deps`, without duplicates: the edges migrations are ordered by.
    pub(crate) norm_down: Vec<usize>,
    /// Revisions that list this one in `Revises`, in map order.
    pub(crate) next: Vec<usize>,
    /// Revisions that list this one in `Revises` or `Depends On`, in map order.
    pub(crate) all_next: Vec<usize>,
}

/// Revision ids and branch labels to indexes. Every command looks up thousands of ids (a walk over
/// 10,000 revisions asks several questions of each), and std's default SipHash showed up in
/// profiles; the keys come from the project's own scripts, so hash flooding is not a concern.
type IdMap = HashMap<String, usize, BuildHasherDefault<IdHasher>>;

/// The multiply-rotate hash of rustc's `FxHasher`: a few instructions per 8 bytes of key.
#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

impl IdHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A validated revision graph. See the module documentation.
#[derive(Clone, Debug)]
pub struct RevisionMap {
    revs: Vec<Revision>,
    pub(crate) nodes: Vec<Node>,
    by_id: IdMap,
    /// Branch label -> the revision that declares it.
    by_label: IdMap,
    heads: Vec<usize>,
    real_heads: Vec<usize>,
    bases: Vec<usize>,
    real_bases: Vec<usize>,
    /// Distinct branch labels, sorted; bit `k` of a label set stands for `label_names[k]`.
    label_names: Vec<String>,
    /// Words per label set.
    label_words: usize,
    /// Declared and inherited labels of each revision, `label_words` words per revision.
    label_bits: Vec<u64>,
    /// Position of each revision in an order where every revision comes after what it needs
    /// (through `Revises` and `Depends On`): an ancestor always has a smaller position.
    position: Vec<usize>,
}

impl RevisionMap {
    /// Validates `revisions` and builds the map. The order of `revisions` is the map order, which
    /// (as in Alembic) decides the order of heads and bases and breaks ties when sorting.
    ///
    /// Every problem is reported, not only the first.
    pub fn new(revisions: Vec<Revision>) -> Result<RevisionMap, GraphErrors> {
        let mut errors = Vec::new();

        // Ids. A duplicate is reported and the first declaration kept, so that the other checks
        // still run on a sensible graph.
        let mut by_id = IdMap::with_capacity_and_hasher(revisions.len(), Default::default());
        let mut revs: Vec<Revision> = Vec::with_capacity(revisions.len());
        for rev in revisions {
            if by_id.contains_key(&rev.id) {
                errors.push(GraphError::DuplicateId { id: rev.id.clone() });
                continue;
            }
            by_id.insert(rev.id.clone(), revs.len());
            revs.push(rev);
        }

        // Branch labels: unique, and distinct from every revision id (both live in one namespace
        // when targets are resolved).
        let mut by_label = IdMap::default();
        for (i, rev) in revs.iter().enumerate() {
            for label in &rev.branch_labels {
                if by_id.contains_key(label) {
                    errors.push(GraphError::LabelIsRevisionId {
                        label: label.clone(),
                        id: rev.id.clone(),
                    });
                } else if let Some(&first) = by_label.get(label) {
                    if first != i {
                        errors.push(GraphError::DuplicateLabel {
                            label: label.clone(),
                            id: rev.id.clone(),
                            first: revs[first].id.clone(),
                        });
                    }
                } else {
                    by_label.insert(label.clone(), i);
                }
            }
        }

        // Edges. Unknown or self references are reported and dropped.
        let mut nodes: Vec<Node> = vec![Node::default(); revs.len()];
        for (i, rev) in revs.iter().enumerate() {
            for down in &rev.down_revisions {
                if *down == rev.id {
                    errors.push(GraphError::RevisesItself { id: rev.id.clone() });
                    continue;
                }
                match by_id.get(down) {
                    Some(&d) => {
                        if !nodes[i].down.contains(&d) {
                            nodes[i].down.push(d);
                        }
                    }
                    None => errors.push(GraphError::MissingDownRevision {
                        id: rev.id.clone(),
                        missing: down.clone(),
                    }),
                }
            }
            for dep in &rev.depends_on {
                if *dep == rev.id {
                    errors.push(GraphError::DependsOnItself { id: rev.id.clone() });
                    continue;
                }
                match resolve_dependency(dep, &by_id, &by_label, &revs) {
                    Ok(d) if d == i => {
                        errors.push(GraphError::DependsOnItself { id: rev.id.clone() })
                    }
                    Ok(d) => {
                        if !nodes[i].deps.contains(&d) {
                            nodes[i].deps.push(d);
                        }
                    }
                    Err(candidates) if candidates.is_empty() => {
                        errors.push(GraphError::MissingDependency {
                            id: rev.id.clone(),
                            missing: dep.clone(),
                        })
                    }
                    Err(candidates) => errors.push(GraphError::AmbiguousDependency {
                        id: rev.id.clone(),
                        dependency: dep.clone(),
                        candidates,
                    }),
                }
            }
        }
        for i in 0..nodes.len() {
            // Taken out and put back rather than cloned: a copy per revision showed up in
            // profiles. Only other nodes' `next` lists change meanwhile (no self edges remain).
            let down = std::mem::take(&mut nodes[i].down);
            let deps = std::mem::take(&mut nodes[i].deps);
            for &d in &down {
                nodes[d].next.push(i);
                nodes[d].all_next.push(i);
            }
            for &d in &deps {
                if !down.contains(&d) {
                    nodes[d].all_next.push(i);
                }
            }
            nodes[i].down = down;
            nodes[i].deps = deps;
        }

        // Cycles: first through `Revises` alone, then through all edges.
        let versioned = strongly_connected(nodes.len(), |i| nodes[i].down.as_slice());
        let had_versioned_cycle = !versioned.is_empty();
        for comp in versioned {
            errors.push(GraphError::Cycle {
                ids: comp.iter().map(|&i| revs[i].id.clone()).collect(),
            });
        }
        if !had_versioned_cycle {
            let all_down: Vec<Vec<usize>> = nodes
                .iter()
                .map(|n| {
                    let mut v = n.down.clone();
                    v.extend(n.deps.iter().copied().filter(|d| !n.down.contains(d)));
                    v
                })
                .collect();
            for comp in strongly_connected(nodes.len(), |i| all_down[i].as_slice()) {
                errors.push(GraphError::DependencyCycle {
                    ids: comp.iter().map(|&i| revs[i].id.clone()).collect(),
                });
            }
        }

        if !errors.is_empty() {
            return Err(GraphErrors(errors));
        }

        let heads = (0..revs.len())
            .filter(|&i| nodes[i].next.is_empty())
            .collect();
        let real_heads = (0..revs.len())
            .filter(|&i| nodes[i].all_next.is_empty())
            .collect();
        let bases = (0..revs.len())
            .filter(|&i| revs[i].down_revisions.is_empty())
            .collect();
        let real_bases = (0..revs.len())
            .filter(|&i| revs[i].down_revisions.is_empty() && revs[i].depends_on.is_empty())
            .collect();

        let mut map = RevisionMap {
            revs,
            nodes,
            by_id,
            by_label,
            heads,
            real_heads,
            bases,
            real_bases,
            label_names: Vec::new(),
            label_words: 0,
            label_bits: Vec::new(),
            position: Vec::new(),
        };
        // Both walks need the same order; `normalize_dependencies` does not change `down`.
        let order = map.parents_first();
        map.normalize_dependencies(&order);
        map.inherit_labels(&order);
        map.position = map.positions();
        Ok(map)
    }

    /// A dependency that an ancestor (through `Revises`) already declares is implied, and
    /// dropped from the edges migrations are ordered and version rows are moved by. A dependency
    /// on a plain ancestor is kept, as Alembic keeps it.
    fn normalize_dependencies(&mut self, order: &[usize]) {
        let n = self.nodes.len();
        // Bitsets over the distinct dependency targets: what some revision below (through
        // `Revises`) already depends on, computed parents first in one pass.
        let mut targets: Vec<usize> = self
            .nodes
            .iter()
            .flat_map(|nd| nd.deps.iter().copied())
            .collect();
        targets.sort_unstable();
        targets.dedup();
        let words = targets.len().div_ceil(64);
        let bit = |d: usize| targets.binary_search(&d).ok();
        let mut below = vec![0u64; n * words];
        for &i in order {
            for &p in &self.nodes[i].down {
                for w in 0..words {
                    below[i * words + w] |= below[p * words + w];
                }
                for &d in &self.nodes[p].deps {
                    if let Some(k) = bit(d) {
                        below[i * words + k / 64] |= 1 << (k % 64);
                    }
                }
            }
        }
        for i in 0..n {
            let inherited =
                |d: usize| bit(d).is_some_and(|k| below[i * words + k / 64] & (1 << (k % 64)) != 0);
            let norm: Vec<usize> = self.nodes[i]
                .deps
                .iter()
                .copied()
                .filter(|&d| !inherited(d))
                .collect();
            let mut norm_down = self.nodes[i].down.clone();
            for &d in &norm {
                if !norm_down.contains(&d) {
                    norm_down.push(d);
                }
            }
            self.nodes[i].norm_deps = norm;
            self.nodes[i].norm_down = norm_down;
        }
    }

    /// Branch labels spread to every descendant (through `Revises`) of the revision declaring
    /// them, and down to its ancestors as long as the line is plain: Alembic walks down from
    /// the top of the labelled revision's line, labelling each revision until it meets a merge
    /// point or a revision with a second child (counting dependents). So the ancestors are
    /// reached only when everything from the top of the line down to them is one plain line.
    ///
    /// Label sets are bitsets over the sorted distinct labels, computed in one pass up and one
    /// pass down the graph, so that many labels on a long history stay linear.
    fn inherit_labels(&mut self, order: &[usize]) {
        let n = self.nodes.len();
        let mut names: Vec<String> = self.by_label.keys().cloned().collect();
        names.sort();
        let words = names.len().div_ceil(64);
        let mut declared = vec![0u64; n * words];
        for (i, rev) in self.revs.iter().enumerate() {
            for label in &rev.branch_labels {
                if let Ok(bit) = names.binary_search(label) {
                    declared[i * words + bit / 64] |= 1 << (bit % 64);
                }
            }
        }
        // A revision Alembic's walk passes through: not a merge point, at most one child.
        let plain: Vec<bool> = self
            .nodes
            .iter()
            .map(|nd| nd.all_next.len() <= 1 && nd.down.len() <= 1)
            .collect();
        // The walk from the top of this revision's line reaches it and goes on below it.
        let mut plain_up = vec![false; n];
        for &i in order.iter().rev() {
            plain_up[i] = plain[i] && self.nodes[i].next.first().map_or(true, |&c| plain_up[c]);
        }
        let mut bits = declared.clone();
        // Down the graph: every descendant gets the labels of its parents.
        for &i in order {
            for &d in &self.nodes[i].down {
                for w in 0..words {
                    bits[i * words + w] |= bits[d * words + w];
                }
            }
        }
        // Up the graph (children first): labels walked down from above.
        let mut walked = vec![0u64; n * words];
        for &p in order.iter().rev() {
            let node = &self.nodes[p];
            if !plain[p] {
                continue;
            }
            let Some(&c) = node.next.first() else {
                continue;
            };
            if !node.all_next.contains(&c) || node.all_next.len() != 1 {
                continue;
            }
            for w in 0..words {
                let mut v = 0;
                if plain_up[c] {
                    v |= declared[c * words + w];
                }
                if plain[c] {
                    v |= walked[c * words + w];
                }
                walked[p * words + w] = v;
            }
        }
        for (b, w) in bits.iter_mut().zip(&walked) {
            *b |= *w;
        }
        self.label_names = names;
        self.label_words = words;
        self.label_bits = bits;
    }

    /// Positions in an order where each revision comes after all it needs.
    fn positions(&self) -> Vec<usize> {
        let n = self.nodes.len();
        let mut pending: Vec<usize> = self.nodes.iter().map(|nd| nd.norm_down.len()).collect();
        let mut up: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, nd) in self.nodes.iter().enumerate() {
            for &d in &nd.norm_down {
                up[d].push(i);
            }
        }
        let mut ready: Vec<usize> = (0..n).filter(|&i| pending[i] == 0).collect();
        let mut position = vec![0; n];
        let mut next = 0;
        while let Some(i) = ready.pop() {
            position[i] = next;
            next += 1;
            for &c in &up[i] {
                pending[c] -= 1;
                if pending[c] == 0 {
                    ready.push(c);
                }
            }
        }
        position
    }

    /// Revisions ordered so that each comes after its `Revises`.
    fn parents_first(&self) -> Vec<usize> {
        let n = self.nodes.len();
        let mut pending: Vec<usize> = self.nodes.iter().map(|nd| nd.down.len()).collect();
        let mut ready: Vec<usize> = (0..n).filter(|&i| pending[i] == 0).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(i) = ready.pop() {
            order.push(i);
            for &c in &self.nodes[i].next {
                pending[c] -= 1;
                if pending[c] == 0 {
                    ready.push(c);
                }
            }
        }
        order
    }

    /// Whether revision `i` carries branch label `label` (declared or inherited).
    pub(crate) fn has_label(&self, i: usize, label: &str) -> bool {
        match self.label_names.binary_search_by(|l| l.as_str().cmp(label)) {
            Ok(bit) => self.label_bits[i * self.label_words + bit / 64] & (1 << (bit % 64)) != 0,
            Err(_) => false,
        }
    }

    /// The labels of revision `i`, sorted.
    pub(crate) fn label_list(&self, i: usize) -> Vec<&str> {
        let words = &self.label_bits[i * self.label_words..(i + 1) * self.label_words];
        self.label_names
            .iter()
            .enumerate()
            .filter(|(bit, _)| words[bit / 64] & (1 << (bit % 64)) != 0)
            .map(|(_, l)| l.as_str())
            .collect()
    }

    // ----- lookups -------------------------------------------------------------------------

    /// Number of revisions.
    pub fn len(&self) -> usize {
        self.revs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.revs.is_empty()
    }

    /// All revisions, in map order.
    pub fn iter(&self) -> impl Iterator<Item = &Revision> {
        self.revs.iter()
    }

    /// The revision with exactly this id (no prefixes, no symbols; see [`crate::target`]).
    pub fn get(&self, id: &str) -> Option<&Revision> {
        self.by_id.get(id).map(|&i| &self.revs[i])
    }

    /// Whether `id` is the id of a revision.
    pub fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    /// The revision that declares branch label `label`.
    pub fn label_owner(&self, label: &str) -> Option<&str> {
        self.by_label.get(label).map(|&i| self.revs[i].id.as_str())
    }

    /// Heads: revisions that no revision `Revises`, in map order. A revision that is only
    /// depended on is still a head. This is what `alembic heads` prints.
    pub fn heads(&self) -> Vec<&str> {
        self.ids(&self.heads)
    }

    /// Heads once `Depends On` counts too: revisions nothing revises or depends on. This is what
    /// the target `heads` upgrades to, and the rows `alembic_version` holds after `upgrade heads`.
    pub fn real_heads(&self) -> Vec<&str> {
        self.ids(&self.real_heads)
    }

    /// Bases: revisions with no `Revises`, in map order.
    pub fn bases(&self) -> Vec<&str> {
        self.ids(&self.bases)
    }

    /// Bases that depend on nothing either.
    pub fn real_bases(&self) -> Vec<&str> {
        self.ids(&self.real_bases)
    }

    /// Branch labels of `id`, declared and inherited, sorted. Empty for an unknown id.
    pub fn labels(&self, id: &str) -> Vec<&str> {
        match self.by_id.get(id) {
            Some(&i) => self.label_list(i),
            None => Vec::new(),
        }
    }

    /// Revisions that list `id` in `Revises`, in map order.
    pub fn children(&self, id: &str) -> Vec<&str> {
        self.with(id, |n| &n.next)
    }

    /// Revisions that list `id` in `Depends On` (and not in `Revises`), in map order.
    pub fn dependents(&self, id: &str) -> Vec<&str> {
        match self.by_id.get(id) {
            Some(&i) => {
                let n = &self.nodes[i];
                n.all_next
                    .iter()
                    .filter(|c| !n.next.contains(c))
                    .map(|&c| self.revs[c].id.as_str())
                    .collect()
            }
            None => Vec::new(),
        }
    }

    /// `Depends On` of `id` resolved to revision ids (labels and prefixes replaced).
    pub fn dependencies(&self, id: &str) -> Vec<&str> {
        self.with(id, |n| &n.deps)
    }

    /// The revisions `id` must run after: its `Revises`, then its dependencies that no ancestor
    /// already declares. This is what version rows move along.
    pub fn effective_down_revisions(&self, id: &str) -> Vec<&str> {
        self.with(id, |n| &n.norm_down)
    }

    /// More than one revision lists `id` in `Revises`.
    pub fn is_branch_point(&self, id: &str) -> bool {
        self.by_id
            .get(id)
            .is_some_and(|&i| self.nodes[i].next.len() > 1)
    }

    /// `id` lists more than one revision in `Revises`.
    pub fn is_merge_point(&self, id: &str) -> bool {
        self.by_id
            .get(id)
            .is_some_and(|&i| self.nodes[i].down.len() > 1)
    }

    /// No revision lists `id` in `Revises`.
    pub fn is_head(&self, id: &str) -> bool {
        self.by_id
            .get(id)
            .is_some_and(|&i| self.nodes[i].next.is_empty())
    }

    /// `id` has no `Revises`.
    pub fn is_base(&self, id: &str) -> bool {
        self.by_id
            .get(id)
            .is_some_and(|&i| self.nodes[i].down.is_empty())
    }

    /// Every revision `id` needs (through `Revises` and `Depends On`), excluding itself, in map
    /// order.
    pub fn ancestors(&self, id: &str) -> Vec<&str> {
        match self.by_id.get(id) {
            Some(&i) => {
                let set = self.ancestor_set(&[i], true);
                (0..self.len())
                    .filter(|&j| j != i && set[j])
                    .map(|j| self.revs[j].id.as_str())
                    .collect()
            }
            None => Vec::new(),
        }
    }

    /// Every revision that needs `id` (through `Revises` and `Depends On`), excluding itself, in
    /// map order.
    pub fn descendants(&self, id: &str) -> Vec<&str> {
        match self.by_id.get(id) {
            Some(&i) => {
                let set = self.descendant_set(&[i], true);
                (0..self.len())
                    .filter(|&j| j != i && set[j])
                    .map(|j| self.revs[j].id.as_str())
                    .collect()
            }
            None => Vec::new(),
        }
    }

    // ----- crate-internal index API -------------------------------------------------------

    pub(crate) fn index(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub(crate) fn label_index(&self, label: &str) -> Option<usize> {
        self.by_label.get(label).copied()
    }

    pub(crate) fn id(&self, i: usize) -> &str {
        &self.revs[i].id
    }

    pub(crate) fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    /// See the `position` field: `a` can only be an ancestor of `b` if it is smaller.
    pub(crate) fn position(&self, i: usize) -> usize {
        self.position[i]
    }

    pub(crate) fn head_indices(&self) -> &[usize] {
        &self.heads
    }

    pub(crate) fn real_head_indices(&self) -> &[usize] {
        &self.real_heads
    }

    pub(crate) fn base_indices(&self) -> &[usize] {
        &self.bases
    }

    /// Revision ids with their indices, in map order (the order prefix candidates are listed).
    pub(crate) fn ids_in_order(&self) -> impl Iterator<Item = (usize, &str)> {
        self.revs
            .iter()
            .enumerate()
            .map(|(i, r)| (i, r.id.as_str()))
    }

    /// Membership vector of `starts` and everything below them. With `deps`, `Depends On` edges
    /// count; without, only `Revises`.
    pub(crate) fn ancestor_set(&self, starts: &[usize], deps: bool) -> Vec<bool> {
        self.reachable(starts, |n| if deps { &n.norm_down } else { &n.down })
    }

    /// Membership vector of `starts` and everything above them.
    pub(crate) fn descendant_set(&self, starts: &[usize], deps: bool) -> Vec<bool> {
        self.reachable(starts, |n| if deps { &n.all_next } else { &n.next })
    }

    /// Membership vector of `starts` and everything reachable from them along `edges`.
    fn reachable<'a>(
        &'a self,
        starts: &[usize],
        edges: impl Fn(&'a Node) -> &'a [usize],
    ) -> Vec<bool> {
        let mut seen = vec![false; self.len()];
        let mut stack: Vec<usize> = starts.to_vec();
        while let Some(r) = stack.pop() {
            if std::mem::replace(&mut seen[r], true) {
                continue;
            }
            stack.extend(edges(&self.nodes[r]).iter().copied());
        }
        seen
    }

    /// Whether `a` and `b` are on one line: one is an ancestor of the other (or they are equal).
    pub(crate) fn shares_lineage(&self, a: usize, b: usize, deps: bool) -> bool {
        a == b || self.ancestor_set(&[a], deps)[b] || self.descendant_set(&[a], deps)[b]
    }

    fn ids(&self, idx: &[usize]) -> Vec<&str> {
        idx.iter().map(|&i| self.revs[i].id.as_str()).collect()
    }

    fn with(&self, id: &str, f: impl Fn(&Node) -> &Vec<usize>) -> Vec<&str> {
        match self.by_id.get(id) {
            Some(&i) => self.ids(f(&self.nodes[i])),
            None => Vec::new(),
        }
    }
}

/// A `Depends On` entry: an id, a branch label (the revision declaring it), or a unique id
/// prefix of at least four characters. `Err` carries the candidates of an ambiguous prefix
/// (empty when nothing matches).
fn resolve_dependency(
    dep: &str,
    by_id: &IdMap,
    by_label: &IdMap,
    revs: &[Revision],
) -> Result<usize, Vec<String>> {
    if let Some(&i) = by_id.get(dep).or_else(|| by_label.get(dep)) {
        return Ok(i);
    }
    if dep.len() < 4 {
        return Err(Vec::new());
    }
    let matches: Vec<usize> = (0..revs.len())
        .filter(|&i| revs[i].id.len() > 3 && revs[i].id.starts_with(dep))
        .collect();
    match matches.as_slice() {
        [one] => Ok(*one),
        _ => Err(matches.iter().map(|&i| revs[i].id.clone()).collect()),
    }
}

/// A reusable membership vector, cleared in time proportional to what was set.
pub(crate) struct Marks {
    set: Vec<bool>,
    touched: Vec<usize>,
}

impl Marks {
    pub(crate) fn new(n: usize) -> Self {
        Marks {
            set: vec![false; n],
            touched: Vec::new(),
        }
    }

    /// Marks `i`; false if it was already marked.
    pub(crate) fn set(&mut self, i: usize) -> bool {
        if self.set[i] {
            return false;
        }
        self.set[i] = true;
        self.touched.push(i);
        true
    }

    pub(crate) fn clear(&mut self) {
        for i in self.touched.drain(..) {
            self.set[i] = false;
        }
    }
}

/// Strongly connected components with more than one member (the cycles), each sorted by index,
/// the list sorted by first member. Iterative Tarjan, so deep histories cannot overflow the stack.
fn strongly_connected<'a>(n: usize, edges: impl Fn(usize) -> &'a [usize]) -> Vec<Vec<usize>> {
    const UNVISITED: usize = usize::MAX;
    let mut index = vec![UNVISITED; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut next_index = 0usize;
    let mut out: Vec<Vec<usize>> = Vec::new();
    // (node, position in its edge list)
    let mut call: Vec<(usize, usize)> = Vec::new();
    for root in 0..n {
        if index[root] != UNVISITED {
            continue;
        }
        call.push((root, 0));
        index[root] = next_index;
        low[root] = next_index;
        next_index += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut pos)) = call.last_mut() {
            let es = edges(v);
            if *pos < es.len() {
                let w = es[*pos];
                *pos += 1;
                if index[w] == UNVISITED {
                    index[w] = next_index;
                    low[w] = next_index;
                    next_index += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    call.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                call.pop();
                if let Some(&(parent, _)) = call.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut comp = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    if comp.len() > 1 {
                        comp.sort_unstable();
                        out.push(comp);
                    }
                }
            }
        }
    }
    out.sort();
    out
}

impl RevisionMap {
    /// What `alembic current` lists for the version rows `rows`: each row's revision, plus the
    /// revisions the rows need through `Depends On` that no row is above (so a dependency on
    /// another branch shows up as current too). Map order.
    pub fn current<'s>(
        &'s self,
        rows: &[String],
    ) -> Result<Vec<&'s Revision>, crate::target::ResolveError> {
        let r = crate::target::Resolver::new(self);
        let mut idx = Vec::with_capacity(rows.len());
        for row in rows {
            if let crate::target::Pos::Rev(i) = r.get_revision(row)? {
                idx.push(i);
            }
        }
        Ok(r.all_current(&idx)
            .into_iter()
            .map(|i| &self.revs[i])
            .collect())
    }

    /// Revisions in the order `alembic history [-r RANGE]` prints them: newest first, from the
    /// heads down. `range` is `[start]:[end]` (`base:heads` when absent); either end may be any
    /// target (`ae1f`, `-3`, `label@head`, ...) or `current`, which stands for `current_heads`.
    pub fn history<'a>(
        &self,
        range: Option<&'a str>,
        current_heads: &[String],
    ) -> Result<Vec<&Revision>, crate::target::ResolveError> {
        use crate::select::{collect_upgrade, topological_sort, Arg};
        use crate::target::{ResolveError, Resolver};

        let (base, head) = match range {
            None => ("", ""),
            Some(r) => {
                let parts: Vec<&str> = r.trim().split(':').collect();
                match parts.as_slice() {
                    [b, h] => (*b, *h),
                    _ => {
                        return Err(ResolveError::InvalidRange {
                            range: r.to_string(),
                        })
                    }
                }
            }
        };
        let current: Vec<&str> = current_heads.iter().map(String::as_str).collect();
        // `current` as an end stands for the database's rows; with no rows it falls back to the
        // default end, as in Alembic.
        let pick = |given: &'a str, default: &'static str| -> Arg<'_> {
            if given == "current" && !current.is_empty() {
                Arg::List(&current)
            } else if given.is_empty() || given == "current" {
                Arg::Str(default)
            } else {
                Arg::Str(given)
            }
        };
        let upper = pick(head, "heads");
        let lower = pick(base, "base");
        let r = Resolver::new(self);
        let sel = collect_upgrade(&r, upper, lower, true, false, false)?;
        let order = topological_sort(self, &sel).map_err(|_| ResolveError::UnwalkableRange {
            lower: lower.text(),
            upper: upper.text(),
        })?;
        Ok(order.into_iter().map(|i| &self.revs[i]).collect())
    }
}
