#!/usr/bin/env python3
"""End-to-end compatibility test: the official `svix` Python SDK against Herald.

Run:  HERALD_URL=http://127.0.0.1:PORT HERALD_TOKEN=<operator token> python svix_sdk_test.py

Written against svix 2.9.1 (PyPI). The script starts its own webhook receiver on
127.0.0.1 (random port), so Herald must be configured to allow delivery to loopback
(the endpoint URL allow-list, e.g. 127.0.0.0/8). It talks to nothing but 127.0.0.1.
Exit status is 0 when every step passes, 1 otherwise.
"""

import json
import os
import sys
import threading
import time
import traceback
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

# Never let an HTTP proxy from the environment intercept loopback traffic (httpx honours
# *_PROXY variables when the SDK builds its client).
for _var in ("NO_PROXY", "no_proxy"):
    os.environ[_var] = "127.0.0.1,localhost,::1"

from svix import Svix, SvixOptions  # noqa: E402
from svix.api import (  # noqa: E402
    ApplicationIn,
    ApplicationListOptions,
    EndpointIn,
    EndpointListOptions,
    EndpointSecretRotateIn,
    EventTypeIn,
    MessageAttemptListByEndpointOptions,
    MessageAttemptListByMsgOptions,
    MessageAttemptTriggerType,
    MessageCreateOptions,
    MessageGetOptions,
    MessageIn,
    MessageStatus,
    RecoverIn,
)
from svix.exceptions import HttpError  # noqa: E402
from svix.webhooks import Webhook, WebhookVerificationError  # noqa: E402

DELIVERY_TIMEOUT = 20.0  # seconds to wait for a webhook to reach the receiver
STATE_TIMEOUT = 10.0  # seconds to wait for attempts / stats to show up in the API


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def step(msg):
    print(f"[step] {msg}", flush=True)


def ok(msg):
    print(f"  ok: {msg}", flush=True)


# --------------------------------------------------------------------------- receiver


class Receiver:
    """A tiny HTTP server that records every request and answers 200."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []  # dicts: method, path, headers (lower-cased keys), body (bytes), at
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _read_body(self):
                te = (self.headers.get("Transfer-Encoding") or "").lower()
                if "chunked" in te:
                    chunks = []
                    while True:
                        line = self.rfile.readline().strip()
                        size = int(line.split(b";")[0], 16)
                        if size == 0:
                            # trailers until an empty line
                            while self.rfile.readline().strip():
                                pass
                            break
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()  # CRLF after each chunk
                    return b"".join(chunks)
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length > 0 else b""

            def _handle(self):
                body = self._read_body()
                rec = {
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body,
                    "at": time.time(),
                }
                with receiver.lock:
                    receiver.requests.append(rec)
                out = b'{"received":true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_POST = _handle
            do_PUT = _handle
            do_PATCH = _handle
            do_GET = _handle

            def log_message(self, format, *args):  # keep the output readable
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def url(self, path="/hook"):
        return f"http://127.0.0.1:{self.port}{path}"

    def by_msg_id(self, msg_id):
        with self.lock:
            return [
                r
                for r in self.requests
                if r["headers"].get("svix-id") == msg_id
                or r["headers"].get("webhook-id") == msg_id
            ]

    def wait_for(self, msg_id, count=1, timeout=DELIVERY_TIMEOUT):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = self.by_msg_id(msg_id)
            if len(got) >= count:
                return got
            time.sleep(0.1)
        with self.lock:
            seen = [r["headers"].get("webhook-id") for r in self.requests]
        raise TestFailure(
            f"receiver got {len(self.by_msg_id(msg_id))} delivery(ies) of {msg_id} "
            f"within {timeout:.0f}s, wanted {count}; webhook-ids seen so far: {seen}"
        )


# --------------------------------------------------------------------------- helpers


def poll(what, fn, timeout=STATE_TIMEOUT):
    """Call fn() until it returns a truthy value; fail after timeout."""
    deadline = time.time() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.time() >= deadline:
            raise TestFailure(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.25)


def verify_delivery(rec, secret, expected_payload, label):
    """Verify a recorded delivery with the SDK's Webhook helper, then compare the payload."""
    headers = rec["headers"]
    for h in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        check(h in headers, f"{label}: delivery lacks header {h!r}; headers: {sorted(headers)}")
    for h in ("svix-id", "svix-timestamp", "svix-signature"):
        check(h in headers, f"{label}: delivery lacks header {h!r}; headers: {sorted(headers)}")
    check(rec["method"] == "POST", f"{label}: delivery method is {rec['method']}, not POST")
    ctype = headers.get("content-type", "")
    check(
        ctype.split(";")[0].strip().lower() == "application/json",
        f"{label}: delivery Content-Type is {ctype!r}",
    )
    try:
        # svix 2.9.1: Webhook.verify returns None and raises WebhookVerificationError on failure
        Webhook(secret).verify(rec["body"], headers)
    except WebhookVerificationError as e:
        raise TestFailure(
            f"{label}: Webhook.verify failed: {e}; webhook-signature={headers.get('webhook-signature')!r}"
        )
    got = json.loads(rec["body"].decode("utf-8"))
    check(
        got == expected_payload,
        f"{label}: delivered payload {got!r} differs from published {expected_payload!r}",
    )


