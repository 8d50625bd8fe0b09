"""`python manage.py tokens`: list API tokens, or revoke one (`tokens revoke ID`).

Tokens are created with `create_token`. Only their SHA-256 is stored, so a token cannot be
shown again: this lists what each is for, whose it is, when it expires and when it was last
used (to the minute)."""

from django.core.management.base import BaseCommand, CommandError

from taskqueue.models import ApiToken


def when(moment) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"


class Command(BaseCommand):
    help = "List API tokens, or revoke one: `tokens`, `tokens --user alice`, `tokens revoke 3`."

    def add_arguments(self, parser):
        parser.add_argument("action", nargs="?", choices=["list", "revoke"], default="list")
        parser.add_argument("token_id", nargs="?", type=int, help="for revoke: the token's id")
        parser.add_argument("--user", help="list only this user's tokens")

    def handle(self, *, action, token_id, user, **_):
        if action == "revoke":
            if token_id is None:
                raise CommandError("revoke needs the token's id (see `tokens`)")
            deleted, _ = ApiToken.objects.filter(pk=token_id).delete()
            if not deleted:
                raise CommandError(f"no token with id {token_id}")
            self.stdout.write(f"revoked token {token_id}: it no longer works")
            return
        tokens = ApiToken.objects.select_related("user").order_by("user__username", "id")
        if user:
            tokens = tokens.filter(user__username=user)
        self.stdout.write(
            f"{'id':>4}  {'user':<16} {'name':<16} {'created':<16} {'expires':<16} last used"
        )
        for token in tokens:
            self.stdout.write(
                f"{token.pk:>4}  {token.user.username:<16} {token.name:<16}"
                f" {when(token.created_at):<16} {when(token.expires_at):<16}"
                f" {when(token.last_used_at)}"
            )
