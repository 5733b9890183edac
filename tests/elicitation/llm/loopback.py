"""A loopback OpenAI-compatible chat server for tests: stdlib http.server in a thread on
127.0.0.1, answering each request from a script of replies, so that litellm's real
``openai/`` provider code path (HTTP, SSE parsing, errors, timeouts) runs without a
network. Every request is recorded for the test to look at."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "loopback-model"


@dataclass
class Reply:
    """One scripted answer. ``kind``: "text" (a chat answer, streamed when asked),
    "status" (an error status with an OpenAI-style error body), "slow" (answers after
    ``delay`` seconds), "malformed" (200 with a body that is not JSON) or "cut" (a
    stream whose first word arrives, then a chunk that is not JSON)."""

    kind: str = "text"
    text: str = "OK"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    usage: tuple[int, int] = (11, 3)


def text(content: str, usage=(11, 3)) -> Reply:
    return Reply("text", text=content, usage=usage)


def status(code: int, message: str = "", **headers: str) -> Reply:
    return Reply("status", status=code, text=message or f"loopback status {code}", headers=headers)


def slow(seconds: float, content: str = "late") -> Reply:
    return Reply("slow", text=content, delay=seconds)


def malformed() -> Reply:
    return Reply("malformed")


def cut(content: str) -> Reply:
    return Reply("cut", text=content)


def _completion(reply: Reply) -> dict:
    prompt, completion = reply.usage
    return {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def _chunk(delta: dict, finish: str | None = None) -> dict:
    return {
        "id": "chatcmpl-loopback",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _sse_events(reply: Reply, include_usage: bool) -> list[str]:
    words = reply.text.split(" ")
    events = [_chunk({"role": "assistant", "content": ""})]
    events += [_chunk({"content": w if i == 0 else " " + w}) for i, w in enumerate(words)]
    events.append(_chunk({}, finish="stop"))
    if include_usage:
        usage = _completion(reply)["usage"]
        events.append({**_chunk({}), "choices": [], "usage": usage})
    return [f"data: {json.dumps(e)}\n\n" for e in events] + ["data: [DONE]\n\n"]


class Loopback:
    """The server: ``push`` replies, point litellm at ``url``, read ``requests``."""

    def __init__(self):
        self.script: deque[Reply] = deque()
        self.requests: list[dict] = []
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append(
                    {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
                )
                reply = server.script.popleft() if server.script else text("OK")
                # The client may have given up first (a timeout): nothing to answer then.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    server.answer(self, reply, body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def push(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def start(self) -> Loopback:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, handler: BaseHTTPRequestHandler, reply: Reply, body: dict) -> None:
        if reply.kind == "slow":
            self.release.wait(reply.delay)
        if reply.kind == "status":
            self._send(
                handler,
                reply.status,
                json.dumps({"error": {"message": reply.text, "type": "loopback", "code": None}}),
                reply.headers,
            )
        elif reply.kind == "malformed":
            self._send(handler, 200, "{this is not json", {})
        elif body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            events = _sse_events(reply, include_usage)
            if reply.kind == "cut":
                events = [*events[:2], "data: {this is not json\n\n"]
            handler.send_response(200)
            handler.send_header("Content-Type", "text/event-stream")
            handler.send_header("Cache-Control", "no-cache")
            handler.end_headers()
            for event in events:
                handler.wfile.write(event.encode())
                handler.wfile.flush()
        else:
            self._send(handler, 200, json.dumps(_completion(reply)), {})

    @staticmethod
    def _send(handler, code: int, payload: str, headers: dict) -> None:
        data = payload.encode()
        handler.send_response(code)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            handler.send_header(name.replace("_", "-"), value)
        handler.end_headers()
        handler.wfile.write(data)
