from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "opsportal.accounts"
    label = "accounts"
    verbose_name = "Accounts and roles"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from . import receivers, roles  # noqa: F401  (connects the login audit receivers)

        # Permissions of apps migrated after the roles migration exist only after post_migrate;
        # syncing here keeps every role's permission set complete on each migrate.
        post_migrate.connect(roles.sync_after_migrate, dispatch_uid="opsportal.roles.sync")