def find_in_pages(what, fetch_page, pred, max_pages=200):
    """Walk a cursor-paginated list (fetch_page(iterator) -> ListResponse*) until pred matches."""
    iterator = None
    for _ in range(max_pages):
        page = fetch_page(iterator)
        for item in page.data:
            if pred(item):
                return item
        if page.done or not page.iterator or page.iterator == iterator:
            break
        iterator = page.iterator
    raise TestFailure(f"{what} not found in the list")


def successful_attempt(attempts, msg_id, ep_id):
    for a in attempts:
        if (
            a.msg_id == msg_id
            and a.endpoint_id == ep_id
            and a.status == MessageStatus.SUCCESS
            and a.response_status_code == 200
        ):
            return a
    return None


# --------------------------------------------------------------------------- the test


def run(server_url, token):
    host = urlparse(server_url).hostname
    check(
        host in ("127.0.0.1", "localhost", "::1"),
        f"HERALD_URL must point at loopback (this test never leaves 127.0.0.1), got {server_url!r}",
    )

    step("start the webhook receiver")
    receiver = Receiver()
    receiver.start()
    ok(f"listening at {receiver.url()}")

    try:
        _run(server_url, token, receiver)
    finally:
        receiver.stop()


def _run(server_url, token, receiver):
    client = Svix(token, SvixOptions(server_url=server_url, timeout=15.0))
    suffix = uuid.uuid4().hex[:12]

    # ---- event types
    step("event_type.create (two unique event types)")
    et_name = f"herald.sdktest.{suffix}"
    other_et_name = f"herald.sdktest.other.{suffix}"
    et = client.event_type.create(
        EventTypeIn(name=et_name, description="Herald SDK compatibility test event")
    )
    check(et.name == et_name, f"event_type.create returned name {et.name!r}, wanted {et_name!r}")
    check(et.deprecated is False, f"new event type has deprecated={et.deprecated!r}")
    other = client.event_type.create(
        EventTypeIn(name=other_et_name, description="an event type the endpoint does not subscribe to")
    )
    check(other.name == other_et_name, f"second event type returned name {other.name!r}")
    ok(f"created {et_name} and {other_et_name}")

    # ---- application
    step("application.create and application.get_or_create")
    app_uid = f"sdktest-{suffix}"
    app = client.application.create(
        ApplicationIn(name=f"SDK test {suffix}", uid=app_uid, metadata={"suite": "svix-sdk"})
    )
    check(app.id.startswith("app_"), f"application id {app.id!r} lacks the app_ prefix")
    check(app.uid == app_uid, f"application uid is {app.uid!r}, wanted {app_uid!r}")
    check(app.name == f"SDK test {suffix}", f"application name is {app.name!r}")
    check(app.metadata == {"suite": "svix-sdk"}, f"application metadata is {app.metadata!r}")
    same = client.application.get_or_create(ApplicationIn(name=f"SDK test {suffix}", uid=app_uid))
    check(same.id == app.id, f"get_or_create returned {same.id!r}, not the existing {app.id!r}")
    ok(f"app {app.id} (uid {app_uid}); get_or_create returned the same app")

    # ---- endpoint
    step("endpoint.create filtered to the event type")
    ep_url = receiver.url()
    ep = client.endpoint.create(
        app.id,
        EndpointIn(url=ep_url, description="SDK test receiver", event_types=[et_name]),
    )
    check(ep.id.startswith("ep_"), f"endpoint id {ep.id!r} lacks the ep_ prefix")
    check(ep.url == ep_url, f"endpoint url is {ep.url!r}, wanted {ep_url!r}")
    check(ep.event_types == [et_name], f"endpoint eventTypes is {ep.event_types!r}")
    check(not ep.disabled, f"new endpoint is disabled: {ep.disabled!r}")
    ok(f"endpoint {ep.id} -> {ep_url}")

    step("endpoint.get_secret")
    secret = client.endpoint.get_secret(app.id, ep.id).key
    check(secret.startswith("whsec_"), f"endpoint secret does not start with whsec_: {secret[:8]!r}...")
    ok("got a whsec_ secret")

    # ---- first message
    step("message.create (a filtered-out event type, then the subscribed one)")
    filtered = client.message.create(
        app.id, MessageIn(event_type=other_et_name, payload={"should": "not be delivered"})
    )
    payload1 = {
        "hello": "world",
        "n": 42,
        "pi": 3.5,
        "flag": True,
        "nothing": None,
        "nested": {"list": [1, 2, 3], "text": "h\u00e9llo \u2713 \"quoted\""},
    }
    msg1 = client.message.create(
        app.id, MessageIn(event_type=et_name, payload=payload1, event_id=f"evt-{suffix}-1")
    )
    check(msg1.id.startswith("msg_"), f"message id {msg1.id!r} lacks the msg_ prefix")
    check(msg1.event_type == et_name, f"message eventType is {msg1.event_type!r}")
    check(msg1.event_id == f"evt-{suffix}-1", f"message eventId is {msg1.event_id!r}")
    # The SDK sends with_content=false by default; the payload must still be a JSON object.
    check(isinstance(msg1.payload, dict), f"message payload is {type(msg1.payload).__name__}")
    ok(f"published {msg1.id} ({et_name}) and {filtered.id} ({other_et_name})")

    step("wait for the receiver to get the first message and verify it with the SDK")
    rec1 = receiver.wait_for(msg1.id)[0]
    verify_delivery(rec1, secret, payload1, "message 1")
    check(rec1["path"] == "/hook", f"delivery went to path {rec1['path']!r}, not /hook")
    check(
        rec1["headers"].get("svix-id") == msg1.id and rec1["headers"].get("webhook-id") == msg1.id,
        f"svix-id/webhook-id headers are not the message id {msg1.id}",
    )
    try:
        Webhook("whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=").verify(rec1["body"], rec1["headers"])
        raise TestFailure("Webhook.verify accepted the delivery with an unrelated secret")
    except WebhookVerificationError:
        pass
    ok("signature verified by svix.webhooks.Webhook; payload matches; a wrong secret is rejected")

    # ---- attempts
    step("message_attempt.list_by_msg shows a successful attempt")
    a1 = poll(
        "a successful attempt in list_by_msg",
        lambda: successful_attempt(client.message_attempt.list_by_msg(app.id, msg1.id).data, msg1.id, ep.id),
    )
    check(a1.id.startswith("atmpt_"), f"attempt id {a1.id!r} lacks the atmpt_ prefix")
    check(a1.url == ep_url, f"attempt url is {a1.url!r}, wanted {ep_url!r}")
    check(
        a1.trigger_type == MessageAttemptTriggerType.SCHEDULED,
        f"first attempt triggerType is {a1.trigger_type!r}, wanted SCHEDULED (0)",
    )
    check(str(a1.status_text) == "success", f"attempt statusText is {a1.status_text!r}")
    ok(f"attempt {a1.id}: status 0, responseStatusCode 200, {a1.response_duration_ms} ms")

    step("message_attempt.list_by_msg with status=Success filter and endpoint_id filter")
    filt = client.message_attempt.list_by_msg(
        app.id, msg1.id, MessageAttemptListByMsgOptions(status=MessageStatus.SUCCESS, endpoint_id=ep.id)
    )
    check(
        successful_attempt(filt.data, msg1.id, ep.id) is not None,
        "filtered list_by_msg lacks the successful attempt",
    )
    check(
        all(a.status == MessageStatus.SUCCESS for a in filt.data),
        f"status=0 filter returned statuses {[int(a.status) for a in filt.data]}",
    )
    ok(f"{len(filt.data)} attempt(s), all successful")

    step("message_attempt.list_by_endpoint shows a successful attempt")
    poll(
        "a successful attempt in list_by_endpoint",
        lambda: successful_attempt(
            client.message_attempt.list_by_endpoint(
                app.id, ep.id, MessageAttemptListByEndpointOptions(limit=50)
            ).data,
            msg1.id,
            ep.id,
        ),
    )
    ok("found")

    # ---- message.get
    step("message.get (with_content=true and the SDK default with_content=false)")
    got = client.message.get(app.id, msg1.id, MessageGetOptions(with_content=True))
    check(got.id == msg1.id, f"message.get returned id {got.id!r}")
    check(got.event_type == et_name, f"message.get eventType is {got.event_type!r}")
    check(got.payload == payload1, f"message.get payload {got.payload!r} differs from the published one")
    bare = client.message.get(app.id, msg1.id)
    check(bare.id == msg1.id and isinstance(bare.payload, dict), "message.get without content failed")
    ok("payload round-trips")

    # ---- rotation
    step("endpoint.rotate_secret then endpoint.get_secret")
    rotated = client.endpoint.rotate_secret(app.id, ep.id, EndpointSecretRotateIn())
    new_secret = client.endpoint.get_secret(app.id, ep.id).key
    check(new_secret.startswith("whsec_"), "rotated secret does not start with whsec_")
    check(new_secret != secret, "endpoint.get_secret still returns the old secret after rotation")
    check(
        rotated.key == new_secret,
        "rotate_secret's response key differs from the secret endpoint.get_secret now returns",
    )
    ok("secret rotated")

    step("publish a second message and verify it with the NEW secret (and the old one, in grace)")
    payload2 = {"second": True, "items": [{"id": 1}, {"id": 2}], "suffix": suffix}
    msg2 = client.message.create(
        app.id, MessageIn(event_type=et_name, payload=payload2), MessageCreateOptions(with_content=True)
    )
    check(msg2.payload == payload2, f"message.create(with_content=true) echoed {msg2.payload!r}")
    rec2 = receiver.wait_for(msg2.id)[0]
    verify_delivery(rec2, new_secret, payload2, "message 2 / new secret")
    sigs = [s for s in rec2["headers"]["webhook-signature"].split(" ") if s.startswith("v1,")]
    check(len(sigs) >= 2, f"expected old+new v1 signatures during the grace period, got {len(sigs)}")
    verify_delivery(rec2, secret, payload2, "message 2 / old secret in grace period")
    ok("verified with the new secret; the old one still verifies during the grace period")

    # ---- resend
    step("message_attempt.resend of the first message")
    client.message_attempt.resend(app.id, msg1.id, ep.id)
    recs = receiver.wait_for(msg1.id, count=2)
    verify_delivery(recs[-1], new_secret, payload1, "resent message 1")
    poll(
        "a manual attempt after resend",
        lambda: any(
            a.trigger_type == MessageAttemptTriggerType.MANUAL and a.status == MessageStatus.SUCCESS
            for a in client.message_attempt.list_by_msg(app.id, msg1.id).data
        ),
    )
    ok("resent delivery verified; a manual (triggerType 1) successful attempt is listed")

    # ---- endpoint reads
    step("endpoint.get")
    ep_got = client.endpoint.get(app.id, ep.id)
    check(ep_got.id == ep.id and ep_got.url == ep_url, f"endpoint.get returned {ep_got!r}")
    check(ep_got.event_types == [et_name], f"endpoint.get eventTypes is {ep_got.event_types!r}")
    check(ep_got.description == "SDK test receiver", f"endpoint.get description {ep_got.description!r}")
    ok(f"{ep_got.id} {ep_got.url}")

    step("endpoint.list")
    listed = client.endpoint.list(app.id, EndpointListOptions(limit=10))
    check([e.id for e in listed.data] == [ep.id], f"endpoint.list returned {[e.id for e in listed.data]}")
    check(listed.done is True, f"endpoint.list done is {listed.done!r} for a one-endpoint app")
    ok("one endpoint, done")

    step("application.list (paginated) contains the app")
    find_in_pages(
        f"application {app.id}",
        lambda it: client.application.list(ApplicationListOptions(limit=50, iterator=it)),
        lambda a: a.id == app.id,
    )
    ok("found")

    step("endpoint.get_stats")
    def stats_ready():
        s = client.endpoint.get_stats(app.id, ep.id)
        return s if s.success >= 2 else None

    stats = poll("endpoint stats to count 2 successful messages", stats_ready)
    check(stats.fail == 0, f"endpoint stats report {stats.fail} failures")
    ok(
        f"success={stats.success} pending={stats.pending} sending={stats.sending} "
        f"fail={stats.fail} canceled={stats.canceled}"
    )

    step("endpoint.recover (nothing failed, so it should be a no-op task)")
    rec_out = client.endpoint.recover(
        app.id, ep.id, RecoverIn(since=datetime.now(timezone.utc) - timedelta(hours=1))
    )
    check(str(rec_out.task) == "endpoint.recover", f"recover task is {rec_out.task!r}")
    ok(f"task {rec_out.id} status={rec_out.status}")

    # ---- errors
    step("application.get of a nonexistent app raises HttpError 404")
    missing = f"app_doesnotexist{suffix}"
    try:
        client.application.get(missing)
        raise TestFailure(f"application.get({missing!r}) succeeded")
    except HttpError as e:
        check(e.status_code == 404, f"HttpError status_code is {e.status_code}, wanted 404")
        check(e.code == "not_found", f"HttpError code is {e.code!r}, wanted 'not_found'")
        ok(f"HttpError 404 ({e.code}: {e.detail})")

    step("endpoint.get of a nonexistent endpoint raises HttpError 404")
    try:
        client.endpoint.get(app.id, f"ep_doesnotexist{suffix}")
        raise TestFailure("endpoint.get of a nonexistent endpoint succeeded")
    except HttpError as e:
        check(e.status_code == 404, f"HttpError status_code is {e.status_code}, wanted 404")
        ok("HttpError 404")

    # ---- filter
    step("the filtered-out message was never delivered")
    time.sleep(1.0)
    check(
        not receiver.by_msg_id(filtered.id),
        f"message {filtered.id} of {other_et_name} reached an endpoint filtered to {et_name}",
    )
    ok("not delivered")

    # ---- cleanup
    step("application.delete (cleanup)")
    client.application.delete(app.id)
    try:
        client.application.get(app.id)
        raise TestFailure("application.get succeeded after application.delete")
    except HttpError as e:
        check(e.status_code == 404, f"deleted app: status {e.status_code}, wanted 404")
    ok("deleted")


def main():
    server_url = os.environ.get("HERALD_URL")
    token = os.environ.get("HERALD_TOKEN")
    if not server_url or not token:
        print("FAIL: set HERALD_URL (e.g. http://127.0.0.1:8071) and HERALD_TOKEN", file=sys.stderr)
        return 2
    started = time.time()
    try:
        run(server_url.rstrip("/"), token)
    except TestFailure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    except HttpError as e:
        traceback.print_exc()
        print(f"FAIL: unexpected HttpError {e.status_code}: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # SDK parse errors (pydantic), JSON decode errors, connection errors
        traceback.print_exc()
        print(f"FAIL: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"PASS: svix SDK compatibility test ({time.time() - started:.1f}s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
