from django.urls import path

from polling.web import views

urlpatterns = [
    path("map/", views.map_page, name="map"),
]
