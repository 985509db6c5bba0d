from django.apps import AppConfig


class PollingConfig(AppConfig):
    name = "polling"
    verbose_name = "Geography and elections"

    def ready(self) -> None:
        from polling.geography import services

        services.connect_signals()
