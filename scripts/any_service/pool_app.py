"""A web service that is not analyze-server, built from well-known parts for `make check-any-service`
(issue 29): Python's standard HTTP server under a fixed pool of worker threads (a FIFO queue in
front of POOL workers), calling mock Claude through the official Anthropic SDK, with the default
Prometheus client's /metrics (process_cpu_seconds_total and the other process_* series).

  POST /ask   one model call through the SDK (the upstream answers in constant time)
  GET  /cpu   CPU_MS of pure-Python work (the GIL: one core at most)
  GET  /metrics

Each connection carries one request (HTTP/1.0), so every request waits its turn in the pool's
queue, as behind a pre-forked worker pool.
"""

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer

import anthropic
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


class PoolServer(HTTPServer):
    """Hands each accepted connection to a fixed pool of threads (FIFO when all are busy)."""

    request_queue_size = 1024

    def __init__(self, addr, handler, workers):
        super().__init__(addr, handler)
        self.pool = ThreadPoolExecutor(max_workers=workers)

    def process_request(self, request, client_address):
        self.pool.submit(self._work, request, client_address)

    def _work(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - the standard server's own policy
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)


def handler_for(client, cpu_ms):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, status, body, ctype="application/json"):
            data = body if isinstance(body, bytes) else body.encode()
            self.send_response(status)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/metrics":
                self.reply(200, generate_latest(), CONTENT_TYPE_LATEST)
            elif self.path == "/cpu":
                end = time.thread_time() + cpu_ms / 1000.0
                n = 0
                while time.thread_time() < end:
                    n += 1
                self.reply(200, json.dumps({"spins": n}))
            else:
                self.reply(404, '{"error":"not found"}')

        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            if self.path != "/ask":
                self.reply(404, '{"error":"not found"}')
                return
            try:
                msg = client.messages.create(
                    model="claude-sonnet-4-6",
                    max_tokens=64,
                    messages=[{"role": "user", "content": "Say hello in one line."}],
                )
                self.reply(200, json.dumps({"text": msg.content[0].text}))
            except anthropic.APIError as e:
                self.reply(502, json.dumps({"error": type(e).__name__}))

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pool", type=int, default=4)
    ap.add_argument("--claude", default="http://127.0.0.1:9100")
    ap.add_argument("--cpu-ms", type=float, default=20.0)
    a = ap.parse_args()
    client = anthropic.Anthropic(base_url=a.claude, api_key="mock-key", max_retries=0)
    server = PoolServer(("127.0.0.1", a.port), handler_for(client, a.cpu_ms), a.pool)
    print(f"listening on 127.0.0.1:{a.port} with {a.pool} workers", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
