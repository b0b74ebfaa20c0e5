#!/usr/bin/env python3
"""Conformance: the official Python SDK (clawops==0.70.0), unchanged, against the emulator.

Usage: python python_sdk.py /path/to/clawops-emulator

Starts the emulator binary on an ephemeral port, then
  1. REST: lists, creates and gets resources through ``clawops.ClawOps``;
  2. Agent: runs ``clawops.agent.ClawOpsAgent`` with a tiny echo session, places an inbound
     call through the emulator control API and checks, through ``GET /_emulator/calls/{id}``,
     that the SDK accepted it, streamed audio back, sent a mark, hung up with the mark
     handshake and received ``call.ended``.
  3. Simulated AI (only when the ``openai`` package is installed): the SDK's real
     ``OpenAIRealtime`` session, pointed at the emulator's simulated ``/v1/realtime`` through
     ``OPENAI_BASE_URL``, greets, calls a tool on the caller's end of speech and answers.
Exits non-zero on the first failure.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.request

import clawops
from clawops.agent import ClawOpsAgent

AGENT_NUMBER = "07012340001"


def control(base_url: str, method: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{base_url}/_emulator{path}", data=data, method=method)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        text = resp.read().decode()
        return json.loads(text) if text else {}


def check(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)
    print(f"ok   {what}")


def rest_conformance(base_url: str, api_key: str, account_id: str) -> None:
    client = clawops.ClawOps(api_key=api_key, account_id=account_id, base_url=base_url, max_retries=0)
    numbers = client.numbers.list()
    check(any(n.number == AGENT_NUMBER for n in numbers), "numbers.list returns the seeded number")
    created = client.numbers.create(webhook_url="https://example.com/voice")
    check(created.number.startswith("0705000"), "numbers.create allocates a pool number")
    call = client.calls.create(to="01012345678", from_=AGENT_NUMBER, url="https://example.com/voiceml")
    check(call.call_id.startswith("CA") and call.status == "queued", "calls.create answers 201 queued")
    got = client.calls.get(call.call_id)
    check(got.call_id == call.call_id and got.direction == "outbound", "calls.get returns the call")
    page = client.calls.list(page_size=10)
    check(any(c.call_id == call.call_id for c in page), "calls.list pages include the call")
    msg = client.messages.create(to="01012345678", from_=AGENT_NUMBER, body="안녕하세요")
    check(client.messages.get(msg.message_id).body == "안녕하세요", "messages.create + get")
    try:
        client.calls.get("CAnope")
        raise AssertionError("calls.get on an unknown id must fail")
    except clawops.NotFoundError:
        check(True, "unknown call id raises NotFoundError (404)")
    try:
        clawops.ClawOps(api_key="sk_wrong", account_id=account_id, base_url=base_url, max_retries=0).numbers.list()
        raise AssertionError("a wrong key must fail")
    except clawops.AuthenticationError:
        check(True, "wrong key raises AuthenticationError (401)")


class EchoSession:
    """A minimal Session: echoes the first second of caller audio, then hangs up."""

    def __init__(self) -> None:
        self.call = None
        self.fed = 0
        self.hung_up = False

    async def start(self, call) -> None:
        await self.attach(call)

    async def prewarm(self) -> None:
        return None

    async def attach(self, call) -> None:
        self.call = call

    async def feed_audio(self, audio: bytes, timestamp: int) -> None:
        self.fed += len(audio)
        if self.call is None or self.hung_up:
            return
        await self.call.send_audio(audio)
        if self.fed >= 8000:
            self.hung_up = True
            asyncio.get_running_loop().create_task(self.call.hangup())

    async def feed_dtmf(self, digits: str) -> None:
        return None

    async def stop(self) -> None:
        return None

    def get_telemetry(self):
        return None


async def agent_conformance(base_url: str, api_key: str, account_id: str) -> None:
    session = EchoSession()
    agent = ClawOpsAgent(api_key=api_key, account_id=account_id, base_url=base_url,
                         from_=AGENT_NUMBER, session=session, prewarm_enabled=False)
    ended = asyncio.Event()
    seen: dict = {}

    @agent.on("call_end")
    async def on_end(call) -> None:
        seen["status"] = call.ended_status
        seen["duration"] = call.ended_duration
        ended.set()

    await agent.connect()
    for _ in range(100):
        agents = control(base_url, "GET", "/agents")["data"]
        if any(a["number"] == AGENT_NUMBER and a["hello"] for a in agents):
            break
        await asyncio.sleep(0.05)
    check(any(a["hello"] and a["hello"]["sdk"]["name"] == "clawops-python" for a in agents),
          "agent.hello received from clawops-python")
    answer = await asyncio.to_thread(control, base_url, "POST", "/inbound-calls",
                                     {"from": "01062915351", "to": AGENT_NUMBER, "audio": "speech",
                                      "seconds": 3, "dtmf": "5"})
    call_id = answer["callId"]
    await asyncio.wait_for(ended.wait(), timeout=30)
    view = await asyncio.to_thread(control, base_url, "GET", f"/calls/{call_id}/wait?timeoutMs=10000")
    check(view["accepted"] is True, "SDK accepted the inbound call (call.accept)")
    check(view["mediaConnected"] is True, "SDK opened the media socket with the one-time token")
    check(view["audioBytes"] >= 8000, f"SDK streamed audio back ({view['audioBytes']} bytes)")
    check(any(m.startswith("hangup-") for m in view["marks"]), "SDK hung up with the mark handshake")
    check(view["hangup"] is True and view["endedStatus"] == "completed", "call ended completed by the agent")
    check(seen.get("status") == "completed", "SDK saw call.ended status completed")
    check(seen.get("duration") == view["duration"], f"SDK saw call.ended duration {view['duration']}")
    await agent.disconnect()


async def realtime_conformance(base_url: str, api_key: str, account_id: str) -> None:
    try:
        from clawops.agent.pipeline.realtime._openai import OpenAIRealtime
    except ImportError:
        print("skip simulated Realtime check: install openai[realtime] to run it")
        return
    os.environ["OPENAI_BASE_URL"] = f"{base_url}/v1"
    agent = ClawOpsAgent(api_key=api_key, account_id=account_id, base_url=base_url, from_=AGENT_NUMBER,
                         session_factory=lambda: OpenAIRealtime(api_key="sk-simulated", system_prompt="demo"))
    tool_called = asyncio.Event()
    ended = asyncio.Event()
    transcripts: list = []

    @agent.tool
    async def lookup_order() -> str:
        """Look up the caller's order."""
        tool_called.set()
        return "order 42 shipped"

    @agent.on("transcript")
    async def on_transcript(call, role, text) -> None:
        transcripts.append((role, text))

    @agent.on("call_end")
    async def on_end(call) -> None:
        ended.set()

    await agent.connect()
    answer = await asyncio.to_thread(control, base_url, "POST", "/inbound-calls",
                                     {"from": "01011112222", "to": AGENT_NUMBER, "audio": "speech", "seconds": 2})
    call_id = answer["callId"]
    await asyncio.wait_for(tool_called.wait(), timeout=20)
    check(True, "simulated Realtime: caller's end of speech made the session call lookup_order")
    for _ in range(100):
        if sum(1 for role, _ in transcripts if role == "assistant") >= 2:
            break
        await asyncio.sleep(0.05)
    await asyncio.to_thread(control, base_url, "POST", f"/calls/{call_id}/hangup")
    await asyncio.wait_for(ended.wait(), timeout=20)
    view = await asyncio.to_thread(control, base_url, "GET", f"/calls/{call_id}")
    check(("user", "[simulated] caller speech") in transcripts, "simulated Realtime: user transcript delivered")
    check(view["audioBytes"] >= 9600, f"simulated Realtime: greeting + answer audio reached the caller ({view['audioBytes']} bytes)")
    check(view["telemetry"]["sessionType"] == "openai_realtime", "call.telemetry reports the realtime session")
    await agent.disconnect()


def main() -> int:
    binary = sys.argv[1] if len(sys.argv) > 1 else "clawops-emulator"
    proc = subprocess.Popen([binary, "--port", "0", "--fast"], stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        base_url, api_key, account_id = info["base_url"], info["api_key"], info["account_id"]
        rest_conformance(base_url, api_key, account_id)
        asyncio.run(agent_conformance(base_url, api_key, account_id))
        asyncio.run(realtime_conformance(base_url, api_key, account_id))
        print("python SDK conformance: all checks passed")
        return 0
    except Exception as exc:  # noqa: BLE001 - report any failure as a non-zero exit
        print(f"FAIL {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    sys.exit(main())
