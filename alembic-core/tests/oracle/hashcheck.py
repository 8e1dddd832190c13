"""For every DIFF in a fuzz run, check whether some PYTHONHASHSEED makes Alembic give our answer."""
import subprocess, sys, os
sys.dont_write_bytecode = True  # keep the source tree clean
from common import HERE, run_alembic
seed, count = sys.argv[1], sys.argv[2]
out = subprocess.run([sys.executable, os.path.join(HERE, "fuzz.py"), seed, count], capture_output=True, text=True).stdout
blocks = out.split("DIFF ")[1:]
for b in blocks:
    lines = b.split("\n")
    cmd = lines[0].strip()
    rs = lines[2].strip()[7:]
    case = []
    for l in lines[3:]:
        l = l.strip()
        if l.startswith("rev"):
            case.append(l)
        elif l == "end":
            break
    parts = cmd.split(" ")
    spec = "\n".join(case + [" ".join(parts)] + ["end"]) + "\n"
    found = None
    for h in range(60):
        py = run_alembic(spec, h).split("\n")[0][3:]
        if py == rs:
            found = h; break
    print(cmd, "->", "ours reproduced with hash seed %s" % found if found is not None else "NOT REPRODUCED")
