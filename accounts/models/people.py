from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A person who signs in: a state administrator, a county commissioner, a poll manager or a poll worker.

    Custom from the first migration so that roles, scopes, MFA and device binding can be added without swapping
    the user model later. Credential holders (watchers, observers) are not users: they never sign in.
    """

    email = models.EmailField("email address", blank=True)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        constraints = [
            models.UniqueConstraint(
                models.functions.Lower("username"),
                name="accounts_user_username_ci_unique",
                violation_error_message="A user with that username already exists.",
            ),
        ]
