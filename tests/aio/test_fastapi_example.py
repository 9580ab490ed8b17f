"""docs/jobs.md's FastAPI example runs as written, on every store: the lifespan connects
and closes the loop's connection, the endpoints enqueue and find without blocking
(FastAPI's TestClient runs the app on its own event loop, in a thread)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.conftest import REPO


def _docs_block(after: str) -> str:
    text = (REPO / "docs" / "jobs.md").read_text()
    match = re.search(r"```python\n(.*?)```", text[text.index(after) :], re.S)
    assert match, f"no python block after {after!r}"
    return match.group(1)


def test_the_fastapi_example(store_url: str) -> None:
    code = _docs_block("In a FastAPI (or any ASGI) application")
    mine = "from tests.aio.jobs import Fetch as FetchJob"
    code = code.replace("from myapp.jobs import FetchJob", mine)
    code = code.replace('"postgresql://app@db/app"', repr(store_url))
    namespace: dict[str, object] = {"__name__": "docs_example"}
    exec(compile(code, "docs/jobs.md", "exec"), namespace)
    with TestClient(namespace["app"]) as client:  # type: ignore[arg-type]
        posted = client.post("/fetch", params={"url": "https://example.com/"})
        assert posted.status_code == 200, posted.text
        job_id = posted.json()["id"]
        status = client.get(f"/fetch/{job_id}")
        assert status.status_code == 200 and status.json() == {"state": "queued", "result": None}
    from tests.aio.jobs import Fetch

    assert Fetch.find(job_id).arguments["args"] == ["https://example.com/"]
