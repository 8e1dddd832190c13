//! Revision graphs and command sequences for the differential test against Python Alembic.
//!
//! Everything here is deterministic: a seed gives the same graphs and commands on every machine,
//! so a mismatch reported by CI can be replayed locally with the same seed. The PRNG is our own
//! (SplitMix64) so the test needs no extra dependency and its sequence never changes under us.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// SplitMix64: tiny, fast, and good enough to pick shapes and targets.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: usize, den: usize) -> bool {
        self.below(den) < num
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// [`Rng::pick`] for strings, as `&str` so it reads well in `format!` and `up(...)`.
    pub fn pick_str<'a>(&mut self, items: &'a [String]) -> &'a str {
        items[self.below(items.len())].as_str()
    }
}

/// One revision as both tools see it: the Python module's `revision`, `down_revision`,
/// `branch_labels`, `depends_on`, and our `.sql` header's `Revision ID`, `Revises`,
/// `Branch Labels`, `Depends On`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rev {
    pub id: String,
    pub down: Vec<String>,
    pub labels: Vec<String>,
    pub depends_on: Vec<String>,
    /// Its upgrade fails (after logging to ran_log, in the same transaction): how a failed
    /// migration in the middle of a run is rolled back.
    pub fails: bool,
}

impl Rev {
    pub fn new(id: &str, down: &[&str]) -> Self {
        Rev {
            id: id.to_string(),
            down: down.iter().map(|s| s.to_string()).collect(),
            labels: Vec::new(),
            depends_on: Vec::new(),
            fails: false,
        }
    }

    pub fn failing(mut self) -> Self {
        self.fails = true;
        self
    }

    pub fn label(mut self, label: &str) -> Self {
        self.labels.push(label.to_string());
        self
    }

    pub fn dep(mut self, dep: &str) -> Self {
        self.depends_on.push(dep.to_string());
        self
    }
}

/// A command both tools run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Upgrade(String),
    Downgrade(String),
    Stamp {
        targets: Vec<String>,
        purge: bool,
    },
    /// Not a command of either tool: writes these `alembic_version` rows directly into both
    /// databases, to start the next commands from states no command makes (an unknown
    /// revision, a revision beside its own ancestor), as a hand-edited or foreign database has.
    SetRows(Vec<String>),
    /// `upgrade TARGET --sql` / `downgrade FROM:TO --sql`: offline mode, which prints the SQL
    /// and touches no database; compared by which migrations' SQL it prints, in which order.
    OfflineUpgrade(String),
    OfflineDowngrade(String),
}

impl Command {
    /// The arguments after the program name, as a user types them (none for
    /// [`Command::SetRows`], which no tool runs).
    pub fn args(&self) -> Vec<String> {
        match self {
            Command::SetRows(_) => Vec::new(),
            Command::OfflineUpgrade(t) => vec!["upgrade".into(), t.clone(), "--sql".into()],
            Command::OfflineDowngrade(t) => vec!["downgrade".into(), t.clone(), "--sql".into()],
            Command::Upgrade(t) => vec!["upgrade".into(), t.clone()],
            Command::Downgrade(t) => vec!["downgrade".into(), t.clone()],
            Command::Stamp { targets, purge } => {
                let mut v = vec!["stamp".to_string()];
                v.extend(targets.iter().cloned());
                if *purge {
                    v.push("--purge".into());
                }
                v
            }
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::SetRows(rows) => {
                write!(f, "(set alembic_version rows to [{}])", rows.join(", "))
            }
            _ => write!(f, "{}", self.args().join(" ")),
        }
    }
}

fn offline_up(t: &str) -> Command {
    Command::OfflineUpgrade(t.to_string())
}

fn offline_down(t: &str) -> Command {
    Command::OfflineDowngrade(t.to_string())
}

fn set_rows(rows: &[&str]) -> Command {
    Command::SetRows(rows.iter().map(|s| s.to_string()).collect())
}

fn up(t: &str) -> Command {
    Command::Upgrade(t.to_string())
}

fn down(t: &str) -> Command {
    Command::Downgrade(t.to_string())
}

fn stamp(targets: &[&str], purge: bool) -> Command {
    Command::Stamp {
        targets: targets.iter().map(|s| s.to_string()).collect(),
        purge,
    }
}

