from django.urls import path

from polling.api import election_views

urlpatterns = [
    path("", election_views.ElectionListView.as_view(), name="election-list"),
]
