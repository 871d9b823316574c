"""What the pages read of a request, and where an action's redirect sends the operator
back: the page number, the page's own path, the bearer token, the client's address,
whether the browser speaks HTTPS; the path back and the outcome it carries (`said`)."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from starlette.requests import Request


def back(value: str | None) -> str:
    """Where an action's redirect goes: a path of this site only, without what the
    live updates and a previous action added to its query (fragment, said)."""
    parts = urlsplit(value or "/")
    ours = parts.path.startswith("/") and not parts.path.startswith("//")
    if parts.scheme or parts.netloc or not ours:
        return "/"
    return parts.path + (f"?{query}" if (query := without_ours(parts.query)) else "")


def without_ours(query: str) -> str:
    """A query string less the parameters `fragment` and `said`."""
    kept = [p for p in query.split("&") if p and p.partition("=")[0] not in ("fragment", "said")]
    return "&".join(kept)


def said(where: str, message: str) -> str:
    """The path `where` with `message` as its `said`: what the page then shows."""
    parts = urlsplit(where)
    query = "&".join(filter(None, [without_ours(parts.query), urlencode({"said": message})]))
    return f"{parts.path}?{query}"


def page_number(request: Request) -> int:
    try:
        return max(0, int(request.query_params.get("page", "1")) - 1)
    except ValueError:
        return 0


def https(request: Request) -> bool:
    """Whether the browser speaks HTTPS to us (directly, or to the proxy in front)."""
    forwarded = request.headers.get("x-forwarded-proto", "")
    return request.url.scheme == "https" or forwarded.split(",")[0].strip() == "https"


def path(request: Request) -> str:
    """The page's path and query, where its forms send the operator back to (not to
    the fragment the live updates fetch)."""
    query = without_ours(request.url.query)
    return request.url.path + (f"?{query}" if query else "")


def bearer(request: Request) -> str | None:
    """The token of an `Authorization: Bearer` header, if any."""
    given = request.headers.get("authorization", "")
    return given.removeprefix("Bearer ").strip() if given.startswith("Bearer ") else None


def client(request: Request) -> str:
    return request.client.host if request.client else "?"
