"""The toolkit's one exception tree.

Every error the toolkit raises on purpose derives from :class:`QboToolkitError`. Fields are
keyword-only and structured, so the CLI, the widgets and the activity log can read them without
parsing messages::

    QboToolkitError                      message; retryable (False unless said)
    ├── ConfigError                      path, key        bad settings, corrupt token store, lock timeout
    ├── AuthError                        realm_id         connecting / staying connected
    │   ├── AuthorizationCancelled       error            user declined (redirect ?error=access_denied)
    │   ├── StateMismatch                                 OAuth ``state`` did not match (possible CSRF)
    │   ├── AuthorizationTimeout         timeout          nobody finished the consent page in time
    │   ├── ReconnectNeeded              reason           refresh token gone / rejected: reconnect
    │   └── CompanyMismatch              expected, actual connected to a different company than configured
    ├── QboError                         code, message, detail, element, intuit_tid, entity, record,
    │   │                                http_status, fault_type, errors
    │   ├── QboAuthError                 codes 1-499, 3100, 3200; HTTP 401/403
    │   ├── QboThrottled                 code 3001; HTTP 429; retry_after           retryable
    │   ├── QboServerError               codes >= 10000; HTTP 5xx                     retryable
    │   ├── QboTransportError            timeout / dropped connection (no reply)     retryable
    │   └── QboValidationError           other 400-class faults: never retry, fix the data
    │       ├── UnsupportedOperation     codes 500-599
    │       ├── QueryError               codes 4000-4002
    │       ├── InvalidReference         code 2500
    │       │   └── ObjectNotFound       code 610
    │       ├── StaleObject              code 5010 (SyncToken mismatch)
    │       └── BusinessRuleError        codes 6000-9999
    │           ├── ClosedPeriod         "The account period has closed ..." by its text (5010, 6210, ...)
    │           ├── DuplicateDocNumber   code 6140
    │           ├── HasBalance           code 6220
    │           └── DuplicateName        code 6240
    ├── WorkDataError                    file, line, record_id, field   a bad WORK record
    ├── WorkStoreBusy                    store            the WORK store stayed locked past the busy timeout  retryable
    ├── SyncBusy                         realm, holder    another sync of the company holds its lease        retryable
    └── SyncInterrupted                  signal           a signal (or a lost lease) stopped the run; re-run

QBO faults are turned into these classes in exactly one place: :func:`fault_to_error` for a
fault body, and :func:`from_quickbooks_exception` for an exception raised by python-quickbooks.
Both are pure and driven by :data:`FAULT_TABLE` (code → class) with :data:`STATUS_TABLE` (HTTP
status → class) as the fallback when a fault has no usable code; one rule goes by the text, not the
code: QBO's "account period has closed" refusal (reported as 5010, "Account Period Closed", and as
6000-series variants) is :class:`ClosedPeriod` whatever its code (:data:`CLOSED_PERIOD_TEXT`), so it is
never taken for a stale SyncToken. python-quickbooks raises its
*base* ``QuickbooksException`` for codes 5000-9999 (stale object, duplicate name, ...), so the
classification is always by ``error_code``, never by the python-quickbooks class.

Secrets: QBO echoes the first characters of an expired access token in its 401 detail
(``Token expired: AB0160...``) and python-quickbooks puts raw response bodies in its messages.
Every message and detail stored here passes through :func:`redact_secrets` first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "CLOSED_PERIOD_TEXT",
    "FAULT_TABLE",
    "STATUS_TABLE",
    "AuthError",
    "AuthorizationCancelled",
    "AuthorizationTimeout",
    "BusinessRuleError",
    "ClosedPeriod",
    "CompanyMismatch",
    "ConfigError",
    "DuplicateDocNumber",
    "DuplicateName",
    "FaultEntry",
    "HasBalance",
    "InvalidReference",
    "ObjectNotFound",
    "QboAuthError",
    "QboError",
    "QboServerError",
    "QboThrottled",
    "QboToolkitError",
    "QboTransportError",
    "QboValidationError",
    "QueryError",
    "ReconnectNeeded",
    "StaleObject",
    "StateMismatch",
    "SyncBusy",
    "SyncInterrupted",
    "UnsupportedOperation",
    "WorkDataError",
    "WorkStoreBusy",
    "classify_code",
    "fault_to_error",
    "from_quickbooks_exception",
    "redact_secrets",
]


# --------------------------------------------------------------------------------------------
# Secret redaction
# --------------------------------------------------------------------------------------------

_REDACTED: Final = "[redacted]"

_SECRET_PATTERNS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    # QBO 401 detail: "Token expired: AB01601390262kxzx..." (a token prefix).
    (re.compile(r"(?i)(token\s+expired\s*:\s*)[^\s\"'<>,;]+"), r"\1" + _REDACTED),
    # "Authorization: Bearer eyJ..." or "Basic Y2lk..."; the look-ahead spares prose such as
    # "Basic authentication" (a credential has a digit or one of -._~+/=).
    (
        re.compile(r"(?i)\b(bearer|basic)(\s+)(?=[A-Za-z0-9\-._~+/]*[0-9\-._~+/])[A-Za-z0-9\-._~+/]{8,}=*"),
        r"\1\2" + _REDACTED,
    ),
    # JSON, form or header style: "refresh_token": "RT1", access_token=..., client_secret: ...
    (
        re.compile(
            r"(?i)((?:[\"']?\b(?:access_token|refresh_token|id_token|client_secret)\b[\"']?\s*[:=]"
            r"|[\"']token[\"']\s*:|\btoken=)\s*[\"']?)([^\"'&\s,}]+)"
        ),
        r"\1" + _REDACTED,
    ),
    # An authorization code in a redirect URL: ...?code=AB11...&state=...
    (re.compile(r"([?&]code=)[^&\s\"']+"), r"\1" + _REDACTED),
)


def redact_secrets(text: str) -> str:
    """Return ``text`` with anything that looks like a token or client secret replaced.

    Used on every message and detail an error carries, so ``str(error)``, logs and the activity
    log can never show a credential, even when QBO or python-quickbooks echo one back.
    """
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


# --------------------------------------------------------------------------------------------
# The tree
# --------------------------------------------------------------------------------------------


def _rebuild(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> BaseException:
    """Unpickle helper: keyword-only constructors cannot be replayed from ``args`` alone."""
    obj = cls.__new__(cls)
    obj.args = args
    obj.__dict__.update(state)
    return obj


class QboToolkitError(Exception):
    """Base of every error the toolkit raises on purpose."""

    def __init__(self, message: str) -> None:
        message = redact_secrets(message)
        super().__init__(message)
        self.message = message

    @property
    def retryable(self) -> bool:
        """True when the same request may succeed if simply tried again later."""
        return False

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Keeps errors picklable across multiprocessing / papermill boundaries.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


class ConfigError(QboToolkitError):
    """Settings or local state are unusable: a bad parameters file, a corrupt token store, a lock
    that could not be taken. ``path`` names the file (never its content); ``key`` the setting."""

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.key = key


class AuthError(QboToolkitError):
    """Connecting to QuickBooks, or staying connected, failed."""

    def __init__(self, message: str, *, realm_id: str | None = None) -> None:
        super().__init__(message)
        self.realm_id = realm_id


class AuthorizationCancelled(AuthError):
    """The user declined on the consent page (the redirect carried ``error=...``)."""

    def __init__(self, message: str, *, error: str | None = None, realm_id: str | None = None) -> None:
        super().__init__(message, realm_id=realm_id)
        self.error = error


class StateMismatch(AuthError):
    """The ``state`` returned by the redirect is not the one this session sent."""


class AuthorizationTimeout(AuthError):
    """The consent flow was not completed within ``timeout`` seconds."""

    def __init__(self, message: str, *, timeout: float | None = None, realm_id: str | None = None) -> None:
        super().__init__(message, realm_id=realm_id)
        self.timeout = timeout


class ReconnectNeeded(AuthError):
    """The stored refresh token is missing, expired or rejected (``invalid_grant``): the user has
    to go through the consent page again."""

    def __init__(self, message: str, *, realm_id: str | None = None, reason: str | None = None) -> None:
        super().__init__(message, realm_id=realm_id)
        self.reason = reason


class CompanyMismatch(AuthError):
    """The user connected a different QuickBooks company than the one configured."""

    def __init__(self, message: str, *, expected: str | None = None, actual: str | None = None) -> None:
        super().__init__(message, realm_id=actual)
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True, slots=True)
class FaultEntry:
    """One entry of a Fault's ``Error`` list, with secrets already redacted."""

    code: str
    message: str
    detail: str
    element: str | None


