//! Which revisions a range covers, and in which order: Alembic's revision collection for
//! upgrades (also used by `history`) and downgrades, and its topological sort.
//!
//! Shared by [`crate::plan`] and [`crate::RevisionMap::history`], so that both walk a range the
//! same way.

use crate::graph::{Marks, RevisionMap};
use crate::target::{Pos, ResolveError, Resolver};

/// A range end as Alembic receives it: one string (which may be symbolic: `heads`, `-3`,
/// `label@base`) or a list of strings (the database's heads).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Arg<'a> {
    Str(&'a str),
    List(&'a [&'a str]),
}

impl<'a> Arg<'a> {
    fn items(&self) -> Vec<&'a str> {
        match *self {
            Arg::Str(s) => vec![s],
            Arg::List(l) => l.to_vec(),
        }
    }

    pub(crate) fn text(&self) -> String {
        match self {
            Arg::Str(s) => s.to_string(),
            Arg::List(l) => l.join(","),
        }
    }
}

/// The members of a selection and the revisions the sort starts from.
pub(crate) struct Selection {
    pub(crate) members: Vec<bool>,
    pub(crate) heads: Vec<usize>,
}

/// The revisions among `positions`; the base, or a walk that went too far, is an error here
/// (Alembic fails on an assertion).
fn only_revisions(positions: Vec<Pos>, target: &str) -> Result<Vec<usize>, ResolveError> {
    positions
        .into_iter()
        .map(|p| match p {
            Pos::Rev(i) => Ok(i),
            Pos::Base => Err(ResolveError::BaseNotAllowed {
                target: target.to_string(),
            }),
            Pos::Nothing => Err(ResolveError::WalkedTooFar {
                target: target.to_string(),
            }),
        })
        .collect()
}

/// Everything below `targets` (included), following `Depends On` when `deps`, upward instead
/// when `up`. With `check`, a target met while walking from another one is an error, as in
/// Alembic (it means two requested revisions are on one line).
fn related(
    map: &RevisionMap,
    targets: &[usize],
    deps: bool,
    up: bool,
    check: bool,
) -> Result<Vec<bool>, ResolveError> {
    let n = map.len();
    let mut seen = vec![false; n];
    let mut is_target = vec![false; n];
    for &t in targets {
        is_target[t] = true;
    }
    let mut per_target = Marks::new(n);
    let mut met: Vec<usize> = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    for &t in targets {
        stack.push(t);
        per_target.clear();
        met.clear();
        while let Some(r) = stack.pop() {
            if check && per_target.set(r) && is_target[r] && r != t {
                met.push(r);
            }
            if std::mem::replace(&mut seen[r], true) {
                continue;
            }
            let node = map.node(r);
            let next = match (up, deps) {
                (false, true) => &node.norm_down,
                (false, false) => &node.down,
                (true, true) => &node.all_next,
                (true, false) => &node.next,
            };
            stack.extend(next.iter().copied());
        }
        if !met.is_empty() {
            return Err(ResolveError::Overlap {
                revision: map.id(t).to_string(),
                others: met.iter().map(|&m| map.id(m).to_string()).collect(),
            });
        }
    }
    Ok(seen)
}

