"""Token pages: "My API tokens" (anyone signed in) and service accounts (admins)."""

from django.views.generic import TemplateView


class MyTokensView(TemplateView):
    template_name = "api/my_tokens.html"