class QboError(QboToolkitError):
    """QuickBooks Online answered with a Fault (or did not answer at all).

    ``code`` is the QBO code as a string ("6240"; "" when unknown); ``errors`` keeps every entry of
    the Fault, the first of which filled ``code``/``message``/``detail``/``element``. ``entity`` and
    ``record`` say what the toolkit was doing ("Customer", "WORK client 17").
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        detail: str = "",
        element: str | None = None,
        intuit_tid: str | None = None,
        entity: str | None = None,
        record: str | None = None,
        http_status: int | None = None,
        fault_type: str | None = None,
        errors: Sequence[FaultEntry] = (),
    ) -> None:
        super().__init__(message)
        self.code = str(code)
        self.detail = redact_secrets(detail)
        self.element = element or None
        self.intuit_tid = intuit_tid
        self.entity = entity
        self.record = record
        self.http_status = http_status
        self.fault_type = fault_type
        self.errors: tuple[FaultEntry, ...] = tuple(errors)

    def __str__(self) -> str:
        head = f"QBO {self.code} {self.message}" if self.code else f"QBO {self.message}"
        if self.detail and self.detail != self.message:
            head += f": {self.detail}"
        context = [
            part
            for part in (
                self.entity,
                self.record,
                f"element {self.element}" if self.element else None,
                f"HTTP {self.http_status}" if self.http_status is not None else None,
                f"intuit_tid {self.intuit_tid}" if self.intuit_tid else None,
            )
            if part
        ]
        return f"{head} ({', '.join(context)})" if context else head


class QboAuthError(QboError):
    """QBO rejected the access token or the app's permission (codes 1-499, 3100, 3200; HTTP 401/403).
    The client refreshes once; if that fails it raises :class:`ReconnectNeeded`."""


class QboThrottled(QboError):
    """Rate limit hit (code 3001, HTTP 429). ``retry_after`` is the server's hint in seconds, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return True


