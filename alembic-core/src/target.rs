//! Resolving what a user typed (`head`, `heads`, `base`, `ae1f`, `+2`, `-1`, `ae1f+2`,
//! `mybranch@head`, `mybranch@+1`, ...) into revisions, exactly as Alembic resolves them.
//!
//! The public entry point is [`resolve`]. The planner ([`crate::plan`]) and history
//! ([`crate::RevisionMap::history`]) use the crate-internal [`Resolver`], which keeps Alembic's
//! distinction between "nothing" (the empty database) and "base" (walked below the first
//! revision), because some of Alembic's answers depend on it.

use crate::graph::RevisionMap;

/// Why a target could not be resolved. Each variant carries what the user typed and the ids
/// involved; the CLI turns them into advice.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// No revision id, id prefix or branch label matches. Prefixes shorter than four characters
    /// never match (Alembic's rule).
    #[error("Can't locate revision identified by '{target}'")]
    UnknownRevision { target: String },
    #[error("No such branch: '{label}'")]
    UnknownBranch { label: String },
    #[error("Multiple revisions start with '{prefix}': {}", candidates.join(", "))]
    AmbiguousPrefix {
        prefix: String,
        candidates: Vec<String>,
    },
    /// `head` (or `LABEL@head`) while several heads match: use `heads`, `LABEL@head` or merge.
    #[error(
        "Multiple head revisions are present for given argument '{argument}'; please specify a \
         specific target revision, '<branchname>@{argument}' to narrow to a specific head, or \
         'heads' for all heads ({})",
        heads.join(", ")
    )]
    MultipleHeads {
        argument: String,
        heads: Vec<String>,
    },
    #[error("Revision {revision} is not a member of branch '{branch}'")]
    NotOnBranch { revision: String, branch: String },
    /// `+N`/`-N` walked past a head or the base.
    #[error("Relative revision {relative} didn't produce {steps} migrations")]
    RelativeOutOfRange { relative: String, steps: u64 },
    /// `ID+N`/`ID-N` walked past a head or the base.
    #[error("Walked too far from '{target}'")]
    WalkedTooFar { target: String },
    /// A relative step reached a branch point (up) or a merge point (down).
    #[error("Ambiguous walk for '{target}': it reaches a branch or merge point")]
    AmbiguousWalk { target: String },
    /// `+N` from several current heads.
    #[error("Ambiguous upgrade from multiple current revisions ({})", current.join(", "))]
    AmbiguousUpgrade { current: Vec<String> },
    /// `LABEL@-N` while several current heads are on that branch.
    #[error("Ambiguous downgrade of branch '{label}' from several current revisions ({})", current.join(", "))]
    AmbiguousBranchHeads { label: String, current: Vec<String> },
    /// `LABEL@-N` while no current revision is on that branch (Alembic fails on an assertion).
    #[error("No current revision is on branch '{label}' (current: {})", current.join(", "))]
    NoCurrentOnBranch { label: String, current: Vec<String> },
    /// Two of the requested revisions are on one line (one is an ancestor of the other).
    #[error("Requested revision {revision} overlaps with other requested revisions {}", others.join(", "))]
    Overlap {
        revision: String,
        others: Vec<String>,
    },
    /// A range whose ends are not ancestor and descendant.
    #[error(
        "Requested range {lower}:{upper} does not refer to ancestor/descendant revisions along \
         the same branch"
    )]
    NotAncestor { lower: String, upper: String },
    /// A `history` range whose revisions cannot all be reached from its upper end without
    /// leaving the range (it ends at a revision whose descendants are only reached through
    /// `Depends On`). Alembic fails on an assertion here.
    #[error("Cannot walk the range {lower}:{upper}: some of its revisions are only reachable through dependencies outside it")]
    UnwalkableRange { lower: String, upper: String },
    /// `history -r` needs `[start]:[end]`.
    #[error("History range requires [start]:[end], [start]:, or :[end]; got '{range}'")]
    InvalidRange { range: String },
    /// The target names the base where a revision is required (for instance `upgrade ae1f-9`
    /// walking below the first revision; Alembic fails on an assertion there).
    #[error("'{target}' resolves to the base, which is not a revision here")]
    BaseNotAllowed { target: String },
}

