from django.urls import path

from polling.api import presence_views as views

urlpatterns = [
    path("polling-places/<int:pk>/check-ins/", views.CheckInView.as_view(), name="pollingplace-check-ins"),
    path("polling-places/<int:pk>/check-outs/", views.CheckOutView.as_view(), name="pollingplace-check-outs"),
    path("polling-places/<int:pk>/roster/", views.RosterView.as_view(), name="pollingplace-roster"),
]