class QboServerError(QboError):
    """QBO failed on its side (codes >= 10000, HTTP 5xx, unreadable replies). Transient."""

    @property
    def retryable(self) -> bool:
        return True


class QboTransportError(QboError):
    """No usable reply: timeout, refused or dropped connection. Retry with the same ``requestid``."""

    @property
    def retryable(self) -> bool:
        return True


class QboValidationError(QboError):
    """QBO refused the request as wrong (400-class). Retrying the same request cannot help."""


class UnsupportedOperation(QboValidationError):
    """Codes 500-599: the URL or operation does not exist for this entity (a toolkit bug)."""


class QueryError(QboValidationError):
    """Codes 4000-4002: the SELECT did not parse, named an unknown entity, or a non-queryable field."""


class InvalidReference(QboValidationError):
    """Code 2500: a Ref points at an id that does not exist or was made inactive."""


class ObjectNotFound(InvalidReference):
    """Code 610: the object (or one it refers to) was deleted or made inactive."""


class StaleObject(QboValidationError):
    """Code 5010: the SyncToken sent is not the current one; re-read the object, then decide."""


class BusinessRuleError(QboValidationError):
    """Codes 6000-9999: QBO's business validation refused the change."""


class ClosedPeriod(BusinessRuleError):
    """QBO refused a write dated on or before the company's closing date (BookCloseDate): "The
    account period has closed and the account books cannot be updated through the QBO Services
    API, please use the QBO website". Recognised by its text (the code varies: 5010, 6210, ...)."""


class DuplicateDocNumber(BusinessRuleError):
    """Code 6140: the DocNumber is already used and the company enforces unique numbers."""


class HasBalance(BusinessRuleError):
    """Code 6220: a customer with an open balance cannot be deleted or made inactive."""


class DuplicateName(BusinessRuleError):
    """Code 6240: DisplayName is already used by a Customer, Vendor or Employee (maybe inactive)."""


