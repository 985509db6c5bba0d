from django.urls import include, path

from polling.web import views

urlpatterns = [
    path("map/", views.map_page, name="map"),
    path("tablet/", include("polling.web.tablet.urls")),
]
