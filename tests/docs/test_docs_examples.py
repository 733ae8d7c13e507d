"""Every ```bash example in README.md and docs/**/*.md runs as written (sqlite-utils' habit): a doc that drifts from
the code fails here.

The examples of one file run in order, each with `bash -e`, in a fresh copy of the repository whose runs/demo/
holds a finished `make demo` run (made once per test session by scripts/demo.sh, the real pipeline on the bundled
tiny model), with `distill` on PATH and nothing else set. The examples need the demo's stage directories, not its
size: the copy's configs/demo.yaml generates for its first 12 prompts with 64 tokens (every stage and every other
option as written), which takes a third of the real demo's time; the examples that run configs/demo.yaml run that
same file, so they find the run finished. A block whose first line is
`# not run in tests: <reason>` (a GPU, the network, a server, a long benchmark) is reported as skipped, with the
reason, and stays visible in the doc. Untagged fences that hold distill commands fail too: a shell example must
say ```bash (run here) or ```text (a synopsis, not run).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SKIP = re.compile(r"^# not run in tests: (\S.*)$")
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
SHELL_INFOS = ("", "sh", "shell", "console", "zsh")
COMMAND = re.compile(r"^(\$ )?(distill [a-z][a-z-]*|make [a-z][a-z-]*|python3? \S+)( |$)")
# what is not the repository's own content: never copied into an example's workspace
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "venv", "runs", "__pycache__", ".pytest_cache", ".ruff_cache",
                                    "*.egg-info", "build", "dist", ".mypy_cache")
BLOCK_TIMEOUT = 600


@dataclass(frozen=True)
class Block:
    file: str  # relative to the repository, e.g. docs/stages/verify.md
    line: int  # 1-based line of the opening fence
    info: str
    code: str

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def skip_reason(self) -> str | None:
        first = self.code.splitlines()[0] if self.code.strip() else ""
        m = SKIP.match(first)
        return m.group(1) if m else None


def doc_files(root: Path = REPO) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def fenced_blocks(text: str, file: str) -> list[Block]:
    """CommonMark fences: ``` or ~~~ (3 or more), closed by the same character at least as long."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m or (m.group("fence")[0] == "`" and "`" in m.group("info")):
            i += 1
            continue
        fence, start, body = m.group("fence"), i, []
        i += 1
        while i < len(lines):
            close = FENCE.match(lines[i])
            if close and close.group("fence")[0] == fence[0] and len(close.group("fence")) >= len(fence) \
                    and not close.group("info").strip():
                break
            body.append(lines[i])
            i += 1
        info = m.group("info").strip().split()[0] if m.group("info").strip() else ""
        blocks.append(Block(file, start + 1, info, "\n".join(body) + "\n"))
        i += 1
    return blocks


def all_blocks(root: Path = REPO) -> list[Block]:
    out = []
    for path in doc_files(root):
        out += fenced_blocks(path.read_text(encoding="utf-8"), str(path.relative_to(root)))
    return out


EXAMPLES = [b for b in all_blocks() if b.info == "bash"]


@dataclass
class FileRun:
    """The workspace of one doc file and how far its examples have run."""

    cwd: Path
    done: set[int] = field(default_factory=set)
    failed: dict[int, str] = field(default_factory=dict)


def _env() -> dict:
    """The user's environment, with the venv's bin (where `distill` is) first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _run_group(argv: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    """Run in a process group of its own, and end the whole group if the test is stopped (a timeout, Ctrl-C): the
    demo's stage processes and vLLM engine must not outlive the test."""
    proc = subprocess.Popen(argv, cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(grace)
                break
            except subprocess.TimeoutExpired:
                continue
        raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _run(block: Block, cwd: Path) -> subprocess.CompletedProcess:
    script = cwd / ".doc-example.sh"
    script.write_text(block.code)
    try:
        return _run_group(["bash", "-e", str(script)], cwd, BLOCK_TIMEOUT)
    finally:
        script.unlink(missing_ok=True)


DEMO_PROMPTS, DEMO_MAX_TOKENS = 12, 64  # the demo run the examples start from (the real demo: 36 prompts, 192)


def shrink_demo(config: Path, prompts: int = DEMO_PROMPTS, max_tokens: int = DEMO_MAX_TOKENS) -> None:
    """configs/demo.yaml with its generate step cut to `prompts` prompts of `max_tokens` tokens, nothing else
    changed (comments included); fails if the file no longer has the one `max_tokens:` line this edits."""
    text, n = re.subn(r"^( +)max_tokens: \d+$", lambda m: f"{m[1]}max_tokens: {max_tokens}\n{m[1]}limit: {prompts}",
                      config.read_text(), flags=re.M)
    assert n == 1, f"{config}: expected one max_tokens line in the generate step, found {n}"
    config.write_text(text)


@pytest.fixture(scope="session")
def demo_repo(tmp_path_factory) -> Path:
    """A copy of the repository in which scripts/demo.sh (what `make demo` runs) has made runs/demo, from the
    copy's smaller configs/demo.yaml (shrink_demo)."""
    repo = tmp_path_factory.mktemp("docs") / "repo"
    shutil.copytree(REPO, repo, ignore=NOT_COPIED, symlinks=True)
    shrink_demo(repo / "configs" / "demo.yaml")
    started = time.monotonic()
    res = _run_group(["bash", "scripts/demo.sh", "runs/demo"], repo, timeout=1800)
    assert res.returncode == 0, f"the demo failed:\n{res.stdout[-3000:]}\n{res.stderr[-5000:]}"
    print(f"\ndocs fixture: scripts/demo.sh took {time.monotonic() - started:.0f} s", file=sys.stderr)
    return repo


@pytest.fixture(scope="session")
def file_runs(demo_repo, tmp_path_factory) -> dict[str, FileRun]:
    runs: dict[str, FileRun] = {}

    def get(file: str) -> FileRun:
        if file not in runs:
            cwd = tmp_path_factory.mktemp("doc-" + re.sub(r"\W+", "-", file)) / "repo"
            shutil.copytree(demo_repo, cwd, symlinks=True)
            runs[file] = FileRun(cwd)
        return runs[file]

    return get  # type: ignore[return-value]


def _show(res: subprocess.CompletedProcess) -> str:
    return f"exit {res.returncode}\n--- stdout\n{res.stdout[-3000:]}\n--- stderr\n{res.stderr[-6000:]}"


@pytest.mark.slow
@pytest.mark.vllm
@pytest.mark.timeout(2400)  # the first one also waits for the demo run (about 2 minutes on 2 idle cores)
@pytest.mark.parametrize("block", EXAMPLES, ids=[b.id for b in EXAMPLES])
def test_doc_example_runs(block: Block, file_runs):
    reason = block.skip_reason
    if reason is not None:
        pytest.skip(f"{block.id}: {reason}")
    state = file_runs(block.file)
    # the examples of a file build on each other: run the earlier ones first when this one is run alone
    for earlier in (b for b in EXAMPLES if b.file == block.file and b.line < block.line):
        if earlier.skip_reason is None and earlier.line not in state.done:
            res = _run(earlier, state.cwd)
            state.done.add(earlier.line)
            if res.returncode != 0:
                state.failed[earlier.line] = _show(res)
        if earlier.line in state.failed:
            pytest.fail(f"an earlier example of {block.file} failed, at line {earlier.line}")
    res = _run(block, state.cwd)
    state.done.add(block.line)
    if res.returncode != 0:
        state.failed[block.line] = _show(res)
        pytest.fail(f"{block.id}: the example fails as written:\n{block.code}\n{_show(res)}")


def test_shell_examples_are_tagged():
    """An untagged fence of shell commands would silently escape the test above."""
    loose = [b.id for b in all_blocks() if b.info in SHELL_INFOS and COMMAND.match(b.code.strip().split("\n")[0])]
    assert not loose, f"tag these fences ```bash (run by the tests) or ```text (a synopsis, not run): {loose}"


def test_fence_parser_on_nested_and_tilde_fences():
    text = "a\n```bash\necho 1\n```\n````md\n```bash\nnot a block\n```\n````\n~~~bash\n# not run in tests: x\n~~~\n"
    blocks = fenced_blocks(text, "f.md")
    assert [(b.line, b.info) for b in blocks] == [(2, "bash"), (5, "md"), (10, "bash")]
    assert blocks[1].code == "```bash\nnot a block\n```\n"
    assert blocks[2].skip_reason == "x" and blocks[0].skip_reason is None