class WorkDataError(QboToolkitError):
    """A WORK record cannot be used as it is. Says where: ``file``/``line`` for CSV imports,
    ``record_id`` and ``field`` for rows of the WORK store."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        record_id: int | str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.record_id = record_id
        self.field = field

    def __str__(self) -> str:
        where = [
            part
            for part in (
                f"{self.file}:{self.line}" if self.file and self.line is not None else self.file,
                f"record {self.record_id}" if self.record_id is not None else None,
                f"field {self.field}" if self.field else None,
            )
            if part
        ]
        return f"{self.message} ({', '.join(where)})" if where else self.message


# --------------------------------------------------------------------------------------------
# Classification tables
# --------------------------------------------------------------------------------------------

_INF: Final = 10**12

#: (lowest code, highest code, class). First matching row wins, so single codes come first.
FAULT_TABLE: Final[tuple[tuple[int, int, type[QboError]], ...]] = (
    (3001, 3001, QboThrottled),
    (3100, 3100, QboAuthError),
    (3200, 3200, QboAuthError),
    (610, 610, ObjectNotFound),
    (2500, 2500, InvalidReference),
    (5010, 5010, StaleObject),
    (6140, 6140, DuplicateDocNumber),
    (6220, 6220, HasBalance),
    (6240, 6240, DuplicateName),
    (4000, 4002, QueryError),
    (1, 499, QboAuthError),
    (500, 599, UnsupportedOperation),
    (600, 1999, QboValidationError),
    (2000, 4999, QboValidationError),
    (5000, 5999, QboValidationError),
    (6000, 9999, BusinessRuleError),
    (10000, _INF, QboServerError),
)

#: Fallback when a fault carries no usable code: (lowest status, highest status, class).
STATUS_TABLE: Final[tuple[tuple[int, int, type[QboError]], ...]] = (
    (401, 401, QboAuthError),
    (403, 403, QboAuthError),
    (408, 408, QboTransportError),
    (429, 429, QboThrottled),
    (400, 499, QboValidationError),
    (500, 599, QboServerError),
)

#: Last resort: the Fault ``type`` (case-insensitive).
_FAULT_TYPE_TABLE: Final[Mapping[str, type[QboError]]] = {
    "authentication": QboAuthError,
    "authenticationfault": QboAuthError,
    "authorizationfault": QboAuthError,
    "authorizatonfault": QboAuthError,  # sic, the XSD's spelling
    "systemfault": QboServerError,
    "validationfault": QboValidationError,
}


def _lookup(value: int | None, table: tuple[tuple[int, int, type[QboError]], ...]) -> type[QboError] | None:
    if value is None:
        return None
    for low, high, cls in table:
        if low <= value <= high:
            return cls
    return None


def _as_int(code: object) -> int | None:
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, str) and code.strip().isdigit():
        return int(code.strip())
    return None


def classify_code(
    code: int | str | None, *, http_status: int | None = None, fault_type: str | None = None
) -> type[QboError]:
    """The class for a QBO fault code; falls back to the HTTP status, then the Fault type."""
    return (
        _lookup(_as_int(code), FAULT_TABLE)
        or _lookup(http_status, STATUS_TABLE)
        or _FAULT_TYPE_TABLE.get((fault_type or "").lower())
        or QboError
    )


#: QBO's words for a write into a closed period ("The account period has closed and the account books
#: cannot be updated ...", python-quickbooks#208: "Account Period Closed").
CLOSED_PERIOD_TEXT: Final = re.compile(r"account\s+period\s+(has\s+)?closed|books\s+(are\s+|is\s+)?closed", re.I)


def _by_text(cls: type[QboError], *texts: str) -> type[QboError]:
    """``cls``, unless the fault's words say the account period is closed (:class:`ClosedPeriod`)."""
    if any(CLOSED_PERIOD_TEXT.search(t or "") for t in texts):
        return ClosedPeriod
    return cls


def _build(
    cls: type[QboError],
    message: str,
    *,
    retry_after: float | None,
    **fields: Any,
) -> QboError:
    if issubclass(cls, QboThrottled):
        return cls(message, retry_after=retry_after, **fields)
    return cls(message, **fields)


# --------------------------------------------------------------------------------------------
# Fault bodies
# --------------------------------------------------------------------------------------------


