"""The simulator's HTTP surface (aiohttp): the OpenAI chat-completions API plus admin endpoints.

| method | path                  | what                                                         |
|--------|-----------------------|--------------------------------------------------------------|
| POST   | /v1/chat/completions  | the simulated LLM (OpenAI request and response shapes)       |
| GET    | /v1/models            | the one model                                                |
| GET    | /health               | liveness: ``{"status": "ok", "profile": ...}``               |
| GET    | /admin/profile        | the active profile (JSON), seconds and requests since        |
|        |                       | activation                                                   |
| PUT    | /admin/profile        | activate a profile: a name (JSON string) or a spec object;   |
|        |                       | ``?reset_counters=1`` also zeroes the counters               |
| GET    | /admin/profiles       | shipped profile names and descriptions                       |
| GET    | /admin/counters       | ground truth: requests by outcome and status, tokens, ...    |
| DELETE | /admin/counters       | zero the counters (returns the counts before)                |
| GET    | /admin/outage         | the admin-started outage, if any                             |
| POST   | /admin/outage         | start one now: ``{"status": 503, "duration_s": null}``       |
|        |                       | (every request fails with that status until ended)           |
| DELETE | /admin/outage         | end it (returns it; ``{"active": false}`` if there was none) |
| GET    | /admin/hold           | ``{"held": bool, "waiting": n, "queued": n}``: requests held |
|        |                       | in their slots, and waiting for a slot                       |
| POST   | /admin/hold           | hold answers: a request that got its concurrency slot waits  |
|        |                       | there (keeping the slot) until released                      |
| DELETE | /admin/hold           | release them (they then run their latency and answer)        |

A switch of profile ends an admin-started outage and releases a hold.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import Any

import pydantic
from aiohttp import web

from pipeline.llm.reference import REFERENCE_HEADER, decode_reference
from pipeline.llm.sim.engine import Reply, SimEngine, error_body, invalid_request, parse_request
from pipeline.llm.sim.outage import OutageRequest
from pipeline.llm.sim.profiles import NAMED_PROFILES, Profile, UnknownProfileError, resolve_profile

log = logging.getLogger(__name__)


class SlotPool:
    """A concurrency limit with a bounded queue in front of it."""

    def __init__(self, limit: int, max_queue: int) -> None:
        self.limit = limit
        self.max_queue = max_queue
        self.busy = 0
        self._sem = asyncio.Semaphore(limit)

    def full(self) -> bool:
        return self.busy >= self.limit + self.max_queue

    @property
    def queued(self) -> int:
        """Requests waiting for a slot (those in service hold at most ``limit``)."""
        return max(0, self.busy - self.limit)

    async def __aenter__(self) -> None:
        self.busy += 1
        try:
            await self._sem.acquire()
        except BaseException:
            self.busy -= 1
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        self._sem.release()
        self.busy -= 1


class Simulator:
    """The engine plus the asyncio parts that the engine leaves out (the slot pool)."""

    def __init__(self, engine: SimEngine, *, model: str = "sim-gpt", api_key: str | None = None) -> None:
        self.engine = engine
        self.model = model
        self._api_key = api_key
        self.pool: SlotPool | None = None
        self._make_pool(engine.profile)
        self._released = asyncio.Event()
        self._released.set()
        self.waiting = 0  # requests held right now (see hold)

    def _make_pool(self, profile: Profile) -> None:
        conc = profile.concurrency
        self.pool = SlotPool(conc.limit, conc.max_queue) if conc.limit > 0 else None

    def activate(self, profile: Profile) -> None:
        self.engine.activate(profile)
        self._make_pool(profile)
        self.release()
        log.info("simulator profile now %r", profile.name)

    @property
    def held(self) -> bool:
        return not self._released.is_set()

    def hold(self) -> None:
        """From now on, requests that would be answered after their latency wait (holding their
        concurrency slot) until :meth:`release`: tests use it to keep requests in flight for as
        long as they need, on any machine. Front-door rejections are still answered at once."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    async def serve_in_slot(self, reply: Reply) -> None:
        """The part of a request that runs in its slot: a hold, then the latency."""
        if self.held:
            self.waiting += 1
            try:
                await self._released.wait()
            finally:
                self.waiting -= 1
        if reply.delay_s > 0:
            await asyncio.sleep(reply.delay_s)

    def authorized(self, header: str | None) -> bool:
        if self._api_key is None:
            return True
        expected = f"Bearer {self._api_key}"
        return header is not None and hmac.compare_digest(header.encode(), expected.encode())


SIMULATOR = web.AppKey("simulator", Simulator)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")


def _send(reply: Reply) -> web.Response:
    return web.Response(body=reply.body, status=reply.status, headers=reply.headers, content_type="application/json")


