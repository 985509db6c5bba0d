from django.urls import path, re_path

from polling.api import presence_views as views
from polling.api import sync_views

urlpatterns = [
    path("polling-places/<int:pk>/check-ins/", views.CheckInView.as_view(), name="pollingplace-check-ins"),
    path("polling-places/<int:pk>/check-outs/", views.CheckOutView.as_view(), name="pollingplace-check-outs"),
    path("polling-places/<int:pk>/roster/", views.RosterView.as_view(), name="pollingplace-roster"),
    re_path(
        r"^polling-places/(?P<pk>[0-9]+)/paper/(?P<document>log|roster)\.(?P<fmt>csv|pdf)$",
        views.PaperView.as_view(),
        name="pollingplace-paper",
    ),
    path("sync/", sync_views.SyncView.as_view(), name="sync"),
    path("presence-anomalies/", sync_views.AnomalyListView.as_view(), name="presence-anomaly-list"),
    path("presence-anomalies/<int:pk>/", sync_views.AnomalyDetailView.as_view(), name="presence-anomaly-detail"),
    path("presence-anomalies/<int:pk>/review/", sync_views.AnomalyReviewView.as_view(), name="presence-anomaly-review"),
]
