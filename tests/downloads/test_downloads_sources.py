"""Sources against the fake Hub and fake Civitai: messages a person can act on, tokens only to their hosts."""

from __future__ import annotations

import hashlib

import pytest
from downloads_helpers import preset

from fakehub import COMMIT, random_bytes
from lp.launchpad.config import Settings
from lp.launchpad.downloads.credentials import Credentials, redact

TOKEN = "hf_test_token_1234567890"
CIVITAI_TOKEN = "civitai_test_key_0987654321"


def hf_file(path: str = "weights/model.safetensors", repo: str = "acme/model", **extra: object) -> dict:
    return {"folder": "checkpoints", "name": "model.safetensors", "hf": repo, "path": path, **extra}


async def only_job(h) -> dict:
    (job,) = (await h.manager.snapshot())["jobs"]
    return job


async def run(h) -> dict:
    await h.manager.install(["P"])
    await h.manager.wait()
    return (await only_job(h))


async def test_gated_repo_without_token_names_the_license_page_and_hf_token(downloads, fakehub):
    fakehub.add_hf_file("acme/gated", "weights/model.safetensors", b"x" * 100, gated=True)
    h = await downloads([preset("P", hf_file(repo="acme/gated"))])

    job = await run(h)

    assert job["state"] == "failed"
    error = job["error"]
    assert error["code"] == "unauthorized"
    assert "https://huggingface.co/acme/gated" in error["message"]
    assert "accept the license" in error["message"] and "HF_TOKEN" in error["message"]
    assert error["details"]["license_url"] == "https://huggingface.co/acme/gated"


async def test_gated_repo_with_a_token_that_has_no_access_says_accept_the_license(downloads, fakehub):
    fakehub.add_hf_file("acme/gated", "weights/model.safetensors", b"x" * 100, gated=True)
    fakehub.hf_tokens.add("hf_other_account_token")
    h = await downloads([preset("P", hf_file(repo="acme/gated"))], hf_token="hf_other_account_token")

    error = (await run(h))["error"]

    assert error["code"] == "unauthorized" and "accept the license" in error["message"]
    assert "set HF_TOKEN" not in error["message"]  # a token is configured; the account lacks access


async def test_gated_repo_with_an_accepted_token_downloads_and_the_token_stays_on_the_hub(downloads, fakehub):
    data = random_bytes(600_000)
    fakehub.add_hf_file("acme/gated", "weights/model.safetensors", data, gated=True)
    fakehub.grant("acme/gated", TOKEN)
    h = await downloads([preset("P", hf_file(repo="acme/gated"))], hf_token=TOKEN)

    job = await run(h)

    assert job["state"] == "done"
    assert h.path("checkpoints/model.safetensors").read_bytes() == data
    hub_requests = [r for r in fakehub.requests if r.path.startswith("/acme/")]
    cdn_requests = [r for r in fakehub.requests if r.path.startswith("/cdn/")]
    assert hub_requests and all(r.authorization == f"Bearer {TOKEN}" for r in hub_requests)
    assert cdn_requests and all(r.host.startswith("localhost") for r in cdn_requests)
    assert all(r.authorization is None for r in cdn_requests), "the HF token followed the redirect to the CDN"


async def test_invalid_token_says_so(downloads, fakehub):
    fakehub.add_hf_file("acme/model", "weights/model.safetensors", b"x" * 100)
    h = await downloads([preset("P", hf_file())], hf_token="hf_revoked")
    error = (await run(h))["error"]
    assert error["code"] == "unauthorized" and "rejected HF_TOKEN" in error["message"]


@pytest.mark.parametrize(
    ("repo", "path", "revision", "expected"),
    [
        ("acme/missing", "weights/model.safetensors", "main", "Repository acme/missing not found"),
        ("acme/model", "weights/other.safetensors", "main", "File weights/other.safetensors not found"),
        ("acme/model", "weights/model.safetensors", "v9", "Revision v9 does not exist"),
    ],
)
async def test_missing_things_on_the_hub_are_named(downloads, fakehub, repo, path, revision, expected):
    fakehub.add_hf_file("acme/model", "weights/model.safetensors", b"x" * 100)
    h = await downloads([preset("P", hf_file(path, repo=repo, revision=revision))])
    error = (await run(h))["error"]
    assert error["code"] == "source_not_found" and expected in error["message"]


async def test_hub_rate_limit_says_when_to_retry_and_suggests_a_token(downloads, fakehub):
    fakehub.add_hf_file("acme/model", "weights/model.safetensors", b"x" * 100)
    fakehub.repos["acme/model"].rate_limited = 5
    h = await downloads([preset("P", hf_file())], retries=0)
    error = (await run(h))["error"]
    assert error["code"] == "rate_limited"
    assert "retry in 7 s" in error["message"] and "HF_TOKEN" in error["message"]
    assert error["details"]["retry_after"] == 7


