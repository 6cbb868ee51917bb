"""Who served a call when the log does not say: the provider from a model's name, an API host, or the marks
a server leaves in its response body.

Apart because these are facts about providers' names and hosts, not about reading a field; a provider found
here is the catalogue key prefix that prices the call.
"""

from __future__ import annotations

from typing import Any

from analyzer.sources.fields import as_object

# The OpenAI-compatible APIs a logged base URL names, and the provider (its catalogue key prefix) that prices
# their calls. A host matches itself and its subdomains.
COMPAT_HOSTS = {
    "api.openai.com": "openai",
    "openrouter.ai": "openrouter",
    "api.groq.com": "groq",
    "api.together.xyz": "together_ai",
    "api.together.ai": "together_ai",
    "api.fireworks.ai": "fireworks_ai",
    "api.mistral.ai": "mistral",
    "api.deepseek.com": "deepseek",
    "api.x.ai": "xai",
    "api.cerebras.ai": "cerebras",
    "api.deepinfra.com": "deepinfra",
    "api.perplexity.ai": "perplexity",
    "api.moonshot.ai": "moonshot",
    "api.sambanova.ai": "sambanova",
    "api.hyperbolic.xyz": "hyperbolic",
    "api.studio.nebius.com": "nebius",
    "api.novita.ai": "novita",
    "api.anthropic.com": "anthropic",
    "generativelanguage.googleapis.com": "google",  # also Gemini's OpenAI-compatible endpoint (/v1beta/openai/)
    "aiplatform.googleapis.com": "google",  # Vertex AI (its regional hosts too, see provider_of_host)
    "openai.azure.com": "azure",  # Azure OpenAI resources ({resource}.openai.azure.com)
}


def provider_of_host(host: str | None) -> str | None:
    """The provider an API host belongs to (see COMPAT_HOSTS), or None."""
    if not host:
        return None
    h = host.lower().split(":", 1)[0].rstrip(".")
    if h.endswith("-aiplatform.googleapis.com"):  # Vertex AI's regional hosts: us-central1-aiplatform...
        return "google"
    for known, provider in COMPAT_HOSTS.items():
        if h == known or h.endswith("." + known):
            return provider
    return None


def compat_provider(body: Any, model: str | None = None) -> str | None:
    """The OpenAI-compatible provider that wrote a response body, from the marks it leaves there: Groq's
    `x_groq` object and `queue_time` usage, DeepSeek's cache hit/miss counts, Cerebras's `time_info`,
    OpenRouter's `gen-` ids with the upstream `provider` named, Fireworks's `accounts/fireworks/models/` names.
    None when the body names no one (OpenAI itself, or a server that leaves no mark)."""
    if not isinstance(body, dict):
        return None
    usage = as_object(body.get("usage"))
    if isinstance(body.get("x_groq"), dict) or "queue_time" in usage:
        return "groq"
    if "prompt_cache_hit_tokens" in usage or "prompt_cache_miss_tokens" in usage:
        return "deepseek"
    if isinstance(body.get("time_info"), dict):
        return "cerebras"
    if str(body.get("id", "")).startswith("gen-") and isinstance(body.get("provider"), str):
        return "openrouter"
    name = str(model or body.get("model") or "").lower()
    if name.startswith("accounts/fireworks/"):
        return "fireworks_ai"
    return None
