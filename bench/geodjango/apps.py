from django.apps import AppConfig


class GeoDjangoBenchConfig(AppConfig):
    name = "bench.geodjango"
    label = "bench_geodjango"
    verbose_name = "GeoDjango comparison (benchmark only)"
    default_auto_field = "django.db.models.BigAutoField"