/// Alembic's upgrade collection: what lies below `upper` and not below `lower`.
pub(crate) fn collect_upgrade(
    r: &Resolver<'_>,
    upper: Arg<'_>,
    lower: Arg<'_>,
    inclusive: bool,
    implicit_base: bool,
    assert_len: bool,
) -> Result<Selection, ResolveError> {
    let map = r.map;
    let lower_items = lower.items();
    let upper_text = upper.text();
    let positions = match upper {
        Arg::Str(s) => r.upgrade_target(&lower_items, s, assert_len)?,
        Arg::List(l) => r.get_revisions_of(l)?,
    };
    let mut targets = only_revisions(positions, &upper_text)?;

    // `LABEL@...` as the lower end keeps only targets on that branch.
    if let Arg::Str(s) = lower {
        if let Some((branch, _)) = s.split_once('@') {
            let mut branch = branch.to_string();
            if let Pos::Rev(b) = r.get_revision(&branch)? {
                if map.id(b) == branch {
                    match map.label_list(b).as_slice() {
                        [one] => branch = one.to_string(),
                        _ => return Err(ResolveError::UnknownBranch { label: branch }),
                    }
                }
            }
            targets.retain(|&t| map.has_label(t, &branch));
        }
    }

    let mut required = related(map, &targets, true, false, true)?;
    for &t in &targets {
        required[t] = true;
    }

    let mut lower_now: Option<String> = Some(lower.text());
    let mut current: Vec<Pos> = r.get_revisions_of(&lower_items)?;
    if !implicit_base
        && current
            .iter()
            .any(|p| *p != Pos::Nothing && p.rev().map_or(true, |c| !required[c]))
    {
        return Err(ResolveError::NotAncestor {
            lower: lower.text(),
            upper: upper_text,
        });
    }
    let mut lower_is_relative = false;
    if current.first() == Some(&Pos::Nothing) {
        // A relative lower end that walked off the graph: resolve it as a downgrade target.
        let lower_text = lower.text();
        let upper_items = upper.items();
        let (_, rev) = r.downgrade_target(&upper_items, Some(&lower_text), assert_len)?;
        lower_is_relative = true;
        match rev {
            Pos::Nothing => return Err(ResolveError::BaseNotAllowed { target: lower_text }),
            Pos::Base => {
                current = Vec::new();
                lower_now = None;
            }
            Pos::Rev(i) => {
                current = vec![Pos::Rev(i)];
                lower_now = Some(map.id(i).to_string());
            }
        }
    }
    let current_idx = only_revisions(current, &lower.text())?;
    let mut below_current = related(map, &current_idx, true, false, true)?;
    for &c in &current_idx {
        below_current[c] = true;
    }

    let mut members: Vec<bool> = required
        .iter()
        .zip(&below_current)
        .map(|(&a, &b)| a && !b)
        .collect();
    if inclusive {
        let again = match (&lower_now, lower_is_relative) {
            (None, _) => Vec::new(),
            (Some(id), true) => r.get_revisions(id)?,
            (Some(_), false) => r.get_revisions_of(&lower_items)?,
        };
        for i in only_revisions(again, &lower.text())? {
            members[i] = true;
        }
    }
    if !current_idx.is_empty() && !implicit_base {
        let above = related(map, &current_idx, false, true, true)?;
        for (m, a) in members.iter_mut().zip(above) {
            *m = *m && a;
        }
    }
    Ok(Selection {
        members,
        heads: targets,
    })
}

/// Alembic's downgrade collection: what must be undone, from the database's heads `upper`, to
/// reach `lower`. A destination that is not below the heads is a [`ResolveError::NotAncestor`].
pub(crate) fn collect_downgrade(
    r: &Resolver<'_>,
    upper: &[&str],
    lower: Option<&str>,
    inclusive: bool,
    implicit_base: bool,
    assert_len: bool,
) -> Result<Selection, ResolveError> {
    let map = r.map;
    let not_valid = || ResolveError::NotAncestor {
        lower: lower.unwrap_or("base").to_string(),
        upper: upper.join(","),
    };
    let (label, destination) = r.downgrade_target(upper, lower, assert_len)?;
    let destination = destination.rev();
    let mut roots: Vec<usize> = match destination {
        None => (0..map.len())
            .filter(|&i| map.node(i).down.is_empty())
            .collect(),
        Some(d) if inclusive => vec![d],
        Some(d) => map.node(d).next.clone(),
    };
    if let Some(label) = label.as_deref().filter(|l| !l.is_empty()) {
        if roots.len() > 1 {
            let branch = r.resolve_branch(label)?;
            let below = map.ancestor_set(&[branch], false);
            roots.retain(|&x| below[x]);
            if roots.is_empty() {
                return Err(not_valid());
            }
        }
    }
    let heads = only_revisions(r.get_revisions_of(upper)?, &upper.join(","))?;
    let above_roots = map.descendant_set(&roots, true);
    let active = map.ancestor_set(&heads, true);
    let mut members: Vec<bool> = above_roots
        .iter()
        .zip(&active)
        .map(|(&a, &b)| a && b)
        .collect();
    if implicit_base {
        let below_roots = map.ancestor_set(&roots, true);
        for i in 0..members.len() {
            members[i] = members[i] || (active[i] && !below_roots[i]);
        }
    }
    if let Some(d) = destination {
        if !members.iter().any(|&m| m) && !heads.contains(&d) {
            return Err(not_valid());
        }
    }
    Ok(Selection { members, heads })
}