async def test_hub_rate_limit_once_is_waited_out(downloads, fakehub):
    fakehub.add_hf_file("acme/model", "weights/model.safetensors", b"x" * 100)
    fakehub.repos["acme/model"].rate_limited = 1
    fakehub.repos["acme/model"].retry_after = 0
    h = await downloads([preset("P", hf_file())])
    assert (await run(h))["state"] == "done"


async def test_the_hub_sha256_is_verified(downloads, fakehub):
    data = random_bytes(200_000)
    fakehub.add_hf_file("acme/model", "weights/model.safetensors", data)
    fakehub.blobs["acme/model/weights/model.safetensors"].data = random_bytes(200_000)  # the CDN serves other bytes
    h = await downloads([preset("P", hf_file())])
    error = (await run(h))["error"]
    assert error["code"] == "integrity" and error["details"]["expected_sha256"] == hashlib.sha256(data).hexdigest()


async def test_a_catalog_sha256_the_hub_contradicts_fails_before_a_byte_is_fetched(downloads, fakehub):
    data = random_bytes(4 * 2**20)
    advertised = fakehub.add_hf_file("acme/model", "weights/model.safetensors", data)
    stale = "ab" * 32  # what the catalog says: the file changed at the source since
    h = await downloads([preset("P", hf_file(sha256=stale))])

    job = await run(h)

    error = job["error"]
    assert job["state"] == "failed" and error["code"] == "checksum_mismatch"
    # says which is which
    assert f"the catalog says its sha256 is {stale}" in error["message"]
    assert f"Hugging Face (acme/model/weights/model.safetensors at main) advertises {advertised}" in error["message"]
    assert error["details"]["catalog_sha256"] == stale and error["details"]["source_sha256"] == advertised
    assert fakehub.bytes_sent("acme/model/weights/model.safetensors") < len(data) // 100  # under 1% fetched
    assert fakehub.requests_for("acme/model/weights/model.safetensors", "GET") == []  # not even the probe
    assert not list(h.workspace.models.rglob("model.safetensors*"))


async def test_a_matching_catalog_sha256_downloads_and_is_recorded_as_verified(downloads, fakehub):
    from lp.launchpad.catalog.state import preset_state
    from lp.launchpad.catalog.verified import VerifiedFiles

    data = random_bytes(300_000)
    sha = fakehub.add_hf_file("acme/model", "weights/model.safetensors", data)
    h = await downloads([preset("P", hf_file(sha256=sha))])
    assert (await run(h))["state"] == "done"
    checks = VerifiedFiles(h.workspace.state).load()
    state, files = preset_state(h.manager._catalog().get("P"), h.manager._roots(), checks)
    assert state == "installed" and files[0].verified


async def test_a_non_lfs_file_is_served_by_the_hub_itself(downloads, fakehub):
    fakehub.add_hf_file("acme/model", "config.json", b'{"a": 1}', lfs=False)
    h = await downloads([preset("P", hf_file("config.json"))], hf_token=TOKEN)
    fakehub.hf_tokens.add(TOKEN)
    job = await run(h)
    assert job["state"] == "done"
    gets = fakehub.requests_for("acme/model/config.json")
    assert gets and all(r.authorization == f"Bearer {TOKEN}" for r in gets)  # same origin: token allowed


# --- Civitai --------------------------------------------------------------------------------


def civitai_file(version: int = 4242) -> dict:
    return {"folder": "loras", "name": "style.safetensors", "civitai": version}


async def test_civitai_without_a_token_gets_the_login_page_and_says_to_set_civitai_token(downloads, fakehub):
    fakehub.add_civitai(4242, b"x" * 1000, "Style_v2.safetensors")
    h = await downloads([preset("P", civitai_file())])

    job = await run(h)

    assert job["state"] == "failed" and job["error"]["code"] == "unauthorized"
    assert "CIVITAI_TOKEN" in job["error"]["message"] and "API Keys" in job["error"]["message"]
    assert not list(h.workspace.models.rglob("style.safetensors*")), "the login page was saved as a model"


async def test_civitai_with_a_token_downloads_verifies_and_keeps_the_token_off_the_bucket(downloads, fakehub):
    data = random_bytes(700_000)
    fakehub.add_civitai(4242, data, "Style_v2.safetensors")
    fakehub.civitai_tokens.add(CIVITAI_TOKEN)
    h = await downloads([preset("P", civitai_file())], civitai_token=CIVITAI_TOKEN)

    job = await run(h)

    assert job["state"] == "done"
    assert h.path("loras/style.safetensors").read_bytes() == data
    api = [r for r in fakehub.requests if r.path.startswith("/api/")]
    bucket = [r for r in fakehub.requests if r.path.startswith("/r2/")]
    assert api and all(r.authorization == f"Bearer {CIVITAI_TOKEN}" for r in api)
    assert bucket and all(r.authorization is None for r in bucket), "the Civitai token followed the redirect"