/// A revision graph and the commands to run on it, from an empty database.
#[derive(Clone, Debug)]
pub struct Graph {
    pub name: String,
    pub revisions: Vec<Rev>,
    pub commands: Vec<Command>,
    /// `transaction_per_migration` in our alembic.toml (Alembic's side is always its stock
    /// env.py, which on SQLite commits each migration on its own).
    pub transaction_per_migration: bool,
}

impl Graph {
    fn get(&self, id: &str) -> Option<&Rev> {
        self.revisions.iter().find(|r| r.id == id)
    }

    /// The revision that declares `label`, if any.
    fn declaring(&self, label: &str) -> Option<&Rev> {
        self.revisions
            .iter()
            .find(|r| r.labels.iter().any(|l| l == label))
    }

    /// Every revision a revision needs applied before it: its down revisions and its
    /// `depends_on`, with labels turned into the revision that declares them (as Alembic does).
    pub fn requirements(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut out = BTreeMap::new();
        for r in &self.revisions {
            let mut req: BTreeSet<String> = r.down.iter().cloned().collect();
            for d in &r.depends_on {
                if self.get(d).is_some() {
                    req.insert(d.clone());
                } else if let Some(owner) = self.declaring(d) {
                    req.insert(owner.id.clone());
                }
            }
            out.insert(r.id.clone(), req);
        }
        out
    }

    /// Revisions that no other revision names as a down revision.
    pub fn heads(&self) -> Vec<String> {
        let parents: BTreeSet<&str> = self
            .revisions
            .iter()
            .flat_map(|r| r.down.iter().map(String::as_str))
            .collect();
        self.revisions
            .iter()
            .filter(|r| !parents.contains(r.id.as_str()))
            .map(|r| r.id.clone())
            .collect()
    }

    /// The graph as script headers, one revision a line, for failure messages.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for r in &self.revisions {
            s.push_str(&format!("    {:<8} revises [{}]", r.id, r.down.join(", ")));
            if !r.labels.is_empty() {
                s.push_str(&format!("  labels [{}]", r.labels.join(", ")));
            }
            if !r.depends_on.is_empty() {
                s.push_str(&format!("  depends_on [{}]", r.depends_on.join(", ")));
            }
            if r.fails {
                s.push_str("  (upgrade fails)");
            }
            s.push('\n');
        }
        s
    }

    /// The graph as Rust source for [`hand_made`], so a failing random graph can be pinned.
    pub fn as_rust(&self) -> String {
        let mut s = String::from("vec![\n");
        for r in &self.revisions {
            let downs: Vec<String> = r.down.iter().map(|d| format!("{d:?}")).collect();
            s.push_str(&format!(
                "    Rev::new({:?}, &[{}])",
                r.id,
                downs.join(", ")
            ));
            for l in &r.labels {
                s.push_str(&format!(".label({l:?})"));
            }
            for d in &r.depends_on {
                s.push_str(&format!(".dep({d:?})"));
            }
            if r.fails {
                s.push_str(".failing()");
            }
            s.push_str(",\n");
        }
        s.push(']');
        s
    }
}

/// Words that Alembic gives a meaning to in a target, or that would confuse a target's syntax.
const RESERVED: &[&str] = &["head", "heads", "base", "current"];

const LABEL_WORDS: &[&str] = &[
    "alpha", "beta", "gamma", "delta", "net", "shop", "users", "audit", "billing", "search",
];

