"""`python manage.py create_token alice --name loadtest --expires-days 30`: an API token for a
user. `tokens` lists them and revokes one."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from taskqueue.models import ApiToken


class Command(BaseCommand):
    help = "Create an API token for a user (creating the user if --create-user). Prints it once."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="api", help="what the token is for")
        parser.add_argument(
            "--create-user", action="store_true", help="create the user if it does not exist"
        )
        parser.add_argument(
            "--expires-days", type=float, help="the token stops working after this many days"
        )

    def handle(self, *, username, name, create_user, expires_days, **_):
        if expires_days is not None and expires_days <= 0:
            raise CommandError("--expires-days must be positive")
        users = get_user_model().objects
        user = users.filter(username=username).first()
        if user is None:
            if not create_user:
                raise CommandError(f"no user {username!r} (add --create-user to create one)")
            user = users.create_user(username=username)  # no password: it logs in by token only
        expires_in = timedelta(days=expires_days) if expires_days else None
        self.stdout.write(ApiToken.issue(user, name, expires_in))
