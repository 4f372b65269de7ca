"""The allowlist of base URLs the API key may go to: normalised matching, refused forms,
redaction, and the setting it is built from."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipeline.llm.allowlist import (
    BaseUrlAllowlist,
    BaseUrlNotAllowed,
    InvalidBaseUrl,
    normalise,
    redact,
)
from pipeline.llm.settings import LLMSettings

ALLOW = BaseUrlAllowlist.of("http://127.0.0.1:8000/v1", ["https://api.openai.com/v1/",
                                                          "http://[::1]:9000/proxy/team-a"])


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/v1",            # the worker's own
    "http://127.0.0.1:8000/v1/",           # trailing slash
    "HTTP://127.0.0.1:8000/v1",            # scheme case
    "https://api.openai.com/v1",
    "https://API.OpenAI.com:443/v1",       # host case, explicit default port
    "https://api.openai.com/v1//",
    "https://api.openai.com/v1/deployments/x",  # below the prefix
    "http://[::1]:9000/proxy/team-a",
    "http://[::1]:9000/proxy/team-a/v1",
])
def test_allowed(url: str) -> None:
    assert ALLOW.allows(url)
    assert str(ALLOW.check(url)).startswith(("http://127.0.0.1:8000/v1", "https://api.openai.com/v1",
                                             "http://[::1]:9000/proxy/team-a"))


@pytest.mark.parametrize("url", [
    "https://evil.example/v1",                       # another host
    "http://api.openai.com/v1",                      # another scheme
    "https://api.openai.com:8443/v1",                # another port
    "http://127.0.0.1:8001/v1",
    "https://api.openai.com/v10",                    # not on a segment boundary
    "https://api.openai.com/",                       # above the prefix
    "http://[::1]:9000/proxy/team-b",
    "http://[::1]:9000/proxy/team-a/../team-b",      # dot segments step out of the prefix
    "http://[::1]:9000/proxy/team-a/%2e%2e/team-b",
    "https://user:pw@api.openai.com/v1",             # credentials
    "https://api.openai.com@evil.example/v1",        # userinfo that looks like the host
    "https://evil.example\\@api.openai.com/v1",      # parsed differently by other URL parsers
    "https://api.openai.com/v1?x=1",                 # query
    "https://api.openai.com/v1?",
    "https://api.openai.com/v1#frag",
    "https://api.openai.com.evil.example/v1",
    "https://api.openai.com:notaport/v1",
    "file:///etc/passwd",
    "api.openai.com/v1",
    "",
])
def test_refused(url: str) -> None:
    assert not ALLOW.allows(url)
    with pytest.raises(BaseUrlNotAllowed) as info:
        ALLOW.check(url)
    assert "pw" not in str(info.value) and "x=1" not in str(info.value)


def test_normalised_form() -> None:
    assert normalise("HTTPS://Api.OpenAI.com:443/v1///") == normalise("https://api.openai.com/v1")
    assert str(normalise("http://Host:80/v1/")) == "http://host/v1"
    assert str(normalise("http://host:8080")) == "http://host:8080"
    assert str(normalise("http://[::1]:9000/v1")) == "http://[::1]:9000/v1"
    with pytest.raises(InvalidBaseUrl, match="not an http"):
        normalise("ftp://host/v1")


@pytest.mark.parametrize("url, shown", [
    ("https://user:sk-secret@api.example/v1?key=sk-secret#x", "https://api.example/v1"),
    ("http://u@[::1]:9000/v1", "http://[::1]:9000/v1"),
    ("https://host:99999/v1", "<unparseable URL>"),
    ("not a url", "not a url"),
])
def test_redact_drops_credentials_query_and_fragment(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_refusal_names_the_url_without_credentials() -> None:
    with pytest.raises(BaseUrlNotAllowed) as info:
        ALLOW.check("https://me:sk-secret@evil.example:8443/v1?k=sk-secret")
    assert info.value.url == "https://evil.example:8443/v1"
    assert str(info.value) == "llm.base_url not allowed: https://evil.example:8443/v1"


def test_setting_is_comma_separated_and_the_own_base_url_always_allowed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_LLM_BASE_URL", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("HARNESS_LLM_ALLOWED_BASE_URLS", " https://api.openai.com/v1 ,,http://vllm:9000/v1/")
    settings = LLMSettings()
    assert settings.allowed_base_urls == ["https://api.openai.com/v1", "http://vllm:9000/v1/"]
    allowlist = settings.allowlist()
    assert str(allowlist) == "http://127.0.0.1:8000/v1, https://api.openai.com/v1, http://vllm:9000/v1"
    monkeypatch.delenv("HARNESS_LLM_ALLOWED_BASE_URLS")
    assert str(LLMSettings().allowlist()) == "http://127.0.0.1:8000/v1"


def test_a_bad_entry_is_refused_without_echoing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_LLM_ALLOWED_BASE_URLS", "ftp://me:hunter2@files.example/x")
    with pytest.raises(ValidationError) as info:
        LLMSettings()
    assert "hunter2" not in str(info.value) and "allowed_base_urls" in str(info.value)