/// A fresh id for a random graph. Ids share prefixes on purpose (`ab12`, `ab1f`, `ab12c`), are
/// sometimes only three characters (too short for Alembic's prefix matching), sometimes a prefix
/// of another id, and sometimes all digits.
fn fresh_id(rng: &mut Rng, existing: &[Rev]) -> String {
    const HEX: &[u8] = b"0123456789abcdef";
    loop {
        let id = match rng.below(10) {
            // Extend or vary an existing id so prefixes collide.
            0..=3 if !existing.is_empty() => {
                let base = &rng.pick(existing).id;
                let keep = 2 + rng.below(base.len().saturating_sub(1).max(1));
                let keep = keep.min(base.len());
                let mut id: String = base[..keep].to_string();
                for _ in 0..1 + rng.below(2) {
                    id.push(HEX[rng.below(16)] as char);
                }
                id
            }
            // A strict prefix of an existing id (an exact match must win over a prefix match).
            4 if !existing.is_empty() => {
                let base = &rng.pick(existing).id;
                if base.len() < 4 {
                    continue;
                }
                base[..base.len() - 1].to_string()
            }
            // All digits.
            5 => (0..4).map(|_| HEX[rng.below(10)] as char).collect(),
            _ => {
                let len = if rng.chance(1, 6) { 3 } else { 4 };
                (0..len).map(|_| HEX[rng.below(16)] as char).collect()
            }
        };
        let taken = existing
            .iter()
            .any(|r| r.id == id || r.labels.contains(&id));
        if !taken && !RESERVED.contains(&id.as_str()) {
            return id;
        }
    }
}

/// A random valid revision graph: linear runs, branch points, merges of two or three heads,
/// several bases, branch labels, and `depends_on` across branches (by id and by label).
pub fn random_graph(rng: &mut Rng, name: &str) -> Vec<Rev> {
    let n = 4 + rng.below(14);
    let mut revs: Vec<Rev> = Vec::new();
    let mut labels_left: Vec<&str> = LABEL_WORDS.to_vec();
    let mut ancestors: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for _ in 0..n {
        let id = fresh_id(rng, &revs);
        let heads = Graph {
            name: name.to_string(),
            revisions: revs.clone(),
            commands: Vec::new(),
            transaction_per_migration: false,
        }
        .heads();
        let down: Vec<String> = if revs.is_empty() || rng.chance(1, 9) {
            Vec::new()
        } else if heads.len() >= 2 && rng.chance(1, 4) {
            // A merge of two or three heads.
            let mut hs = heads.clone();
            let k = if hs.len() >= 3 && rng.chance(1, 3) {
                3
            } else {
                2
            };
            let mut chosen = Vec::new();
            for _ in 0..k {
                let i = rng.below(hs.len());
                chosen.push(hs.remove(i));
            }
            chosen
        } else if revs.len() >= 3 && rng.chance(1, 30) {
            // A merge of two revisions that are not both heads (one may be a branch point);
            // neither may be an ancestor of the other.
            let a = rng.pick(&revs).id.clone();
            let b = rng.pick(&revs).id.clone();
            let related = a == b
                || ancestors.get(&a).is_some_and(|s| s.contains(&b))
                || ancestors.get(&b).is_some_and(|s| s.contains(&a));
            if related {
                vec![a]
            } else {
                vec![a, b]
            }
        } else if rng.chance(2, 3) {
            // Continue a head: a linear run.
            vec![rng.pick(&heads).clone()]
        } else {
            // Branch off any earlier revision.
            vec![rng.pick(&revs).id.clone()]
        };
        let mut rev = Rev {
            id: id.clone(),
            down: down.clone(),
            labels: Vec::new(),
            depends_on: Vec::new(),
            fails: false,
        };
        if !labels_left.is_empty() && (down.is_empty() || rng.chance(1, 5)) && rng.chance(2, 3) {
            let i = rng.below(labels_left.len());
            rev.labels.push(labels_left.remove(i).to_string());
        }
        let mut anc: BTreeSet<String> = BTreeSet::new();
        for d in &down {
            anc.insert(d.clone());
            anc.extend(ancestors.get(d).cloned().unwrap_or_default());
        }
        // depends_on: any earlier revision that is not already an ancestor (the interesting
        // case: a cross-branch dependency); by label when the target declares one.
        let deps = if rng.chance(1, 4) {
            1 + usize::from(rng.chance(1, 4))
        } else {
            0
        };
        for _ in 0..deps {
            let candidates: Vec<&Rev> = revs.iter().filter(|r| !anc.contains(&r.id)).collect();
            if !candidates.is_empty() {
                let target = *rng.pick(&candidates);
                let dep = if !target.labels.is_empty() && rng.chance(1, 2) {
                    target.labels[0].clone()
                } else {
                    target.id.clone()
                };
                rev.depends_on.push(dep);
                anc.insert(target.id.clone());
                anc.extend(ancestors.get(&target.id).cloned().unwrap_or_default());
            }
        }
        ancestors.insert(id.clone(), anc);
        revs.push(rev);
    }
    revs
}