def _get(mapping: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if name in mapping:
            return mapping[name]
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _entry(raw: Any) -> FaultEntry:
    if not isinstance(raw, Mapping):
        return FaultEntry(code="", message=redact_secrets(_text(raw)), detail="", element=None)
    element = _get(raw, "element", "Element")
    return FaultEntry(
        code=_text(_get(raw, "code", "Code")).strip(),
        message=redact_secrets(_text(_get(raw, "Message", "message"))),
        detail=redact_secrets(_text(_get(raw, "Detail", "detail"))),
        element=_text(element) or None,
    )


def _fault_object(fault: Mapping[str, Any]) -> Mapping[str, Any]:
    """Accept a whole reply (``{"Fault": ...}``, gateway ``{"fault": ...}``) or the inner object
    (as found in a batch item or python-quickbooks' ``handle_exceptions`` argument)."""
    inner = _get(fault, "Fault", "fault")
    return inner if isinstance(inner, Mapping) else fault


def fault_to_error(
    fault: Mapping[str, Any],
    *,
    http_status: int | None = None,
    intuit_tid: str | None = None,
    entity: str | None = None,
    record: str | None = None,
    retry_after: float | None = None,
) -> QboError:
    """Turn a QBO Fault into the matching :class:`QboError` subclass. Pure; never raises.

    Handles the standard body ``{"Fault": {"Error": [...], "type": ...}, "time": ...}``, the
    lower-case gateway body of a 401 (``{"fault": {"error": [...]}}``), the bare inner object,
    several Error entries (the first decides; all are kept in ``.errors``), and entries without
    ``code`` or ``element``. The class comes from :data:`FAULT_TABLE` by code, else from the HTTP
    status, else from the Fault ``type``.
    """
    inner = _fault_object(fault)
    raw_errors = _get(inner, "Error", "error")
    if isinstance(raw_errors, Mapping | str):
        raw_errors = [raw_errors]
    elif not isinstance(raw_errors, Sequence):
        raw_errors = [] if raw_errors is None else [raw_errors]
    entries = tuple(_entry(raw) for raw in (raw_errors or ()))
    fault_type = _get(inner, "type", "Type")
    fault_type = _text(fault_type) or None
    first = entries[0] if entries else FaultEntry(code="", message="", detail="", element=None)
    cls = _by_text(classify_code(first.code, http_status=http_status, fault_type=fault_type),
                   first.message, first.detail)
    message = first.message or first.detail or (f"HTTP {http_status}" if http_status else "QBO fault")
    return _build(
        cls,
        message,
        retry_after=retry_after,
        code=first.code,
        detail=first.detail,
        element=first.element,
        intuit_tid=intuit_tid,
        entity=entity,
        record=record,
        http_status=http_status,
        fault_type=fault_type,
        errors=entries,
    )


# --------------------------------------------------------------------------------------------
# python-quickbooks exceptions
# --------------------------------------------------------------------------------------------

#: python-quickbooks' marker message for a body that is not JSON (error_code 10000).
_PQ_NOT_JSON: Final = "Error reading json response"
#: python-quickbooks' marker message for a non-200 JSON reply without a Fault (error_code 10000).
_PQ_BAD_STATUS: Final = re.compile(r"Error returned with status code '(\d{3})'")

_XML_ERROR: Final = re.compile(r"<Error\b[^>]*\bcode=\"(\d+)\"[^>]*>(.*?)</Error>", re.S | re.I)
_XML_FAULT_TYPE: Final = re.compile(r"<Fault\b[^>]*\btype=\"([^\"]*)\"", re.I)
_XML_TAG: Final = {
    "message": re.compile(r"<Message>(.*?)</Message>", re.S | re.I),
    "detail": re.compile(r"<Detail>(.*?)</Detail>", re.S | re.I),
}


def _xml_fault(text: str) -> dict[str, Any] | None:
    """Read the first Error of an XML Fault (QBO's historical throttle reply) without an XML parser."""
    match = _XML_ERROR.search(text)
    if match is None:
        return None
    body = match.group(2)
    found = {name: pattern.search(body) for name, pattern in _XML_TAG.items()}
    ftype = _XML_FAULT_TYPE.search(text)
    return {
        "Fault": {
            "Error": [
                {
                    "code": match.group(1),
                    "Message": found["message"].group(1).strip() if found["message"] else "",
                    "Detail": found["detail"].group(1).strip() if found["detail"] else "",
                }
            ],
            "type": ftype.group(1) if ftype else None,
        }
    }


def _json_fault(text: str) -> Mapping[str, Any] | None:
    try:
        body = json.loads(text)
    except (ValueError, TypeError):
        return None
    if isinstance(body, Mapping) and isinstance(_get(body, "Fault", "fault"), Mapping):
        return body
    return None


def from_quickbooks_exception(
    exc: BaseException,
    *,
    http_status: int | None = None,
    intuit_tid: str | None = None,
    entity: str | None = None,
    record: str | None = None,
    retry_after: float | None = None,
) -> QboError:
    """Convert a python-quickbooks ``QuickbooksException`` (any subclass) by its ``error_code``.

    python-quickbooks' own markers are undone first: ``error_code=401`` means "HTTP 401" (its
    ``detail`` is the raw body, re-read here to recover e.g. code 3200), and ``error_code=10000``
    with "Error reading json response" / "Error returned with status code" means an unreadable or
    fault-less reply (an XML Fault inside is recovered, so the old XML throttle becomes
    :class:`QboThrottled`). The original exception stays available as ``__cause__`` only if the
    caller writes ``raise ... from exc``.
    """
    message = _text(getattr(exc, "message", None) or (exc.args[0] if exc.args else type(exc).__name__))
    code = getattr(exc, "error_code", "")
    detail = _text(getattr(exc, "detail", ""))
    context: dict[str, Any] = {
        "intuit_tid": intuit_tid,
        "entity": entity,
        "record": record,
        "retry_after": retry_after,
    }
    code_int = _as_int(code)

    if code_int == 401:
        # python-quickbooks raises error_code=401 for *any* HTTP 401 (no QBO fault code is 401).
        body = _json_fault(detail) or _xml_fault(detail)  # gateway JSON, or the older XML Fault
        if body is not None:
            return fault_to_error(body, http_status=401, **context)
        excerpt = redact_secrets(detail.strip())[:300]
        return _build(QboAuthError, message, code="401", detail=excerpt, http_status=401, **context)

    if code_int == 10000 and (message.startswith(_PQ_NOT_JSON) or _PQ_BAD_STATUS.search(message)):
        status_match = _PQ_BAD_STATUS.search(message)
        status = http_status or (int(status_match.group(1)) if status_match else None)
        raw = message.partition(":")[2]
        body = _xml_fault(raw) or _json_fault(raw.strip())
        if body is not None:
            return fault_to_error(body, http_status=status, **context)
        cls = _lookup(status, STATUS_TABLE) if status not in (None, 200) else None
        summary = (
            f"QBO replied with HTTP {status}" if status else "QBO replied with a body that is not JSON"
        )
        excerpt = redact_secrets(raw.strip())[:300]
        return _build(cls or QboServerError, summary, code="", detail=excerpt, http_status=status, **context)

    code_text = "" if code_int is None else str(code_int)
    entry = FaultEntry(
        code=code_text, message=redact_secrets(message), detail=redact_secrets(detail), element=None
    )
    return _build(
        _by_text(classify_code(code_int, http_status=http_status), message, detail),
        message,
        code=code_text,
        detail=detail,
        http_status=http_status,
        errors=(entry,),
        **context,
    )


class WorkStoreBusy(QboToolkitError):
    """Another program held the WORK store's write lock for longer than the busy timeout. Nothing
    was half-written (the transaction never started); trying again later is safe."""

    def __init__(self, message: str, *, store: str | None = None) -> None:
        super().__init__(message)
        self.store = store

    @property
    def retryable(self) -> bool:
        return True


class SyncBusy(QboToolkitError):
    """Another sync of the same company holds its lease (see :mod:`qbo_toolkit.sync.lease`).
    ``holder`` describes it (job, host, pid, since, progress); nothing was planned or sent."""

    def __init__(self, message: str, *, realm: str | None = None, holder: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.realm = realm
        self.holder = dict(holder or {})

    @property
    def retryable(self) -> bool:
        return True


class SyncInterrupted(QboToolkitError):
    """The run stopped before its end because it was asked to (SIGINT, SIGTERM, the screen's Stop)
    or lost its lease. What was answered is recorded; what was sent and not answered stays in the
    outbox for the next run. ``signal`` is the signal number when a signal stopped it."""

    def __init__(self, message: str, *, signal: int | None = None) -> None:
        super().__init__(message)
        self.signal = signal