/// Alembic's topological sort: newest first, each revision after everything that needs it,
/// walking one line down as far as possible before switching to another, with ties broken by
/// map order. Upgrades run the result reversed.
pub(crate) fn topological_sort(
    map: &RevisionMap,
    sel: &Selection,
) -> Result<Vec<usize>, Unsortable> {
    let mut todo = sel.members.clone();
    let mut remaining = todo.iter().filter(|&&t| t).count();
    let mut heads: Vec<usize> = sel.heads.iter().copied().filter(|&h| todo[h]).collect();
    heads.sort_unstable();
    heads.dedup();
    // What lies below each line's current head, computed only when a quick bounded search
    // cannot answer (see `Below`).
    let mut below: Vec<Below> = heads.iter().map(|_| Below::Unknown).collect();
    let mut scratch = Marks::new(map.len());
    let mut out = Vec::with_capacity(remaining);
    let mut idx = 0usize;
    while !heads.is_empty() {
        let candidate = heads[idx];
        let needed_by = (0..heads.len())
            .find(|&j| j != idx && below[j].contains(map, heads[j], candidate, &mut scratch));
        if let Some(j) = needed_by {
            // Another line still needs this revision: finish that line first.
            idx = j;
            continue;
        }
        if todo[candidate] {
            out.push(candidate);
            todo[candidate] = false;
            remaining -= 1;
        }
        let node = map.node(candidate);
        let to_add: Vec<usize> = node
            .norm_down
            .iter()
            .copied()
            .filter(|&d| todo[d] && !heads.contains(&d))
            .collect();
        if to_add.is_empty() {
            heads.remove(idx);
            below.remove(idx);
            idx = idx.saturating_sub(1);
        } else if node.norm_deps.is_empty() && node.down.len() == 1 {
            // Down a plain line: what is below the new head is what was below the old one,
            // minus the old one.
            heads[idx] = to_add[0];
            if let Below::Known(set) = &mut below[idx] {
                set[candidate] = false;
            }
        } else {
            heads[idx] = to_add[0];
            below[idx] = Below::Unknown;
            for &extra in &to_add[1..] {
                heads.push(extra);
                below.push(Below::Unknown);
            }
        }
    }
    if remaining > 0 {
        return Err(Unsortable);
    }
    Ok(out)
}

/// Everything below one line's head (the head included), as Alembic keeps it, but computed
/// lazily: most questions ("is this revision below that head?") are answered by a short search
/// that never goes below the revision asked about. Only when that search grows does the whole
/// set get computed and kept, so long lines with `Depends On` on every revision stay linear.
enum Below {
    Unknown,
    Known(Vec<bool>),
}

/// Search steps before giving up on the bounded search and computing the whole set.
const SEARCH_BUDGET: usize = 16;

impl Below {
    fn contains(
        &mut self,
        map: &RevisionMap,
        head: usize,
        rev: usize,
        scratch: &mut Marks,
    ) -> bool {
        if let Below::Known(set) = self {
            return set[rev];
        }
        if head == rev {
            return true;
        }
        let floor = map.position(rev);
        if map.position(head) < floor {
            return false;
        }
        scratch.clear();
        let mut stack = vec![head];
        scratch.set(head);
        let mut steps = 0usize;
        while let Some(x) = stack.pop() {
            steps += 1;
            if steps > SEARCH_BUDGET {
                let set = map.ancestor_set(&[head], true);
                let found = set[rev];
                *self = Below::Known(set);
                return found;
            }
            for &d in &map.node(x).norm_down {
                if d == rev {
                    return true;
                }
                // An ancestor of `rev` cannot lead back up to it.
                if map.position(d) > floor && scratch.set(d) {
                    stack.push(d);
                }
            }
        }
        false
    }
}

/// Some selected revisions cannot be reached from the sort's starting points through selected
/// revisions (Alembic fails on an assertion). Only `history` ranges can produce this.
#[derive(Debug)]
pub(crate) struct Unsortable;
