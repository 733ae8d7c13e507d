"""`--engine-arg KEY=VALUE`: any `vllm.LLM` argument, checked against the engine's own argument list.

Teachers on GPUs are tuned with knobs generate has no option for (prefix caching, quantization,
max_num_batched_tokens, speculative decoding, LoRA). Rather than mirror vLLM's few hundred arguments, distill passes
`KEY=VALUE` through verbatim (VALUE read as JSON, else as a string) and checks KEY against the fields of vLLM's
`EngineArgs` dataclass plus `LLM.__init__`'s own parameters. The list is read from vLLM's source with `ast`, so a
typo fails in a fraction of a second instead of after importing vLLM (which takes most of a minute on a small CPU).
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import json
from pathlib import Path

from distill_cli.errors import BadInput

OPTION = "--engine-arg"
# engine arguments that have a distill option of their own: the option records them and sizes memory with them
OWN_OPTIONS = {
    "model": "--model", "seed": "--seed", "dtype": "--dtype", "tensor_parallel_size": "--tensor-parallel-size",
    "max_model_len": "--max-model-len", "gpu_memory_utilization": "--gpu-memory-utilization",
    "kv_cache_memory_bytes": "--kv-cache-memory", "enforce_eager": "--enforce-eager",
    "max_num_seqs": "--max-num-seqs", "data_parallel_size": "--data-parallel-size",
}


def parse_engine_args(items: list[str] | None, option: str = OPTION, own: dict[str, str] = OWN_OPTIONS) -> dict:
    """`["enable_prefix_caching=true", "quantization=fp8"]` -> `{"enable_prefix_caching": True, ...}`.

    `option` names the option in messages and `own` the arguments that have an option of their own (verify's
    judge engine reads `--judge-engine-arg` beside `--judge-dtype`, ...)."""
    out: dict = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise BadInput(f"{option} {item!r}: expected KEY=VALUE, e.g. enable_prefix_caching=true")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        if key in own:
            raise BadInput(f"{option} {key}: use {own[key]} instead")
        out[key] = value
    return out


def check_engine_args(args: dict, valid: set[str] | None = None, option: str = OPTION) -> None:
    """An unknown key is a usage error naming the closest argument vLLM has."""
    if not args:
        return
    valid = engine_arg_names() if valid is None else valid
    for key in args:
        if key not in valid:
            close = difflib.get_close_matches(key, sorted(valid), n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]}?" if close else "; see `vllm serve --help=all` for the list"
            raise BadInput(f"{option} {key}: not an argument of vllm.LLM{hint}")


def engine_arg_names() -> set[str]:
    """EngineArgs' dataclass fields and LLM.__init__'s keyword parameters, from the installed vLLM's source."""
    spec = importlib.util.find_spec("vllm")
    if spec is None or not spec.submodule_search_locations:
        from distill_cli.errors import require

        require("vllm", "gpu")  # raises the install hint
        return set()
    root = Path(next(iter(spec.submodule_search_locations)))
    names = _class_fields(root / "engine" / "arg_utils.py", "EngineArgs")
    names |= _init_params(root / "entrypoints" / "llm.py", "LLM")
    if not names:  # a vLLM whose layout we do not know: ask it
        import dataclasses

        from vllm.engine.arg_utils import EngineArgs

        names = {f.name for f in dataclasses.fields(EngineArgs)}
    return names - {"self", "kwargs"}


def _class(path: Path, name: str) -> ast.ClassDef | None:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    return next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name), None)


def _class_fields(path: Path, name: str) -> set[str]:
    cls = _class(path, name)
    if cls is None:
        return set()
    return {n.target.id for n in cls.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
            and "ClassVar" not in ast.unparse(n.annotation)}


def _init_params(path: Path, name: str) -> set[str]:
    cls = _class(path, name)
    init = next((n for n in (cls.body if cls else []) if isinstance(n, ast.FunctionDef) and n.name == "__init__"),
                None)
    if init is None:
        return set()
    a = init.args
    return {x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)}
