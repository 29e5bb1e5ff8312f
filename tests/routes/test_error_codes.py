"""Every error code the package can answer with has its HTTP status and is in the OpenAPI document."""

from __future__ import annotations

from lp.launchpad.errors import LaunchpadError, error_from_dict
from lp.server_routes.errors import STATUS
from lp.server_routes.openapi import document
from lp.server_routes.routes import ROUTES


def every_error_class() -> list[type[LaunchpadError]]:
    """LaunchpadError and all its subclasses in the package (conftest imported every module)."""
    found, todo = [], [LaunchpadError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_error_code_has_a_status_and_every_status_a_class() -> None:
    codes = {cls.code for cls in every_error_class()}
    assert {"not_running", "auth_unavailable", "rate_limited", "starting"} <= codes  # the walk reaches them all
    assert codes - STATUS.keys() == set(), "codes without an HTTP status in server_routes/errors.py"
    assert STATUS.keys() - codes == set(), "statuses for codes no error class has"


def test_the_openapi_error_schema_enumerates_exactly_those_codes() -> None:
    error = document(ROUTES)["components"]["schemas"]["Error"]["properties"]["error"]
    assert sorted(error["properties"]["code"]["enum"]) == sorted({cls.code for cls in every_error_class()})
    assert error["required"] == ["code", "message"]


def test_an_error_rebuilt_from_its_dict_is_its_own_class_again() -> None:
    for cls in every_error_class():
        error = cls.__new__(cls)
        LaunchpadError.__init__(error, "what to do", details={"k": 1})
        rebuilt = error_from_dict(error.to_dict())
        assert rebuilt.code == cls.code and rebuilt.message == "what to do" and rebuilt.details == {"k": 1}
        assert isinstance(rebuilt, LaunchpadError)
        assert type(rebuilt).code == cls.code  # the class of its code, not a generic stand-in
