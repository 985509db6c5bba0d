"""``/api/v1/auth/…``: sign-in, second factor, sessions, users, tablets and role grants."""

from django.urls import path

from accounts.api import auth_views as views

urlpatterns = [
    path("token/", views.TokenView.as_view(), name="auth-token"),
    path("totp/", views.TotpStartView.as_view(), name="auth-totp"),
    path("totp/confirm/", views.TotpConfirmView.as_view(), name="auth-totp-confirm"),
    path("me/", views.MeView.as_view(), name="auth-me"),
    path("sessions/", views.SessionListView.as_view(), name="auth-sessions"),
    path("sessions/<int:pk>/end/", views.SessionEndView.as_view(), name="auth-session-end"),
    path("users/<int:pk>/disable/", views.UserDisableView.as_view(), name="auth-user-disable"),
    path("devices/", views.DeviceListView.as_view(), name="auth-devices"),
    path("devices/enrolments/", views.EnrolmentCreateView.as_view(), name="auth-device-enrolments"),
    path("devices/enrol/", views.DeviceEnrolView.as_view(), name="auth-device-enrol"),
    path("devices/<uuid:pk>/revoke/", views.DeviceRevokeView.as_view(), name="auth-device-revoke"),
    path("grants/", views.GrantListView.as_view(), name="auth-grants"),
    path("grants/<int:pk>/end/", views.GrantEndView.as_view(), name="auth-grant-end"),
]
