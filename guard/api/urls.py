from django.urls import path

from guard.api.views import BlockLiftView, BlockListView

urlpatterns = [
    path("security/blocks/", BlockListView.as_view(), name="security-blocks"),
    path("security/blocks/<int:pk>/lift/", BlockLiftView.as_view(), name="security-block-lift"),
]
