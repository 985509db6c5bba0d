"""``/api/v1/auth/…``: sign-in, second factor, sessions, users, tablets and role grants."""

from django.urls import path

from accounts.api import grant_views, session_views, shared_logon_views, signin_views, tablet_views

urlpatterns = [
    path("token/", signin_views.TokenView.as_view(), name="auth-token"),
    path("totp/", signin_views.TotpStartView.as_view(), name="auth-totp"),
    path("totp/confirm/", signin_views.TotpConfirmView.as_view(), name="auth-totp-confirm"),
    path("me/", session_views.MeView.as_view(), name="auth-me"),
    path("sessions/", session_views.SessionListView.as_view(), name="auth-sessions"),
    path("sessions/<int:pk>/end/", session_views.SessionEndView.as_view(), name="auth-session-end"),
    path("users/<int:pk>/disable/", session_views.UserDisableView.as_view(), name="auth-user-disable"),
    path("shared-logons/", shared_logon_views.SharedLogonListView.as_view(), name="auth-shared-logons"),
    path("shared-logons/<int:pk>/", shared_logon_views.SharedLogonDetailView.as_view(), name="auth-shared-logon"),
    path("devices/", tablet_views.DeviceListView.as_view(), name="auth-devices"),
    path("devices/enrolments/", tablet_views.EnrolmentCreateView.as_view(), name="auth-device-enrolments"),
    path("devices/enrol/", tablet_views.DeviceEnrolView.as_view(), name="auth-device-enrol"),
    path("devices/<uuid:pk>/revoke/", tablet_views.DeviceRevokeView.as_view(), name="auth-device-revoke"),
    path("grants/", grant_views.GrantListView.as_view(), name="auth-grants"),
    path("grants/<int:pk>/end/", grant_views.GrantEndView.as_view(), name="auth-grant-end"),
]
