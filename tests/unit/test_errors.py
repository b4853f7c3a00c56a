"""The exception tree and the fault classifier (qbo_toolkit.errors).

Fault bodies come from ../shared/qbo/samples (4001, 6240, 401, batch 610/5010) and from the wording
recorded in API_FACTS §4.3 for the rest.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from quickbooks import exceptions as qbx
from quickbooks.client import QuickBooks

from qbo_toolkit import errors as E
from qbo_toolkit.errors import (
    FAULT_TABLE,
    fault_to_error,
    from_quickbooks_exception,
    redact_secrets,
)

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "qbo" / "samples"
TOKEN_PREFIX = "AB01601390262kxzxOlnHYdhtEVRXISU7piPqQrCmmbDN35Yjd"


def sample(name: str) -> dict[str, Any]:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"sample {path} not available")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def fault(code: str | None, message: str, detail: str = "", element: str | None = None,
          ftype: str = "ValidationFault", *, time: bool = True) -> dict[str, Any]:
    entry: dict[str, Any] = {"Message": message}
    if detail:
        entry["Detail"] = detail
    if code is not None:
        entry["code"] = code
    if element is not None:
        entry["element"] = element
    body: dict[str, Any] = {"Fault": {"Error": [entry], "type": ftype}}
    if time:
        body["time"] = "2020-09-29T06:52:56.527-07:00"
    return body


# Bodies built from API_FACTS §4.3 (Message / Detail / element as recorded).
BUILT: dict[str, dict[str, Any]] = {
    "100": fault("100", "General Authentication Error",
                 "AuthenticationErrorGeneral: SRV-110-Authentication Failure , statusCode: 401",
                 ftype="AuthenticationFault"),
    "500": fault("500", "Unsupported Operation",
                 "Operation Could not find resource for relative : /v3/company/123/customer/1/5 of full path: "
                 "https://sandbox-quickbooks.api.intuit.com/v3/company/123/customer/1/5 is not supported."),
    "610": fault("610", "Object Not Found",
                 "Object Not Found : Another user has deleted this transaction.", ""),
    "2010": fault("2010", "Request has invalid or unsupported property",
                  'Property Name:Unrecognized field "BadJson" (class com.intuit.schema.finance.v3.Invoice), '
                  "not marked as ignorable specified is unsupported or invalid", "BadJson"),
    "2020": fault("2020", "Required param missing, need to supply the required value for the API",
                  "Required parameter Line is missing in the request", "Line"),
    "2030": fault("2030", "Invalid ID", "Id should be a valid number. Supplied value:1.5", "Id", time=False),
    "2050": fault("2050", "String length is either shorter or longer than supported by specification",
                  "String length specified does not match the supported length. Min:0 Max:21 supported. "
                  "Supplied length:45", "DocNumber"),
    "2500": fault("2500", "Invalid Reference Id",
                  "Invalid Reference Id : Line.SalesItemLineDetail.ItemRef", "Line.SalesItemLineDetail.ItemRef"),
    "3001": fault("3001", "message=ThrottleExceeded; errorCode=003001; statusCode=429",
                  "The request limit was reached.  Try again later", ftype="SERVICE"),
    "4000": fault("4000", "Error parsing query",
                  'QueryParserError: Encountered " <IDENTIFIER> "R "" at line 1, column 52.'),
    "4002": fault("4002", "Error processing query", "QueryProcessingError: timeout", ftype="Service"),
    "5010": fault("5010", "Stale Object Error",
                  "Stale Object Error : You and Jane were working on this at the same time. Jane finished "
                  "before you did, so your work was not saved.", "SyncToken"),
    "6000": fault("6000", "A business validation error has occurred while processing your request",
                  "Business Validation Error: You must set a transaction amount."),
    "6140": fault("6140", "Duplicate Document Number Error",
                  "Duplicate Document Number Error : You must specify a different number. This number has "
                  "already been used. DocNumber=1001 is assigned to TxnType=Invoice with TxnId=130", "DocNumber"),
    "6220": fault("6220", "Delete Entity Has Balance Error",
                  "Delete List Has Balance Error: The entity you are trying to delete has an open balance. : "
                  "This customer cannot be deleted because it has a non-zero balance"),
    "10000": fault("10000", "An application error has occurred while processing your request",
                   "System Failure Error: An unexpected error occurred", ftype="SystemFault"),
}

# (body, HTTP status, expected exact class, code, element)
CASES: list[tuple[str, int, type[E.QboError], str, str | None]] = [
    ("100", 401, E.QboAuthError, "100", None),
    ("500", 400, E.UnsupportedOperation, "500", None),
    ("610", 400, E.ObjectNotFound, "610", None),
    ("2010", 400, E.QboValidationError, "2010", "BadJson"),
    ("2020", 400, E.QboValidationError, "2020", "Line"),
    ("2030", 400, E.QboValidationError, "2030", "Id"),
    ("2050", 400, E.QboValidationError, "2050", "DocNumber"),
    ("2500", 400, E.InvalidReference, "2500", "Line.SalesItemLineDetail.ItemRef"),
    ("3001", 429, E.QboThrottled, "3001", None),
    ("4000", 400, E.QueryError, "4000", None),
    ("4002", 400, E.QueryError, "4002", None),
    ("5010", 400, E.StaleObject, "5010", "SyncToken"),
    ("6000", 400, E.BusinessRuleError, "6000", None),
    ("6140", 400, E.DuplicateDocNumber, "6140", "DocNumber"),
    ("6220", 400, E.HasBalance, "6220", None),
    ("10000", 500, E.QboServerError, "10000", None),
]


@pytest.mark.parametrize(("key", "status", "cls", "code", "element"), CASES, ids=[c[0] for c in CASES])
def test_built_fault_bodies_map_to_classes(
    key: str, status: int, cls: type[E.QboError], code: str, element: str | None
) -> None:
    body = BUILT[key]
    err = fault_to_error(body, http_status=status, intuit_tid="1-abc", entity="Customer", record="WORK client 7")
    assert type(err) is cls
    assert err.code == code
    assert err.element == element
    assert err.message == body["Fault"]["Error"][0]["Message"]
    assert err.detail == body["Fault"]["Error"][0].get("Detail", "")
    assert err.http_status == status
    assert err.intuit_tid == "1-abc"
    assert (err.entity, err.record) == ("Customer", "WORK client 7")
    assert err.fault_type == body["Fault"]["type"]
    assert len(err.errors) == 1
    assert err.retryable is (cls in (E.QboThrottled, E.QboServerError))


def test_sample_4001_invalid_query() -> None:
    err = fault_to_error(sample("fault_4001_invalid_query.json"), http_status=400)
    assert type(err) is E.QueryError
    assert isinstance(err, E.QboValidationError)
    assert err.code == "4001"
    assert err.element is None  # the sample has no element key
    assert "Custmoer" in err.detail
    assert not err.retryable


def test_sample_6240_duplicate_name() -> None:
    err = fault_to_error(sample("fault_6240_duplicate_name.json"), http_status=400, entity="Customer")
    assert type(err) is E.DuplicateName
    assert isinstance(err, E.BusinessRuleError)
    assert err.code == "6240"
    assert err.message == "Duplicate Name Exists Error"
    assert str(err).startswith("QBO 6240 Duplicate Name Exists Error: The name supplied already exists.")
    assert "Customer" in str(err)


def test_sample_401_gateway_body_and_token_prefix_redacted() -> None:
    err = fault_to_error(sample("fault_401_token_expired.json"), http_status=401, intuit_tid="1-tid")
    assert type(err) is E.QboAuthError
    assert err.code == "3200"
    assert err.fault_type == "AUTHENTICATION"
    assert err.detail == "Token expired: [redacted]"
    for text in (str(err), repr(err), err.detail, err.message, repr(err.errors)):
        assert TOKEN_PREFIX not in text
        assert TOKEN_PREFIX[:12] not in text


def test_batch_item_faults_from_sample() -> None:
    items = [i for i in sample("batch_response.json")["BatchItemResponse"] if "Fault" in i]
    classes = {i["bId"]: type(fault_to_error(i["Fault"], http_status=200)) for i in items}
    assert classes == {"bid2": E.ObjectNotFound, "bid3": E.StaleObject}
    # element "" means "no element"
    assert fault_to_error(items[0]).element is None


def test_several_errors_first_decides_all_kept() -> None:
    body = {"Fault": {"type": "ValidationFault", "Error": [
        BUILT["6140"]["Fault"]["Error"][0],
        {"Message": "Required param missing", "Detail": "Required parameter Line is missing", "code": "2020",
         "element": "Line"},
        {"Message": "Required param missing", "code": "2020"},
    ]}}
    err = fault_to_error(body, http_status=400)
    assert type(err) is E.DuplicateDocNumber
    assert [e.code for e in err.errors] == ["6140", "2020", "2020"]
    assert err.errors[1].element == "Line"
    assert err.errors[2].detail == ""


@pytest.mark.parametrize(
    ("status", "ftype", "cls"),
    [
        (503, "ValidationFault", E.QboServerError),
        (429, None, E.QboThrottled),
        (401, None, E.QboAuthError),
        (403, None, E.QboAuthError),
        (400, None, E.QboValidationError),
        (None, "SystemFault", E.QboServerError),
        (None, "AuthorizationFault", E.QboAuthError),
        (None, "ValidationFault", E.QboValidationError),
        (None, None, E.QboError),
    ],
)
def test_missing_code_falls_back_to_status_then_type(
    status: int | None, ftype: str | None, cls: type[E.QboError]
) -> None:
    body: dict[str, Any] = {"Fault": {"Error": [{"Message": "Something failed"}]}}
    if ftype:
        body["Fault"]["type"] = ftype
    err = fault_to_error(body, http_status=status)
    assert type(err) is cls
    assert err.code == ""
    assert err.element is None


def test_code_wins_over_status() -> None:
    # Pre-2016 throttles came back as HTTP 403 with code 3001.
    assert type(fault_to_error(BUILT["3001"], http_status=403)) is E.QboThrottled


def test_odd_shapes_never_raise() -> None:
    assert type(fault_to_error({})) is E.QboError
    assert type(fault_to_error({"Fault": {}}, http_status=502)) is E.QboServerError
    single = {"Fault": {"Error": {"Message": "Stale", "code": "5010"}}}  # one entry, not a list
    assert type(fault_to_error(single)) is E.StaleObject
    assert type(fault_to_error({"Fault": {"Error": [{"Message": "x", "code": "abc"}]}})) is E.QboError


def test_throttle_retry_after() -> None:
    err = fault_to_error(BUILT["3001"], http_status=429, retry_after=60)
    assert isinstance(err, E.QboThrottled)
    assert err.retry_after == 60
    assert err.retryable


def test_table_covers_every_code() -> None:
    for code in range(1, 12001):
        assert E.classify_code(code) is not E.QboError, code
    assert E.classify_code(3100) is E.QboAuthError
    assert E.classify_code(3200) is E.QboAuthError
    assert E.classify_code(3002) is E.QboValidationError
    assert E.classify_code("6240") is E.DuplicateName
    assert all(low <= high for low, high, _ in FAULT_TABLE)


def test_tree_shape_and_retryable() -> None:
    assert issubclass(E.ObjectNotFound, E.InvalidReference)
    assert issubclass(E.DuplicateName, E.BusinessRuleError)
    assert issubclass(E.QueryError, E.QboValidationError)
    assert issubclass(E.ReconnectNeeded, E.AuthError)
    for cls in (E.ConfigError, E.AuthError, E.QboError, E.WorkDataError):
        assert issubclass(cls, E.QboToolkitError)
    assert E.QboTransportError("connection reset").retryable
    assert E.QboServerError("boom").retryable
    assert not E.QboValidationError("bad").retryable
    assert not E.ReconnectNeeded("reconnect", realm_id="123").retryable
    # Every public class is drawn in the module docstring.
    doc = E.__doc__ or ""
    for name in E.__all__:
        obj = getattr(E, name)
        if isinstance(obj, type) and issubclass(obj, E.QboToolkitError):
            assert name in doc, name


def test_errors_pickle_with_their_fields() -> None:
    err = fault_to_error(BUILT["3001"], http_status=429, intuit_tid="1-x", retry_after=5.0)
    back = pickle.loads(pickle.dumps(err))  # noqa: S301  (our own bytes)
    assert type(back) is E.QboThrottled
    assert (back.code, back.intuit_tid, back.retry_after, back.errors) == ("3001", "1-x", 5.0, err.errors)
    work = pickle.loads(  # noqa: S301  (our own bytes)
        pickle.dumps(E.WorkDataError("bad amount", file="inv.csv", line=3, field="amount"))
    )
    assert str(work) == "bad amount (inv.csv:3, field amount)"


def test_structured_fields_of_other_errors() -> None:
    cfg = E.ConfigError("bad integration date", path="parameters/sync.yaml", key="integration_date")
    assert (cfg.path, cfg.key) == ("parameters/sync.yaml", "integration_date")
    mismatch = E.CompanyMismatch("connected to the wrong company", expected="1", actual="2")
    assert (mismatch.expected, mismatch.actual, mismatch.realm_id) == ("1", "2", "2")
    assert E.WorkDataError("no name", record_id=17).record_id == 17
    assert str(E.WorkDataError("no name", record_id=17, field="name")) == "no name (record 17, field name)"


def test_redaction() -> None:
    text = (
        'Authorization: Bearer eyJhbGciOiJkaXIi.abc-123 {"refresh_token": "RT1-secret", '
        '"access_token":"AT1x"} client_secret=s3cr3t /cb?code=AB11xyz&state=st Token expired: AB016xyz'
    )
    clean = redact_secrets(text)
    for secret in ("eyJhbGciOiJkaXIi", "RT1-secret", "AT1x", "s3cr3t", "AB11xyz", "AB016xyz"):
        assert secret not in clean
    # Prose is left alone.
    for prose in ("Malformed bearer token: too short or too long", "Basic authentication failed",
                  'errorCode=003200; "code":"3200"', "grant_type=refresh_token"):
        assert redact_secrets(prose) == prose
    assert "RT1-secret" not in str(E.ConfigError('bad {"refresh_token": "RT1-secret"}'))


# ---- python-quickbooks exceptions ------------------------------------------------------------

PQ_CASES: list[tuple[Exception, type[E.QboError], str]] = [
    (qbx.QuickbooksException("Duplicate Name Exists Error", 6240, "The name supplied already exists. : null"),
     E.DuplicateName, "6240"),
    (qbx.QuickbooksException("Stale Object Error", 5010, "Stale Object Error : You and Jane ..."),
     E.StaleObject, "5010"),
    (qbx.QuickbooksException("Delete Entity Has Balance Error", 6220, "..."), E.HasBalance, "6220"),
    (qbx.QuickbooksException("Duplicate Document Number Error", 6140, "..."), E.DuplicateDocNumber, "6140"),
    (qbx.QuickbooksException("A business validation error has occurred", 6000, "..."),
     E.BusinessRuleError, "6000"),
    (qbx.ValidationException("message=ThrottleExceeded; errorCode=003001; statusCode=429", 3001, "..."),
     E.QboThrottled, "3001"),
    (qbx.ValidationException("Invalid query", 4001, "QueryValidationError: ..."), E.QueryError, "4001"),
    (qbx.ValidationException("Invalid Reference Id", 2500, "..."), E.InvalidReference, "2500"),
    (qbx.ValidationException("Invalid ID", 2030, "..."), E.QboValidationError, "2030"),
    (qbx.ObjectNotFoundException("Object Not Found", 610, "..."), E.ObjectNotFound, "610"),
    (qbx.GeneralException("Txn ID Cannot Be Linked", 620, "..."), E.QboValidationError, "620"),
    (qbx.UnsupportedException("Unsupported Operation", 500, "..."), E.UnsupportedOperation, "500"),
    (qbx.AuthorizationException("General Authentication Error", 100, "..."), E.QboAuthError, "100"),
    (qbx.SevereException("An application error has occurred", 10000, "System Failure Error"),
     E.QboServerError, "10000"),
]


@pytest.mark.parametrize(("exc", "cls", "code"), PQ_CASES, ids=[c[2] for c in PQ_CASES])
def test_quickbooks_exceptions_by_code(exc: Exception, cls: type[E.QboError], code: str) -> None:
    err = from_quickbooks_exception(exc, intuit_tid="1-t", entity="Invoice", record="WORK invoice 9")
    assert type(err) is cls
    assert err.code == code
    assert err.message == exc.args[0]
    assert (err.intuit_tid, err.entity, err.record) == ("1-t", "Invoice", "WORK invoice 9")


@pytest.mark.parametrize("name", ["fault_4001_invalid_query.json", "fault_6240_duplicate_name.json"])
def test_real_handle_exceptions_round_trip(name: str) -> None:
    body = sample(name)
    with pytest.raises(qbx.QuickbooksException) as info:
        QuickBooks.handle_exceptions(body["Fault"])
    assert type(from_quickbooks_exception(info.value)) is type(fault_to_error(body))


def test_quickbooks_401_reparses_the_raw_body() -> None:
    raw = (SAMPLES / "fault_401_token_expired.json")
    if not raw.exists():
        pytest.skip("sample missing")
    exc = qbx.AuthorizationException("Application authentication failed", error_code=401, detail=raw.read_text())
    err = from_quickbooks_exception(exc)
    assert type(err) is E.QboAuthError
    assert (err.code, err.http_status) == ("3200", 401)
    assert TOKEN_PREFIX not in str(err) and TOKEN_PREFIX not in err.detail


def test_quickbooks_401_without_json() -> None:
    exc = qbx.AuthorizationException("Application authentication failed", error_code=401,
                                     detail="<html>Unauthorized Bearer eyJabc.def-123456</html>")
    err = from_quickbooks_exception(exc)
    assert type(err) is E.QboAuthError
    assert (err.code, err.http_status) == ("401", 401)
    assert "eyJabc" not in str(err)


def test_quickbooks_10000_xml_throttle_is_recovered() -> None:
    xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><IntuitResponse time="2016-10-11T07:31:07.166-07:00">'
        '<Fault type="SERVICE"><Error code="3001"><Message>message=ThrottleExceeded; errorCode=003001; '
        "statusCode=429</Message><Detail>The request limit was reached.  Try again later</Detail></Error>"
        "</Fault></IntuitResponse>"
    )
    exc = qbx.QuickbooksException(f"Error reading json response: {xml}", 10000)
    err = from_quickbooks_exception(exc, http_status=429, retry_after=60)
    assert type(err) is E.QboThrottled
    assert err.code == "3001"
    assert err.detail == "The request limit was reached.  Try again later"
    assert err.fault_type == "SERVICE"
    assert err.retry_after == 60


@pytest.mark.parametrize(
    ("message", "status", "cls"),
    [
        ("Error reading json response: <html><body>502 Bad Gateway</body></html>", 502, E.QboServerError),
        ("Error reading json response: <html><body>502 Bad Gateway</body></html>", None, E.QboServerError),
        ("Error reading json response: Too Many Requests", 429, E.QboThrottled),
        ("Error returned with status code '503': {\"message\": \"unavailable\"}", None, E.QboServerError),
        ("Error returned with status code '404': {\"message\": \"no such page\"}", None, E.QboValidationError),
    ],
)
def test_quickbooks_10000_markers_use_http_status(message: str, status: int | None,
                                                  cls: type[E.QboError]) -> None:
    err = from_quickbooks_exception(qbx.QuickbooksException(message, 10000), http_status=status)
    assert type(err) is cls
    assert err.code == ""
    assert "Error reading json" not in err.message


def test_quickbooks_missing_code() -> None:
    err = from_quickbooks_exception(qbx.QuickbooksException("odd", "", ""), http_status=503)
    assert type(err) is E.QboServerError
    assert err.code == ""


def test_quickbooks_401_with_the_older_xml_fault() -> None:
    xml = (
        '<IntuitResponse><Fault type="AuthenticationFault"><Error code="100"><Message>General Authentication '
        "Error</Message><Detail>AuthenticationErrorGeneral: SRV-110-Authentication Failure , statusCode: 401"
        "</Detail></Error></Fault></IntuitResponse>"
    )
    exc = qbx.AuthorizationException("Application authentication failed", error_code=401, detail=xml)
    err = from_quickbooks_exception(exc)
    assert type(err) is E.QboAuthError
    assert (err.code, err.message, err.http_status) == ("100", "General Authentication Error", 401)
