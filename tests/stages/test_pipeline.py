"""Pipeline files: parsing, validation and the YAML-options-to-flags mapping (pure, no processes)."""

from __future__ import annotations

import pytest

from distill_cli.errors import BadInput
from distill_cli.pipeline.core import Param, option_args, parse_pipeline


def _spec(*params: Param) -> dict[str, Param]:
    return {p.name: p for p in params}


COMMON = (Param("output", "value", "--output"), Param("workers", "value", "--workers"),
          Param("quiet", "switch", "--quiet"), Param("overwrite", "switch", "--overwrite"))
INPUT = Param("input", "argument")
SPECS = {
    "collect": _spec(Param("sources", "argument", variadic=True), Param("domain", "value", "--domain"),
                     Param("streaming", "toggle", "--streaming", "--no-streaming"), *COMMON),
    "generate": _spec(INPUT, Param("model", "value", "--model"), Param("samples", "value", "--samples", aliases=("n",)),
                      Param("max_tokens", "value", "--max-tokens"), Param("temperature", "value", "--temperature"),
                      Param("enforce_eager", "toggle", "--enforce-eager", "--no-enforce-eager"),
                      Param("engine_arg", "multiple", "--engine-arg"), *COMMON),
    "verify": _spec(INPUT, *COMMON),
    "select": _spec(INPUT, Param("by", "value", "--by"), Param("keep", "value", "--keep"), *COMMON),
    "dedupe": _spec(INPUT, Param("decontaminate", "multiple", "--decontaminate"),
                    Param("exact", "toggle", "--exact", "--no-exact"), *COMMON),
    "export": _spec(INPUT, Param("format", "value", "--format"), *COMMON),
    "report": _spec(Param("run_dir", "argument"), Param("output", "value", "--output")),
    "score": _spec(INPUT, Param("model", "value", "--model"), Param("logprobs", "value", "--logprobs"),
                   Param("role", "value", "--role"), *COMMON),
}

DEMO = """
run_dir: runs/demo
stages:
  - collect: {sources: [a.jsonl, b.jsonl], domain: math}
  - generate: {model: tiny, n: 2, max_tokens: 256, temperature: 0.0, enforce_eager: true}
  - verify: {workers: 2}
  - select: {by: difficulty, keep: [hard, medium]}
  - dedupe: {decontaminate: [aime2024, math500], exact: false}
  - export: {format: sft, output: "{run_dir}/sft.jsonl"}
  - report
"""


def test_demo_pipeline_becomes_the_commands_a_user_would_type():
    pipe = parse_pipeline(DEMO, "demo.yaml", SPECS)
    argv = {s.name: list(s.argv) for s in pipe.steps}
    assert argv["collect"] == ["collect", "a.jsonl", "b.jsonl", "-o", "runs/demo/collect", "--domain", "math"]
    assert argv["generate"] == ["generate", "runs/demo/collect", "-o", "runs/demo/generate", "--model", "tiny",
                                "--samples", "2", "--max-tokens", "256", "--temperature", "0.0", "--enforce-eager"]
    assert argv["verify"] == ["verify", "runs/demo/generate", "-o", "runs/demo/verify", "--workers", "2"]
    # a plain list option is comma-joined, a repeatable one repeated, a false toggle spelled --no-
    assert argv["select"][-4:] == ["--by", "difficulty", "--keep", "hard,medium"]
    assert argv["dedupe"][-5:] == ["--decontaminate", "aime2024", "--decontaminate", "math500", "--no-exact"]
    assert argv["export"] == ["export", "runs/demo/dedupe", "-o", "runs/demo/sft.jsonl", "--format", "sft"]
    assert argv["report"] == ["report", "runs/demo"]
    assert [s.index for s in pipe.steps] == list(range(1, 8))


def test_run_dir_override_follows_into_defaults_and_placeholders():
    pipe = parse_pipeline(DEMO, "demo.yaml", SPECS, run_dir="/tmp/elsewhere")
    assert pipe.run_dir == "/tmp/elsewhere"
    export = pipe.step("export", "--from")
    assert export.output == "/tmp/elsewhere/sft.jsonl"
    assert pipe.steps[1].input == ("/tmp/elsewhere/collect",)


def test_named_stages_let_one_stage_type_appear_twice_and_inputs_refer_to_names():
    text = """
run_dir: r
stages:
  - collect: {sources: p.jsonl}
  - generate: {name: gen-big, model: big}
  - generate: {name: gen-small, model: small, input: collect}
  - verify: {input: "{run_dir}/gen-*/part-*.parquet", output: r/checked}
  - export: {format: sft}
  - export: {name: dpo, format: dpo}
"""
    pipe = parse_pipeline(text, "p.yaml", SPECS)
    big, small, verify, sft, dpo = pipe.steps[1:]
    assert big.input == ("r/collect",) and big.output == "r/gen-big"
    assert small.input == ("r/collect",) and small.output == "r/gen-small"
    assert verify.input == ("r/gen-*/part-*.parquet",) and verify.output == "r/checked"
    # exports read the last stage directory, not each other; their default file is named after the stage
    assert sft.input == ("r/checked",) and sft.output == "r/export.jsonl"
    assert dpo.input == ("r/checked",) and dpo.output == "r/dpo.jsonl"


