"""The researcher's API tokens (/research/tokens/): make one (its secret shown once, in
the answer to the form, never stored), see them, revoke one. A token reaches the
studies where its owner has a role; the page itself is the logged-in user's own."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from moralgraph.research.access import studies_for
from moralgraph.services import tokens


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def tokens_page(request):
    error = ""
    created = secret = None
    if request.method == "POST":
        try:
            created, secret = tokens.create_token(
                user=request.user, name=request.POST.get("name", "")
            )
        except tokens.TokenError as problem:
            error = str(problem)
    context = {
        "section": "tokens",
        "tokens": tokens.tokens_of(request.user),
        "created": created,
        "secret": secret,
        "error": error,
        "studies": studies_for(request.user).order_by("title"),
        "name_max": tokens.NAME_MAX_CHARS,
        "api_root": request.build_absolute_uri("/api/"),
    }
    return render(request, "research/tokens.html", context, status=400 if error else 200)


@login_required
@require_POST
def revoke(request, token_id: int):
    if tokens.revoke_token(user=request.user, token_id=token_id):
        messages.success(request, "Token revoked: it no longer opens the API.")
    return redirect("research:tokens")