/// What a resolution step yields, mirroring Alembic: a revision, the literal "base" produced by
/// walking down past the first revision, or nothing at all (the empty database, or a walk that
/// went too far).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pos {
    Rev(usize),
    Base,
    Nothing,
}

impl Pos {
    pub(crate) fn rev(self) -> Option<usize> {
        match self {
            Pos::Rev(i) => Some(i),
            _ => None,
        }
    }
}

/// Resolves `target` to revision ids (empty for `base`).
///
/// - `head`, `heads`, `base`, a full id, a unique prefix (4+ characters) of an id or a label, a
///   branch label (its declaring revision), `LABEL@head`, `LABEL@heads`, `LABEL@base`, `ID@head`.
/// - Relative forms: `+N` and `LABEL@+N` from `current_heads` upward, `-N` and `LABEL@-N` from
///   `current_heads` downward, `ID+N`, `ID-N`, `LABEL@ID+N`.
pub fn resolve(
    map: &RevisionMap,
    target: &str,
    current_heads: &[String],
) -> Result<Vec<String>, ResolveError> {
    let r = Resolver::new(map);
    let current: Vec<&str> = current_heads.iter().map(String::as_str).collect();
    let positions = match parse_relative(target) {
        Some(rel) if rel.steps > 0 => r.upgrade_target(&current, target, true)?,
        Some(_) => vec![r.downgrade_target(&current, Some(target), true)?.1],
        None => r.get_revisions(target)?,
    };
    let mut out: Vec<String> = Vec::new();
    for p in positions {
        if let Pos::Rev(i) = p {
            let id = map.id(i);
            if !out.iter().any(|o| o == id) {
                out.push(id.to_string());
            }
        }
    }
    Ok(out)
}

/// Resolves the `FROM` of an offline range `FROM:TO` to the version rows the script starts
/// from, as Alembic reads `starting_rev`: `base` (or an empty string) is no row, anything else
/// must name exactly one revision (`heads` or `head` with several heads is
/// [`ResolveError::MultipleHeads`], as in Alembic).
pub fn resolve_start(map: &RevisionMap, from: &str) -> Result<Vec<String>, ResolveError> {
    if from.is_empty() || from == "base" {
        return Ok(Vec::new());
    }
    // Alembic fails on an attribute error when the start names nothing (`LABEL@base`); no row
    // is the only sensible reading.
    Ok(match Resolver::new(map).get_revision(from)? {
        Pos::Rev(i) => vec![map.id(i).to_string()],
        Pos::Base | Pos::Nothing => Vec::new(),
    })
}

/// Splits an offline range `FROM:TO` at its first colon. `None` when there is no colon.
pub fn split_range(s: &str) -> Option<(&str, &str)> {
    s.split_once(':')
}

/// A relative target as Alembic's pattern `(?:(.+?)@)?(\w+)?([+-]\d+)` reads it (anchored at the
/// start only, as Alembic's `match` is).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Relative<'a> {
    pub(crate) label: Option<&'a str>,
    pub(crate) symbol: Option<&'a str>,
    /// The signed step count as written (`+2`, `-1`), for messages.
    pub(crate) text: &'a str,
    pub(crate) steps: i64,
}

pub(crate) fn parse_relative(s: &str) -> Option<Relative<'_>> {
    // The label group is tried first (shortest label first), then no label.
    let label_splits = s.match_indices('@').map(|(k, _)| k).filter(|&k| k > 0);
    for k in label_splits {
        if let Some(rel) = parse_symbol_step(&s[k + 1..], Some(&s[..k])) {
            return Some(rel);
        }
    }
    parse_symbol_step(s, None)
}

fn parse_symbol_step<'a>(rest: &'a str, label: Option<&'a str>) -> Option<Relative<'a>> {
    let word_len: usize = rest
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map(|(i, _)| i)
        .unwrap_or(rest.len());
    let after = &rest[word_len..];
    let sign = after.chars().next()?;
    if sign != '+' && sign != '-' {
        return None;
    }
    let digits_len = after[1..].bytes().take_while(u8::is_ascii_digit).count();
    if digits_len == 0 {
        return None;
    }
    let text = &after[..1 + digits_len];
    // Saturate: a step count beyond i64 walks off the graph either way.
    let magnitude: i64 = after[1..1 + digits_len].parse().unwrap_or(i64::MAX);
    let steps = if sign == '-' { -magnitude } else { magnitude };
    let symbol = if word_len == 0 {
        None
    } else {
        Some(&rest[..word_len])
    };
    Some(Relative {
        label,
        symbol,
        text,
        steps,
    })
}

