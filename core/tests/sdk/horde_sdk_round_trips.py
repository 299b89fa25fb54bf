"""Drives a horde-rs coordinator with the official Python SDK (horde-sdk 0.18.0), unchanged.

Run by core/tests/horde_sdk.rs, which starts the coordinator and passes:
AI_HORDE_URL (the API base, ending in /api/), HORDE_REQUESTER_KEY, HORDE_WORKER_KEY,
HORDE_RECIPIENT (alias#id of a user to send kudos to).

Each scenario asserts what it saw; any failure raises and the script exits non-zero.
Workers are played by threads using the SDK's own pop and submit models.
"""

import base64
import io
import os
import threading
import time

import requests
from PIL import Image

from horde_sdk.ai_horde_api.consts import KNOWN_ALCHEMY_TYPES
from horde_sdk.ai_horde_api.ai_horde_clients import (
    AIHordeAPIManualClient,
    AIHordeAPISimpleClient,
)
from horde_sdk.ai_horde_api.apimodels import (
    AlchemyAsyncRequest,
    AlchemyAsyncRequestFormItem,
    AlchemyJobSubmitRequest,
    AlchemyPopRequest,
    FindUserRequest,
    ImageGenerateAsyncRequest,
    ImageGenerateJobPopRequest,
    ImageGenerationInputPayload,
    ImageGenerationJobSubmitRequest,
    KudosTransferRequest,
    TextGenerateAsyncRequest,
    TextGenerateJobPopRequest,
    TextGenerationJobSubmitRequest,
)
from horde_sdk.ai_horde_api.apimodels.generate.text._async import ModelGenerationInputKobold

API = os.environ["AI_HORDE_URL"].rstrip("/")
REQUESTER = os.environ["HORDE_REQUESTER_KEY"]
WORKER = os.environ["HORDE_WORKER_KEY"]
RECIPIENT = os.environ["HORDE_RECIPIENT"]
MANUAL = AIHordeAPIManualClient()
DEADLINE_SECS = 30


def webp(color: str, size=(64, 64)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="WEBP")
    return buf.getvalue()


def until(what: str, fn):
    """Calls fn until it returns something truthy (bounded by DEADLINE_SECS)."""
    start = time.time()
    while time.time() - start < DEADLINE_SECS:
        value = fn()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def serve_images(count: int, failures: list):
    """An image worker: pops `count` jobs, uploads a WebP, submits R2."""
    try:
        done = 0
        while done < count:
            pop = until(
                "an image job",
                lambda: (
                    lambda r: r if r.id_ is not None else None
                )(
                    MANUAL.submit_request(
                        ImageGenerateJobPopRequest(
                            apikey=WORKER,
                            name="sdk-dreamer",
                            models=["stable_diffusion"],
                            max_pixels=1024 * 1024,
                            bridge_agent="horde-sdk-test:1.0.0:https://example.invalid",
                        ),
                        ImageGenerateJobPopRequest.get_default_success_response_type(),
                    )
                ),
            )
            for i, job_id in enumerate(pop.ids):
                upload = pop.r2_uploads[i] if pop.r2_uploads else pop.r2_upload
                assert requests.put(upload, data=webp("red")).status_code == 200
                res = MANUAL.submit_request(
                    ImageGenerationJobSubmitRequest(
                        apikey=WORKER, id=job_id, generation="R2", seed=1234 + done, state="ok"
                    ),
                    ImageGenerationJobSubmitRequest.get_default_success_response_type(),
                )
                assert res.reward > 0, res
                done += 1
    except Exception as e:  # reported by the main thread
        failures.append(e)


def image_round_trip():
    failures: list = []
    worker = threading.Thread(target=serve_images, args=(2, failures))
    worker.start()
    status, job_id = AIHordeAPISimpleClient().image_generate_request(
        ImageGenerateAsyncRequest(
            apikey=REQUESTER,
            prompt="a red apple on a wooden table",
            models=["stable_diffusion"],
            params=ImageGenerationInputPayload(width=512, height=512, steps=20, n=2),
        ),
        timeout=DEADLINE_SECS,
    )
    worker.join()
    assert not failures, failures
    assert status.done and len(status.generations) == 2, status
    image = AIHordeAPISimpleClient().download_image_from_generation(status.generations[0])
    assert image.size == (64, 64) and image.getpixel((0, 0))[0] > 200
    assert {g.seed for g in status.generations} == {"1234", "1235"}
    print("image round trip ok", job_id)


