#!/usr/bin/env python3
"""A runner written in Python (standard library only) for an Arclight store server.

It takes rollouts from the server's JSON API, solves each task (an addition,
the demo's task shape: {"a": 2, "b": 3}), sends its trace as OTLP/JSON to
POST /v1/traces -- one span for the "LLM call", one agentlightning.reward
span -- attributed by the resource attributes agentlightning.rollout_id and
agentlightning.attempt_id, and finishes the attempt. Any language can do the
same; an OpenTelemetry SDK exporter pointed at /v1/traces works too.

    npx arclight store serve --dir runs/py --token "$ARCLIGHT_TOKEN"
    python3 examples/python-otlp-agent.py --store http://127.0.0.1:4747 --max 10
"""

import argparse
import json
import os
import random
import socket
import sys
import time
import urllib.error
import urllib.request


def call(base, token, path, body, timeout=30.0):
    """POST JSON to the store server; returns the decoded answer or raises with the server's message."""
    req = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", **({"authorization": "Bearer " + token} if token else {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            return json.loads(res.read() or b"{}")
    except urllib.error.HTTPError as e:
        detail = e.read().decode(errors="replace")
        raise RuntimeError(f"{path}: HTTP {e.code}: {detail}") from None


def attr(key, value):
    """One OTLP/JSON KeyValue; ints travel as strings, as the OTLP JSON mapping asks."""
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": str(value)}}


def span(trace_id, name, start_ns, end_ns, attributes, parent=None):
    return {
        "traceId": trace_id,
        "spanId": "%016x" % random.getrandbits(64),
        **({"parentSpanId": parent} if parent else {}),
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(end_ns),
        "attributes": [attr(k, v) for k, v in attributes.items()],
        "status": {"code": 1},
    }


def solve(task):
    """The "agent": a deliberately imperfect adder, so rewards vary."""
    a, b = int(task["a"]), int(task["b"])
    guess = a + b if random.random() < 0.8 else a + b + 1
    return guess, 1.0 if guess == a + b else 0.0


def run_one(base, token, worker):
    got = call(base, token, "/v1/agl/rollouts/dequeue", {"options": {"workerId": worker}, "waitMs": 500})["result"]
    if got is None:
        return False
    rollout_id, attempt_id = got["rolloutId"], got["attempt"]["attemptId"]
    call(base, token, "/v1/agl/attempts/update", {"rolloutId": rollout_id, "attemptId": attempt_id, "update": {"status": "running", "workerId": worker}})
    t0 = time.time_ns()
    answer, reward = solve(got["input"])
    t1 = time.time_ns()
    trace_id = "%032x" % random.getrandbits(128)
    llm = span(trace_id, "chat python-adder", t0, t1, {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "python-adder",
        "gen_ai.request.model": "adder-1",
        "gen_ai.usage.input_tokens": 7,
        "gen_ai.usage.output_tokens": 1,
        "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": str(answer)}]}]),
    })
    rew = span(trace_id, "agentlightning.reward", t1, t1, {
        "agentlightning.reward": json.dumps(reward),
        "agentlightning.reward.0.name": "primary",
        "agentlightning.reward.0.value": reward,
    }, parent=llm["spanId"])
    body = {"resourceSpans": [{
        "resource": {"attributes": [
            attr("service.name", "python-otlp-agent"),
            attr("agentlightning.rollout_id", rollout_id),
            attr("agentlightning.attempt_id", attempt_id),
        ]},
        "scopeSpans": [{"scope": {"name": "python-otlp-agent"}, "spans": [llm, rew]}],
    }]}
    res = call(base, token, "/v1/traces", body)
    if res.get("partialSuccess", {}).get("rejectedSpans"):
        raise RuntimeError("spans rejected: " + res["partialSuccess"].get("errorMessage", ""))
    call(base, token, "/v1/agl/attempts/update", {"rolloutId": rollout_id, "attemptId": attempt_id, "update": {"status": "succeeded"}})
    print(f"{rollout_id}: {got['input']} -> {answer} reward {reward}", flush=True)
    return True


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", default="http://127.0.0.1:4747")
    p.add_argument("--token", default=os.environ.get("ARCLIGHT_TOKEN", ""))
    p.add_argument("--max", type=int, default=0, help="stop after this many rollouts (0: when the queue stays empty)")
    p.add_argument("--seed", type=int, default=None)
    args = p.parse_args()
    random.seed(args.seed)
    worker = f"py-{socket.gethostname()}-{os.getpid()}"
    done = 0
    while args.max == 0 or done < args.max:
        if not run_one(args.store.rstrip("/"), args.token, worker):
            break
        done += 1
    print(f"python agent: ran {done} rollout(s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