/// Python's `int()` on a revision token: optional sign, ASCII digits, surrounding blanks.
fn parse_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    if body.is_empty()
        || !body.bytes().all(|b| b.is_ascii_digit() || b == b'_')
        || body.starts_with('_')
    {
        return None;
    }
    let cleaned: String = t.chars().filter(|&c| c != '_').collect();
    Some(cleaned.parse().unwrap_or(if t.starts_with('-') {
        i64::MIN
    } else {
        i64::MAX
    }))
}

/// Alembic's resolution primitives over one map.
pub(crate) struct Resolver<'m> {
    pub(crate) map: &'m RevisionMap,
}

impl<'m> Resolver<'m> {
    pub(crate) fn new(map: &'m RevisionMap) -> Self {
        Resolver { map }
    }

    fn ids(&self, idx: &[usize]) -> Vec<String> {
        idx.iter().map(|&i| self.map.id(i).to_string()).collect()
    }

    /// `head`, `heads`, `base` and plain tokens, with an optional `LABEL@` in front. Returns the
    /// tokens still to look up (already ids for `head`/`heads`) and the label.
    fn resolve_number<'a>(
        &self,
        id: &'a str,
    ) -> Result<(Vec<String>, Option<&'a str>), ResolveError> {
        let (label, rest) = match id.split_once('@') {
            Some((l, r)) => (Some(l), r),
            None => (None, id),
        };
        let tokens = match rest {
            "heads" => match label.filter(|l| !l.is_empty()) {
                Some(l) => self.ids(&self.filter_for_lineage(self.map.head_indices(), l, false)?),
                None => self.ids(self.map.real_head_indices()),
            },
            "head" => match self.current_head(label)? {
                Some(h) => vec![self.map.id(h).to_string()],
                None => Vec::new(),
            },
            "base" => Vec::new(),
            other => vec![other.to_string()],
        };
        Ok((tokens, label))
    }

    /// The single head (of a branch). Several is an error; none is `None`.
    pub(crate) fn current_head(&self, label: Option<&str>) -> Result<Option<usize>, ResolveError> {
        let heads: Vec<usize> = match label {
            // An empty label (`@head`) filters nothing, as in Alembic.
            Some(l) if !l.is_empty() => {
                self.filter_for_lineage(self.map.head_indices(), l, false)?
            }
            _ => self.map.head_indices().to_vec(),
        };
        if heads.len() > 1 {
            let argument = match label {
                Some(l) if !l.is_empty() => format!("{l}@head"),
                _ => "head".to_string(),
            };
            return Err(ResolveError::MultipleHeads {
                argument,
                heads: self.ids(&heads),
            });
        }
        Ok(heads.first().copied())
    }

    /// Every revision `id` names: Alembic's `get_revisions` on one string.
    pub(crate) fn get_revisions(&self, id: &str) -> Result<Vec<Pos>, ResolveError> {
        let (tokens, label) = self.resolve_number(id)?;
        if let [only] = tokens.as_slice() {
            if let Some(n) = parse_int(only) {
                if n < 0 {
                    // `-N` and `LABEL@-N` walk down from every head (of the branch).
                    let heads: Vec<usize> = self
                        .map
                        .real_head_indices()
                        .iter()
                        .copied()
                        .filter(|&h| match label {
                            Some(l) => self.map.has_label(h, l),
                            None => true,
                        })
                        .collect();
                    return heads
                        .into_iter()
                        .map(|h| self.walk(Pos::Rev(h), n, None, true, id))
                        .collect();
                }
            }
        }
        tokens
            .iter()
            .map(|t| self.revision_for_ident(t, label.filter(|l| !l.is_empty())))
            .collect()
    }

    /// Every revision named by each of `ids`, concatenated.
    pub(crate) fn get_revisions_of(&self, ids: &[&str]) -> Result<Vec<Pos>, ResolveError> {
        let mut out = Vec::new();
        for id in ids {
            out.extend(self.get_revisions(id)?);
        }
        Ok(out)
    }

    /// Exactly one revision (or nothing, for `base`): Alembic's `get_revision`.
    pub(crate) fn get_revision(&self, id: &str) -> Result<Pos, ResolveError> {
        let (tokens, label) = self.resolve_number(id)?;
        match tokens.as_slice() {
            [] => Ok(Pos::Nothing),
            [one] => self.revision_for_ident(one, label.filter(|l| !l.is_empty())),
            many => Err(ResolveError::MultipleHeads {
                argument: id.to_string(),
                heads: many.to_vec(),
            }),
        }
    }

    /// The revision a branch name stands for: the revision declaring the label, or a revision
    /// named by id or prefix.
    pub(crate) fn resolve_branch(&self, label: &str) -> Result<usize, ResolveError> {
        if let Some(i) = self
            .map
            .label_index(label)
            .or_else(|| self.map.index(label))
        {
            return Ok(i);
        }
        match self.revision_for_ident(label, None) {
            Ok(Pos::Rev(i)) => Ok(i),
            _ => Err(ResolveError::UnknownBranch {
                label: label.to_string(),
            }),
        }
    }

    /// One token: an id, a label, or a unique prefix (4+ characters) of an id or label,
    /// optionally required to be on the line of `branch`.
    pub(crate) fn revision_for_ident(
        &self,
        token: &str,
        branch: Option<&str>,
    ) -> Result<Pos, ResolveError> {
        let branch_rev = match branch {
            Some(b) => Some(self.resolve_branch(b)?),
            None => None,
        };
        let found = match self
            .map
            .index(token)
            .or_else(|| self.map.label_index(token))
        {
            Some(i) => i,
            None => {
                if token.is_empty() {
                    return Err(ResolveError::UnknownRevision {
                        target: token.to_string(),
                    });
                }
                let mut candidates: Vec<(String, usize)> = Vec::new();
                for (i, id) in self.map.ids_in_order() {
                    if id.len() > 3 && id.starts_with(token) {
                        candidates.push((id.to_string(), i));
                    }
                }
                let mut labels: Vec<(String, usize)> = self
                    .map
                    .iter()
                    .enumerate()
                    .flat_map(|(i, r)| r.branch_labels.iter().map(move |l| (l.clone(), i)))
                    .filter(|(l, _)| l.len() > 3 && l.starts_with(token))
                    .collect();
                candidates.append(&mut labels);
                if let Some(br) = branch_rev {
                    candidates.retain(|(_, i)| self.map.shares_lineage(*i, br, false));
                }
                match candidates.as_slice() {
                    [] => {
                        return Err(ResolveError::UnknownRevision {
                            target: token.to_string(),
                        })
                    }
                    [(_, i)] => *i,
                    many => {
                        return Err(ResolveError::AmbiguousPrefix {
                            prefix: token.to_string(),
                            candidates: many.iter().map(|(s, _)| s.clone()).collect(),
                        })
                    }
                }
            }
        };
        if let (Some(b), Some(br)) = (branch, branch_rev) {
            if !self.map.shares_lineage(found, br, false) {
                return Err(ResolveError::NotOnBranch {
                    revision: self.map.id(found).to_string(),
                    branch: b.to_string(),
                });
            }
        }
        Ok(Pos::Rev(found))
    }

    /// The members of `targets` on the line (ancestors or descendants) of what `check` names.
    pub(crate) fn filter_for_lineage(
        &self,
        targets: &[usize],
        check: &str,
        deps: bool,
    ) -> Result<Vec<usize>, ResolveError> {
        let (tokens, label) = self.resolve_number(check)?;
        // Alembic resolves the revisions to compare with only when there is something to compare.
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let mut shares: Vec<usize> = Vec::new();
        for t in label
            .into_iter()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .chain(tokens)
        {
            if let Pos::Rev(i) = self.revision_for_ident(&t, None)? {
                shares.push(i);
            }
        }
        if shares.is_empty() {
            return Ok(targets.to_vec());
        }
        // `t` is on the line of `s` exactly when `t` is an ancestor or a descendant of `s`, so
        // one pair of walks per share answers for every target.
        let mut line = vec![false; self.map.len()];
        for &s in &shares {
            let up = self.map.descendant_set(&[s], deps);
            let down = self.map.ancestor_set(&[s], deps);
            for (i, l) in line.iter_mut().enumerate() {
                *l = *l || up[i] || down[i];
            }
        }
        Ok(targets.iter().copied().filter(|&t| line[t]).collect())
    }

    /// Walks `steps` up (positive) or down (negative) from `start`. Too far gives `Nothing` when
    /// `no_overwalk`, else stays at the last reachable position. Up from `Nothing` starts at
    /// the bases; down past the first revision gives `Base`.
    pub(crate) fn walk(
        &self,
        start: Pos,
        steps: i64,
        branch: Option<&str>,
        no_overwalk: bool,
        target: &str,
    ) -> Result<Pos, ResolveError> {
        let mut at = start;
        for _ in 0..steps.unsigned_abs() {
            let options: Vec<Pos> = if steps > 0 {
                let up: Vec<usize> = match at {
                    Pos::Nothing => self.map.base_indices().to_vec(),
                    Pos::Rev(i) => self.map.node(i).next.clone(),
                    Pos::Base => {
                        return Err(ResolveError::BaseNotAllowed {
                            target: target.to_string(),
                        })
                    }
                };
                let up = match branch {
                    Some(b) if !b.is_empty() => self.filter_for_lineage(&up, b, false)?,
                    _ => up,
                };
                up.into_iter().map(Pos::Rev).collect()
            } else {
                match at {
                    Pos::Base => Vec::new(),
                    Pos::Nothing => self
                        .map
                        .head_indices()
                        .iter()
                        .map(|&h| Pos::Rev(h))
                        .collect(),
                    Pos::Rev(i) => {
                        let down = &self.map.node(i).down;
                        if down.is_empty() {
                            vec![Pos::Base]
                        } else {
                            down.iter().map(|&d| Pos::Rev(d)).collect()
                        }
                    }
                }
            };
            match options.as_slice() {
                [] => return Ok(if no_overwalk { Pos::Nothing } else { at }),
                [one] => at = *one,
                _ => {
                    return Err(ResolveError::AmbiguousWalk {
                        target: target.to_string(),
                    })
                }
            }
        }
        Ok(at)
    }

    /// What `upgrade TARGET` aims at, from `current` (the database's heads).
    pub(crate) fn upgrade_target(
        &self,
        current: &[&str],
        target: &str,
        assert_len: bool,
    ) -> Result<Vec<Pos>, ResolveError> {
        let Some(rel) = parse_relative(target) else {
            return self.get_revisions(target);
        };
        let label = rel.label;
        if rel.steps > 0 {
            let Some(symbol) = rel.symbol else {
                let start: Pos = match label {
                    None => match current {
                        [] => Pos::Nothing,
                        [one] => self.get_revision(one)?,
                        many => {
                            return Err(ResolveError::AmbiguousUpgrade {
                                current: many.iter().map(|s| s.to_string()).collect(),
                            })
                        }
                    },
                    Some(l) => {
                        let cur_positions = if current.is_empty() {
                            vec![Pos::Nothing]
                        } else {
                            self.get_revisions_of(current)?
                        };
                        let cur: Vec<usize> =
                            cur_positions.iter().filter_map(|p| p.rev()).collect();
                        let on_branch = self.filter_for_lineage(&cur, l, false)?;
                        let starts: Vec<usize> = if !on_branch.is_empty() {
                            on_branch
                        } else {
                            // Not at a head of the branch: start from the highest applied
                            // revisions that are on it.
                            let applied = self.map.ancestor_set(&cur, true);
                            let applied_idx: Vec<usize> =
                                (0..self.map.len()).filter(|&i| applied[i]).collect();
                            let active = self.filter_for_lineage(&applied_idx, l, false)?;
                            let mut below = vec![false; self.map.len()];
                            for &a in &active {
                                for &d in &self.map.node(a).norm_down {
                                    below[d] = true;
                                }
                            }
                            active.into_iter().filter(|&a| !below[a]).collect()
                        };
                        match starts.as_slice() {
                            [] => Pos::Nothing,
                            [one] => Pos::Rev(*one),
                            many => {
                                return Err(ResolveError::AmbiguousUpgrade {
                                    current: self.ids(many),
                                })
                            }
                        }
                    }
                };
                let reached = self.walk(start, rel.steps, label, assert_len, target)?;
                if reached == Pos::Nothing {
                    return Err(ResolveError::RelativeOutOfRange {
                        relative: rel.text.to_string(),
                        steps: rel.steps.unsigned_abs(),
                    });
                }
                return Ok(vec![reached]);
            };
            let start = self.get_revision(symbol)?;
            return Ok(vec![self.walk(start, rel.steps, label, assert_len, target)?]);
        }
        let Some(symbol) = rel.symbol else {
            return Err(ResolveError::RelativeOutOfRange {
                relative: rel.text.to_string(),
                steps: rel.steps.unsigned_abs(),
            });
        };
        let start = match label {
            None => self.get_revision(symbol)?,
            Some(l) => self.get_revision(&format!("{l}@{symbol}"))?,
        };
        Ok(vec![self.walk(start, rel.steps, None, assert_len, target)?])
    }

    /// What `downgrade TARGET` aims at, from `current`: the branch it is restricted to (if any)
    /// and the destination (`Nothing` or `Base` for the base).
    pub(crate) fn downgrade_target(
        &self,
        current: &[&str],
        target: Option<&str>,
        assert_len: bool,
    ) -> Result<(Option<String>, Pos), ResolveError> {
        let Some(target) = target else {
            return Ok((None, Pos::Nothing));
        };
        if let Some(rel) = parse_relative(target) {
            let out_of_range = || ResolveError::RelativeOutOfRange {
                relative: rel.text.to_string(),
                steps: rel.steps.unsigned_abs(),
            };
            if rel.steps >= 0 {
                let Some(symbol) = rel.symbol else {
                    return Err(out_of_range());
                };
                let start = self.get_revision(symbol)?;
                let reached = self.walk(start, rel.steps, rel.label, assert_len, target)?;
                if reached == Pos::Nothing {
                    return Err(ResolveError::WalkedTooFar {
                        target: target.to_string(),
                    });
                }
                return Ok((rel.label.map(str::to_string), reached));
            }
            let relative_to_current = rel.symbol.is_none();
            let mut label: Option<String> = rel.label.map(str::to_string);
            let symbol: String = match (rel.symbol, rel.label) {
                (Some(s), _) => s.to_string(),
                (None, Some(l)) => {
                    let cur: Vec<usize> = self
                        .get_revisions_of(current)?
                        .iter()
                        .filter_map(|p| p.rev())
                        .collect();
                    let mut on_branch = self.filter_for_lineage(&cur, l, false)?;
                    if on_branch.is_empty() {
                        // Several branches, one current head: the branch may be below it.
                        let all = self.all_current(&cur);
                        on_branch = self.filter_for_lineage(&all, l, false)?;
                    }
                    match on_branch.as_slice() {
                        [one] => self.map.id(*one).to_string(),
                        [] => {
                            return Err(ResolveError::NoCurrentOnBranch {
                                label: l.to_string(),
                                current: current.iter().map(|c| c.to_string()).collect(),
                            })
                        }
                        _ => {
                            return Err(ResolveError::AmbiguousBranchHeads {
                                label: l.to_string(),
                                current: self.ids(&on_branch),
                            })
                        }
                    }
                }
                (None, None) => {
                    let Some(first) = current.first() else {
                        return Err(out_of_range());
                    };
                    // Alembic picks the first row and restricts the walk to its branch.
                    label = Some(first.to_string());
                    first.to_string()
                }
            };
            let start = match &label {
                None => self.get_revision(&symbol)?,
                Some(l) => self.get_revision(&format!("{l}@{symbol}"))?,
            };
            let reached = self.walk(start, rel.steps, None, assert_len, target)?;
            if reached == Pos::Nothing {
                return Err(if relative_to_current {
                    out_of_range()
                } else {
                    ResolveError::WalkedTooFar {
                        target: target.to_string(),
                    }
                });
            }
            return Ok((label, reached));
        }
        let (label, symbol) = match target.rsplit_once('@') {
            Some((l, s)) if !l.is_empty() => (Some(l.to_string()), s),
            Some((_, s)) => (None, s),
            None => (None, target),
        };
        Ok((label, self.get_revision(symbol)?))
    }

    /// The current revisions plus everything they need, reduced to the highest ones: those
    /// none of whose children (through `Revises`) is in the set. Map order.
    pub(crate) fn all_current(&self, cur: &[usize]) -> Vec<usize> {
        let set = self.map.ancestor_set(cur, true);
        (0..self.map.len())
            .filter(|&m| set[m] && !self.map.node(m).next.iter().any(|&c| set[c]))
            .collect()
    }
}
