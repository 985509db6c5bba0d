"""The poll worker's tablet app (``/tablet/``): an installable offline web app served by the service itself.

Pages only: everything the app does goes through the staff API (enrolment, sign-in, sync, roster) and runs in the
browser (polling/static/tablet/). See docs/tablet.md.
"""
