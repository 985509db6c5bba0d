from django.urls import path

from bench.geodjango.views import lookup

urlpatterns = [path("lookup/", lookup, name="lookup")]
