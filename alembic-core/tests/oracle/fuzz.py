"""Random graphs, states and commands run through Alembic and through us; prints every
disagreement. Usage: fuzz.py SEED COUNT [-v]  (MAXN=14 for bigger graphs)."""
import os, random, re, sys
from collections import Counter
sys.dont_write_bytecode = True  # keep the source tree clean
from common import run_alembic, run_ours

POOL = ["g%02d0" % i for i in range(20)] + ["abc1", "abc2", "abd3", "b12", "c7", "dead", "deaf", "e9", "f00d", "f00e", "a1", "zz"]
LABELS = ["lab", "other", "x"]

def gen(rng):
    n = rng.randint(1, int(os.environ.get("MAXN", "7")))
    ids = rng.sample(POOL, n)
    revs = []
    for i, rid in enumerate(ids):
        k = rng.choice([0, 1, 1, 1, 1, 2, 2]) if i > 0 else 0
        downs = rng.sample(ids[:i], min(k, i))
        deps = []
        if i > 0 and rng.random() < 0.25:
            cand = [x for x in ids[:i] if x not in downs]
            if cand:
                deps = [rng.choice(cand)]
        revs.append([rid, downs, [], deps])
    for lab in LABELS:
        if rng.random() < 0.4:
            rng.choice(revs)[2].append(lab)
    # dependency on a label sometimes
    labelled = [l for r in revs for l in r[2]]
    # a dependency on a branch label, from a revision that is not below the labelled one
    if labelled and rng.random() < 0.3:
        owner = next(i for i, r in enumerate(revs) if r[2])
        later = [r for r in revs[owner + 1:] if revs[owner][0] not in r[1]]
        if later:
            rng.choice(later)[3].append(revs[owner][2][0])
    order = revs[:]
    if rng.random() < 0.5:
        rng.shuffle(order)
    return order, labelled

def ancestors(revs, x):
    m = {r[0]: r for r in revs}
    seen = set(); st = [x]
    while st:
        y = st.pop()
        if y in seen: continue
        seen.add(y); st.extend(m[y][1]); st.extend(d for d in m[y][3] if d in m)
    return seen

def states(revs, rng):
    ids = [r[0] for r in revs]
    out = [[]]
    for _ in range(3):
        pick = rng.sample(ids, rng.randint(1, min(3, len(ids))))
        anti = [p for p in pick if not any(p != q and p in ancestors(revs, q) for q in pick)]
        out.append(anti)
    return out

def targets(revs, labelled, rng):
    ids = [r[0] for r in revs]
    t = ["heads", "head", "base", "+1", "+2", "-1", "-2", "+9"]
    t += rng.sample(ids, min(2, len(ids)))
    t += [i[:3] for i in rng.sample(ids, 1)] + [i[:4] + "" for i in rng.sample(ids, 1)]
    t += [ids[0] + "+1", ids[-1] + "-1", ids[0] + "@head", "de", "dea", "f00"]
    for l in labelled:
        t += [l + "@head", l + "@base", l + "@+1", l + "@-1", l + "@heads", l]
    return t

def spec(revs, cmds):
    lines = []
    for r in revs:
        f = lambda l: ",".join(l) if l else "-"
        lines.append("rev %s %s %s %s" % (r[0], f(r[1]), f(r[2]), f(r[3])))
    for c in cmds:
        lines.append("cmd %s %s %s" % c)
    lines.append("end")
    return "\n".join(lines) + "\n"

def main():
    seed = int(sys.argv[1]); count = int(sys.argv[2])
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        revs, labelled = gen(rng)
        cmds = [("heads", "-", "-"), ("labels", "-", "-")]
        ts = targets(revs, labelled, rng)
        for st in states(revs, rng):
            cur = ",".join(st) if st else "-"
            for t in rng.sample(ts, min(8, len(ts))):
                cmds.append((rng.choice(["upgrade", "downgrade", "resolve"]), cur, t))
            cmds.append(("stamp", cur, rng.choice(ts)))
            cmds.append(("current", cur, "-"))
            cmds.append(("stamp", cur, ",".join(rng.sample(ts, 2))))
            cmds.append(("history", cur, rng.choice(["-", "base:heads", ":" + rng.choice(ts), rng.choice(ts) + ":", "-2:", "current:", ":current"])))
        cases.append(spec(revs, cmds))
    data = "".join(cases)
    py = run_alembic(data).split("---\n")
    rs = run_ours(data).split("---\n")
    stats = Counter()
    for case, p, r in zip(cases, py, rs):
        if p.startswith("GRAPHERR") or r.startswith("GRAPHERR"):
            stats["grapherr"] += 1
            if p.startswith("GRAPHERR") != r.startswith("GRAPHERR"):
                print("GRAPH MISMATCH\n", case, p, r)
            continue
        cmdlines = [l for l in case.splitlines() if l.startswith("cmd")]
        for c, pl, rl in zip(cmdlines, p.splitlines(), r.splitlines()):
            pk, rk = pl.split(" ")[0], rl.split(" ")[0]
            if pk == "OK" and rk == "OK":
                strip = lambda x: re.sub(r"\[[^\]]*\]", "", x)
                if pl == rl:
                    stats["same"] += 1
                elif strip(pl) == strip(rl):
                    # Same rows after every step; Alembic chose another row to keep (set order).
                    stats["same-rows"] += 1
                else:
                    stats["DIFF"] += 1
                    print("DIFF", c, "\n  py:", pl, "\n  rs:", rl, "\n", case)
            elif pk == "OK" or rk == "OK":
                stats["KIND"] += 1
                print("KIND", c, "\n  py:", pl, "\n  rs:", rl, "\n", case)
            else:
                stats[pk + "/" + rk] += 1
                if "-v" in sys.argv:
                    print("errs", c, "\n  py:", pl, "\n  rs:", rl)
    print(stats)
main()
