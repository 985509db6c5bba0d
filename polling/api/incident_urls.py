from django.urls import path

from polling.api import incident_views as views

urlpatterns = [
    path("", views.IncidentListView.as_view(), name="incident-list"),
    path("<int:pk>/", views.IncidentDetailView.as_view(), name="incident-detail"),
    path("<int:pk>/photo", views.IncidentPhotoView.as_view(), name="incident-photo"),
]