/// A random command sequence for `revs`: mostly targets that resolve, and some that must fail
/// (ambiguous prefixes, `head` with several heads, unknown ids, `-N` past base, downgrades to
/// revisions that are not below the current heads).
pub fn random_commands(rng: &mut Rng, revs: &[Rev], count: usize) -> Vec<Command> {
    let ids: Vec<String> = revs.iter().map(|r| r.id.clone()).collect();
    let labels: Vec<String> = revs.iter().flat_map(|r| r.labels.clone()).collect();
    let prefix = |rng: &mut Rng| -> String {
        let id = rng.pick_str(&ids);
        let len = 1 + rng.below(id.len());
        id[..len].to_string()
    };
    let mut out = Vec::new();
    // Most sequences start by applying something, so later steps have state to work on.
    out.push(if rng.chance(3, 4) {
        up("heads")
    } else {
        up(rng.pick_str(&ids))
    });
    while out.len() < count {
        let has_labels = !labels.is_empty();
        let cmd = match rng.below(124) {
            0..=7 => up("head"),
            8..=15 => up("heads"),
            16..=22 => up(rng.pick_str(&ids)),
            23..=26 => up(&prefix(rng)),
            27..=30 => up(&format!("+{}", 1 + rng.below(3))),
            31..=33 => up(&format!("{}+{}", rng.pick_str(&ids), 1 + rng.below(2))),
            34..=37 if has_labels => up(&format!("{}@head", rng.pick_str(&labels))),
            38..=39 if has_labels => {
                up(&format!("{}@+{}", rng.pick_str(&labels), 1 + rng.below(2)))
            }
            40 => up(&format!("{}@head", rng.pick_str(&ids))),
            41 => up("zz99"),
            42..=47 => down("-1"),
            48..=49 => down(&format!("-{}", 2 + rng.below(4))),
            50..=55 => down(rng.pick_str(&ids)),
            56..=57 => down(&prefix(rng)),
            58..=61 => down("base"),
            62..=64 if has_labels => down(&format!("{}@base", rng.pick_str(&labels))),
            65..=66 if has_labels => {
                down(&format!("{}@-{}", rng.pick_str(&labels), 1 + rng.below(2)))
            }
            67..=68 => down(&format!("{}-1", rng.pick_str(&ids))),
            69..=72 => stamp(&["heads"], false),
            73..=74 => stamp(&["head"], false),
            75..=77 => stamp(&[rng.pick_str(&ids)], false),
            78..=80 => stamp(&[rng.pick_str(&ids), rng.pick_str(&ids)], rng.chance(1, 2)),
            81..=82 => stamp(&[rng.pick_str(&ids)], true),
            83..=84 => stamp(&["base"], false),
            85..=86 if has_labels => stamp(&[&format!("{}@head", rng.pick_str(&labels))], false),
            87..=89 if has_labels => up(rng.pick_str(&labels)),
            // Rarer forms: a label qualifying an id, an id's branch head, relative steps from
            // an id downwards, labels as downgrade targets, three stamp targets.
            90..=91 if has_labels => {
                up(&format!("{}@{}", rng.pick_str(&labels), rng.pick_str(&ids)))
            }
            92..=93 if has_labels => down(rng.pick_str(&labels)),
            94 => down(&format!("{}@head", rng.pick_str(&ids))),
            95..=96 => down(&format!("{}+1", rng.pick_str(&ids))),
            97 => up(&format!("{}-1", rng.pick_str(&ids))),
            98..=99 => stamp(
                &[rng.pick_str(&ids), rng.pick_str(&ids), rng.pick_str(&ids)],
                rng.chance(1, 2),
            ),
            100 if has_labels => stamp(&[&format!("{}@base", rng.pick_str(&labels))], false),
            101 => stamp(&["base"], true),
            102 => down("heads"),
            103..=104 => up(&format!("{}@+1", rng.pick_str(&ids))),
            105..=106 => down(&format!("{}@-1", rng.pick_str(&ids))),
            107 => stamp(&[&prefix(rng)], false),
            // A state no command makes: a revision beside another (perhaps its own ancestor),
            // or a revision the scripts do not have.
            108..=109 => {
                let a = rng.pick_str(&ids).to_string();
                let b = rng.pick_str(&ids).to_string();
                Command::SetRows(if a == b { vec![a] } else { vec![a, b] })
            }
            110 => set_rows(&["dead0000"]),
            // Offline mode: from nothing, or a FROM:TO range (downgrade needs one).
            111 => Command::OfflineUpgrade(
                rng.pick_str(&["heads".to_string(), "head".to_string()])
                    .to_string(),
            ),
            112 => Command::OfflineUpgrade(rng.pick_str(&ids).to_string()),
            113..=114 => {
                Command::OfflineUpgrade(format!("{}:{}", rng.pick_str(&ids), rng.pick_str(&ids)))
            }
            115 => Command::OfflineUpgrade(format!("base:{}", rng.pick_str(&ids))),
            116..=117 => {
                Command::OfflineDowngrade(format!("{}:{}", rng.pick_str(&ids), rng.pick_str(&ids)))
            }
            118 => Command::OfflineDowngrade(format!("{}:base", rng.pick_str(&ids))),
            119 => Command::OfflineDowngrade("heads:base".to_string()),
            _ => up("heads"),
        };
        out.push(cmd);
    }
    out
}

