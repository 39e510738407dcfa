"""Schemathesis hooks of the API fuzz suite (loaded by test/fuzz/run.sh through SCHEMATHESIS_HOOKS).

`positive_data_acceptance` expects every request that matches the document to be accepted. A few
operations refuse some well-formed requests for reasons no JSON Schema can state: the password
policy (a list of 10,000 common passwords, not the username), the username rules (one script,
NFKC), values that must have been issued by the server (a cursor, an unlock token), the role map
read at start, the clock (a lock that ends in the past) and relations between fields (`from` after
`to`). schemathesis.toml turns the stock check off for exactly those operations, and this check
takes its place there: it is the same check, except that each operation may answer 400 with the
codes and messages listed for it below, and nothing else.
"""

import re

import schemathesis
from schemathesis.core.failures import Failure

CURSOR = ("validation_error", r"^querystring/cursor is not a cursor of this list$")
RANGE = ("validation_error", r"^querystring/from must not be after querystring/to$")

# "METHOD path": the (code, message pattern) pairs of the refusals the schema cannot express.
SEMANTIC_REFUSALS = {
    "POST /auth/register": [("weak_password", r""), ("invalid_username", r"")],
    "POST /auth/password": [("weak_password", r"")],
    "POST /auth/unlock": [("invalid_token", r"^The unlock token is invalid")],
    "POST /admin/users": [("weak_password", r""), ("invalid_username", r""), ("unknown_role", r"^Unknown role")],
    "PATCH /admin/users/{id}": [("unknown_role", r"^Unknown role")],
    "POST /admin/users/{id}/lock": [("bad_request", r"^until must be in the future$")],
    "GET /admin/users": [("bad_request", r"^The cursor is invalid")],
    "GET /users/me/login-history": [CURSOR],
    "GET /admin/login-events": [CURSOR, RANGE],
    "GET /admin/login-events/export": [RANGE],
}

ACCEPTED = {"401", "403", "404", "409", "429"}


class SemanticRefusal(Failure):
    pass


@schemathesis.check
def positive_data_acceptance_beyond_schema(ctx, response, case):
    refusals = SEMANTIC_REFUSALS.get(f"{case.operation.method.upper()} {case.operation.path}")
    meta = case.meta
    if refusals is None or meta is None or not meta.generation.mode.is_positive:
        return None
    status = response.status_code
    if status < 400 or str(status) in ACCEPTED or status >= 500:
        return None
    body = {}
    try:
        body = response.json()
    except Exception:
        pass
    code, message = body.get("error"), body.get("message", "")
    if status == 400 and any(code == c and re.search(m, message) for c, m in refusals):
        return None
    raise SemanticRefusal(
        operation=case.operation.label,
        title="Schema-valid request rejected",
        message=f"Valid data should have been accepted; the refusals allowed here are 400 with {refusals}",
    )
