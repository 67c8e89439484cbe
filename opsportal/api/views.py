"""Token pages: "My API tokens" (anyone signed in) and service tokens (admins).

A new token is shown once, in the response to the POST that created it: it is never put in the
session, a message or a URL, and that response is not cached.
"""

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.views import View

from opsportal.generic import add_service_errors

from . import services
from .forms import RevokeForm, ServiceAccountForm, ServiceTokenForm, TokenForm
from .models import ApiToken, ServiceAccount, TokenKind
from .scopes import SCOPES


def _shown_once(response):
    add_never_cache_headers(response)
    return response


class MyTokensView(View):
    template_name = "api/my_tokens.html"

    def _render(self, request, form, new=None):
        tokens = ApiToken.objects.filter(user=request.user).select_related("revoked_by")
        return _shown_once(
            render(
                request,
                self.template_name,
                {"form": form, "tokens": tokens, "new": new, "scopes": SCOPES},
            )
        )

    def get(self, request):
        return self._render(request, TokenForm())

    def post(self, request):
        form = TokenForm(request.POST)
        if form.is_valid():
            try:
                token, raw = services.token_create(
                    actor=request.user,
                    user=request.user,
                    name=form.cleaned_data["name"],
                    scopes=form.cleaned_data["scopes"],
                    expires_days=form.cleaned_data["expires_days"],
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                return self._render(request, TokenForm(), new={"token": token, "raw": raw})
        return self._render(request, form)


class ServiceTokensView(PermissionRequiredMixin, View):
    permission_required = services.MANAGE_PERMISSION
    template_name = "api/service_tokens.html"

    def _render(self, request, *, account_form=None, token_form=None, new=None):
        accounts = ServiceAccount.objects.select_related("user", "created_by")
        tokens = ApiToken.objects.filter(kind=TokenKind.SERVICE).select_related(
            "user", "created_by", "revoked_by"
        )
        return _shown_once(
            render(
                request,
                self.template_name,
                {
                    "accounts": accounts,
                    "tokens": tokens,
                    "account_form": account_form or ServiceAccountForm(prefix="account"),
                    "token_form": token_form or ServiceTokenForm(prefix="token"),
                    "new": new,
                },
            )
        )

    def get(self, request):
        return self._render(request)

    def post(self, request):
        if "create_account" in request.POST:
            form = ServiceAccountForm(request.POST, prefix="account")
            if form.is_valid():
                try:
                    account = services.service_account_create(
                        actor=request.user, **form.cleaned_data
                    )
                except ValidationError as exc:
                    add_service_errors(form, exc)
                else:
                    messages.success(request, f"Service account {account} created.")
                    return redirect("api_tokens:service")
            return self._render(request, account_form=form)
        form = ServiceTokenForm(request.POST, prefix="token")
        if form.is_valid():
            data = form.cleaned_data
            try:
                token, raw = services.token_create(
                    actor=request.user,
                    user=data["account"].user,
                    name=data["name"],
                    scopes=data["scopes"],
                    expires_days=data["expires_days"],
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                return self._render(request, new={"token": token, "raw": raw})
        return self._render(request, token_form=form)


class TokenRevokeView(View):
    def post(self, request, pk):
        token = get_object_or_404(ApiToken.objects.select_related("user"), pk=pk)
        if token.user_id != request.user.pk and not request.user.has_perm(
            services.MANAGE_PERMISSION
        ):
            raise PermissionDenied("Not your token.")
        form = RevokeForm(request.POST)
        reason = form.cleaned_data["reason"] if form.is_valid() else ""
        try:
            services.token_revoke(actor=request.user, token=token, reason=reason)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"{token.label} revoked: it no longer authenticates.")
        if token.kind == TokenKind.SERVICE:
            return redirect("api_tokens:service")
        return redirect("api_tokens:mine")
