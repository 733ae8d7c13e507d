"""bench-verify-code: stdin/stdout tests per second, Python and C++, verify's pool against a naive runner.

Three real Codeforces problems (1A Theatre Square, 4A Watermelon, 200B Drinks) with generated tests whose expected
outputs come from a reference in this script; each row is a correct solution. The same rows and tests go to:
  naive: one process; for every test a fresh `python prog.py` (or the C++ binary) with the input on stdin, output
         compared by tokens (floats within 1e-6). C++ is compiled once per program here too, without a sandbox.
  pool:  verify_frame with --workers N: a Python program runs all of its tests in one sandboxed interpreter;
         a C++ program gets one sandbox (a launcher in new namespaces) that compiles it once (g++ -O2, with the
         precompiled <iostream> header, built before timing) and runs every test, each as its own process with
         its own limits.
Every row's program differs by a comment, so nothing can be reused across rows. The 2 cores are shared with
other users: wall-clock numbers are noisy, so the load average and the CPU seconds of each side (the process and
all its descendants: the pool's workers, their sandboxes, compilers and tests) are printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from distill_cli.stages.verify import pch
from distill_cli.stages.verify.checkers import check_float
from distill_cli.stages.verify.core import VerifyConfig, verify_frame
from distill_cli.stages.verify.pool import VerifyPool

PROBLEMS = {
    "theatre": ("n, m, a = map(int, input().split())\nprint(-(-n // a) * -(-m // a))\n",
                "#include <iostream>\nint main(){long long n,m,a; std::cin>>n>>m>>a;"
                "std::cout<<((n+a-1)/a)*((m+a-1)/a)<<std::endl;}\n"),
    "watermelon": ("w = int(input())\nprint('YES' if w % 2 == 0 and w > 2 else 'NO')\n",
                   "#include <cstdio>\nint main(){int w; scanf(\"%d\",&w); puts(w%2==0&&w>2?\"YES\":\"NO\");}\n"),
    "drinks": ("n = int(input())\np = list(map(int, input().split()))\nprint(sum(p) / n)\n",
               "#include <cstdio>\nint main(){int n; scanf(\"%d\",&n); double s=0; for(int i=0;i<n;i++){int p;"
               "scanf(\"%d\",&p); s+=p;} printf(\"%.9f\\n\", s/n);}\n"),
}


def make_tests(name: str, k: int, rng: random.Random) -> dict:
    inputs, outputs = [], []
    for _ in range(k):
        if name == "theatre":
            n, m, a = rng.randint(1, 10**9), rng.randint(1, 10**9), rng.randint(1, 10**9)
            inputs.append(f"{n} {m} {a}\n")
            outputs.append(f"{(-(-n // a)) * (-(-m // a))}\n")
        elif name == "watermelon":
            w = rng.randint(1, 100)
            inputs.append(f"{w}\n")
            outputs.append("YES\n" if w % 2 == 0 and w > 2 else "NO\n")
        else:
            p = [rng.randint(0, 100) for _ in range(rng.randint(1, 100))]
            inputs.append(f"{len(p)}\n{' '.join(map(str, p))}\n")
            outputs.append(f"{sum(p) / len(p):.12f}\n")
    return {"inputs": inputs, "outputs": outputs}


def rows(language: str, per_problem: int, k: int) -> pl.DataFrame:
    rng = random.Random(17)
    out = []
    for name, programs in PROBLEMS.items():
        for _ in range(per_problem):
            mark = f"# row {len(out)}\n" if language == "python" else f"// row {len(out)}\n"
            program = mark + (programs[0] if language == "python" else programs[1])
            out.append({"response": f"```{language}\n{program}```", "answer": None, "domain": "code",
                        "tests": json.dumps(make_tests(name, k, rng)), "checker": "float", "language": language})
    return pl.DataFrame(out, schema_overrides={"answer": pl.String})


def _own_cpu() -> float:
    """CPU seconds of this process and its waited-for children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _pool_cpu(pool: VerifyPool) -> float:
    """CPU seconds of the pool's live workers, with everything they waited for (sandboxes, g++, tests)."""
    total = 0
    for slot in pool.slots:
        fields = Path(f"/proc/{slot.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
    return total / os.sysconf("SC_CLK_TCK")


def naive(df: pl.DataFrame) -> tuple[float, int, int]:
    """Subprocess per test, as a first script would do it; returns (seconds, tests passed, tests)."""
    started, passed, total = time.perf_counter(), 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for response, tests, language in df.select("response", "tests", "language").iter_rows():
            program = response.split("\n", 1)[1].rsplit("```", 1)[0]
            argv = _prepare(program, language, Path(tmp))
            cases = json.loads(tests)
            for given, want in zip(cases["inputs"], cases["outputs"], strict=True):
                run = subprocess.run(argv, input=given, capture_output=True, text=True, timeout=10, cwd=tmp)
                passed += run.returncode == 0 and check_float(run.stdout, want)
                total += 1
    return time.perf_counter() - started, passed, total


def _prepare(program: str, language: str, tmp: Path) -> list[str]:
    if language == "python":
        (tmp / "prog.py").write_text(program)
        return [sys.executable, "prog.py"]
    (tmp / "prog.cpp").write_text(program)
    subprocess.run(["g++", "-O2", "-std=gnu++17", "-o", "prog", "prog.cpp"], cwd=tmp, check=True)
    return ["./prog"]


def pooled(df: pl.DataFrame, pool: VerifyPool, cfg: VerifyConfig) -> tuple[float, int, int]:
    started = time.perf_counter()
    out, _ = verify_frame(df, cfg, pool=pool)
    results = [t for ts in out["test_results"].to_list() for t in (ts or ["error"])]
    return time.perf_counter() - started, results.count("pass"), len(results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--programs", type=int, default=3, help="rows per problem and language")
    ap.add_argument("--tests", type=int, default=20, help="tests per row")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    cfg = VerifyConfig(workers=args.workers, code_timeout=10.0)
    started = time.perf_counter()
    have_pch = pch.build("iostream")  # once per machine; the pool's first <iostream> program would start it anyway
    print(f"precompiled <iostream> for the pool: {'ready' if have_pch else 'NOT available'} "
          f"({time.perf_counter() - started:.1f} s to build or find; the naive runner compiles plainly)")
    print(f"{len(PROBLEMS)} problems x {args.programs} programs x {args.tests} tests per language; "
          f"pool: {args.workers} workers")
    with VerifyPool(cfg) as pool:
        for language in ("python", "cpp"):
            df = rows(language, args.programs, args.tests)
            load, cpu = os.getloadavg()[0], _own_cpu()
            t_naive, ok_naive, n_naive = naive(df)
            cpu_naive, cpu = _own_cpu() - cpu, (_own_cpu(), _pool_cpu(pool))
            t_pool, ok_pool, n_pool = pooled(df, pool, cfg)
            cpu_pool = _own_cpu() - cpu[0] + _pool_cpu(pool) - cpu[1]
            target = "target >= 3x" if language == "python" else "compiled once per program in both"
            print(f"{language:6}  naive subprocess per test: {n_naive / t_naive:7.1f} tests/s ({t_naive:6.2f} s, "
                  f"{cpu_naive:6.2f} CPU s, {ok_naive}/{n_naive} pass)   pool: {n_pool / t_pool:7.1f} tests/s "
                  f"({t_pool:6.2f} s, {cpu_pool:6.2f} CPU s, {ok_pool}/{n_pool} pass)   speed-up "
                  f"{t_naive / t_pool:.2f}x wall, {cpu_naive / cpu_pool:.2f}x CPU ({target}); "
                  f"load {load:.1f} -> {os.getloadavg()[0]:.1f}")

if __name__ == "__main__":
    main()