/// Graphs written by hand for Alembic's tricky cases; each comes with its own commands.
pub fn hand_made() -> Vec<Graph> {
    let g = |name: &str, revisions: Vec<Rev>, commands: Vec<Command>| Graph {
        name: name.to_string(),
        revisions,
        commands,
        transaction_per_migration: false,
    };
    let per_migration = |mut graph: Graph| {
        graph.transaction_per_migration = true;
        graph.name.push_str("-per-migration");
        graph
    };
    // A failing revision in the middle of a run, on two branches.
    let failing = || {
        vec![
            Rev::new("f1a0", &[]),
            Rev::new("f1a1", &["f1a0"]),
            Rev::new("f1a2", &["f1a1"]).failing(),
            Rev::new("f1a3", &["f1a2"]),
            Rev::new("f1b1", &["f1a0"]).label("side"),
        ]
    };
    let failing_commands = || {
        vec![
            up("heads"),
            up("f1a1"),
            up("head"),
            up("side@head"),
            up("heads"),
            down("base"),
            up("f1a3"),
            stamp(&["f1a2"], false),
            up("heads"),
            down("f1a0"),
        ]
    };
    vec![
        g(
            "linear",
            vec![
                Rev::new("a1b2", &[]),
                Rev::new("c3d4", &["a1b2"]),
                Rev::new("e5f6", &["c3d4"]),
                Rev::new("a7b8", &["e5f6"]),
            ],
            vec![
                up("+2"),
                up("+1"),
                down("-1"),
                down("-2"),
                up("head"),
                down("-5"),
                down("base"),
                up("c3d4+1"),
                down("e5f6-2"),
                up("a1"),
                up("a7"),
                down("a7b8"),
                down("-4"),
                up("+9"),
                stamp(&["c3d4"], false),
                up("heads"),
                down("c3d4"),
                stamp(&["base"], false),
            ],
        ),
        g(
            "branch-point",
            vec![
                Rev::new("a000", &[]),
                Rev::new("b111", &["a000"]),
                Rev::new("c222", &["a000"]),
                Rev::new("d333", &["c222"]),
            ],
            vec![
                up("head"),
                up("b111"),
                up("heads"),
                down("-1"),
                down("b111"),
                down("a000"),
                up("d333"),
                up("+1"),
                down("d333-1"),
                down("base"),
                up("c222"),
                down("b111"),
                stamp(&["b111", "d333"], false),
                down("a000"),
                stamp(&["head"], false),
            ],
        ),
        g(
            "merge-two",
            vec![
                Rev::new("1a2b", &[]),
                Rev::new("3c4d", &["1a2b"]),
                Rev::new("5e6f", &["1a2b"]),
                Rev::new("7a8b", &["3c4d", "5e6f"]),
                Rev::new("9c0d", &["7a8b"]),
            ],
            vec![
                up("3c4d"),
                up("head"),
                down("-1"),
                down("-1"),
                down("3c4d"),
                down("5e6f"),
                up("7a8b"),
                down("1a2b"),
                up("+2"),
                stamp(&["3c4d"], false),
                up("head"),
                down("base"),
            ],
        ),
        g(
            "merge-three",
            vec![
                Rev::new("f00", &[]),
                Rev::new("f01", &["f00"]),
                Rev::new("f02", &["f00"]),
                Rev::new("f03", &["f00"]),
                Rev::new("f04", &["f01", "f02", "f03"]),
            ],
            vec![
                up("f02"),
                up("f04"),
                down("f01"),
                up("heads"),
                down("f00"),
                stamp(&["f01", "f03"], false),
                up("head"),
                stamp(&["f02"], true),
                down("base"),
            ],
        ),
        g(
            // Alembic's partial ids: exact match wins, candidates need four characters, an
            // ambiguous prefix lists the candidates.
            "shared-prefixes",
            vec![
                Rev::new("ab12", &[]),
                Rev::new("ab34", &["ab12"]),
                Rev::new("abc", &["ab34"]),
                Rev::new("abcd", &["abc"]),
                Rev::new("abcde", &["abcd"]),
            ],
            vec![
                up("ab"),
                up("ab1"),
                up("abc"),
                up("abcd"),
                up("abcde"),
                down("ab"),
                down("abc"),
                down("ab3"),
                up("a"),
                up("head"),
                down("abcd"),
                stamp(&["ab"], false),
                stamp(&["abc"], false),
                down("ab12"),
            ],
        ),
        g(
            // Two independent bases with labels, a cross-branch dependency by label.
            "labels-and-depends",
            vec![
                Rev::new("aaaa1", &[]).label("model"),
                Rev::new("aaaa2", &["aaaa1"]),
                Rev::new("bbbb1", &[]).label("net"),
                Rev::new("bbbb2", &["bbbb1"]).dep("model"),
                Rev::new("bbbb3", &["bbbb2"]),
            ],
            vec![
                up("net@head"),
                down("model@base"),
                up("model@head"),
                down("net@-1"),
                up("net@+1"),
                up("heads"),
                down("net@base"),
                down("model@base"),
                up("net@bbbb2"),
                up("bbbb3"),
                down("aaaa2"),
                down("aaaa1"),
                down("base"),
                up("model@+1"),
                up("head"),
                up("net"),
                stamp(&["net@head"], false),
                stamp(&["model@head", "net@head"], true),
            ],
        ),
        g(
            // The seed document's cookbook: a shared base, a labelled branch that depends on
            // another branch's revision by id.
            "cookbook-networking",
            vec![
                Rev::new("1975ea83b712", &[]),
                Rev::new("ae1027a6acf", &["1975ea83b712"]),
                Rev::new("27c6a30d7c24", &["1975ea83b712"]).label("shoppingcart"),
                Rev::new("3cac04ae8714", &[]).label("networking"),
                Rev::new("109ec7d132bf", &["3cac04ae8714"]),
                Rev::new("55af2cb1c267", &["109ec7d132bf"]).dep("ae1027a6acf"),
                Rev::new("d747a8a8879", &["27c6a30d7c24"]),
            ],
            vec![
                up("networking@head"),
                down("ae1027"),
                down("networking@base"),
                up("shoppingcart@head"),
                up("heads"),
                down("shoppingcart@-1"),
                down("1975ea83b712"),
                up("networking@3cac04ae8714"),
                up("55af2cb1c267"),
                down("-1"),
                down("base"),
                up("ae10"),
                up("shoppingcart@+1"),
                up("head"),
                stamp(&["heads"], false),
                stamp(&["networking@base"], false),
                down("base"),
                // Alembic's prefix lookup also matches branch labels of four or more letters.
                up("netw"),
                up("shopp"),
                down("netw"),
                up("109e"),
                down("shoppingcart@base"),
                stamp(&["netw"], false),
                down("base"),
            ],
        ),
        g(
            // A diamond whose branches also depend on each other's siblings, and a label on a
            // revision just below a merge (labels spread up and down in Alembic).
            "diamond-depends",
            vec![
                Rev::new("d0", &[]),
                Rev::new("d1a", &["d0"]).label("left"),
                Rev::new("d1b", &["d0"]).label("right"),
                Rev::new("d2a", &["d1a"]).dep("d1b"),
                Rev::new("d2b", &["d1b"]),
                Rev::new("d3", &["d2a", "d2b"]),
                Rev::new("d4", &["d3"]),
            ],
            vec![
                up("d2a"),
                down("d1b"),
                up("right@head"),
                up("left@head"),
                down("left@-1"),
                up("head"),
                down("d2b"),
                down("right@base"),
                up("d4"),
                down("-2"),
                down("d0"),
                down("-1"),
                up("left@+2"),
                stamp(&["d3"], false),
                down("base"),
            ],
        ),
        g(
            // A label declared mid-chain: Alembic spreads it to every descendant, and upwards
            // from the last descendant it visits until a branch or merge point, so which
            // revisions carry it depends on the shape below the label.
            "label-mid-chain",
            vec![
                Rev::new("c0c0", &[]),
                Rev::new("c1c1", &["c0c0"]).label("mid"),
                Rev::new("c2c2", &["c1c1"]),
                Rev::new("c3c3", &["c2c2"]),
                Rev::new("e0e0", &[]).label("other"),
                Rev::new("e1e1", &["e0e0"]),
            ],
            vec![
                up("mid@head"),
                down("mid@base"),
                up("mid@+1"),
                up("mid@+2"),
                down("mid@-1"),
                stamp(&["mid@base"], false),
                up("other@head"),
                down("mid@-1"),
                up("heads"),
                down("mid@c1c1"),
                down("other@base"),
                up("mid@c3c3"),
                down("mid@base"),
                stamp(&["mid@head", "other@base"], true),
                down("base"),
            ],
        ),
        g(
            // A label just below a merge, and one on a head: what `LABEL@base` and `LABEL@-1`
            // mean when the labelled line joins another.
            "label-below-merge",
            vec![
                Rev::new("m000", &[]),
                Rev::new("m001", &["m000"]).label("low"),
                Rev::new("m002", &["m000"]),
                Rev::new("m003", &["m001", "m002"]),
                Rev::new("m004", &["m003"]).label("top"),
            ],
            vec![
                up("low@head"),
                down("low@base"),
                up("low@+1"),
                up("m002"),
                down("low@-1"),
                up("heads"),
                down("top@-1"),
                down("low@-2"),
                up("top@head"),
                down("top@base"),
                up("low@+3"),
                stamp(&["low@base"], false),
                up("top@+1"),
                down("m002"),
                down("base"),
            ],
        ),
        g(
            // Four independent lines, one ending in a merge: which line runs first is Alembic's
            // tie-break between independent revisions (shrunk from a random graph whose order
            // differed; any valid order passes, but the log shows it).
            "order-tiebreak",
            vec![
                Rev::new("0628a2", &[]),
                Rev::new("3794", &[]),
                Rev::new("d221", &[]),
                Rev::new("856bd", &[]),
                Rev::new("c7f7", &["3794"]),
                Rev::new("a84", &["c7f7", "0628a2"]),
                Rev::new("0628a23c", &["d221"]),
                Rev::new("c4d", &[]),
                Rev::new("856b", &["c4d"]),
                Rev::new("d2e", &["0628a23c"]),
                Rev::new("062f0", &["856b"]),
            ],
            vec![
                up("heads"),
                down("base"),
                up("a84"),
                up("heads"),
                down("c4d"),
                down("base"),
            ],
        ),
        g(
            // Readable ids as `--rev-id` makes them (SPEC section 4): digits, underscores and
            // upper case; prefixes such as `1` and `2_add` that are shorter than four characters
            // or shared.
            "readable-ids",
            vec![
                Rev::new("1_initial_migration", &[]),
                Rev::new("2_add_indexes", &["1_initial_migration"]),
                Rev::new("2_add_Users", &["1_initial_migration"]),
                Rev::new("3_merge", &["2_add_indexes", "2_add_Users"]),
                Rev::new("4_x", &["3_merge"]).label("main"),
            ],
            vec![
                up("1"),
                up("2_add"),
                up("2_add_i"),
                up("2_add_u"),
                up("2_add_U"),
                up("3"),
                up("heads"),
                down("1_initial_migration"),
                up("4_x"),
                down("2"),
                down("3_merge"),
                down("-1"),
                up("main@head"),
                down("main@base"),
                stamp(&["2_add_U", "2_add_i"], false),
                up("+1"),
                down("base"),
            ],
        ),
        g("failing-revision", failing(), failing_commands()),
        per_migration(g("failing-revision", failing(), failing_commands())),
        g(
            // Version tables no command of ours writes: a revision with its own ancestor, an
            // unknown revision (a newer database than these scripts), duplicates of a lineage.
            "odd-states",
            vec![
                Rev::new("o100", &[]),
                Rev::new("o200", &["o100"]),
                Rev::new("o300", &["o200"]),
                Rev::new("o210", &["o100"]),
            ],
            vec![
                set_rows(&["o100", "o300"]),
                up("heads"),
                set_rows(&["o100", "o300"]),
                down("o100"),
                set_rows(&["o200", "o300"]),
                down("-1"),
                set_rows(&["dead0000"]),
                up("heads"),
                down("base"),
                stamp(&["o200"], false),
                stamp(&["o200"], true),
                set_rows(&["dead0000", "o210"]),
                stamp(&["heads"], true),
                set_rows(&["o100", "o210"]),
                up("o300"),
                set_rows(&["o210", "o300"]),
                down("o100"),
                set_rows(&["dead0000"]),
                stamp(&["base"], false),
            ],
        ),
        g(
            // Offline mode (`--sql`): ranges across a merge and labelled branches.
            "offline",
            vec![
                Rev::new("a1a1", &[]),
                Rev::new("b2b2", &["a1a1"]),
                Rev::new("c3c3", &["a1a1"]).label("side"),
                Rev::new("d4d4", &["b2b2", "c3c3"]),
                Rev::new("e5e5", &["d4d4"]),
                Rev::new("f6f6", &[]).label("other").dep("b2b2"),
            ],
            vec![
                offline_up("head"),
                offline_up("heads"),
                offline_up("d4d4"),
                offline_up("a1a1:e5e5"),
                offline_up("b2b2:e5e5"),
                offline_up("base:b2b2"),
                offline_up("side@head"),
                offline_up("e5e5:a1a1"),
                offline_down("e5e5:base"),
                offline_down("e5e5:a1a1"),
                offline_down("heads:base"),
                offline_down("d4d4:b2b2"),
                offline_down("e5e5"),
                offline_down("-1"),
                up("heads"),
                offline_up("heads"),
                offline_down("f6f6:base"),
            ],
        ),
        g(
            // Stamp corner cases: several targets, targets on one lineage, purge.
            "stamps",
            vec![
                Rev::new("s100", &[]),
                Rev::new("s200", &["s100"]),
                Rev::new("s300", &["s200"]),
                Rev::new("s210", &["s100"]),
                Rev::new("t100", &[]),
            ],
            vec![
                stamp(&["s200"], false),
                stamp(&["s300", "s210"], false),
                stamp(&["s100"], false),
                stamp(&["t100"], false),
                stamp(&["s200", "s300"], false),
                stamp(&["heads"], true),
                stamp(&["base"], false),
                stamp(&["s210"], true),
                up("heads"),
                stamp(&["s100", "t100"], true),
                down("-1"),
                stamp(&["zz99"], false),
                stamp(&["head"], false),
                down("base"),
            ],
        ),
    ]
}

/// The graphs of one run: the hand-made ones, then `random` random ones from `seed`.
pub fn all_graphs(seed: u64, random: usize, steps_per_graph: usize) -> Vec<Graph> {
    let mut graphs = hand_made();
    let mut rng = Rng::new(seed);
    for i in 0..random {
        let name = format!("random-{i:02}");
        let revisions = random_graph(&mut rng, &name);
        let commands = random_commands(&mut rng, &revisions, steps_per_graph);
        graphs.push(Graph {
            name,
            revisions,
            commands,
            transaction_per_migration: false,
        });
    }
    graphs
}
