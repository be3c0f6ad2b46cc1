"""Form tokens (表单令牌): a back-office form submitted twice records its action once.

Every form that changes the register carries a fresh random token. The service function that does the action
looks the token up *after* taking the register lock (so two submissions racing each other are serialised) and,
when it was used before, returns what the first submission produced instead of doing it again. The token is
stored in the same transaction as the action: a refused submission leaves no token behind, so the corrected
form can be sent again with the same token.
"""

from __future__ import annotations

import re
import secrets

from tortoise import fields
from tortoise.models import Model

from registry.errors import RegisterError

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class InvalidFormToken(RegisterError):
    code = "invalid_form_token"
    message = "表单已失效，请刷新页面后重新提交"


class FormSubmission(Model):
    """One form submission that did something: which action, and the id of the record it produced."""

    id = fields.IntField(primary_key=True)
    token = fields.CharField(max_length=64, unique=True)
    action = fields.CharField(max_length=64)
    object_id = fields.IntField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "form_submission"


def new_form_token() -> str:
    """A fresh token to put in a form's hidden field."""
    return secrets.token_urlsafe(24)


def check_token(token: str | None) -> str | None:
    """``None`` (no idempotency wanted, e.g. a script) or a well-formed token; anything else is refused."""
    if token is None:
        return None
    if not TOKEN_RE.match(token):
        raise InvalidFormToken(token[:20])
    return token


async def earlier_result(token: str | None, action: str) -> int | None:
    """The object id the first submission of ``token`` produced, or ``None`` if it is new.

    Call inside the action's register transaction (:func:`registry.chain.register_transaction`)."""
    if token is None:
        return None
    done = await FormSubmission.get_or_none(token=token)
    if done is None:
        return None
    if done.action != action:
        raise InvalidFormToken(token[:20])
    return done.object_id


async def remember(token: str | None, action: str, object_id: int) -> None:
    """Record that ``token`` produced ``object_id`` (inside the same transaction as the action)."""
    if token is not None:
        await FormSubmission.create(token=token, action=action, object_id=object_id)
