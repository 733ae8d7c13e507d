"""How long `distill --help` (and one command's --help) takes to start, as real invocations (make bench-startup).

Runs each command --runs times as a fresh process, taking turns, and prints the fastest and the median wall time
beside floors measured the same way: a bare `python -c pass`, `python -c "import typer"`, and a two-command typer
app printing its rich --help (the framework's own floor). Issue 20's target: `distill --help` under 0.3 s. The
machine's 2 cores are shared, so the fastest run is the one least disturbed by other work; compare it with the
floors of the same run. It also lists the heavy modules (polars, numpy, pyarrow, vllm, torch, yaml) that a
`--help` imported: there should be none.
"""

from __future__ import annotations

import argparse
import os
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


def wall(argv: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, env={**os.environ, "COLUMNS": "100"})
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{done.stderr.decode()[-2000:]}")
    return time.perf_counter() - started


def heavy_imports(argv: list[str]) -> list[str]:
    """The heavy modules a run imported (python -X importtime lists every import on stderr)."""
    done = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], capture_output=True, text=True)
    names = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    return sorted(n for n in names if n in HEAVY)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
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
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):
        for name, argv in cases.items():
            times[name].append(wall(argv))
    print(f"{args.runs} runs each, taking turns (wall seconds)")
    print(f"{'command':<26} {'fastest':>8} {'median':>8}")
    for name, seen in times.items():
        print(f"{name:<26} {min(seen):8.3f} {statistics.median(seen):8.3f}")
    best = min(times["distill --help"])
    print(f"\ndistill --help: fastest {best:.3f} s (target 0.3 s: {'met' if best < 0.3 else 'NOT met'}); "
          f"{best - min(times['tiny typer app --help']):.3f} s above a two-command typer app's rich --help "
          f"({min(times['tiny typer app --help']):.3f} s, the framework's floor here)")
    for name in ("distill --help", "distill generate --help"):
        heavy = heavy_imports(cases[name])
        print(f"{name}: heavy imports: {', '.join(heavy) or 'none'}")


if __name__ == "__main__":
    main()
