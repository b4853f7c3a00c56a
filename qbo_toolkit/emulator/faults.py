"""QBO-shaped faults raised inside the emulator and rendered on the wire.

A handler raises :class:`EmuFault`; the server turns it into the JSON body QBO sends::

    {"Fault": {"Error": [{"Message": ..., "Detail": ..., "code": "6240", "element": ...}],
               "type": "ValidationFault"}, "time": "..."}

``code`` is always a numeric string and ``Message`` is always present, because python-quickbooks
indexes both without checking.
"""

from __future__ import annotations

from typing import Any


class EmuFault(Exception):
    """One QBO fault. ``status`` is the HTTP status the whole reply carries (400 unless said)."""

    def __init__(
        self,
        code: int | str,
        message: str,
        detail: str = "",
        element: str | None = None,
        *,
        status: int = 400,
        ftype: str = "ValidationFault",
    ) -> None:
        super().__init__(f"{code} {message}: {detail}")
        self.code = str(code)
        self.message = message
        self.detail = detail
        self.element = element
        self.status = status
        self.ftype = ftype

    def error_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"Message": self.message, "Detail": self.detail, "code": self.code}
        if self.element is not None:
            entry["element"] = self.element
        return entry

    def fault(self) -> dict[str, Any]:
        return {"Error": [self.error_entry()], "type": self.ftype}


# Constructors for the faults the emulator raises, so wording stays in one place.

def stale_object(who: str = "QuickBooks Emulator") -> EmuFault:
    return EmuFault(
        5010,
        "Stale Object Error",
        f"Stale Object Error : You and {who} were working on this at the same time. "
        f"{who} finished before you did, so your work was not saved.",
        "SyncToken",
    )


def duplicate_name() -> EmuFault:
    return EmuFault(
        6240,
        "Duplicate Name Exists Error",
        "The name supplied already exists. : Another customer, vendor or employee is already using "
        "this name. Please use a different name.",
    )


def object_not_found(detail: str = "Another user has deleted this transaction.", element: str = "") -> EmuFault:
    return EmuFault(610, "Object Not Found", f"Object Not Found : {detail}", element)


def invalid_reference(element: str) -> EmuFault:
    return EmuFault(2500, "Invalid Reference Id", f"Invalid Reference Id : {element}", element)


def required_missing(element: str) -> EmuFault:
    return EmuFault(
        2020,
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {element} is missing in the request",
        element,
    )


def string_length(element: str, maximum: int, supplied: int, minimum: int = 0) -> EmuFault:
    return EmuFault(
        2050,
        "String length is either shorter or longer than supported by specification",
        f"String length specified does not match the supported length. Min:{minimum} Max:{maximum} "
        f"supported. Supplied length:{supplied}",
        element,
    )


def invalid_id(value: object, element: str = "Id") -> EmuFault:
    return EmuFault(2030, "Invalid ID", f"Id should be a valid number. Supplied value:{value}", element)


def unsupported_property(name: str, entity: str) -> EmuFault:
    return EmuFault(
        2010,
        "Request has invalid or unsupported property",
        f'Property Name:Unrecognized field "{name}" (class com.intuit.schema.finance.v3.{entity}), '
        "not marked as ignorable specified is unsupported or invalid",
        name,
    )


def business_validation(text: str, element: str | None = None) -> EmuFault:
    return EmuFault(
        6000,
        "A business validation error has occurred while processing your request",
        f"Business Validation Error: {text}",
        element,
    )


def unsupported_operation(path: str) -> EmuFault:
    return EmuFault(
        500,
        "Unsupported Operation",
        f"Operation Could not find resource for relative : {path} of full path: {path} is not supported.",
    )


def throttled() -> EmuFault:
    return EmuFault(
        3001,
        "message=ThrottleExceeded; errorCode=003001; statusCode=429",
        "The request limit was reached.  Try again later",
        status=429,
        ftype="SERVICE",
    )


def server_error(status: int = 500) -> EmuFault:
    return EmuFault(
        10000,
        "An application error has occurred while processing your request",
        "System Failure Error: injected fault (emulator)",
        status=status,
        ftype="SystemFault",
    )