async def test_civitai_sha256_from_the_api_is_enforced(downloads, fakehub):
    fakehub.add_civitai(4242, random_bytes(50_000), "Style_v2.safetensors")
    fakehub.blobs["civitai-4242"].data = random_bytes(50_000)  # the bucket serves other bytes
    h = await downloads([preset("P", civitai_file())], civitai_token=CIVITAI_TOKEN)
    fakehub.civitai_tokens.add(CIVITAI_TOKEN)
    assert (await run(h))["error"]["code"] == "integrity"


async def test_a_catalog_sha256_civitai_contradicts_fails_before_a_byte_is_fetched(downloads, fakehub):
    data = random_bytes(2 * 2**20)
    advertised = fakehub.add_civitai(4242, data, "Style_v2.safetensors")
    fakehub.civitai_tokens.add(CIVITAI_TOKEN)
    h = await downloads([preset("P", {**civitai_file(), "sha256": "cd" * 32})], civitai_token=CIVITAI_TOKEN)

    error = (await run(h))["error"]

    assert error["code"] == "checksum_mismatch"
    assert f"Civitai (model version 4242) advertises {advertised}" in error["message"]
    assert fakehub.bytes_sent("civitai-4242") < len(data) // 100


async def test_civitai_unknown_version_is_not_found(downloads, fakehub):
    h = await downloads([preset("P", civitai_file(999))], civitai_token=CIVITAI_TOKEN)
    error = (await run(h))["error"]
    assert error["code"] == "source_not_found" and "999" in error["message"]


async def test_a_plain_url_never_gets_a_token(downloads, fakehub):
    url = fakehub.add_file("model.bin", b"x" * 1000)
    h = await downloads(
        [preset("P", {"folder": "checkpoints", "name": "model.bin", "url": url.replace("127.0.0.1", "localhost")})],
        hf_token=TOKEN, civitai_token=CIVITAI_TOKEN, hf_endpoint="https://huggingface.co",
        civitai_endpoint="https://civitai.com",
    )
    assert (await run(h))["state"] == "done"
    assert all(r.authorization is None for r in fakehub.requests)


# --- credentials (pure) ----------------------------------------------------------------------


def test_tokens_go_only_to_their_exact_origins():
    settings = Settings(hf_token="hf_x", civitai_token="cv_y", hf_endpoint="http://127.0.0.1:9000")
    creds = Credentials(settings)
    assert creds.headers_for("https://huggingface.co/acme/m/resolve/main/x") == {"Authorization": "Bearer hf_x"}
    assert creds.headers_for("http://127.0.0.1:9000/acme/m/resolve/main/x") == {"Authorization": "Bearer hf_x"}
    assert creds.headers_for("https://civitai.com/api/download/models/1") == {"Authorization": "Bearer cv_y"}
    for url in (
        "https://cdn-lfs.huggingface.co/repos/x",  # a CDN, even under the same domain
        "https://cas-bridge.xethub.hf.co/x",
        "http://huggingface.co/x",  # not https
        "http://127.0.0.1:9001/x",  # another port
        "http://localhost:9000/x",  # another host name
        "https://civitai-delivery-worker-prod.r2.cloudflarestorage.com/x",
        "https://example.com/x",
    ):
        assert creds.headers_for(url) == {}, url
    assert "hf_x" not in repr(creds) and "hf_x" not in repr(settings)


def test_messages_never_carry_signed_query_strings():
    assert redact("https://r2.example/bucket/f?X-Amz-Signature=abc&token=secret") == "https://r2.example/bucket/f?…"


def test_fake_hub_speaks_what_huggingface_hub_expects(fakehub):
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    data = random_bytes(1000)
    sha = fakehub.add_hf_file("acme/model", "weights/model.safetensors", data)
    url = hf_hub_url("acme/model", "weights/model.safetensors", endpoint=fakehub.url)
    meta = get_hf_file_metadata(url, token=False, endpoint=fakehub.url)
    assert (meta.etag, meta.size, meta.commit_hash) == (sha, len(data), COMMIT)
    assert meta.location.startswith(fakehub.other_url + "/cdn/")


async def test_the_job_tells_the_commit_and_the_served_file_name(downloads, fakehub):
    fakehub.add_civitai(4242, b"c" * 1000, "Style_v2.safetensors")
    fakehub.civitai_tokens.add(CIVITAI_TOKEN)
    fakehub.add_hf_file("acme/model", "weights/model.safetensors", b"h" * 1000)
    h = await downloads(
        [preset("P", civitai_file(), hf_file())], civitai_token=CIVITAI_TOKEN
    )
    await h.manager.install(["P"])
    await h.manager.wait()
    sources = {j["key"]: j["source"] for j in (await h.manager.snapshot())["jobs"]}
    assert sources["loras/style.safetensors"]["filename"] == "Style_v2.safetensors"
    assert sources["checkpoints/model.safetensors"]["commit"] == COMMIT
