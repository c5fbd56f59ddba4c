"""A client generated from openapi/openapi.json (openapi-python-client, .ci/client.sh) logs in as the
demo approval system and runs credit checks against a demo server, asserting on the typed answers.

Usage: python check.py BASE_URL   (the generated package `credit_lists_client` installed)
"""

import sys

from credit_lists_client import AuthenticatedClient, Client
from credit_lists_client.api.auth import auth_login, auth_me
from credit_lists_client.api.credit_checks import checks_check, checks_get_receipt
from credit_lists_client.api.public import entries_public_entries
from credit_lists_client.models import (
    Advice,
    CheckAnswer,
    CheckRequest,
    ListType,
    LoginRequest,
    PagePublicEntry,
    Problem,
    SubjectType,
    TokenResponse,
)

base_url = sys.argv[1]
anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)

# A wrong password is a typed problem (401), not a token.
refused = auth_login.sync(
    client=anonymous, body=LoginRequest(username="demo-approval", password="not-the-password")
)
assert isinstance(refused, Problem), refused
assert refused.status == 401 and refused.code == "unauthorized", refused

tokens = auth_login.sync(
    client=anonymous, body=LoginRequest(username="demo-approval", password="demo-approval-pass")
)
assert isinstance(tokens, TokenResponse), tokens
assert tokens.token_type == "Bearer" and tokens.expires_in > 0, tokens
client = AuthenticatedClient(
    base_url=base_url, token=tokens.access_token, raise_on_unexpected_status=True
)
me = auth_me.sync(client=client)
assert me.username == "demo-approval" and me.role.value == "approval_system", me

# An enterprise on the published black list (anonymous, public disclosure) ...
page = entries_public_entries.sync(
    client=anonymous, list_type=ListType.BLACK, status="in_force", per_page=200
)
assert isinstance(page, PagePublicEntry), page
black = [e for e in page.items if e.subject_kind == SubjectType.ENTERPRISE]
assert black, "the demo data has black-listed enterprises"
entry = black[0]

# ... is checked by the approval system: the answer is typed and names that entry.
answer = checks_check.sync(
    client=client,
    body=CheckRequest(
        subject_code=entry.subject_code.lower(),
        field="administrative_licensing",
        reference="client-test-1",
    ),
)
assert isinstance(answer, CheckAnswer), answer
assert answer.subject_code == entry.subject_code, (answer.subject_code, entry.subject_code)
assert answer.known is True
assert answer.subject is not None and answer.subject.name == entry.subject_name, answer.subject
assert entry.id in [e.entry_id for e in answer.black], (entry.id, answer.black)
assert isinstance(answer.advice, Advice)
assert answer.reference == "client-test-1"
assert answer.check_id > 0 and answer.reasons, answer

# The receipt reads back the same answer.
receipt = checks_get_receipt.sync(client=client, id=answer.check_id)
assert isinstance(receipt, CheckAnswer), receipt
assert receipt.check_id == answer.check_id and receipt.advice == answer.advice

# A code that is no code is a typed problem naming the field.
bad = checks_check.sync(
    client=client,
    body=CheckRequest(subject_code="not-a-code", field="administrative_licensing"),
)
assert isinstance(bad, Problem), bad
assert bad.status == 422, bad
assert [e.field for e in bad.errors] == ["subject_code"], bad.errors

print(
    f"generated client: logged in as {me.username}, checked {answer.subject_code}: "
    f"advice {answer.advice.value}, {len(answer.black)} black entries, receipt {answer.check_id}"
)