def text_round_trip():
    failures: list = []

    def scribe():
        try:
            pop = until(
                "a text job",
                lambda: (lambda r: r if r.id_ is not None else None)(
                    MANUAL.submit_request(
                        TextGenerateJobPopRequest(
                            apikey=WORKER,
                            name="sdk-scribe",
                            models=["koboldcpp/test-model-7B"],
                            max_length=512,
                            max_context_length=2048,
                        ),
                        TextGenerateJobPopRequest.get_default_success_response_type(),
                    )
                ),
            )
            assert pop.payload.prompt == "Once upon a time", pop
            MANUAL.submit_request(
                TextGenerationJobSubmitRequest(
                    apikey=WORKER, id=pop.id_, generation=" there was a horde.", state="ok"
                ),
                TextGenerationJobSubmitRequest.get_default_success_response_type(),
            )
        except Exception as e:
            failures.append(e)

    worker = threading.Thread(target=scribe)
    worker.start()
    status, _ = AIHordeAPISimpleClient().text_generate_request(
        TextGenerateAsyncRequest(
            apikey=REQUESTER,
            prompt="Once upon a time",
            models=["koboldcpp/test-model-7B"],
            params=ModelGenerationInputKobold(max_length=80, max_context_length=1024),
        ),
        timeout=DEADLINE_SECS,
    )
    worker.join()
    assert not failures, failures
    assert status.generations[0].text == " there was a horde.", status
    print("text round trip ok")


def alchemy_round_trip():
    failures: list = []

    def alchemist():
        try:
            pop = until(
                "an alchemy form",
                lambda: (lambda r: r if r.forms else None)(
                    MANUAL.submit_request(
                        AlchemyPopRequest(
                            apikey=WORKER,
                            name="sdk-alchemist",
                            forms=[KNOWN_ALCHEMY_TYPES.caption],
                            priority_usernames=[],
                        ),
                        AlchemyPopRequest.get_default_success_response_type(),
                    )
                ),
            )
            form = pop.forms[0]
            assert requests.get(form.source_image).status_code == 200
            MANUAL.submit_request(
                AlchemyJobSubmitRequest(
                    apikey=WORKER, id=form.id_, result="a blue square", state="ok"
                ),
                AlchemyJobSubmitRequest.get_default_success_response_type(),
            )
        except Exception as e:
            failures.append(e)

    worker = threading.Thread(target=alchemist)
    worker.start()
    source = base64.b64encode(webp("blue")).decode()
    status, _ = AIHordeAPISimpleClient().alchemy_request(
        AlchemyAsyncRequest(
            apikey=REQUESTER,
            forms=[AlchemyAsyncRequestFormItem(name=KNOWN_ALCHEMY_TYPES.caption)],
            source_image=source,
        ),
        timeout=DEADLINE_SECS,
    )
    worker.join()
    assert not failures, failures
    assert [c.caption for c in status.all_caption_results] == ["a blue square"], status
    print("alchemy round trip ok")


def cancel():
    res = MANUAL.submit_request(
        ImageGenerateAsyncRequest(
            apikey=REQUESTER, prompt="never mind", models=["stable_diffusion"], params=ImageGenerationInputPayload(n=3)
        ),
        ImageGenerateAsyncRequest.get_default_success_response_type(),
    )
    status = MANUAL.delete_pending_image(res.id_)
    assert status.waiting == 3 and not status.generations, status
    check = requests.get(f"{API}/v2/generate/check/{res.id_}").json()
    assert check["waiting"] == 0 and check["done"], check
    print("cancel ok")


def kudos_transfer():
    before = MANUAL.submit_request(FindUserRequest(apikey=REQUESTER), FindUserRequest.get_default_success_response_type())
    res = MANUAL.submit_request(
        KudosTransferRequest(apikey=REQUESTER, username=RECIPIENT, amount=10),
        KudosTransferRequest.get_default_success_response_type(),
    )
    assert res.transferred == 10, res
    after = MANUAL.submit_request(FindUserRequest(apikey=REQUESTER), FindUserRequest.get_default_success_response_type())
    assert after.kudos == before.kudos - 10, (before.kudos, after.kudos)
    print("kudos transfer ok")


def shared_key():
    # horde-sdk 0.18 has no model for creating shared keys; create one over HTTP,
    # then use it through the SDK wherever upstream accepts one.
    created = requests.put(
        f"{API}/v2/sharedkeys", headers={"apikey": REQUESTER}, json={"kudos": 100, "name": "sdk key"}
    )
    assert created.status_code == 200, created.text
    key = created.json()["id"]
    me = MANUAL.submit_request(FindUserRequest(apikey=key), FindUserRequest.get_default_success_response_type())
    assert "Shared Key: sdk key" in me.username, me
    res = MANUAL.submit_request(
        ImageGenerateAsyncRequest(apikey=key, prompt="through a shared key", models=["stable_diffusion"]),
        ImageGenerateAsyncRequest.get_default_success_response_type(),
    )
    assert res.id_, res
    details = requests.get(f"{API}/v2/sharedkeys/{key}").json()
    assert details["utilized"] > 0, details
    print("shared key ok")


def errors_parse():
    res = MANUAL.submit_request(
        ImageGenerateAsyncRequest(apikey="0" * 22, prompt="bad key", models=["stable_diffusion"]),
        ImageGenerateAsyncRequest.get_default_success_response_type(),
    )
    assert type(res).__name__ == "RequestErrorResponse" and res.rc == "InvalidAPIKey", res
    print("errors ok")


