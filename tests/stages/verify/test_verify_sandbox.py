"""Sandbox attacks, run as one verify_frame call with normal rows mixed in: each is contained, the rest go on.

Several attacks come twice: through Python's API (stopped by the harness's audit hook) and through raw libc calls
via ctypes (which skip the hook, so only the OS-level limits can stop them).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import uuid
from pathlib import Path

import polars as pl
import pytest
from verify_fixtures import mbpp, mbpp_program

from distill_cli.stages.verify.core import VerifyConfig, verify_frame
from distill_cli.stages.verify.sandbox import resolve_mode

SECRET = "DISTILL_TEST_SECRET"
# a refused libc call raises, as Python's own wrappers do, so a contained attack fails its tests
LIBC = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "def ok(rc):\n    if rc < 0:\n        raise OSError(ctypes.get_errno(), 'refused')\n    return rc\n")


def _listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    hits: list = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                hits.append(server.accept())
            except (TimeoutError, OSError):
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    return server, hits, stop, thread


def _attacks(tmp_path, port: int) -> dict[str, str]:
    outside = tmp_path / "escaped.txt"
    shared_tmp = f"/tmp/distill-escape-{uuid.uuid4().hex}"
    connect = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
    raw_connect = LIBC + (
        "import socket, struct\nfd = libc.socket(2, 1, 0)\n"
        f"addr = struct.pack('HH4s8x', 2, socket.htons({port}), bytes([127, 0, 0, 1]))\n"
        "ok(libc.connect(ok(fd), addr, len(addr)))\n")
    return {
        "infinite_loop": "while True:\n    pass\n",
        "fork_bomb": "import os\nwhile True:\n    os.fork()\n",
        "raw_fork_bomb": LIBC + "while True:\n    libc.fork()\n",
        "memory_bomb": "chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 2**20))\n",
        "huge_output": "while True:\n    print('x' * 65536)\n",
        "write_outside": f"open({str(outside)!r}, 'w').write('x')\nopen({shared_tmp!r}, 'w').write('x')\n",
        "raw_write_outside": LIBC + f"fd = libc.open({shared_tmp.encode()!r}, 0o101, 0o644)\n"
                                    "libc.write(ok(fd), b'x', 1)\n"
                                    f"fd = ok(libc.open({str(outside).encode()!r}, 0o101, 0o644))\n"
                                    "ok(libc.write(fd, b'x', 1))\n",
        "network": connect,
        "raw_network": raw_connect,
        "kill_parent": "import os\nos.kill(os.getppid(), 9)\n",
        "raw_kill_parent": LIBC + "import os\nok(libc.kill(os.getppid(), 9))\n",
        "_paths": json.dumps([str(outside), shared_tmp]),
    }


SECRET_TESTS = [
    f"import os\nassert {SECRET!r} not in os.environ",
    "assert b'hunter2' not in open('/proc/self/environ', 'rb').read()",
    "import os\ntry:\n    leaked = b'hunter2' in open(f'/proc/{os.getppid()}/environ', 'rb').read()\n"
    "except OSError:\n    leaked = False\nassert not leaked",
]


@pytest.mark.slow
def test_attacks_are_contained_and_normal_rows_still_pass(tmp_path, monkeypatch):
    monkeypatch.setenv(SECRET, "hunter2")  # before the pool starts, so workers inherit it
    server, hits, stop, thread = _listener()
    attacks = _attacks(tmp_path, server.getsockname()[1])
    paths = json.loads(attacks.pop("_paths"))
    normal = mbpp()[:4]
    rows = [(f"normal-{r['task_id']}", mbpp_program(r), json.dumps(r["test_list"])) for r in normal[:2]]
    rows += [(name, code, '["assert True", "assert 1 + 1 == 2"]') for name, code in attacks.items()]
    rows += [("secrets", "x = 1", json.dumps(SECRET_TESTS))]
    rows += [(f"normal-{r['task_id']}", mbpp_program(r), json.dumps(r["test_list"])) for r in normal[2:]]
    df = pl.DataFrame({"id": [r[0] for r in rows], "response": [f"```python\n{r[1]}\n```" for r in rows],
                       "answer": [None] * len(rows), "domain": ["code"] * len(rows), "tests": [r[2] for r in rows]},
                      schema_overrides={"answer": pl.String})
    try:
        out, stats = verify_frame(df, VerifyConfig(workers=2, code_timeout=3.0, memory_mb=512))
    finally:
        stop.set()
        thread.join()
        server.close()
    verdicts = dict(zip(out["id"], out["verdict"], strict=False))
    for name in attacks:
        assert verdicts[name] in ("timeout", "error", "incorrect"), name
    assert all(v == "correct" for k, v in verdicts.items() if k.startswith("normal-")), verdicts
    assert verdicts["secrets"] == "correct", out.filter(pl.col("id") == "secrets").to_dicts()
    assert hits == [], "a sandboxed program reached the loopback listener"
    assert [p for p in paths if os.path.exists(p)] == []
    assert stats["verdicts"]["correct"] == 5


@pytest.mark.skipif(os.geteuid() != 0, reason="the namespaces mode needs root")
def test_root_uses_namespaces():
    assert resolve_mode("auto") == "namespaces"


def test_rlimits_fallback_still_blocks_python_level_attacks(tmp_path):
    """The mode used without root: no namespaces, but the audit hook and rlimits still hold."""
    outside = tmp_path / "fallback.txt"
    codes = {"net": "import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)\n",
             "write": f"open({str(outside)!r}, 'w').write('x')\n", "fork": "import os\nos.fork()\n",
             "ok": "def f():\n    return 2\n"}
    df = pl.DataFrame({"id": list(codes), "response": [f"```python\n{c}\n```" for c in codes.values()],
                       "answer": [None] * 4, "domain": ["code"] * 4, "tests": ['["assert f() == 2"]'] * 4},
                      schema_overrides={"answer": pl.String})
    cfg = VerifyConfig(workers=1, code_timeout=3.0, sandbox="rlimits")
    out, _ = verify_frame(df, cfg)
    verdicts = dict(zip(out["id"], out["verdict"], strict=True))
    assert verdicts == {"net": "incorrect", "write": "incorrect", "fork": "incorrect", "ok": "correct"}
    assert not outside.exists()


def _cpp_attacks(tmp_path, port: int) -> tuple[dict[str, str], list[str]]:
    """C++ attacks skip Python's audit hook entirely: only the OS-level sandbox can stop them. Most print "1" (the
    expected output) only once the attack was refused, so `correct` proves the program ran and was contained."""
    outside, shared_tmp = tmp_path / "escaped-cpp.txt", f"/tmp/distill-escape-cpp-{uuid.uuid4().hex}"
    head = ("#include <cstdio>\n#include <cstdlib>\n#include <cstring>\n#include <unistd.h>\n#include <signal.h>\n"
            "#include <dirent.h>\n")
    net = ("#include <sys/socket.h>\n#include <netinet/in.h>\n#include <arpa/inet.h>\nint main(){int fd=socket("
           "AF_INET,SOCK_STREAM,0); sockaddr_in a{}; a.sin_family=AF_INET; a.sin_port=htons(" + str(port) + ");"
           "a.sin_addr.s_addr=htonl(0x7f000001); if(fd<0||connect(fd,(sockaddr*)&a,sizeof a)!=0) puts(\"1\");}")
    # every process's environment that this program can read: none may hold the verifier's secret
    secrets = ("int main(){if(getenv(\"" + SECRET + "\")) return 0; DIR*d=opendir(\"/proc\"); dirent*e; char p[300],"
               "b[1<<16]; while((e=readdir(d))){snprintf(p,sizeof p,\"/proc/%s/environ\",e->d_name); FILE*f=fopen(p,"
               "\"rb\"); if(!f) continue; size_t n=fread(b,1,sizeof b,f); fclose(f); if(memmem(b,n,\"hunter2\",7)) "
               "return 0;} puts(\"1\");}")
    return {
        "cpp_fork_bomb": head + "int main(){for(;;){pid_t p=fork(); if(p<0){puts(\"1\");return 0;} "
                                "if(p==0){for(;;)pause();}}}",
        "cpp_memory_bomb": head + "int main(){for(;;){char*p=(char*)malloc(50<<20); if(!p){puts(\"1\");return 0;}"
                                  "memset(p,1,50<<20);}}",
        "cpp_network": head + net,
        "cpp_write_outside": head + f"int main(){{FILE*f=fopen(\"{outside}\",\"w\"); if(f){{fputs(\"x\",f);"
                                    f"fclose(f);}} f=fopen(\"{shared_tmp}\",\"w\"); if(f){{fputs(\"x\",f);"
                                    "fclose(f);}}}",
        "cpp_kill_parent": head + "int main(){if(kill(getppid(),SIGKILL)!=0&&kill(1,SIGKILL)!=0) puts(\"1\");}",
        "cpp_secrets": head + secrets,
        # all of a program's tests share one sandbox: test 1 kills every process it may (kill(-1) spares only the
        # caller), the launcher must survive it; test 2 leaves a daemon behind that test 3 must not find alive
        "cpp_kill_all": head + "int main(){int t; scanf(\"%d\",&t); if(t==1) kill(-1,SIGKILL); if(t==2&&fork()==0)"
                               "{setsid(); for(;;){FILE*f=fopen(\"alive\",\"w\"); if(f) fclose(f); usleep(5000);}} "
                               "if(t==3){unlink(\"alive\"); usleep(200000); if(access(\"alive\",F_OK)==0) return 0;}"
                               " puts(\"1\");}",
        "cpp_infinite_loop": head + "int main(){volatile long x=0; for(;;) x++;}",
        "cpp_huge_output": head + "int main(){static char b[65536]; memset(b,'x',sizeof b); for(;;) "
                                  "fwrite(b,1,sizeof b,stdout);}",
    }, [str(outside), shared_tmp]


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("g++") is None,
                    reason="C++ needs g++ and the namespaces mode, which needs root")
def test_cpp_attacks_are_contained(tmp_path, monkeypatch):
    monkeypatch.setenv(SECRET, "hunter2")  # before the pool starts, so workers inherit it
    server, hits, stop, thread = _listener()
    attacks, paths = _cpp_attacks(tmp_path, server.getsockname()[1])
    normal = "#include <iostream>\nint main(){long long a,b; std::cin>>a>>b; std::cout<<a+b<<std::endl;}"
    rows = {"normal_1": normal, **attacks, "normal_2": normal}
    tests = {k: {"inputs": ["2 3\n"], "outputs": ["5\n"]} if k.startswith("normal") else
             {"inputs": ["\n"], "outputs": ["1\n"]} for k in rows}
    tests["cpp_kill_all"] = {"inputs": ["1\n", "2\n", "3\n"], "outputs": ["1\n"] * 3}
    df = pl.DataFrame({"id": list(rows), "response": [f"```cpp\n{c}\n```" for c in rows.values()],
                       "answer": [None] * len(rows), "domain": ["code"] * len(rows),
                       "tests": [json.dumps(t) for t in tests.values()],
                       "time_limit": [0.5 if k == "cpp_infinite_loop" else None for k in rows]},
                      schema_overrides={"answer": pl.String})
    try:
        out, _ = verify_frame(df, VerifyConfig(workers=2, code_timeout=3.0, memory_mb=256))
    finally:
        stop.set()
        thread.join()
        server.close()
    got = {r["id"]: (r["verdict"], r["code_language"], r["test_results"]) for r in out.iter_rows(named=True)}
    refused = ("normal_1", "normal_2", "cpp_fork_bomb", "cpp_memory_bomb", "cpp_network", "cpp_kill_parent",
               "cpp_secrets", "cpp_kill_all")
    assert {k: got[k][0] for k in refused} == dict.fromkeys(refused, "correct"), got
    assert got["cpp_infinite_loop"][:1] + got["cpp_infinite_loop"][2:] == ("incorrect", ["timeout"])
    assert got["cpp_huge_output"][0] == "incorrect" and got["cpp_huge_output"][2][0] == "crash"
    assert {v[1] for v in got.values()} == {"cpp"}
    assert hits == [], "a sandboxed C++ program reached the loopback listener"
    assert [p for p in paths if os.path.exists(p)] == []


def test_cpp_is_refused_without_namespaces():
    """Native code skips the audit hook, so the rlimits fallback cannot hold it: unverifiable, never run."""
    from distill_cli.stages.verify.core import verify_one
    from distill_cli.stages.verify.problem import Problem

    tests = json.dumps({"inputs": ["1\n"], "outputs": ["1\n"]})
    verdict = verify_one("```cpp\nint main(){}\n```", None, "code", tests, VerifyConfig(sandbox="rlimits"))
    assert (verdict.verdict, verdict.reason, verdict.language) == ("unverifiable", "cpp_needs_namespaces_sandbox",
                                                                   "cpp")
    checker = Problem(checker="#include <cstdio>\nint main(){}")
    verdict = verify_one("```python\nprint(1)\n```", None, "code", tests, VerifyConfig(sandbox="rlimits"),
                         problem=checker)
    assert (verdict.verdict, verdict.reason) == ("unverifiable", "cpp_checker_needs_namespaces_sandbox")


def _alive_as(uid: int) -> list[str]:
    alive = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        if f"\nUid:\t{uid}\t" in text and "\nState:\tZ" not in text:
            alive.append(status.parent.name)
    return alive


@pytest.mark.skipif(os.geteuid() != 0, reason="the namespaces mode needs root")
@pytest.mark.parametrize("spawn", [True, False], ids=["spawn-helper", "fork"])
def test_session_runs_as_the_uid_with_a_wall_clock_and_leaves_nothing(tmp_path, spawn):
    """The C++ sandbox's launcher, both ways of starting a run: the C helper (posix_spawn) and its Python fork."""
    from distill_cli.stages.verify.sandbox import _uid
    from distill_cli.stages.verify.session import Session

    work = tmp_path / "sbx"
    work.mkdir(mode=0o755)
    (work / "box").mkdir()
    os.chown(work / "box", _uid(), _uid())
    limits = {"cpu": 2, "memory_mb": 256, "fsize": 1 << 20}
    with Session(work, "namespaces", _uid(), spawn=spawn) as box:
        assert (box.run(["/usr/bin/id", "-u"], work / "box", wall=5, stdout=work / "out", **limits).rc, (
            work / "out").read_text().strip()) == (0, str(_uid()))
        slow = box.run(["/bin/sleep", "5"], work / "box", wall=0.5, **limits)
        assert slow.timed_out and slow.rc == -9
        detach = "setsid /bin/sh -c 'touch ready; exec /bin/sleep 30' & while [ ! -f ready ]; do :; done; exit 3"
        daemon = box.run(["/bin/sh", "-c", detach], work / "box", wall=5, **limits)
        assert daemon.rc == 3 and not daemon.timed_out
        assert _alive_as(_uid()) == []  # the launcher swept the daemon before it answered
