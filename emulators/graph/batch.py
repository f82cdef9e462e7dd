"""JSON batching (``POST /v1.0/$batch``) for the Graph emulator.

What it is: Graph's batch endpoint: ``{"requests": [{"id", "method", "url", "headers", "body",
"dependsOn"}]}`` with at most 20 requests, answered ``{"responses": [{"id", "status", "headers",
"body"}]}``. JSON response bodies are inlined; any other body (``$value`` MIME, attachment
bytes) is a base64 string, as Graph sends it. A request whose dependency failed gets 424.

How it works: validation (count, unique ids, known dependencies, no cycles) happens before
anything runs, and a bad batch is one 400. Requests then run in waves: a wave is every request
whose dependencies have answered, run on up to ``batch_concurrency`` threads through
``GraphEmulator.handle_api`` with the batch's Authorization header. So each inner request is
authenticated, permission-checked, throttled and counted like a request of its own, and an
inner 429 comes back as that request's status with its ``Retry-After`` header.

How to use it: ``GraphEmulator.handle`` calls ``run`` for the batch URL.

Caveats: Graph may run independent requests in any order and in parallel; the emulator's waves
are one such order. Request bodies given as strings are taken as base64 (Graph's rule for
non-JSON content).
"""

import base64
import json
from concurrent.futures import ThreadPoolExecutor

from .wire import GraphError, json_response, new_request_id

MAX_BATCH_REQUESTS = 20
KEPT_HEADERS = ("Content-Type", "Retry-After", "Location")


def run(emulator, headers, body):
    request_id = new_request_id()
    try:
        items = _validated(body)
    except GraphError as error:
        emulator.throttle.record_http()
        client_request_id = headers.get("client-request-id")
        return error.to_response(request_id, client_request_id, emulator.clock.time())
    emulator.throttle.record_http(batch_size=len(items))

    results, pending = {}, list(items)
    with ThreadPoolExecutor(max_workers=max(1, emulator.batch_concurrency)) as pool:
        while pending:
            ready = [i for i in pending if all(d in results for d in i.get("dependsOn") or ())]
            pending = [i for i in pending if i not in ready]
            answers = pool.map(lambda item: _one(emulator, item, headers, results), ready)
            for item, answer in zip(ready, answers, strict=True):
                results[item["id"]] = answer
    responses = [results[item["id"]] for item in items]
    return json_response(200, {"responses": responses}, {"request-id": request_id})


def _validated(body):
    try:
        items = json.loads(body or b"{}").get("requests")
    except (ValueError, AttributeError):
        items = None
    if not isinstance(items, list) or not items:
        raise GraphError.bad_request("Invalid batch payload format.")
    if len(items) > MAX_BATCH_REQUESTS:
        raise GraphError.bad_request(
            f"The number of requests in a batch exceeds the maximum of {MAX_BATCH_REQUESTS}."
        )
    ids = [str(item.get("id", "")) if isinstance(item, dict) else "" for item in items]
    if "" in ids or len(set(ids)) != len(ids):
        raise GraphError.bad_request("Every batch request needs a unique id.")
    for item in items:
        if not item.get("method") or not item.get("url"):
            raise GraphError.bad_request("Every batch request needs a method and a url.")
        if set(item.get("dependsOn") or ()) - set(ids):
            raise GraphError.bad_request(f"Request {item['id']} depends on an unknown id.")
    # A dependency cycle would leave requests waiting forever; refuse it up front.
    done, pending = set(), list(items)
    while pending:
        ready = [i for i in pending if set(i.get("dependsOn") or ()) <= done]
        if not ready:
            raise GraphError.bad_request("The batch requests have circular dependencies.")
        done.update(i["id"] for i in ready)
        pending = [i for i in pending if i not in ready]
    return items


def _one(emulator, item, headers, results):
    if any(results[d]["status"] >= 400 for d in item.get("dependsOn") or ()):
        error = GraphError(424, "FailedDependency", "A request this one depends on failed.")
        return {"id": item["id"], "status": 424, "body": error.body(new_request_id())}
    inner_headers = {k.lower(): str(v) for k, v in (item.get("headers") or {}).items()}
    if "authorization" in headers:
        inner_headers["authorization"] = headers["authorization"]
    payload = item.get("body")
    if isinstance(payload, (dict, list)):
        data = json.dumps(payload).encode()
        inner_headers.setdefault("content-type", "application/json")
    elif isinstance(payload, str):
        data = base64.b64decode(payload)
    else:
        data = b""
    target = "/v1.0/" + item["url"].lstrip("/")
    response = emulator.handle_api(item["method"].upper(), target, inner_headers, data, True)
    return _answer(item["id"], response)


def _answer(item_id, response):
    kept = {k: v for k, v in response.headers.items() if k in KEPT_HEADERS}
    answer = {"id": item_id, "status": response.status, "headers": kept}
    if response.body:
        if "json" in response.headers.get("Content-Type", ""):
            answer["body"] = json.loads(response.body)
        else:
            answer["body"] = base64.b64encode(response.body).decode("ascii")
    return answer
