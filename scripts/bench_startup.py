"""How long `distill --help` (and one command's --help) takes to start, as real invocations (make bench-startup).

Runs each command --runs times as a fresh process, taking turns, and prints the fastest and the median wall time
and the median CPU time (user + system of the child) beside floors measured the same way: a bare `python -c
pass`, `python -c "import typer"`, and a two-command typer app printing its rich --help (the framework's own
floor). Issue 20's target: `distill --help` under 0.3 s. On a shared machine the wall time includes waiting for
a core; the CPU time does not, and the load average (printed before and after) says how busy the machine was.
It also lists the heavy modules (polars, numpy, pyarrow, vllm, torch, yaml) that a `--help` imported: there
should be none.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

# the framework's own floor: a one-command typer app with rich help (what `distill --help` renders with)
TINY_APP = """
import typer
app = typer.Typer(rich_markup_mode="rich")
@app.command()
def hello(name: str = typer.Option("x", help="Who.", rich_help_panel="Common options")) -> None:
    \"\"\"Say hello.\"\"\"
@app.command()
def bye() -> None:
    \"\"\"Say bye.\"\"\"
app()
"""
HEAVY = ("polars", "numpy", "pyarrow", "vllm", "torch", "yaml", "distill_cli.stagedir.inputs")


def timed(argv: list[str], path: str | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run of argv as a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    env = {**os.environ, "COLUMNS": "100", **({"PYTHONPATH": path} if path else {})}
    done = subprocess.run(argv, capture_output=True, env=env, cwd=path)  # -m puts the cwd first on sys.path
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{done.stderr.decode()[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def heavy_imports(argv: list[str]) -> list[str]:
    """The heavy modules a run imported (python -X importtime lists every import on stderr)."""
    done = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], capture_output=True, text=True)
    names = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    return sorted(n for n in names if n in HEAVY)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--baseline", metavar="DIR", help="also time `distill --help` of another checkout (e.g. "
                    "/work/main before a change), in the same turns")
    args = ap.parse_args()
    py = sys.executable
    cases = {
        "python -c pass": [py, "-c", "pass"],
        "import typer": [py, "-c", "import typer"],
        "tiny typer app --help": [py, "-c", TINY_APP, "--help"],
        "distill --help": [py, "-m", "distill_cli", "--help"],
        "distill generate --help": [py, "-m", "distill_cli", "generate", "--help"],
        "distill --version": [py, "-m", "distill_cli", "--version"],
    }
    paths = {name: None for name in cases}
    if args.baseline:
        cases["baseline --help"] = [py, "-m", "distill_cli", "--help"]
        paths["baseline --help"] = args.baseline
    load_before = os.getloadavg()
    walls: dict[str, list[float]] = {name: [] for name in cases}
    cpus: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):
        for name, argv in cases.items():
            wall, cpu = timed(argv, paths[name])
            walls[name].append(wall)
            cpus[name].append(cpu)
    load_after = os.getloadavg()
    print(f"{args.runs} runs each, taking turns (seconds); load average (1, 5, 15 min) before "
          f"{', '.join(f'{x:.2f}' for x in load_before)}, after {', '.join(f'{x:.2f}' for x in load_after)} "
          f"on {os.cpu_count()} cores")
    print(f"{'command':<26} {'fastest':>8} {'median':>8} {'median CPU':>11}")
    for name in cases:
        print(f"{name:<26} {min(walls[name]):8.3f} {statistics.median(walls[name]):8.3f} "
              f"{statistics.median(cpus[name]):11.3f}")
    med, cpu = statistics.median(walls["distill --help"]), statistics.median(cpus["distill --help"])
    floor = statistics.median(walls["tiny typer app --help"])
    print(f"\ndistill --help: median {med:.3f} s wall, {cpu:.3f} s CPU (target 0.3 s: "
          f"{'met' if med < 0.3 else 'NOT met'} on the median wall time, {'met' if cpu < 0.3 else 'NOT met'} on "
          f"CPU time); {med / floor:.2f}x a two-command typer app's rich --help ({floor:.3f} s median, the "
          "framework's floor here)")
    for name in ("distill --help", "distill generate --help"):
        heavy = heavy_imports(cases[name])
        print(f"{name}: heavy imports: {', '.join(heavy) or 'none'}")


if __name__ == "__main__":
    main()