async def chat_completions(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    engine = sim.engine
    counters = engine.counters
    counters.enter()
    try:
        if not sim.authorized(request.headers.get("Authorization")):
            body = error_body("Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
            return _send(engine.record_invalid(Reply("invalid_request", 401, body)))
        pool = sim.pool
        if pool is not None and pool.full():
            return _send(engine.queue_full())
        try:
            payload = json.loads(await request.read())
        except ValueError:
            reply = engine.record_invalid(
                invalid_request("We could not parse the JSON body of your request.")
            )
            return _send(reply)
        parsed = parse_request(payload, decode_reference(request.headers.get(REFERENCE_HEADER)))
        if isinstance(parsed, Reply):
            return _send(engine.record_invalid(parsed))
        reply = engine.plan(parsed)
        if reply.immediate:
            return _send(reply)
        if pool is not None:
            async with pool:
                await sim.serve_in_slot(reply)
        else:
            await sim.serve_in_slot(reply)
        return _send(reply)
    finally:
        counters.leave()


async def models(request: web.Request) -> web.Response:
    model = request.app[SIMULATOR].model
    return _json({"object": "list", "data": [{"id": model, "object": "model", "created": 0, "owned_by": "harness"}]})


async def health(request: web.Request) -> web.Response:
    engine = request.app[SIMULATOR].engine
    return _json({"status": "ok", "profile": engine.profile.name})


def _profile_view(sim: Simulator) -> dict[str, Any]:
    engine = sim.engine
    return {
        "profile": engine.profile.model_dump(mode="json"),
        "elapsed_s": engine.elapsed_s,
        "requests": engine.planned,
    }


async def get_profile(request: web.Request) -> web.Response:
    return _json(_profile_view(request.app[SIMULATOR]))


async def put_profile(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    try:
        spec = json.loads(await request.read())
    except ValueError as exc:
        return _json({"error": f"body is not JSON: {exc}"}, status=400)
    if not isinstance(spec, str | dict):
        return _json({"error": "body must be a profile name (string) or a profile object"}, status=400)
    try:
        profile = resolve_profile(spec)
    except UnknownProfileError as exc:
        return _json({"error": str(exc)}, status=400)
    except pydantic.ValidationError as exc:
        return _json({"error": "invalid profile", "details": json.loads(exc.json())}, status=400)
    sim.activate(profile)
    if request.query.get("reset_counters", "").lower() in ("1", "true", "yes"):
        sim.engine.counters.reset()
    return _json(_profile_view(sim))


async def list_profiles(request: web.Request) -> web.Response:
    return _json({name: spec.get("description", "") for name, spec in NAMED_PROFILES.items()})


async def get_counters(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    return _json({**sim.engine.counters.snapshot(), "profile": sim.engine.profile.name})


async def delete_counters(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    before = {**sim.engine.counters.snapshot(), "profile": sim.engine.profile.name}
    sim.engine.counters.reset()
    return _json(before)


async def get_outage(request: web.Request) -> web.Response:
    return _json(request.app[SIMULATOR].engine.outage_view())


async def post_outage(request: web.Request) -> web.Response:
    engine = request.app[SIMULATOR].engine
    raw = await request.read()
    try:
        spec = OutageRequest.model_validate_json(raw or b"{}")
    except pydantic.ValidationError as exc:
        return _json({"error": "invalid outage", "details": json.loads(exc.json())}, status=400)
    engine.start_outage(spec.status, spec.duration_s)
    log.info("simulator outage started: every request answered %s for %s", spec.status,
                "good" if spec.duration_s is None else f"{spec.duration_s} s")
    return _json(engine.outage_view())


async def delete_outage(request: web.Request) -> web.Response:
    engine = request.app[SIMULATOR].engine
    before = engine.outage_view()
    if engine.end_outage() is not None:
        log.info("simulator outage ended")
    return _json(before)


def _hold_view(sim: Simulator) -> dict[str, Any]:
    return {"held": sim.held, "waiting": sim.waiting, "queued": 0 if sim.pool is None else sim.pool.queued}


async def get_hold(request: web.Request) -> web.Response:
    return _json(_hold_view(request.app[SIMULATOR]))


async def post_hold(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    sim.hold()
    log.info("simulator holding answers")
    return _json(_hold_view(sim))


async def delete_hold(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    before = _hold_view(sim)
    sim.release()
    log.info("simulator released %d held requests", before["waiting"])
    return _json(before)


def create_app(simulator: Simulator) -> web.Application:
    app = web.Application()
    app[SIMULATOR] = simulator
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/health", health)
    app.router.add_get("/admin/profile", get_profile)
    app.router.add_put("/admin/profile", put_profile)
    app.router.add_get("/admin/profiles", list_profiles)
    app.router.add_get("/admin/counters", get_counters)
    app.router.add_delete("/admin/counters", delete_counters)
    app.router.add_get("/admin/outage", get_outage)
    app.router.add_post("/admin/outage", post_outage)
    app.router.add_delete("/admin/outage", delete_outage)
    app.router.add_get("/admin/hold", get_hold)
    app.router.add_post("/admin/hold", post_hold)
    app.router.add_delete("/admin/hold", delete_hold)
    return app