def judge_every_answer():
    """Every answer the server gives, after the traffic above (workers that
    worked, users with history, a shared key, finished requests), must
    validate with the SDK's own response model."""
    from horde_sdk.ai_horde_api import apimodels as m

    failures = []

    def judge(model, path, key=None, method="get", body=None):
        headers = {"apikey": key} if key else {}
        res = requests.request(method, f"{API}{path}", headers=headers, json=body)
        if res.status_code >= 400:
            failures.append(f"{method.upper()} {path}: HTTP {res.status_code} {res.text[:200]}")
            return None
        try:
            model.model_validate(res.json())
        except Exception as e:  # pydantic's ValidationError, or a bad body
            failures.append(f"{method.upper()} {path} as {model.__name__}: {e}")
        return res.json()

    judge(m.AIHordeHeartbeatResponse, "/v2/status/heartbeat")
    judge(m.HordePerformanceResponse, "/v2/status/performance")
    judge(m.NewsResponse, "/v2/status/news")
    for kind in ("image", "text"):
        models = judge(m.HordeStatusModelsAllResponse, f"/v2/status/models?type={kind}") or []
        for model in models[:3]:
            if "/" not in model["name"]:
                judge(m.HordeStatusModelsSingleResponse, f"/v2/status/models/{model['name']}")
    judge(m.ImageStatsModelsResponse, "/v2/stats/img/models")
    judge(m.ImageStatsModelsTotalResponse, "/v2/stats/img/totals")
    judge(m.TextStatsModelResponse, "/v2/stats/text/models")
    judge(m.TextStatsModelsTotalResponse, "/v2/stats/text/totals")
    for key in (None, WORKER):
        workers = judge(m.AllWorkersDetailsResponse, "/v2/workers", key) or []
        assert workers, "no worker online after the round trips"
        for w in workers:
            judge(m.SingleWorkerDetailsResponse, f"/v2/workers/{w['id']}", key)
            judge(m.SingleWorkerDetailsResponse, f"/v2/workers/name/{w['name']}", key)
    users = judge(m.ListUsersDetailsResponse, "/v2/users") or []
    for u in users:
        judge(m.UserDetailsResponse, f"/v2/users/{u['id']}")
        judge(m.UserDetailsResponse, f"/v2/users/{u['id']}", REQUESTER)
    for key in (REQUESTER, WORKER):
        judge(m.UserDetailsResponse, "/v2/find_user", key)
    judge(
        m.ImageGenerateAsyncDryRunResponse,
        "/v2/generate/async",
        REQUESTER,
        "post",
        {"prompt": "an estimate", "dry_run": True},
    )
    judge(
        m.TextGenerateAsyncDryRunResponse,
        "/v2/generate/text/async",
        REQUESTER,
        "post",
        {"prompt": "an estimate", "dry_run": True},
    )
    image = requests.post(
        f"{API}/v2/generate/async", headers={"apikey": REQUESTER}, json={"prompt": "judged", "models": ["stable_diffusion"]}
    ).json()
    judge(m.ImageGenerateCheckResponse, f"/v2/generate/check/{image['id']}")
    judge(m.ImageGenerateStatusResponse, f"/v2/generate/status/{image['id']}")
    text = requests.post(
        f"{API}/v2/generate/text/async", headers={"apikey": REQUESTER}, json={"prompt": "judged"}
    ).json()
    judge(m.TextGenerateStatusResponse, f"/v2/generate/text/status/{text['id']}")
    alchemy = requests.post(
        f"{API}/v2/interrogate/async",
        headers={"apikey": REQUESTER},
        json={"forms": [{"name": "caption"}], "source_image": base64.b64encode(webp("red")).decode()},
    ).json()
    judge(m.AlchemyStatusResponse, f"/v2/interrogate/status/{alchemy['id']}")
    judge(m.ImageGenerateStatusResponse, f"/v2/generate/status/{image['id']}", method="delete")
    judge(m.TextGenerateStatusResponse, f"/v2/generate/text/status/{text['id']}", method="delete")
    judge(m.AlchemyStatusResponse, f"/v2/interrogate/status/{alchemy['id']}", method="delete")
    # The worker owner changes, then deletes, one of its workers.
    mine = [w for w in (judge(m.AllWorkersDetailsResponse, "/v2/workers", WORKER) or []) if w.get("owner")]
    if mine:
        wid = mine[0]["id"]
        judge(m.ModifyWorkerResponse, f"/v2/workers/{wid}", WORKER, "put", {"info": "judged by the SDK"})
        judge(m.SingleWorkerDetailsResponse, f"/v2/workers/{wid}", WORKER)
        judge(m.DeleteWorkerResponse, f"/v2/workers/{wid}", WORKER, "delete")
    else:
        failures.append("the worker owner sees no worker of its own")
    assert not failures, "the SDK refused these answers:\n" + "\n".join(failures)
    print("every answer validates")


if __name__ == "__main__":
    import sys
    only = sys.argv[1:]
    if only:
        for name in only:
            globals()[name]()
        sys.exit(0)
    image_round_trip()
    text_round_trip()
    alchemy_round_trip()
    cancel()
    kudos_transfer()
    shared_key()
    errors_parse()
    judge_every_answer()
    print("horde-sdk: all scenarios passed")
