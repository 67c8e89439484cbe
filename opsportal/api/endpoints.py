"""The API's own endpoints: who a token is."""

from datetime import datetime

from ninja import Router, Schema

from .auth import scoped

router = Router(tags=["tokens"])


class TokenSelfOut(Schema):
    id: int
    name: str
    kind: str
    owner: str
    scopes: list[str]
    expires_at: datetime


@router.get(
    "/me", auth=scoped(), response=TokenSelfOut, summary="The token this request authenticated with"
)
def me(request):
    """Any valid token may ask, whatever its scopes (a CI step checking its secret)."""
    token = request.auth
    return {
        "id": token.pk,
        "name": token.name,
        "kind": token.kind,
        "owner": token.user.get_username(),
        "scopes": token.scopes,
        "expires_at": token.expires_at,
    }
