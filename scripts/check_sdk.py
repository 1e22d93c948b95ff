#!/usr/bin/env python3
"""The official Anthropic Python SDK against mock Claude.

Checks what our own Rust tests cannot: that a client nobody here wrote parses the mock's replies
(tool use, streaming), raises the right typed errors, and retries 429/529 as it would against the
real API. Starts its own mock (the release `mocks` binary) on a free port and stops it by PID.
"""
import argparse
import json
import socket
import subprocess
import sys
import time
import urllib.request

import anthropic

TOOLS = [
    {"name": "get_quote", "description": "Latest quote for a ticker symbol.",
     "input_schema": {"type": "object", "properties": {"symbol": {"type": "string"}}, "required": ["symbol"]}},
    {"name": "get_price_history", "description": "Daily OHLCV bars.",
     "input_schema": {"type": "object", "properties": {"symbol": {"type": "string"}, "days": {"type": "integer"}},
                      "required": ["symbol"]}},
    {"name": "get_market_status", "description": "Whether the market is open.",
     "input_schema": {"type": "object", "properties": {}}},
]
MODEL = "claude-sonnet-4-6"
FAILURES = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        FAILURES.append(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(url, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json"},
                                 method="GET" if body is None else "POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        raw = r.read()
        return json.loads(raw) if raw else None


def wait_ready(base):
    for _ in range(100):
        try:
            return http_json(base + "/__stats")
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"mock claude at {base} did not start")


def conversation(client, base):
    first = client.messages.create(
        model=MODEL, max_tokens=1024, tools=TOOLS,
        messages=[{"role": "user", "content": "Should I buy AAPL or MSFT? Show the price history."}])
    check(first.id.startswith("msg_"), f"message id {first.id!r} starts with msg_")
    check(first._request_id is not None and first._request_id.startswith("req_"),
          f"SDK read the request-id header ({first._request_id!r})")
    check(first.stop_reason == "tool_use", f"first reply stops for tool use ({first.stop_reason})")
    uses = [b for b in first.content if b.type == "tool_use"]
    names = sorted({(u.name, u.input.get("symbol")) for u in uses})
    check(("get_quote", "AAPL") in names and ("get_quote", "MSFT") in names,
          f"tool calls quote both symbols: {names}")
    check(all(u.id.startswith("toolu_") for u in uses), "tool_use ids start with toolu_")
    check(first.usage.input_tokens > 0 and first.usage.output_tokens > 0, f"usage counted: {first.usage}")

    results = []
    for u in uses:
        if u.name == "get_quote" and u.input["symbol"] == "AAPL":
            content = json.dumps({"symbol": "AAPL", "bid": 187.30, "ask": 187.34, "last": 187.32,
                                  "volume": 51234567, "timestamp": "2026-11-23T15:00:00Z"})
            results.append({"type": "tool_result", "tool_use_id": u.id, "content": content})
        else:
            results.append({"type": "tool_result", "tool_use_id": u.id, "is_error": True,
                            "content": "upstream returned 503"})
    messages = [
        {"role": "user", "content": "Should I buy AAPL or MSFT? Show the price history."},
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": results},
    ]
    final = client.messages.create(model=MODEL, max_tokens=1024, tools=TOOLS, messages=messages)
    text = "".join(b.text for b in final.content if b.type == "text")
    check(final.stop_reason == "end_turn", f"second reply ends the turn ({final.stop_reason})")
    check("187.32" in text, "analysis quotes the tool result's last price 187.32")
    check("could not" in text.lower(), "analysis says when a tool result was an error")

    # Ids are unique per request (seed, request, occurrence); an admin reset replays them, so
    # the stream must equal a plain call made right after a reset.
    http_json(base + "/__admin/reset", {})
    final = client.messages.create(model=MODEL, max_tokens=1024, tools=TOOLS, messages=messages)
    http_json(base + "/__admin/reset", {})
    with client.messages.stream(model=MODEL, max_tokens=1024, tools=TOOLS, messages=messages) as stream:
        streamed = stream.get_final_message()
    # Compare as plain data: the stream accumulator builds its own block classes.
    def blocks(m):
        return [{k: v for k, v in b.model_dump().items() if v is not None} for b in m.content]
    same = blocks(streamed) == blocks(final) and streamed.id == final.id
    if not same:
        print("  non-streamed:", blocks(final))
        print("  streamed:    ", blocks(streamed))
    check(same, "streamed message equals the non-streamed reply (id and content)")
    check(streamed.stop_reason == final.stop_reason, "streamed stop_reason matches")

    with client.messages.stream(model=MODEL, max_tokens=1024, tools=TOOLS,
                                messages=messages[:1]) as stream:
        streamed_tools = stream.get_final_message()
    check([b.input for b in streamed_tools.content if b.type == "tool_use"] == [u.input for u in uses],
          "streamed tool_use input (input_json_delta) parses to the same input")


def errors(client, base):
    try:
        client.messages.create(model=MODEL, max_tokens=10, messages=[])
        check(False, "empty messages raises BadRequestError")
    except anthropic.BadRequestError as e:
        check(e.status_code == 400 and e.body["error"]["type"] == "invalid_request_error",
              f"empty messages → BadRequestError ({e.body['error']['message']!r})")

    merged = client.messages.create(model=MODEL, max_tokens=64, messages=[
        {"role": "user", "content": "hi"}, {"role": "user", "content": "again"}])
    check(merged.type == "message", "consecutive user turns are merged (200), as the API does")

    # A model added at runtime with a small ceiling (the SDK refuses large non-streaming
    # max_tokens on its own, before any request).
    http_json(base + "/__admin/faults", {"models": {"claude-small-test": 1000}})
    try:
        client.messages.create(model="claude-small-test", max_tokens=1001,
                               messages=[{"role": "user", "content": "hi"}])
        check(False, "max_tokens over the model's ceiling raises BadRequestError")
    except anthropic.BadRequestError as e:
        check(e.status_code == 400, f"max_tokens over the ceiling → BadRequestError ({e.body['error']['message']!r})")

    for key, cls, status in (("sk-invalid", anthropic.AuthenticationError, 401),
                             ("sk-forbidden", anthropic.PermissionDeniedError, 403)):
        try:
            client.with_options(api_key=key).messages.create(
                model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
            check(False, f"key {key} raises {cls.__name__}")
        except cls as e:
            check(e.status_code == status, f"key {key} → {cls.__name__} ({status})")
    for model in ("gpt-4", "claude-sonet-4-6"):
        try:
            client.messages.create(model=model, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
            check(False, f"unknown model {model} raises NotFoundError")
        except anthropic.NotFoundError as e:
            check(e.body["error"]["type"] == "not_found_error", f"unknown model {model} → NotFoundError")

    http_json(base + "/__admin/faults", {"billing_error_rate": 1.0})
    try:
        client.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
        check(False, "billing_error raises an APIStatusError")
    except anthropic.APIStatusError as e:
        check(e.status_code == 402 and e.body["error"]["type"] == "billing_error",
              f"402 → {type(e).__name__} (billing_error)")
    http_json(base + "/__admin/faults", {"billing_error_rate": 0.0})

    # 529 on every call: the SDK must retry (max_retries=2 → 3 requests) and then raise OverloadedError.
    http_json(base + "/__admin/reset", {})
    http_json(base + "/__admin/faults", {"overload_rate": 1.0})
    try:
        client.with_options(max_retries=2).messages.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
        check(False, "overloaded mock raises OverloadedError")
    except anthropic.APIStatusError as e:
        check(e.status_code == 529 and type(e).__name__ in ("OverloadedError", "InternalServerError"),
              f"529 → {type(e).__name__} ({e.body['error']['type']})")
    seen = http_json(base + "/__stats")["requests_total"]
    check(seen == 3, f"SDK retried 529 twice: mock saw {seen} requests (want 3)")
    http_json(base + "/__admin/faults", {"overload_rate": 0.0})

    # 60 RPM: a burst of 60, then one per second. The 61st call is a 429 with retry-after 1 and
    # the limit headers; the SDK's own retry waits that second and succeeds.
    http_json(base + "/__admin/reset", {})
    http_json(base + "/__admin/faults", {"rpm": 60})
    hi = dict(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    limited = None
    for _ in range(70):
        try:
            client.messages.create(**hi)
        except anthropic.RateLimitError as e:
            limited = e
            break
    check(limited is not None, "the 61st call at 60 RPM raises RateLimitError")
    if limited is not None:
        h = limited.response.headers
        check(limited.body["error"]["type"] == "rate_limit_error", "429 body is a rate_limit_error")
        check(h["retry-after"] == "1", f"429 carries retry-after: 1 ({h['retry-after']})")
        check(h.get("anthropic-ratelimit-requests-limit") == "60" and
              h.get("anthropic-ratelimit-requests-remaining") == "0",
              "429 carries anthropic-ratelimit-requests-limit/remaining")
        check(limited.request_id is not None, f"error carries request_id ({limited.request_id})")
    before = http_json(base + "/__stats")["requests_total"]
    started = time.monotonic()
    reply = client.with_options(max_retries=2).messages.create(**hi)
    waited = time.monotonic() - started
    tries = http_json(base + "/__stats")["requests_total"] - before
    check(reply.type == "message" and tries == 2 and 0.9 <= waited < 3,
          f"SDK retried the 429 after retry-after and succeeded: {tries} requests in {waited:.2f} s")
    http_json(base + "/__admin/faults", {"rpm": 0})


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mocks", default="target/release/mocks", help="path to the mocks binary")
    args = ap.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([args.mocks, "claude", "--port", str(port), "--seed", "42"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_ready(base)
        client = anthropic.Anthropic(api_key="sk-test-mock", base_url=base, max_retries=0)
        print(f"anthropic SDK {anthropic.__version__} against mock claude at {base}")
        conversation(client, base)
        errors(client, base)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed", file=sys.stderr)
        return 1
    print("all SDK checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
