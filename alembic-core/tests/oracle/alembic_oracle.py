"""Run Alembic's revision semantics on a text spec; print one line per command."""
import sys, warnings
warnings.simplefilter("ignore")
from alembic.script.revision import Revision, RevisionMap, RevisionError, MultipleHeads, ResolutionError, RangeNotAncestorError
from alembic.script.base import ScriptDirectory
from alembic.runtime.migration import HeadMaintainer, RevisionStep, StampStep, MigrationStep
from alembic import util

class FakeMod:
    def upgrade(self): pass
    def downgrade(self): pass

class Rev(Revision):
    module = FakeMod()

class HM(HeadMaintainer):
    def __init__(self, heads):
        self.heads = set(heads); self.ops = []
    def _insert_version(self, v):
        assert v not in self.heads
        self.heads.add(v); self.ops.append("I" + v)
    def _delete_version(self, v):
        self.heads.remove(v); self.ops.append("D" + v)
    def _update_version(self, f, t):
        assert t not in self.heads
        self.heads.remove(f); self.heads.add(t); self.ops.append("U%s>%s" % (f, t))

def split(s):
    return [] if s == "-" else s.split(",")

def tup(l):
    if not l: return None
    return l[0] if len(l) == 1 else tuple(l)

def run(revs, cmds):
    rm = RevisionMap(lambda: revs)
    sd = ScriptDirectory.__new__(ScriptDirectory)
    sd.revision_map = rm
    for kind, cur, arg in cmds:
        try:
            if kind == "heads":
                out = ",".join(rm.heads) + "|" + ",".join(rm._real_heads) + "|" + ",".join(rm.bases)
            elif kind == "labels":
                out = ";".join("%s=%s" % (r.revision, ",".join(sorted(r.branch_labels))) for r in revs)
            elif kind == "current":
                out = ",".join(sorted(r.revision for r in sd.get_all_current(tuple(cur))))
            elif kind == "resolve":
                from alembic.script.revision import _relative_destination
                m = _relative_destination.match(arg)
                with sd._catch_revision_errors():
                    if m and int(m.group(3)) > 0:
                        got = rm._parse_upgrade_target(tuple(cur), arg, True)
                    elif m:
                        got = (rm._parse_downgrade_target(tuple(cur), arg, True)[1],)
                    else:
                        got = rm.get_revisions(arg)
                out = ",".join(sorted({r.revision for r in got if r is not None and r != "base"}))
            elif kind == "history":
                base, head = arg.split(":") if arg != "-" else ("", "")
                if head == "current":
                    head = tuple(cur)
                if base == "current":
                    base = tuple(cur)
                out = ",".join(r.revision for r in sd.walk_revisions(base or "base", head or "heads"))
            else:
                heads = tuple(cur)
                if kind == "upgrade":
                    steps = sd._upgrade_revs(arg, heads)
                elif kind == "downgrade":
                    steps = sd._downgrade_revs(arg, heads)
                elif kind == "stamp":
                    steps = sd._stamp_revs(tuple(split(arg)), heads)
                hm = HM(heads)
                parts = []
                for st in steps:
                    hm.ops = []
                    hm.update_to_step(st)
                    if isinstance(st, RevisionStep):
                        name = ("u" if st.is_upgrade else "d") + st.revision.revision
                    else:
                        name = "s"
                    parts.append(name + "[" + " ".join(hm.ops) + "]=" + ",".join(sorted(hm.heads)))
                out = " ".join(parts) + " -> " + ",".join(sorted(hm.heads))
            print("OK " + out)
        except util.CommandError as e:
            print("ERR " + type(e.__cause__).__name__ + ": " + str(e).replace("\n", " "))
        except (AssertionError, KeyError, IndexError, TypeError, ValueError) as e:
            print("CRASH " + type(e).__name__)
        except RevisionError as e:
            print("ERR " + type(e).__name__ + ": " + str(e).replace("\n", " "))

def main():
    revs = []; cmds = []
    for line in sys.stdin:
        p = line.rstrip("\n").split(" ")
        if p[0] == "rev":
            revs.append(Rev(p[1], tup(split(p[2])), dependencies=tup(split(p[4])), branch_labels=tup(split(p[3]))))
        elif p[0] == "cmd":
            cmds.append((p[1], split(p[2]), p[3] if len(p) > 3 else "-"))
        elif p[0] == "end":
            try:
                run(revs, cmds)
            except Exception as e:
                print("GRAPHERR " + type(e).__name__)
            print("---")
            sys.stdout.flush()
            revs = []; cmds = []
main()
