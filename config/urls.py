from django.contrib import admin
from django.urls import path

admin.site.site_header = "Polling-place administration"
admin.site.site_title = "Polling-place administration"
admin.site.index_title = "Geography and elections"

urlpatterns = [
    path("admin/", admin.site.urls),
]
