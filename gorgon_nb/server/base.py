"""What every gorgon handler shares: authentication, the store in a worker thread, and
errors as JSON; ``API.md`` has the shapes of the whole API.

Errors are ``{"message": ..., "reason": ..., "api": "gorgon"}`` (``api`` tells them from a
server without the extension, whose 404 is not about the approval) with 400 (a bad body
or query: ``inputs`` reads every one by its model), 403 (not an approver, or not allowed by
the server's authorizer), 404 (no such approval, run, chat or route), 405 (a method the
route does not take), 409 (decided or ended already: the message says how), 413 (a body
too large), 500 or 503 (the store failed: the message says why). No traceback ever reaches
the client; unexpected errors go to the server's log.

Every handler needs Jupyter's authentication; a request that changes something and is
authenticated by cookie also needs the XSRF token (``X-XSRFToken``), as all of Jupyter's
own API does. Store calls run in a worker thread: SQLite may wait for another process's
write, and the server must not.

A handler gets the server's ``Backend`` (``backend.py``) as ``Services``: what handlers use
of it. ``backend.py`` builds the feed and the scheduler, which use the handlers' modules,
so the handlers know it only by this Protocol.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypeVar

from jupyter_server.base.handlers import APIHandler
from pydantic import AfterValidator, BeforeValidator
from tornado import web

from gorgon_nb.errors import GorgonError, NotFoundError, StoreError, UsageError
from gorgon_nb.server.inputs import ApiError, Query, dumps, parse_query, shown

if TYPE_CHECKING:
    from gorgon_nb.chat import ChatService
    from gorgon_nb.server.files import ServerFiles
    from gorgon_nb.store import Store

__all__ = ["AUTH_RESOURCE", "LINE_LIMIT", "LIST_LIMIT", "GorgonHandler", "Limit", "Line", "NotFoundHandler", "Services",
           "gorgon_errors"]

AUTH_RESOURCE = "gorgon"
LIST_LIMIT = 500
LINE_LIMIT = 200  # characters of a query's id, name or filter
_WHOLE = re.compile(r"[0-9]{1,6}", re.ASCII)  # "²" and "١" are digits to str.isdigit, not to int()
_UNPLAIN = re.compile("[\x00-\x1f\x7f]")

T = TypeVar("T")
Q = TypeVar("Q", bound=Query)


def _whole_number(value: Any) -> Any:
    if isinstance(value, str) and _WHOLE.fullmatch(value) and 1 <= int(value) <= LIST_LIMIT:
        return int(value)
    raise ValueError(f"limit must be a whole number from 1 to {LIST_LIMIT}, not '{shown(value)}'")


def _line(value: str) -> str:
    if len(value) > LINE_LIMIT or _UNPLAIN.search(value):
        raise ValueError(f"must be one line of at most {LINE_LIMIT} characters, without control characters")
    return value


Limit = Annotated[int, BeforeValidator(_whole_number, json_schema_input_type=str)]
"""A list's ``limit``: ASCII digits, 1 to ``LIST_LIMIT``."""
Line = Annotated[str, AfterValidator(_line)]
"""An id, a name or a filter in a query: one line of at most ``LINE_LIMIT`` characters."""


class Services(Protocol):
    """What the handlers use of the server's ``Backend``: its store (opened on first use), the
    chat service on that store, and the files JupyterLab can open."""

    files: ServerFiles

    def get(self) -> Store: ...

    def chat(self) -> ChatService: ...


@contextmanager
def gorgon_errors() -> Iterator[None]:
    """The store's errors as HTTP answers with their messages."""
    try:
        yield
    except NotFoundError as exc:
        raise ApiError(404, exc.for_surface("sidebar")) from None
    except UsageError as exc:
        raise ApiError(400, exc.for_surface("sidebar")) from None
    except StoreError as exc:
        raise ApiError(503, exc.for_surface("sidebar")) from None
    except GorgonError as exc:
        raise ApiError(500, exc.for_surface("sidebar")) from None


class GorgonHandler(APIHandler):
    """Base of the gorgon API handlers: the store, and errors as JSON without tracebacks."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, backend: Services) -> None:
        self.backend = backend

    async def in_thread(self, work: Callable[[Store], T]) -> T:
        with gorgon_errors():
            store = await asyncio.to_thread(self.backend.get)
            return await asyncio.to_thread(work, store)

    def query(self, model: type[Q], hint: str) -> Q:
        """The request's query as ``model`` (``Query``: a route that takes none)."""
        return parse_query(self.request.query_arguments, model, hint)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, ApiError):
            message = error.message
        elif isinstance(error, web.HTTPError) and error.log_message:
            message = error.log_message  # tornado's and jupyter_server's own (XSRF, authorizer)
        elif isinstance(error, web.HTTPError):
            message = error.reason or self._reason
        else:  # logged with its traceback by tornado; the client gets no details
            message = "the gorgon server extension failed; the Jupyter server's log has the details"
        self.set_status(status_code)
        self.finish(dumps({"message": message, "reason": self._reason, "api": "gorgon"}))


class NotFoundHandler(GorgonHandler):
    """Any other path under ``gorgon/api/``: a 404 in the API's words, whatever the method."""

    async def missing(self, *args: Any) -> None:
        raise ApiError(404, f"no gorgon API route '{shown(self.request.path, 120)}'; the routes are listed in "
                            "the gorgon_nb package's server/API.md")

    get = post = put = patch = delete = head = missing