def test_yaml_reads_on_as_true_but_it_is_still_the_on_option():
    spec = {**SPECS["dedupe"], "on": Param("on", "value", "--on")}
    pipe = parse_pipeline("run_dir: r\nstages: [{collect: {sources: a}}, {dedupe: {on: response}}]", "p.yaml",
                          {**SPECS, "dedupe": spec})
    assert pipe.steps[1].argv[-2:] == ("--on", "response")


def test_kebab_case_keys_and_null_values():
    args = option_args({"max-tokens": 12, "temperature": None}, SPECS["generate"], "w")
    assert args == ["--max-tokens", "12"]


def test_engine_args_mapping_becomes_repeated_engine_arg_with_json_values():
    args = option_args({"engine_args": {"enable_prefix_caching": True, "quantization": "fp8",
                                        "max_num_batched_tokens": 8192, "limit_mm_per_prompt": {"image": 0}}},
                       SPECS["generate"], "w")
    assert args == ["--engine-arg", "enable_prefix_caching=true", "--engine-arg", 'quantization="fp8"',
                    "--engine-arg", "max_num_batched_tokens=8192", "--engine-arg", 'limit_mm_per_prompt={"image": 0}']
    assert option_args({"engine_arg": ["a=1"]}, SPECS["generate"], "w") == ["--engine-arg", "a=1"]


def test_prompt_templates_keep_their_braces():
    args = option_args({"model": "Please reason step by step, and put your final answer within \\boxed{}."},
                       SPECS["generate"], "w")
    assert args[1].endswith("\\boxed{}.")


def test_select_range_by_name():
    pipe = parse_pipeline(DEMO, "demo.yaml", SPECS)
    assert [s.name for s in pipe.select("verify", "dedupe")] == ["verify", "select", "dedupe"]
    assert [s.name for s in pipe.select(None, "generate")] == ["collect", "generate"]
    with pytest.raises(BadInput, match=r"--from 'verfy': no stage of that name in demo.yaml"):
        pipe.select("verfy", None)
    with pytest.raises(BadInput, match="comes after"):
        pipe.select("export", "verify")


@pytest.mark.parametrize("text, message", [
    ("run_dir: r\nstages: [{collect: {sources: a}}, {verfy: {}}]",
     r"^p.yaml: stage 2: unknown stage 'verfy'; stages are collect, generate"),
    ("run_dir: r\nstages: [{collect: {sources: a}}, {generate: {temprature: 1}}]",
     r"^p.yaml: stage 2 \(generate\): unknown option 'temprature'; it takes: .*temperature"),
    ("run_dir: r\nstages:\n  - collect: {sources: a\n  - verify\n", r"^p.yaml: invalid YAML at line \d+, column \d+"),
    ("stages: [{collect: {sources: a}}]", r"^p.yaml: run_dir: missing"),
    ("run_dir: r\nstages: []", r"^p.yaml: stages: expected a non-empty list"),
    ("run_dir: r\nstage: []", r"^p.yaml: unknown top-level key\(s\) stage"),
    ("- collect", r"^p.yaml: expected a mapping with run_dir and stages, found list"),
    ("run_dir: r\nstages: [{verify: {}}]", r"^p.yaml: stage 1 \(verify\): input: missing"),
    ("run_dir: r\nstages: [{collect: {}}]", r"^p.yaml: stage 1 \(collect\): sources: missing"),
    ("run_dir: r\nstages: [{collect: {sources: a}}, verify, verify]", r"^p.yaml: stage 3 \(verify\): name 'verify' "
     "is used twice"),
    ("run_dir: r\nstages: [{collect: {sources: a}}, {verify: [1]}]", r"stage 2 \(verify\): options must be a mapping"),
    ("run_dir: r\nstages: [{collect: {sources: a, streaming: 1}}]", r"stage 1 \(collect\): streaming: expected true"),
    ("run_dir: r\nstages: [{collect: {sources: a, domain: {x: 1}}}]", r"domain: expected a value or a list"),
    ("run_dir: r\nstages: [{collect: {sources: a}}, {verify: {input: [x, y]}}]", r"verify` reads one input"),
    ("run_dir: r\nstages: [{collect: {sources: a}}, {verify: {name: a/b}}]", r"name 'a/b': use letters"),
    ("run_dir: r\nstages: [{collect: {sources: a}}, {grade: {}}]", r"stage 2 \(grade\): this version of distill "
     "has no `grade` command"),
])
def test_bad_pipelines_fail_in_one_line_naming_file_and_stage(text, message):
    with pytest.raises(BadInput, match=message) as err:
        parse_pipeline(text, "p.yaml", SPECS)
    assert "\n" not in str(err.value)


def test_score_steps_chain_teacher_then_student_into_a_kd_export():
    text = """
run_dir: runs/kd
stages:
  - collect: {sources: [a.jsonl]}
  - generate: {model: tiny, n: 1}
  - score: {model: tiny, logprobs: 20}
  - score: {name: student, model: tiny, role: student}
  - export: {format: kd, output: "{run_dir}/kd.parquet"}
"""
    argv = [list(s.argv) for s in parse_pipeline(text, "kd.yaml", SPECS).steps]
    assert argv[2] == ["score", "runs/kd/generate", "-o", "runs/kd/score", "--model", "tiny", "--logprobs", "20"]
    assert argv[3] == ["score", "runs/kd/score", "-o", "runs/kd/student", "--model", "tiny", "--role", "student"]
    assert argv[4] == ["export", "runs/kd/student", "-o", "runs/kd/kd.parquet", "--format", "kd"]
